package graph_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mailferry/mailferry/libs/sandbox/graph"
)

// TestRenderingHoldsNoStoreLock: while one user's messages are being
// rendered as MIME and parsed (a listing without $select), held there by a
// render hook, another user's listing, $value, message creation and a
// mailbox-wide marker query all complete. Were the store's lock held while
// rendering, as it once was, they would wait behind it and fail here with
// their deadline; with messages of 75 KB on average that lock would
// serialise every mailbox of the tenant.
func TestRenderingHoldsNoStoreLock(t *testing.T) {
	t.Parallel()
	sb := start(t, graph.Config{})
	ids := sb.Seed(graph.SeedSpec{Users: 2, MessagesPerUser: 4, Seed: 41})
	held, other := ids[0], ids[1]
	tok := token(t, sb)

	entered, release := make(chan struct{}), make(chan struct{})
	var once sync.Once
	graph.SetRenderHook(sb, func(userID string) {
		if userID != held {
			return
		}
		once.Do(func() { close(entered) })
		select {
		case <-release:
		case <-time.After(time.Minute): // never hang the test binary
		}
	})
	t.Cleanup(func() { graph.SetRenderHook(sb, nil) })

	heldDone := make(chan int, 1)
	go func() {
		req, _ := http.NewRequest(http.MethodGet, sb.BaseURL()+"/v1.0/users/"+held+"/messages", nil)
		req.Header.Set("Authorization", "Bearer "+tok)
		res, err := (&http.Client{Transport: transport(sb)}).Do(req)
		if err != nil {
			heldDone <- 0
			return
		}
		res.Body.Close()
		heldDone <- res.StatusCode
	}()
	select {
	case <-entered:
	case <-time.After(30 * time.Second):
		t.Fatal("the held user's listing never reached rendering")
	}

	// The held request is parked inside rendering; everything below needs
	// the store lock at some point.
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	do := func(method, path, body string) (int, []byte) {
		t.Helper()
		req, _ := http.NewRequestWithContext(ctx, method, sb.BaseURL()+path, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+tok)
		if body != "" {
			req.Header.Set("Content-Type", "application/json")
		}
		res, err := (&http.Client{Transport: transport(sb)}).Do(req)
		if err != nil {
			t.Fatalf("%s %s while another user's messages render: %v (waiting behind the store lock?)", method, path, err)
		}
		defer res.Body.Close()
		var b strings.Builder
		buf := make([]byte, 32<<10)
		for {
			n, err := res.Body.Read(buf)
			b.Write(buf[:n])
			if err != nil {
				break
			}
		}
		return res.StatusCode, []byte(b.String())
	}
	code, body := do(http.MethodGet, "/v1.0/users/"+other+"/messages", "")
	var list struct {
		Value []struct {
			ID      string `json:"id"`
			Subject string `json:"subject"`
		} `json:"value"`
	}
	if code != 200 || json.Unmarshal(body, &list) != nil || len(list.Value) == 0 || list.Value[0].Subject == "" {
		t.Fatalf("the other user's listing: %d %.200s", code, body)
	}
	if code, body := do(http.MethodGet, "/v1.0/users/"+other+"/messages/"+list.Value[0].ID+"/$value", ""); code != 200 || !strings.Contains(string(body), "Message-ID") {
		t.Fatalf("the other user's $value: %d %.200s", code, body)
	}
	if code, body := do(http.MethodPost, "/v1.0/users/"+other+"/mailFolders/inbox/messages",
		`{"subject":"while another renders","body":{"contentType":"text","content":"hi"},"singleValueExtendedProperties":[{"id":"String {6f2bd7c4-7a3e-4a56-9b7d-2f1c0e3a5b10} Name mailferryMarker","value":"mf1-render"}]}`); code != 201 {
		t.Fatalf("creating a message for the other user: %d %.200s", code, body)
	}
	filter := "singleValueExtendedProperties/any(ep:ep/id eq 'String {6f2bd7c4-7a3e-4a56-9b7d-2f1c0e3a5b10} Name mailferryMarker' and ep/value eq 'mf1-render')"
	if code, body := do(http.MethodGet, "/v1.0/users/"+other+"/messages?$select=id&$filter="+url.QueryEscape(filter), ""); code != 200 || !strings.Contains(string(body), `"id"`) {
		t.Fatalf("the marker query of the other user: %d %.200s", code, body)
	}
	// A filter on what only the MIME says is evaluated on copies, after
	// the lock.
	subject := url.QueryEscape("subject eq 'while another renders'")
	if code, body := do(http.MethodGet, "/v1.0/users/"+other+"/messages?$select=subject&$count=true&$filter="+subject, ""); code != 200 ||
		!strings.Contains(string(body), `"@odata.count":1`) || !strings.Contains(string(body), "while another renders") {
		t.Fatalf("a subject filter of the other user: %d %.300s", code, body)
	}
	select {
	case code := <-heldDone:
		t.Fatalf("the held listing finished (%d) before it was released: the hook did not hold it", code)
	default:
	}
	close(release)
	if code := <-heldDone; code != 200 {
		t.Errorf("the held listing answered %d once released", code)
	}
}
