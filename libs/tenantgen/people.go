package tenantgen

import (
	"fmt"
	"math/rand/v2"
	"net/mail"
)

type name struct{ display, ascii string }

var firstNames = []name{
	{"José", "jose"}, {"Zoë", "zoe"}, {"Björn", "bjorn"}, {"Chloé", "chloe"},
	{"Łukasz", "lukasz"}, {"Søren", "soren"}, {"Ana", "ana"}, {"Wei", "wei"},
	{"Priya", "priya"}, {"Oluwaseun", "oluwaseun"}, {"Hannah", "hannah"},
	{"Mateo", "mateo"}, {"Yuki", "yuki"}, {"Fatima", "fatima"}, {"Liam", "liam"},
	{"Émilie", "emilie"}, {"Noah", "noah"}, {"Ingrid", "ingrid"},
}

var lastNames = []name{
	{"Müller", "mueller"}, {"García", "garcia"}, {"Nakamura", "nakamura"},
	{"Kowalski", "kowalski"}, {"Dubois", "dubois"}, {"Andersen", "andersen"},
	{"Smith", "smith"}, {"Chen", "chen"}, {"Okafor", "okafor"}, {"Silva", "silva"},
	{"Novák", "novak"}, {"Jensen", "jensen"}, {"Rossi", "rossi"},
	{"Ivanova", "ivanova"}, {"Schröder", "schroeder"}, {"Patel", "patel"},
}

var externalDomains = []string{"example.com", "example.net", "example.org"}

// Person is someone the generator writes about: a mailbox owner, a
// colleague (another generated mailbox of the same tenant) or an external
// correspondent.
type Person struct {
	// First and Last are display forms, often non-ASCII ("Łukasz",
	// "Schröder"); FirstASCII and LastASCII are the transliterations
	// addresses are made of.
	First, Last, FirstASCII, LastASCII string
	// Address is the primary SMTP address; Alias is a second address of
	// the same mailbox (empty for external people).
	Address, Alias string
}

// DisplayName is "First Last".
func (p Person) DisplayName() string { return p.First + " " + p.Last }

// NameAddr is the RFC 5322 name-addr, with an encoded word (RFC 2047) for
// a non-ASCII display name.
func (p Person) NameAddr() string {
	return (&mail.Address{Name: p.DisplayName(), Address: p.Address}).String()
}

// Owner is the owner of generated mailbox n (user0001@domain is n = 1).
// Colleagues in generated content are other mailbox numbers, so mail
// between generated mailboxes of any sandbox addresses real mailboxes.
func Owner(seed int64, n int, domain string) Person {
	h := mix(uint64(seed), uint64(n), 0x9e7)
	f, l := firstNames[h%uint64(len(firstNames))], lastNames[(h>>20)%uint64(len(lastNames))]
	return Person{
		First: f.display, Last: l.display, FirstASCII: f.ascii, LastASCII: l.ascii,
		Address: fmt.Sprintf("user%04d@%s", n, domain),
		Alias:   fmt.Sprintf("%s.%s%d@%s", f.ascii, l.ascii, n, domain),
	}
}

func external(r *rand.Rand) Person {
	f, l := firstNames[r.IntN(len(firstNames))], lastNames[r.IntN(len(lastNames))]
	return Person{
		First: f.display, Last: l.display, FirstASCII: f.ascii, LastASCII: l.ascii,
		Address: f.ascii + "." + l.ascii + "@" + externalDomains[r.IntN(len(externalDomains))],
	}
}

// item is the identity of one generated item and the source of its
// random stream.
type item struct {
	seed   int64
	mbox   int
	idx    int
	domain string
}

func (it item) rng() *rand.Rand {
	return rand.New(rand.NewPCG(uint64(it.seed), uint64(it.mbox)<<32|uint64(it.idx)))
}

func (it item) colleague(r *rand.Rand) Person {
	n := 1 + r.IntN(999)
	if n == it.mbox {
		n = n%999 + 1
	}
	return Owner(it.seed, n, it.domain)
}

func (it item) correspondent(r *rand.Rand) Person {
	if r.IntN(10) < 6 {
		return it.colleague(r)
	}
	return external(r)
}

// mix is splitmix64 over three words; it only has to spread bits.
func mix(a, b, c uint64) uint64 {
	z := a*0x9e3779b97f4a7c15 ^ b*0xbf58476d1ce4e5b9 ^ c*0x94d049bb133111eb
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}

func (it item) hash(salt uint64) uint64 {
	return mix(uint64(it.seed), uint64(it.mbox)<<32|uint64(it.idx), salt)
}
