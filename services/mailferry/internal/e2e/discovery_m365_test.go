package e2e

import (
	"testing"
	"time"

	"github.com/mailferry/mailferry/libs/platform"
	"github.com/mailferry/mailferry/libs/platform/memory"
	"github.com/mailferry/mailferry/libs/sandbox/graph"
)

// TestDiscoveryOf1000M365Mailboxes: discovery of a 1,000-mailbox Graph
// sandbox tenant reports exact counts and sizes per mailbox and per folder,
// checked against the sandbox's own store.
func TestDiscoveryOf1000M365Mailboxes(t *testing.T) {
	const users = 1000
	gsb, _, fields, secrets := graphTenant(t, 0, 0)
	gsb.Seed(graph.SeedSpec{Users: users, MessagesPerUser: 3, Seed: 21})
	store := memory.NewStore()
	dst := store.AddTenant("dst", "dest.example")
	dst.AddMailbox(platform.Mailbox{PrimaryAddress: "someone@dest.example"})
	msrv := httpTestServer(t, memory.NewHandler(store))
	c := startCluster(t)
	a, _, _, pid := setupKinds(t, c.api, 1, "m365", "memory",
		map[string]any{"fields": fields, "secrets": secrets},
		map[string]any{"fields": map[string]string{"endpoint": msrv, "tenant": "dst"}, "secrets": map[string]string{"token": dst.Token()}})

	var created struct {
		Run run `json:"run"`
	}
	start := time.Now()
	a.must("POST", "/api/projects/"+pid+"/runs", map[string]any{"mode": "discovery"}, &created)
	if r := a.waitRun(created.Run.ID, 8*time.Minute); r.State != "completed" {
		t.Fatalf("discovery ended %s: %s %s", r.State, r.Code, r.Reason)
	}
	t.Logf("discovery of %d mailboxes took %s", users, time.Since(start).Round(time.Millisecond))
	var res struct {
		SourceMailboxes int `json:"sourceMailboxes"`
		Mailboxes       []struct {
			Mailbox platform.Mailbox `json:"mailbox"`
			Stats   platform.Stats   `json:"stats"`
			Folders []struct {
				Path  string `json:"path"`
				Kind  string `json:"kind"`
				Items int    `json:"items"`
				Bytes int64  `json:"bytes"`
			} `json:"folders"`
		} `json:"mailboxes"`
	}
	a.must("GET", "/api/projects/"+pid+"/discovery?side=source&limit=1000", nil, &res)
	if res.SourceMailboxes != users || len(res.Mailboxes) != users {
		t.Fatalf("discovery found %d mailboxes (%d listed), want %d", res.SourceMailboxes, len(res.Mailboxes), users)
	}
	checked := 0
	for _, m := range res.Mailboxes {
		truth := gsb.FolderTotals(m.Mailbox.ID)
		var mail int
		var bytes int64
		for _, tot := range truth {
			mail += tot.Items
			bytes += tot.Bytes
		}
		if m.Stats.Mail != mail {
			t.Fatalf("%s: %d mail items, the store holds %d", m.Mailbox.PrimaryAddress, m.Stats.Mail, mail)
		}
		for _, f := range m.Folders {
			if f.Kind != string(platform.Mail) {
				continue
			}
			tot, ok := truth[f.Path]
			if !ok {
				t.Fatalf("%s: discovery reports folder %q the store does not have (store: %v)", m.Mailbox.PrimaryAddress, f.Path, keys(truth))
			}
			if f.Items != tot.Items || f.Bytes != tot.Bytes {
				t.Fatalf("%s %s: %d items %d bytes, the store holds %d items %d bytes", m.Mailbox.PrimaryAddress, f.Path, f.Items, f.Bytes, tot.Items, tot.Bytes)
			}
			checked++
		}
	}
	if checked < users {
		t.Fatalf("only %d folders compared", checked)
	}
}

func keys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}
