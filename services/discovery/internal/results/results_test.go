package results

import (
	"fmt"
	"testing"

	"github.com/mailferry/mailferry/events/discovery"
	"github.com/mailferry/mailferry/libs/errs"
	"github.com/mailferry/mailferry/libs/platform"
)

func md(addr, name string, size int64, mail int) discovery.MailboxDiscovered {
	return discovery.MailboxDiscovered{
		Mailbox: platform.Mailbox{ID: addr, PrimaryAddress: addr, DisplayName: name},
		Stats:   platform.Stats{SizeBytes: size, Mail: mail},
	}
}

func addrs(ms []discovery.MailboxDiscovered) string {
	s := ""
	for _, m := range ms {
		s += m.Mailbox.PrimaryAddress + " "
	}
	return s
}

func TestSelect(t *testing.T) {
	t.Parallel()
	all := []discovery.MailboxDiscovered{
		md("carol@x", "Carol Ng", 300, 1), md("alice@x", "Alice Smith", 100, 9),
		md("bob@x", "Bob Smith", 300, 5), md("dave@x", "Dave", 50, 5),
	}
	tests := []struct {
		name      string
		req       Request
		want      string
		wantTotal int
	}{
		{"default A to Z", Request{}, "alice@x bob@x carol@x dave@x ", 4},
		{"address descending", Request{Order: "desc"}, "dave@x carol@x bob@x alice@x ", 4},
		{"size largest first, ties A to Z", Request{Sort: BySize}, "bob@x carol@x alice@x dave@x ", 4},
		{"size ascending", Request{Sort: BySize, Order: "asc"}, "dave@x alice@x bob@x carol@x ", 4},
		{"items largest first", Request{Sort: ByItems}, "alice@x bob@x dave@x carol@x ", 4},
		{"filter by display name, any case", Request{Filter: "smITH"}, "alice@x bob@x ", 2},
		{"filter by address", Request{Filter: "dave@"}, "dave@x ", 1},
		{"second page", Request{Offset: 1, Limit: 2}, "bob@x carol@x ", 4},
		{"past the end", Request{Offset: 10}, "", 4},
		{"filter matches nothing", Request{Filter: "zed"}, "", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r, err := tt.req.Normalize()
			if err != nil {
				t.Fatal(err)
			}
			got, total := Select(all, r)
			if addrs(got) != tt.want || total != tt.wantTotal {
				t.Fatalf("got %q (total %d), want %q (total %d)", addrs(got), total, tt.want, tt.wantTotal)
			}
		})
	}
	if addrs(all) != "carol@x alice@x bob@x dave@x " {
		t.Fatalf("Select reordered its input: %s", addrs(all))
	}
}

func TestNormalize(t *testing.T) {
	t.Parallel()
	tests := []struct {
		req       Request
		wantField string
		wantLimit int
	}{
		{Request{}, "", DefaultLimit},
		{Request{Limit: 5000}, "", MaxLimit},
		{Request{Sort: "name"}, "sort", 0},
		{Request{Order: "up"}, "order", 0},
		{Request{Offset: -1}, "offset", 0},
		{Request{Limit: -1}, "limit", 0},
	}
	for i, tt := range tests {
		t.Run(fmt.Sprint(i), func(t *testing.T) {
			t.Parallel()
			r, err := tt.req.Normalize()
			if tt.wantField == "" {
				if err != nil || r.Limit != tt.wantLimit {
					t.Fatalf("got %+v, %v", r, err)
				}
				return
			}
			e, ok := errs.As(err)
			if !ok || e.Code != errs.Invalid || e.Field != tt.wantField {
				t.Fatalf("got %v, want invalid %s", err, tt.wantField)
			}
		})
	}
}

func TestSelectTenThousand(t *testing.T) {
	t.Parallel()
	var all []discovery.MailboxDiscovered
	for i := 0; i < 10000; i++ {
		all = append(all, md(fmt.Sprintf("user%05d@x", i), "", int64(i), i%7))
	}
	r, _ := Request{Sort: BySize, Offset: 9990, Limit: 50}.Normalize()
	got, total := Select(all, r)
	if total != 10000 || len(got) != 10 || got[0].Stats.SizeBytes != 9 || got[9].Stats.SizeBytes != 0 {
		t.Fatalf("total %d, page %s", total, addrs(got))
	}
}
