package tenantgen

// Folder is a mail folder of a generated mailbox. Inbox, SentItems and
// Archive are the platform's well-known folders; the others are a user
// tree five levels deep at most, with non-ASCII names, that each sandbox
// creates with its own API.
type Folder int

// The mail folders, parents before children.
const (
	Inbox Folder = iota
	SentItems
	Archive
	Projects           // Projects
	Projects2026       // Projects/2026
	ProjectsQ1         // Projects/2026/Q1 Planung
	Customers          // Customers
	CustomersMueller   // Customers/Müller GmbH
	CustomersContracts // Customers/Müller GmbH/Verträge
	Contracts2025      // Customers/Müller GmbH/Verträge/2025
	Newsletters        // Inbox/Newsletters
	folderCount

	// Root stands for the top of the mailbox, the parent of top-level
	// folders.
	Root Folder = -1
)

var folderDefs = [folderCount]struct {
	name      string
	parent    Folder
	wellKnown bool
}{
	Inbox:              {"Inbox", Root, true},
	SentItems:          {"Sent Items", Root, true},
	Archive:            {"Archive", Root, true},
	Projects:           {"Projects", Root, false},
	Projects2026:       {"2026", Projects, false},
	ProjectsQ1:         {"Q1 Planung", Projects2026, false},
	Customers:          {"Customers", Root, false},
	CustomersMueller:   {"Müller GmbH", Customers, false},
	CustomersContracts: {"Verträge", CustomersMueller, false},
	Contracts2025:      {"2025", CustomersContracts, false},
	Newsletters:        {"Newsletters", Inbox, false},
}

// Folders lists every mail folder, parents before their children.
func Folders() []Folder {
	out := make([]Folder, folderCount)
	for i := range out {
		out[i] = Folder(i)
	}
	return out
}

// Name is the folder's display name; for well-known folders the English
// name, which sandboxes replace with their own well-known folder.
func (f Folder) Name() string { return folderDefs[f].name }

// Parent is the folder's parent, Root for top-level folders.
func (f Folder) Parent() Folder { return folderDefs[f].parent }

// WellKnown says the platform provides the folder itself (Inbox, Sent
// Items, Archive); the sandbox maps it rather than creating it.
func (f Folder) WellKnown() bool { return folderDefs[f].wellKnown }

func (f Folder) String() string {
	if f == Root {
		return ""
	}
	if p := f.Parent(); p != Root {
		return p.String() + "/" + f.Name()
	}
	return f.Name()
}

// Place is where mail message idx of mailbox mbox lives. It comes from a
// hash, not from the content's random stream, so it is known before
// anything is generated; SentItems makes the owner the message's sender.
func Place(seed int64, mbox, idx int) Folder {
	h := item{seed: seed, mbox: mbox, idx: idx}.hash(0x51ed) % 1000
	switch {
	case h < 380:
		return Inbox
	case h < 580:
		return SentItems
	case h < 680:
		return Archive
	case h < 760:
		return Projects
	case h < 840:
		return Projects2026
	case h < 880:
		return ProjectsQ1
	case h < 920:
		return Customers
	case h < 935:
		return CustomersMueller
	case h < 945:
		return CustomersContracts
	case h < 950:
		return Contracts2025
	}
	return Newsletters
}
