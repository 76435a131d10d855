package suggest

import (
	"fmt"
	"math/rand/v2"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/mailferry/mailferry/libs/platform"
)

func mb(primary, name string, aliases ...string) platform.Mailbox {
	return platform.Mailbox{ID: "id-" + primary + "-" + name, PrimaryAddress: primary, DisplayName: name, Aliases: aliases}
}

// summary renders a result as one line per source, in result order, so that
// a table row can state the whole expected outcome, order included.
func summary(r Result) []string {
	var out []string
	for _, p := range r.Pairs {
		out = append(out, fmt.Sprintf("%s -> %s (%s)", p.Source.PrimaryAddress, p.Destination.PrimaryAddress, p.Method))
	}
	for _, e := range r.Exceptions {
		var c []string
		for _, m := range e.Candidates {
			c = append(c, m.PrimaryAddress)
		}
		out = append(out, fmt.Sprintf("%s ! %s [%s]", e.Source.PrimaryAddress, e.Reason, strings.Join(c, " ")))
	}
	return out
}

// checkInvariants holds for every result: each source appears exactly once,
// each destination is paired at most once, and both lists are sorted.
func checkInvariants(t *testing.T, src []platform.Mailbox, r Result) {
	t.Helper()
	if got := len(r.Pairs) + len(r.Exceptions); got != len(src) {
		t.Fatalf("%d sources in, %d out", len(src), got)
	}
	usedDst := map[string]bool{}
	for _, p := range r.Pairs {
		if usedDst[p.Destination.ID] {
			t.Errorf("destination %s paired twice", p.Destination.ID)
		}
		usedDst[p.Destination.ID] = true
	}
	sorted := func(n int, key func(int) string) bool {
		for i := 1; i < n; i++ {
			if key(i-1) > key(i) {
				return false
			}
		}
		return true
	}
	if !sorted(len(r.Pairs), func(i int) string { return normAddr(r.Pairs[i].Source.PrimaryAddress) }) {
		t.Errorf("pairs not sorted by source")
	}
	if !sorted(len(r.Exceptions), func(i int) string { return normAddr(r.Exceptions[i].Source.PrimaryAddress) }) {
		t.Errorf("exceptions not sorted by source")
	}
	for _, e := range r.Exceptions {
		if e.Detail == "" {
			t.Errorf("exception for %s has no detail", e.Source.PrimaryAddress)
		}
		if e.Reason != ReasonNoMatch && e.Reason != ReasonAmbiguous {
			t.Errorf("unknown reason %q", e.Reason)
		}
		if e.Reason == ReasonAmbiguous && len(e.Candidates) == 0 {
			t.Errorf("ambiguous %s lists no candidates", e.Source.PrimaryAddress)
		}
		if len(e.Candidates) > MaxCandidates {
			t.Errorf("%d candidates, cap is %d", len(e.Candidates), MaxCandidates)
		}
	}
}

func TestSuggest(t *testing.T) {
	t.Parallel()
	rw := map[string]string{"contoso.com": "fabrikam.com"}
	tests := []struct {
		name string
		src  []platform.Mailbox
		dst  []platform.Mailbox
		opt  Options
		want []string
	}{
		{
			name: "empty",
			want: nil,
		},
		{
			name: "primary equal, case and space insensitive",
			src:  []platform.Mailbox{mb(" Alice@Contoso.com ", "")},
			dst:  []platform.Mailbox{mb("alice@contoso.COM", "")},
			want: []string{" Alice@Contoso.com  -> alice@contoso.COM (primary)"},
		},
		{
			name: "exchange smtp: prefix ignored",
			src:  []platform.Mailbox{mb("SMTP:alice@contoso.com", "")},
			dst:  []platform.Mailbox{mb("alice@contoso.com", "")},
			want: []string{"SMTP:alice@contoso.com -> alice@contoso.com (primary)"},
		},
		{
			name: "source alias equals destination primary",
			src:  []platform.Mailbox{mb("alice@old.com", "", "alice@new.com")},
			dst:  []platform.Mailbox{mb("alice@new.com", "")},
			want: []string{"alice@old.com -> alice@new.com (alias)"},
		},
		{
			name: "source primary equals destination alias",
			src:  []platform.Mailbox{mb("alice@old.com", "")},
			dst:  []platform.Mailbox{mb("a.smith@new.com", "", "ALICE@old.com")},
			want: []string{"alice@old.com -> a.smith@new.com (alias)"},
		},
		{
			name: "alias equals alias",
			src:  []platform.Mailbox{mb("a1@old.com", "", "shared@x.com")},
			dst:  []platform.Mailbox{mb("b1@new.com", "", "shared@x.com")},
			want: []string{"a1@old.com -> b1@new.com (alias)"},
		},
		{
			name: "primary rule runs before alias rule and takes the destination",
			src: []platform.Mailbox{
				mb("x@a.com", ""),
				mb("y@a.com", "", "x@a.com"),
			},
			dst: []platform.Mailbox{
				mb("x@a.com", ""),
				mb("z@a.com", "", "y@a.com"),
			},
			want: []string{
				"x@a.com -> x@a.com (primary)",
				"y@a.com -> z@a.com (alias)",
			},
		},
		{
			name: "local part with domain rewrite",
			src:  []platform.Mailbox{mb("Alice@Contoso.com", "")},
			dst:  []platform.Mailbox{mb("alice@fabrikam.com", "")},
			opt:  Options{DomainRewrite: rw},
			want: []string{"Alice@Contoso.com -> alice@fabrikam.com (localpart)"},
		},
		{
			name: "domain rewrite applies to source aliases and destination aliases, keys normalised",
			src:  []platform.Mailbox{mb("a1@other.com", "", "al@contoso.com")},
			dst:  []platform.Mailbox{mb("x@fabrikam.com", "", "al@fabrikam.com")},
			opt:  Options{DomainRewrite: map[string]string{" @CONTOSO.com": "Fabrikam.com"}},
			want: []string{"a1@other.com -> x@fabrikam.com (localpart)"},
		},
		{
			name: "with a rewrite configured, unrelated domains do not match by bare local part",
			src:  []platform.Mailbox{mb("bob@elsewhere.com", "")},
			dst:  []platform.Mailbox{mb("bob@fabrikam.com", "")},
			opt:  Options{DomainRewrite: rw},
			want: []string{"bob@elsewhere.com ! no_match []"},
		},
		{
			name: "rewrite: two sources rewrite to one destination",
			src: []platform.Mailbox{
				mb("sam@contoso.com", ""),
				mb("x@contoso.com", "", "sam@contoso.com"),
			},
			dst: []platform.Mailbox{mb("sam@fabrikam.com", "")},
			opt: Options{DomainRewrite: rw},
			want: []string{
				"sam@contoso.com ! ambiguous [sam@fabrikam.com]",
				"x@contoso.com ! ambiguous [sam@fabrikam.com]",
			},
		},
		{
			name: "local part unique on both sides without rewrite",
			src:  []platform.Mailbox{mb("carol@old.com", "")},
			dst:  []platform.Mailbox{mb("Carol@new.com", "")},
			want: []string{"carol@old.com -> Carol@new.com (localpart)"},
		},
		{
			name: "local part not unique on the source side falls through to display name",
			src: []platform.Mailbox{
				mb("john@a.com", "John Smith"),
				mb("john@b.com", "John Doe"),
			},
			dst: []platform.Mailbox{mb("john@new.com", "john  smith")},
			want: []string{
				"john@a.com -> john@new.com (displayname)",
				"john@b.com ! no_match []",
			},
		},
		{
			name: "local part not unique on the destination side is ambiguous",
			src:  []platform.Mailbox{mb("info@old.com", "")},
			dst: []platform.Mailbox{
				mb("info@new1.com", ""),
				mb("info@new2.com", ""),
			},
			want: []string{"info@old.com ! ambiguous [info@new1.com info@new2.com]"},
		},
		{
			name: "local part uniqueness counts only mailboxes still open",
			src: []platform.Mailbox{
				mb("dave@a.com", ""),
				mb("dave@b.com", ""),
			},
			dst: []platform.Mailbox{
				mb("dave@a.com", ""),
				mb("dave@new.com", ""),
			},
			want: []string{
				"dave@a.com -> dave@a.com (primary)",
				"dave@b.com -> dave@new.com (localpart)",
			},
		},
		{
			name: "display name equal, case and whitespace normalised",
			src:  []platform.Mailbox{mb("e1@old.com", "  Eve\tAdams ")},
			dst:  []platform.Mailbox{mb("eadams@new.com", "EVE ADAMS")},
			want: []string{"e1@old.com -> eadams@new.com (displayname)"},
		},
		{
			name: "display name shared by two sources is ambiguous for both",
			src: []platform.Mailbox{
				mb("r1@old.com", "Reception"),
				mb("r2@old.com", "reception"),
			},
			dst: []platform.Mailbox{mb("front@new.com", "Reception")},
			want: []string{
				"r1@old.com ! ambiguous [front@new.com]",
				"r2@old.com ! ambiguous [front@new.com]",
			},
		},
		{
			name: "display name shared by two destinations is ambiguous",
			src:  []platform.Mailbox{mb("s1@old.com", "Sales")},
			dst: []platform.Mailbox{
				mb("sales-eu@new.com", "Sales"),
				mb("sales-us@new.com", "Sales"),
			},
			want: []string{"s1@old.com ! ambiguous [sales-eu@new.com sales-us@new.com]"},
		},
		{
			name: "empty display names never match",
			src:  []platform.Mailbox{mb("a@old.com", "")},
			dst:  []platform.Mailbox{mb("b@new.com", "")},
			want: []string{"a@old.com ! no_match []"},
		},
		{
			name: "duplicate source primaries compete for one destination",
			src: []platform.Mailbox{
				{ID: "2", PrimaryAddress: "dup@a.com"},
				{ID: "1", PrimaryAddress: "DUP@a.com"},
			},
			dst: []platform.Mailbox{mb("dup@a.com", "")},
			want: []string{
				"DUP@a.com ! ambiguous [dup@a.com]",
				"dup@a.com ! ambiguous [dup@a.com]",
			},
		},
		{
			name: "duplicate destination primaries give one source two candidates",
			src:  []platform.Mailbox{mb("x@a.com", "")},
			dst: []platform.Mailbox{
				{ID: "d1", PrimaryAddress: "x@a.com"},
				{ID: "d2", PrimaryAddress: "x@a.com"},
			},
			want: []string{"x@a.com ! ambiguous [x@a.com x@a.com]"},
		},
		{
			name: "two sources claim one destination by alias; a weaker rule may not take it",
			src: []platform.Mailbox{
				mb("p1@old.com", "", "team@old.com"),
				mb("p2@old.com", "", "team@old.com"),
				mb("p3@old.com", "Team"),
			},
			dst: []platform.Mailbox{mb("team@new.com", "Team", "team@old.com")},
			want: []string{
				"p1@old.com ! ambiguous [team@new.com]",
				"p2@old.com ! ambiguous [team@new.com]",
				"p3@old.com ! no_match []",
			},
		},
		{
			name: "one source matches two destinations by alias",
			src:  []platform.Mailbox{mb("m@old.com", "", "m1@x.com", "m2@x.com")},
			dst: []platform.Mailbox{
				mb("m2@new.com", "", "m2@x.com"),
				mb("m1@new.com", "", "m1@x.com"),
			},
			want: []string{"m@old.com ! ambiguous [m1@new.com m2@new.com]"},
		},
		{
			name: "a source's rival makes an otherwise unique claim ambiguous",
			src: []platform.Mailbox{
				mb("s@old.com", "", "a@x.com", "b@x.com"),
				mb("t@old.com", "", "a@x.com"),
			},
			dst: []platform.Mailbox{
				mb("a@new.com", "", "a@x.com"),
				mb("b@new.com", "", "b@x.com"),
			},
			want: []string{
				"s@old.com ! ambiguous [a@new.com b@new.com]",
				"t@old.com ! ambiguous [a@new.com]",
			},
		},
		{
			name: "no match at all",
			src:  []platform.Mailbox{mb("zed@old.com", "Zed")},
			dst:  []platform.Mailbox{mb("amy@new.com", "Amy")},
			want: []string{"zed@old.com ! no_match []"},
		},
		{
			name: "mixed: output sorted by source primary address",
			src: []platform.Mailbox{
				mb("zz@old.com", ""),
				mb("bb@old.com", "Bee"),
				mb("aa@old.com", ""),
			},
			dst: []platform.Mailbox{
				mb("aa@old.com", ""),
				mb("bee@new.com", "Bee"),
			},
			want: []string{
				"aa@old.com -> aa@old.com (primary)",
				"bb@old.com -> bee@new.com (displayname)",
				"zz@old.com ! no_match []",
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := Suggest(tt.src, tt.dst, tt.opt)
			checkInvariants(t, tt.src, r)
			if got := summary(r); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got\n  %s\nwant\n  %s", strings.Join(got, "\n  "), strings.Join(tt.want, "\n  "))
			}
		})
	}
}

func TestSuggestNonNilSlices(t *testing.T) {
	t.Parallel()
	r := Suggest(nil, nil, Options{})
	if r.Pairs == nil || r.Exceptions == nil {
		t.Fatalf("want empty, non-nil slices so JSON shows [] not null: %#v", r)
	}
}

func TestSuggestDoesNotModifyInput(t *testing.T) {
	t.Parallel()
	src := []platform.Mailbox{mb("b@x.com", ""), mb("a@x.com", "")}
	dst := []platform.Mailbox{mb("b@x.com", ""), mb("a@x.com", "")}
	srcCopy, dstCopy := slices.Clone(src), slices.Clone(dst)
	Suggest(src, dst, Options{})
	if !reflect.DeepEqual(src, srcCopy) || !reflect.DeepEqual(dst, dstCopy) {
		t.Fatal("Suggest reordered its input")
	}
}

func TestSuggestDetails(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		src, dst []platform.Mailbox
		contains []string
	}{
		{
			name:     "no match says what to do",
			src:      []platform.Mailbox{mb("zed@old.com", "")},
			contains: []string{"zed@old.com", "exclude", "creation"},
		},
		{
			name:     "contested destination is named",
			src:      []platform.Mailbox{mb("a@old.com", "", "t@x.com"), mb("b@old.com", "", "t@x.com")},
			dst:      []platform.Mailbox{mb("t@new.com", "", "t@x.com")},
			contains: []string{"t@new.com", "alias", "by hand"},
		},
		{
			name:     "several destinations are listed",
			src:      []platform.Mailbox{mb("m@old.com", "", "m1@x.com", "m2@x.com")},
			dst:      []platform.Mailbox{mb("m1@new.com", "", "m1@x.com"), mb("m2@new.com", "", "m2@x.com")},
			contains: []string{"2 destination mailboxes", "m1@new.com, m2@new.com"},
		},
		{
			name:     "shared key is named",
			src:      []platform.Mailbox{mb("s@old.com", "Sales")},
			dst:      []platform.Mailbox{mb("s1@new.com", "Sales"), mb("s2@new.com", "Sales")},
			contains: []string{`display name "sales"`, "2 possible"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := Suggest(tt.src, tt.dst, Options{})
			if len(r.Exceptions) == 0 {
				t.Fatal("want an exception")
			}
			for _, s := range tt.contains {
				if d := r.Exceptions[0].Detail; !strings.Contains(d, s) {
					t.Errorf("detail %q lacks %q", d, s)
				}
			}
		})
	}
}

func TestSuggestCandidatesCapped(t *testing.T) {
	t.Parallel()
	var dst []platform.Mailbox
	for i := range 50 {
		dst = append(dst, mb(fmt.Sprintf("shared%02d@new.com", i), "Shared Mailbox"))
	}
	r := Suggest([]platform.Mailbox{mb("s@old.com", "shared mailbox")}, dst, Options{})
	e := r.Exceptions[0]
	if e.Reason != ReasonAmbiguous || len(e.Candidates) != MaxCandidates {
		t.Fatalf("got %s with %d candidates", e.Reason, len(e.Candidates))
	}
	if !strings.Contains(e.Detail, "50 possible") {
		t.Errorf("detail should give the full count: %q", e.Detail)
	}
	if e.Candidates[0].PrimaryAddress != "shared00@new.com" {
		t.Errorf("candidates not in order: %s first", e.Candidates[0].PrimaryAddress)
	}
}

// TestSuggestDeterministic shuffles the input many times: the result must
// not depend on input order or on map iteration order.
func TestSuggestDeterministic(t *testing.T) {
	t.Parallel()
	src, dst := generate(500, 3)
	opt := Options{DomainRewrite: map[string]string{"rw.old.com": "rw.new.com"}}
	want := Suggest(src, dst, opt)
	checkInvariants(t, src, want)
	rng := rand.New(rand.NewPCG(1, 2))
	for range 20 {
		s, d := slices.Clone(src), slices.Clone(dst)
		rng.Shuffle(len(s), func(i, j int) { s[i], s[j] = s[j], s[i] })
		rng.Shuffle(len(d), func(i, j int) { d[i], d[j] = d[j], d[i] })
		if got := Suggest(s, d, opt); !reflect.DeepEqual(got, want) {
			t.Fatal("result changed with input order")
		}
	}
}

// TestSuggestScale runs the 10,000 x 10,000 case once and checks that every
// rule fired the expected number of times.
func TestSuggestScale(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("large input")
	}
	src, dst := generate(10_000, 7)
	r := Suggest(src, dst, Options{DomainRewrite: map[string]string{"rw.old.com": "rw.new.com"}})
	checkInvariants(t, src, r)
	count := map[string]int{}
	for _, p := range r.Pairs {
		count[p.Method]++
	}
	for _, e := range r.Exceptions {
		count[e.Reason]++
	}
	want := map[string]int{MethodPrimary: 4000, MethodAlias: 2000, MethodLocalPart: 2000, MethodDisplayName: 1000, ReasonNoMatch: 1000}
	if !reflect.DeepEqual(count, want) {
		t.Errorf("got %v, want %v", count, want)
	}
}

// generate builds n sources and n destinations: 40% match by primary, 20% by
// alias, 20% by rewritten domain, 10% by display name and 10% not at all.
func generate(n int, seed uint64) (src, dst []platform.Mailbox) {
	rng := rand.New(rand.NewPCG(seed, seed))
	for i := range n {
		id := fmt.Sprintf("%06d", i)
		switch pct := i * 10 / n; {
		case pct < 4:
			src = append(src, platform.Mailbox{ID: "s" + id, PrimaryAddress: "user" + id + "@same.com", DisplayName: "User " + id})
			dst = append(dst, platform.Mailbox{ID: "d" + id, PrimaryAddress: "USER" + id + "@same.com", DisplayName: "User " + id})
		case pct < 6:
			src = append(src, platform.Mailbox{ID: "s" + id, PrimaryAddress: "al" + id + "@old.com", Aliases: []string{"x" + id + "@old.com", "al" + id + "@alias.com"}})
			dst = append(dst, platform.Mailbox{ID: "d" + id, PrimaryAddress: "other" + id + "@new.com", Aliases: []string{"al" + id + "@alias.com"}})
		case pct < 8:
			src = append(src, platform.Mailbox{ID: "s" + id, PrimaryAddress: "rw" + id + "@rw.old.com"})
			dst = append(dst, platform.Mailbox{ID: "d" + id, PrimaryAddress: "rw" + id + "@rw.new.com"})
		case pct < 9:
			src = append(src, platform.Mailbox{ID: "s" + id, PrimaryAddress: "dn" + id + "@old.com", DisplayName: "Person  " + id})
			dst = append(dst, platform.Mailbox{ID: "d" + id, PrimaryAddress: "p" + id + "@new.com", DisplayName: "person " + id})
		default:
			src = append(src, platform.Mailbox{ID: "s" + id, PrimaryAddress: "lost" + id + "@old.com"})
			dst = append(dst, platform.Mailbox{ID: "d" + id, PrimaryAddress: "unused" + id + "@new.com"})
		}
	}
	rng.Shuffle(len(src), func(i, j int) { src[i], src[j] = src[j], src[i] })
	rng.Shuffle(len(dst), func(i, j int) { dst[i], dst[j] = dst[j], dst[i] })
	return src, dst
}

func BenchmarkSuggest10k(b *testing.B) {
	src, dst := generate(10_000, 7)
	opt := Options{DomainRewrite: map[string]string{"rw.old.com": "rw.new.com"}}
	b.ReportAllocs()
	for b.Loop() {
		Suggest(src, dst, opt)
	}
}

// BenchmarkSuggest10kNoRewrite exercises the uniqueness rules, including a
// display name shared by half the mailboxes, the case that would go
// quadratic if candidates were listed naively.
func BenchmarkSuggest10kNoRewrite(b *testing.B) {
	var src, dst []platform.Mailbox
	for i := range 10_000 {
		name := fmt.Sprintf("Person %d", i)
		if i%2 == 0 {
			name = "Shared Mailbox"
		}
		src = append(src, platform.Mailbox{ID: fmt.Sprint(i), PrimaryAddress: fmt.Sprintf("s%d@old.com", i), DisplayName: name})
		dst = append(dst, platform.Mailbox{ID: fmt.Sprint(i), PrimaryAddress: fmt.Sprintf("d%d@new.com", i), DisplayName: name})
	}
	b.ReportAllocs()
	for b.Loop() {
		Suggest(src, dst, Options{})
	}
}
