package plan

import (
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/mailferry/mailferry/events/discovery"
	"github.com/mailferry/mailferry/events/mapping"
	"github.com/mailferry/mailferry/events/project"
	"github.com/mailferry/mailferry/libs/platform"
)

func mb(id, addr string, aliases ...string) platform.Mailbox {
	return platform.Mailbox{ID: id, PrimaryAddress: addr, Aliases: aliases}
}

var (
	sA = mb("s-a", "alice@old.com", "ali@old.com")
	sB = mb("s-b", "bob@old.com")
	sC = mb("s-c", "carol@old.com")
	dA = mb("d-a", "alice@new.com")
	dB = mb("d-b", "bob@new.com")
	dC = mb("d-c", "carol@new.com", "cc@new.com")
	dX = mb("d-x", "spare@new.com")

	disc = Discovery{ProjectID: "p", RunID: "r1", Sources: []platform.Mailbox{sA, sB, sC}, Destinations: []platform.Mailbox{dA, dB, dC, dX}}
)

// state builds a State with the given entries.
func state(es ...mapping.Entry) State {
	return Fold(State{}, mapping.MappingSuggested{ProjectID: "p", RunID: "r0", Entries: es})
}

func pair(src, dst platform.Mailbox, method string) mapping.Entry {
	return mapping.Entry{Source: src, Destination: dst, Method: method, Action: ActionMigrate}
}

// render gives an entry as "source>destination action method exception".
func render(e mapping.Entry) string {
	return strings.TrimSpace(fmt.Sprintf("%s>%s %s %s %s", e.Source.PrimaryAddress, e.Destination.PrimaryAddress, e.Action, e.Method, e.Exception))
}

func renderAll(es []mapping.Entry) []string {
	out := []string{}
	for _, e := range es {
		out = append(out, render(e))
	}
	return out
}

func TestDomainRewrite(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		src, dst []platform.Mailbox
		want     map[string]string
	}{
		{"one domain each", []platform.Mailbox{mb("1", "a@old.com"), mb("2", "b@OLD.com")}, []platform.Mailbox{mb("3", "a@new.com")}, map[string]string{"old.com": "new.com"}},
		{"majority wins", []platform.Mailbox{mb("1", "a@old.com"), mb("2", "b@old.com"), mb("3", "c@other.com")}, []platform.Mailbox{mb("4", "a@new.com")}, map[string]string{"old.com": "new.com"}},
		{"no majority in source", []platform.Mailbox{mb("1", "a@old.com"), mb("2", "b@other.com")}, []platform.Mailbox{mb("3", "a@new.com")}, nil},
		{"same domain", []platform.Mailbox{mb("1", "a@x.com")}, []platform.Mailbox{mb("2", "a@x.com")}, nil},
		{"no destination", []platform.Mailbox{mb("1", "a@x.com")}, nil, nil},
		{"addresses without domain ignored", []platform.Mailbox{mb("1", "a@old.com"), mb("2", "nodomain"), mb("3", "")}, []platform.Mailbox{mb("4", "a@new.com")}, map[string]string{"old.com": "new.com"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := DomainRewrite(tt.src, tt.dst); !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("got %v, want %v", got, tt.want)
			}
		})
	}
}

func TestFold(t *testing.T) {
	t.Parallel()
	s0 := state(pair(sA, dA, "primary"), pair(sB, dB, "primary"))
	edited := Fold(s0, mapping.MappingEdited{ProjectID: "p", RequestID: "q1", Entries: []mapping.Entry{{Source: sA, Action: ActionExclude, Method: MethodManual}}})
	if got := render(edited.Entries["s-a"]); got != "alice@old.com> exclude manual" {
		t.Fatalf("edit: %s", got)
	}
	if len(edited.Entries) != 2 || edited.Requests["q1"].State != RequestApplied {
		t.Fatalf("edit kept %d entries, request %+v", len(edited.Entries), edited.Requests["q1"])
	}
	if got := render(s0.Entries["s-a"]); got != "alice@old.com>alice@new.com migrate primary" {
		t.Fatalf("Fold mutated its input: %s", got)
	}
	replaced := Fold(edited, mapping.MappingEdited{ProjectID: "p", RequestID: "q2", Replace: true, Entries: []mapping.Entry{pair(sC, dC, MethodCSV)}})
	if len(replaced.Entries) != 1 || len(edited.Entries) != 2 {
		t.Fatalf("replace: %d entries (input now %d)", len(replaced.Entries), len(edited.Entries))
	}
	rejected := Fold(replaced, mapping.MappingEditRejected{ProjectID: "p", RequestID: "q3", Errors: []mapping.RowError{{Row: 2, Code: "x"}}})
	if o := rejected.Requests["q3"]; o.State != RequestRejected || len(o.Errors) != 1 || len(rejected.Entries) != 1 {
		t.Fatalf("reject: %+v, %d entries", o, len(rejected.Entries))
	}
	if _, ok := replaced.Requests["q3"]; ok {
		t.Fatal("Fold mutated the requests of its input")
	}
	if !s0.Suggested["r0"] || s0.RunID != "r0" {
		t.Fatalf("suggested: %+v", s0)
	}
}

func TestSuggestMerge(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		prev State
		d    Discovery
		want []string
	}{
		{
			name: "fresh suggestion",
			prev: State{},
			d:    disc,
			want: []string{"alice@old.com>alice@new.com migrate localpart", "bob@old.com>bob@new.com migrate localpart", "carol@old.com>carol@new.com migrate localpart"},
		},
		{
			name: "manual entries kept and their destinations withheld",
			prev: state(
				mapping.Entry{Source: sA, Destination: dB, Method: MethodManual, Action: ActionMigrate},
				mapping.Entry{Source: sC, Method: MethodCSV, Action: ActionExclude},
				pair(sB, dA, "displayname"),
			),
			d: disc,
			want: []string{
				"alice@old.com>bob@new.com migrate manual",
				"bob@old.com> migrate  no_match", // its namesake was given to alice by hand
				"carol@old.com> exclude csv",
			},
		},
		{
			name: "manual entry of a source that is gone is dropped",
			prev: state(mapping.Entry{Source: mb("s-z", "zed@old.com"), Destination: dX, Method: MethodManual, Action: ActionMigrate}),
			d:    disc,
			want: []string{"alice@old.com>alice@new.com migrate localpart", "bob@old.com>bob@new.com migrate localpart", "carol@old.com>carol@new.com migrate localpart"},
		},
		{
			name: "destination chosen by hand is gone",
			prev: state(mapping.Entry{Source: sA, Destination: mb("d-gone", "gone@new.com"), Method: MethodManual, Action: ActionMigrate}),
			d:    disc,
			want: []string{"alice@old.com>gone@new.com migrate manual no_match", "bob@old.com>bob@new.com migrate localpart", "carol@old.com>carol@new.com migrate localpart"},
		},
		{
			name: "mailbox flagged for creation now exists",
			prev: state(mapping.Entry{Source: sA, Destination: platform.Mailbox{PrimaryAddress: "spare@new.com"}, Method: MethodManual, Action: ActionCreate}),
			d:    disc,
			want: []string{"alice@old.com>spare@new.com migrate manual", "bob@old.com>bob@new.com migrate localpart", "carol@old.com>carol@new.com migrate localpart"},
		},
		{
			name: "destination not discovered: manual entries are not judged",
			prev: state(mapping.Entry{Source: sA, Destination: dX, Method: MethodManual, Action: ActionMigrate}),
			d:    Discovery{ProjectID: "p", RunID: "r2", Sources: []platform.Mailbox{sA, sB}},
			want: []string{"alice@old.com>spare@new.com migrate manual", "bob@old.com> migrate  no_match"},
		},
		{
			name: "two kept entries claiming one destination",
			prev: state(
				mapping.Entry{Source: sA, Destination: dX, Method: MethodManual, Action: ActionMigrate},
				mapping.Entry{Source: sB, Destination: dX, Method: MethodManual, Action: ActionMigrate},
			),
			d:    disc,
			want: []string{"alice@old.com>spare@new.com migrate manual", "bob@old.com>spare@new.com migrate manual ambiguous", "carol@old.com>carol@new.com migrate localpart"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ev := Suggest(tt.prev, tt.d)
			if ev.RunID != tt.d.RunID || ev.ProjectID != "p" {
				t.Fatalf("event %s/%s", ev.ProjectID, ev.RunID)
			}
			if got := renderAll(ev.Entries); !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(tt.want, "\n"))
			}
			for _, e := range ev.Entries {
				if e.Exception != "" && e.Detail == "" {
					t.Errorf("%s: exception without detail", e.Source.PrimaryAddress)
				}
			}
		})
	}
}

func errKeys(ev any) []string {
	r, ok := ev.(mapping.MappingEditRejected)
	if !ok {
		return nil
	}
	out := []string{}
	for _, e := range r.Errors {
		out = append(out, fmt.Sprintf("%d/%s/%s", e.Row, e.Column, e.Code))
		if e.Message == "" {
			out = append(out, "empty message")
		}
	}
	return out
}

func TestEdit(t *testing.T) {
	t.Parallel()
	base := state(pair(sA, dA, "primary"), pair(sB, dB, "primary"), pair(sC, dC, "primary"))
	tests := []struct {
		name     string
		s        State
		d        Discovery
		req      project.MappingEditRequested
		wantErrs []string
		want     []string // entries of MappingEdited
		replace  bool
	}{
		{
			name:     "no discovery",
			d:        Discovery{},
			req:      project.MappingEditRequested{Edits: []project.MappingEdit{{Source: "alice@old.com", Action: "exclude"}}},
			wantErrs: []string{"0//no_discovery"},
		},
		{
			name:     "empty request",
			req:      project.MappingEditRequested{},
			wantErrs: []string{"0//empty_request"},
		},
		{
			name: "every kind of row error",
			s:    base,
			req: project.MappingEditRequested{Edits: []project.MappingEdit{
				{Source: "", Destination: "spare@new.com"},
				{Source: "ghost@old.com", Action: "exclude"},
				{Source: "alice@old.com", Action: "teleport"},
				{Source: "bob@old.com"},
				{Source: "carol@old.com", Destination: "nobody@new.com"},
				{Source: "ali@old.com", Action: "exclude"}, // alice again, by alias
			}},
			wantErrs: []string{"1/source/unknown_source", "2/source/unknown_source", "3/action/invalid_action", "4/destination/missing_destination", "5/destination/unknown_destination", "6/source/duplicate_source"},
		},
		{
			name: "create checks",
			s:    base,
			req: project.MappingEditRequested{Edits: []project.MappingEdit{
				{Source: "alice@old.com", Action: "create"},
				{Source: "bob@old.com", Action: "create", Destination: "not an address"},
				{Source: "carol@old.com", Action: "create", Destination: "cc@new.com"},
			}},
			wantErrs: []string{"1/destination/missing_destination", "2/destination/invalid_address", "3/action/invalid_action"},
		},
		{
			name:     "destination already used by an entry left alone",
			s:        base,
			req:      project.MappingEditRequested{Edits: []project.MappingEdit{{Source: "alice@old.com", Destination: "bob@new.com"}}},
			wantErrs: []string{"1/destination/duplicate_destination"},
		},
		{
			name: "two edits to one destination",
			s:    base,
			req: project.MappingEditRequested{Edits: []project.MappingEdit{
				{Source: "alice@old.com", Destination: "spare@new.com"},
				{Source: "bob@old.com", Destination: "SPARE@new.com"},
			}},
			wantErrs: []string{"1/destination/duplicate_destination", "2/destination/duplicate_destination"},
		},
		{
			name: "two creates of one address",
			s:    base,
			req: project.MappingEditRequested{Edits: []project.MappingEdit{
				{Source: "alice@old.com", Destination: "new1@new.com", Action: "create"},
				{Source: "bob@old.com", Destination: "new1@new.com", Action: "Create"},
			}},
			wantErrs: []string{"1/destination/duplicate_destination", "2/destination/duplicate_destination"},
		},
		{
			name: "swap in one request is fine",
			s:    base,
			req: project.MappingEditRequested{Edits: []project.MappingEdit{
				{Source: "alice@old.com", Destination: "bob@new.com"},
				{Source: "bob@old.com", Destination: "alice@new.com", Action: "migrate"},
				{Source: "CAROL@old.com", Action: "exclude", Destination: "cc@new.com"},
			}},
			want: []string{"alice@old.com>bob@new.com migrate manual", "bob@old.com>alice@new.com migrate manual", "carol@old.com>carol@new.com exclude manual"},
		},
		{
			name: "create a new mailbox",
			s:    base,
			req:  project.MappingEditRequested{Edits: []project.MappingEdit{{Source: "ali@old.com", Destination: "Alice2@new.com", Action: "create"}}},
			want: []string{"alice@old.com>alice2@new.com create manual"},
		},
		{
			name:    "csv replaces and excludes what it leaves out",
			s:       base,
			req:     project.MappingEditRequested{CSV: "source,destination,action,note\nalice@old.com,spare@new.com,,hi\nbob@old.com,x@new.com,create\n"},
			replace: true,
			want:    []string{"alice@old.com>spare@new.com migrate csv", "bob@old.com>x@new.com create csv", "carol@old.com> exclude csv"},
		},
		{
			name:     "csv rows checked by mapcsv",
			s:        base,
			req:      project.MappingEditRequested{CSV: "source,destination\nalice@old.com,alice@new.com\nghost@old.com,bob@new.com\n"},
			wantErrs: []string{"3/source/unknown_source"},
		},
		{
			name: "csv alias of a source already in the file",
			s:    base,
			req: project.MappingEditRequested{CSV: "source,destination,action,note\n" +
				"alice@old.com,alice@new.com,,\"two\nlines\"\n" +
				",,,\n" +
				"ali@old.com,,exclude,\n" +
				"bob@old.com,carol@new.com,,\n" +
				"carol@old.com,cc@new.com,,\n"},
			wantErrs: []string{"4/source/duplicate_source", "6/destination/duplicate_destination"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			d := tt.d
			if d.RunID == "" && tt.name != "no discovery" {
				d = disc
			}
			req := tt.req
			req.ProjectID, req.RequestID = "p", "q"
			ev := Edit(tt.s, d, req)
			if tt.wantErrs != nil {
				if got := errKeys(ev); !reflect.DeepEqual(got, tt.wantErrs) {
					t.Fatalf("errors %v, want %v (event %#v)", got, tt.wantErrs, ev)
				}
				return
			}
			e, ok := ev.(mapping.MappingEdited)
			if !ok {
				t.Fatalf("rejected: %v", errKeys(ev))
			}
			if e.Replace != tt.replace || e.RequestID != "q" || e.ProjectID != "p" {
				t.Fatalf("event %+v", e)
			}
			if got := renderAll(e.Entries); !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(tt.want, "\n"))
			}
		})
	}
}

func TestRowNumbers(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		file string
		n    int
		want []int
	}{
		{"plain", "h\na\nb\n", 2, []int{2, 3}},
		{"bom, blank rows, multi-line cell", "\xEF\xBB\xBFh,n\na,\"x\ny\"\n,\n\nb,\n", 2, []int{2, 4}},
		{"count mismatch numbers nothing", "h\na\n", 2, []int{0, 0}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := rowNumbers(tt.file, tt.n); !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("got %v, want %v", got, tt.want)
			}
		})
	}
}

func TestRunnable(t *testing.T) {
	t.Parallel()
	s := state(
		pair(sA, dA, "primary"),
		mapping.Entry{Source: sB, Action: ActionMigrate, Exception: "no_match", Detail: "nothing"},
		mapping.Entry{Source: sC, Action: ActionExclude, Method: MethodManual},
		mapping.Entry{Source: mb("s-d", "dan@old.com"), Destination: platform.Mailbox{PrimaryAddress: "dan@new.com"}, Action: ActionCreate, Method: MethodManual},
	)
	render := func(ps any, bs []Blocked) string {
		var b strings.Builder
		fmt.Fprintf(&b, "%v|", ps)
		for _, x := range bs {
			fmt.Fprintf(&b, "%s:%s ", x.Source, x.Code)
		}
		return strings.TrimSpace(b.String())
	}
	tests := []struct {
		name    string
		sources []string
		want    string
	}{
		{"all", nil, "[{s-a alice@old.com d-a alice@new.com false} {s-d dan@old.com  dan@new.com true}]|bob@old.com:unresolved_exception"},
		{"by alias, case and duplicates", []string{"ALI@old.com", "alice@old.com"}, "[{s-a alice@old.com d-a alice@new.com false}]|"},
		{"named exclusion and unknown", []string{"carol@old.com", "who@old.com", "bob@old.com"}, "[]|who@old.com:unknown_source bob@old.com:unresolved_exception carol@old.com:excluded"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ps, bs := Runnable(s, tt.sources)
			if got := render(ps, bs); got != tt.want {
				t.Fatalf("got  %s\nwant %s", got, tt.want)
			}
		})
	}
}

func TestRows(t *testing.T) {
	t.Parallel()
	s := state(
		mapping.Entry{Source: sB, Action: ActionMigrate, Exception: "no_match", Detail: "nothing"},
		pair(sA, dA, "primary"),
		mapping.Entry{Source: sC, Action: ActionExclude, Method: MethodCSV, Detail: "left"},
	)
	got := fmt.Sprint(Rows(s))
	want := "[{alice@old.com alice@new.com migrate } {bob@old.com  migrate unresolved (no_match): nothing} {carol@old.com  exclude left}]"
	if got != want {
		t.Fatalf("got  %s\nwant %s", got, want)
	}
}

func TestCollector(t *testing.T) {
	t.Parallel()
	var c Collector
	c.Add(discovery.MailboxDiscovered{Side: "source", Mailbox: mb("2", "b@x.com")})
	c.Add(discovery.MailboxDiscovered{Side: "source", Mailbox: mb("1", "old@x.com")})
	c.Add(discovery.MailboxDiscovered{Side: "source", Mailbox: mb("1", "a@x.com")}) // reported again: last wins
	c.Add(discovery.MailboxDiscovered{Side: "destination", Mailbox: mb("9", "z@y.com")})
	c.Add(discovery.MailboxDiscovered{Side: "sideways", Mailbox: mb("8", "q@y.com")})
	d := c.Discovery("p", "r")
	if got := fmt.Sprint(d.Sources, d.Destinations); got != "[{1 a@x.com [] } {2 b@x.com [] }] [{9 z@y.com [] }]" {
		t.Fatalf("got %s", got)
	}
}

func TestSortEntries(t *testing.T) {
	t.Parallel()
	es := []mapping.Entry{
		pair(mb("2", "b@x.com"), dA, "primary"),
		{Source: mb("3", "Z@x.com"), Exception: "no_match"},
		pair(mb("1", "A@x.com"), dB, "primary"),
		{Source: mb("4", "c@x.com"), Exception: "ambiguous"},
	}
	SortEntries(es)
	var got []string
	for _, e := range es {
		got = append(got, e.Source.ID)
	}
	if !reflect.DeepEqual(got, []string{"4", "3", "1", "2"}) {
		t.Fatalf("order %v", got)
	}
}

// TestSplitMappingFoldsToTheSameState: a mapping too large for one event
// is split into parts; folding the parts gives exactly what folding the
// whole would, and nothing changes until the last part arrives.
func TestSplitMappingFoldsToTheSameState(t *testing.T) {
	t.Parallel()
	var entries []mapping.Entry
	for i := 0; i < PartSize*2+10; i++ {
		id := fmt.Sprintf("m%05d", i)
		entries = append(entries, mapping.Entry{Source: platform.Mailbox{ID: id, PrimaryAddress: id + "@a.example"}, Action: "migrate"})
	}
	whole := mapping.MappingSuggested{ProjectID: "p", RunID: "r", Entries: entries}
	parts := Split(whole)
	if len(parts) != 3 {
		t.Fatalf("%d parts, want 3", len(parts))
	}
	want := Fold(State{}, whole)
	var got State
	for i, p := range parts {
		got = Fold(got, p)
		if i < len(parts)-1 && len(got.Entries) != 0 {
			t.Fatalf("mapping changed after part %d of %d", i+1, len(parts))
		}
	}
	if len(got.Entries) != len(want.Entries) || !got.Suggested["r"] || got.RunID != "r" {
		t.Fatalf("split fold: %d entries (want %d), suggested %v", len(got.Entries), len(want.Entries), got.Suggested)
	}
	// An interrupted split append decided again starts over at part 0.
	again := Fold(Fold(State{}, parts[0]), parts[0])
	for _, p := range parts[1:] {
		again = Fold(again, p)
	}
	if len(again.Entries) != len(want.Entries) {
		t.Fatalf("restarted split: %d entries", len(again.Entries))
	}
	// A CSV replacement splits the same way; small edits never split.
	if n := len(Split(mapping.MappingEdited{Replace: true, Entries: entries})); n != 3 {
		t.Fatalf("replace split into %d", n)
	}
	if n := len(Split(mapping.MappingEdited{Entries: entries})); n != 1 {
		t.Fatalf("a non-replacing edit was split into %d", n)
	}
}
