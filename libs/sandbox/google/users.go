package google

import (
	"strings"
	"time"
)

type user struct {
	id, email      string
	given, family  string
	aliases        []string
	admin          bool
	suspended      bool
	deleted        bool
	created        time.Time
	version        int
	mail           *mailbox
	cal            *calStore
	ppl            *contactStore
	mailboxSetupAt time.Time
}

func (u *user) fullName() string { return strings.TrimSpace(u.given + " " + u.family) }

func normEmail(s string) string { return strings.ToLower(strings.TrimSpace(s)) }

// userLocked finds a user by primary address, alias or id.
func (s *Sandbox) userLocked(key string) *user {
	key = normEmail(key)
	if u := s.users[key]; u != nil {
		return u
	}
	if u := s.byID[key]; u != nil {
		return u
	}
	for _, u := range s.order {
		for _, a := range u.aliases {
			if a == key {
				return u
			}
		}
	}
	return nil
}

// AddUser creates a licensed user with a Gmail mailbox, a primary
// calendar and an empty contact list, and returns the user's id. An
// existing address is returned untouched.
func (s *Sandbox) AddUser(email, displayName string, aliases ...string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.addUserLocked(email, displayName, aliases, time.Now().UTC()).id
}

func (s *Sandbox) addUserLocked(email, displayName string, aliases []string, created time.Time) *user {
	email = normEmail(email)
	if u := s.users[email]; u != nil {
		return u
	}
	u := &user{id: userID(email), email: email, created: created}
	if f := strings.Fields(displayName); len(f) >= 2 {
		u.given, u.family = f[0], strings.Join(f[1:], " ")
	} else {
		u.given = displayName
	}
	for _, a := range aliases {
		if a = normEmail(a); a != "" && a != email {
			u.aliases = append(u.aliases, a)
		}
	}
	u.mail = newMailbox(email)
	u.cal = newCalStore(u, "UTC")
	u.ppl = newContactStore()
	s.users[email] = u
	s.byID[u.id] = u
	s.order = append(s.order, u)
	return u
}

// SetAdmin makes a user a super administrator (or not); the Directory API
// answers only administrators.
func (s *Sandbox) SetAdmin(email string, admin bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if u := s.userLocked(email); u != nil {
		u.admin = admin
		u.version++
	}
}

// SuspendUser suspends (or restores) a user; a suspended user cannot be
// impersonated.
func (s *Sandbox) SuspendUser(email string, suspended bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if u := s.userLocked(email); u != nil {
		u.suspended = suspended
		u.version++
	}
}

// User is a user as Users lists it.
type User struct {
	ID          string   `json:"id"`
	Email       string   `json:"email"`
	DisplayName string   `json:"displayName"`
	Aliases     []string `json:"aliases,omitempty"`
	Admin       bool     `json:"admin,omitempty"`
}

// Users lists the users in creation order.
func (s *Sandbox) Users() []User {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []User
	for _, u := range s.order {
		if u.deleted {
			continue
		}
		out = append(out, User{ID: u.id, Email: u.email, DisplayName: u.fullName(), Aliases: append([]string(nil), u.aliases...), Admin: u.admin})
	}
	return out
}
