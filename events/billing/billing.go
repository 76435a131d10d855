// Package billing holds the events of the credit ledger. Every event of an
// account lives on one subject, so holds are decided with optimistic
// concurrency and two runs can never overdraw a balance.
package billing

import "github.com/mailferry/mailferry/events"

// CreditsPurchased adds credits to an account. RequestID is the purchase
// request it answers, so a request redelivered long after the bus's dedup
// window still adds its credits once.
type CreditsPurchased struct {
	AccountID string `json:"accountId"`
	Amount    int    `json:"amount"`
	Reference string `json:"reference,omitempty"`
	RequestID string `json:"requestId,omitempty"`
}

// CreditsHeld reserves one credit per mailbox of a full run that was not yet
// charged in its project. Waiting lists the run's mailboxes another active
// run of the project holds already: if that run releases one unused, the
// hold passes to this run instead of going back to the balance.
type CreditsHeld struct {
	AccountID string   `json:"accountId"`
	ProjectID string   `json:"projectId"`
	RunID     string   `json:"runId"`
	Mailboxes []string `json:"mailboxes"`
	Waiting   []string `json:"waiting,omitempty"`
}

// HoldRejected refuses a full run the balance cannot cover.
type HoldRejected struct {
	AccountID string `json:"accountId"`
	ProjectID string `json:"projectId"`
	RunID     string `json:"runId"`
	Needed    int    `json:"needed"`
	Available int    `json:"available"`
}

// CreditConsumed charges a mailbox when it starts; once per project.
type CreditConsumed struct {
	AccountID string `json:"accountId"`
	ProjectID string `json:"projectId"`
	RunID     string `json:"runId"`
	MailboxID string `json:"mailboxId"`
}

// HoldReleased gives back the holds a run did not consume. It closes the
// run's hold, so it is appended once per held run when it finishes, even
// with no mailboxes left to release.
type HoldReleased struct {
	AccountID string   `json:"accountId"`
	ProjectID string   `json:"projectId"`
	RunID     string   `json:"runId"`
	Mailboxes []string `json:"mailboxes"`
}

func (CreditsPurchased) EventType() string { return "billing.credits_purchased" }
func (CreditsHeld) EventType() string      { return "billing.credits_held" }
func (HoldRejected) EventType() string     { return "billing.hold_rejected" }
func (CreditConsumed) EventType() string   { return "billing.credit_consumed" }
func (HoldReleased) EventType() string     { return "billing.hold_released" }

// AccountSubject is the one subject of an account's ledger.
func AccountSubject(accountID string) string { return "billing.account." + accountID }

func init() {
	b := []string{"billing"}
	subj := "billing.account.{accountId}"
	events.Register[CreditsPurchased](events.Spec{Name: "billing.credits_purchased", Version: 1, Subject: subj, Publishers: b, Consumers: b, Doc: "Credits were added to an account (from a purchase request)."})
	events.Register[CreditsHeld](events.Spec{Name: "billing.credits_held", Version: 1, Subject: subj, Publishers: b, Consumers: []string{"billing", "project"}, Doc: "Credits were held for a full run's mailboxes not yet charged in the project."})
	events.Register[HoldRejected](events.Spec{Name: "billing.hold_rejected", Version: 1, Subject: subj, Publishers: b, Consumers: []string{"billing", "project"}, Doc: "A full run was refused: the balance could not cover it (needed vs available)."})
	events.Register[CreditConsumed](events.Spec{Name: "billing.credit_consumed", Version: 1, Subject: subj, Publishers: b, Consumers: b, Doc: "One credit was charged when a mailbox started; never twice per mailbox and project."})
	events.Register[HoldReleased](events.Spec{Name: "billing.hold_released", Version: 1, Subject: subj, Publishers: b, Consumers: b, Doc: "Holds a run did not consume (cancelled, failed before start, excluded) were released."})
}
