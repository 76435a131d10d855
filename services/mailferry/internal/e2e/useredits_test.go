package e2e

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/mail"
	"net/url"
	"strings"
	"testing"

	"github.com/mailferry/mailferry/libs/platform"
	"github.com/mailferry/mailferry/libs/sandbox/graph"
)

// userEdits are what a mailbox's user did at the source between the full
// run and the delta run, for the delta step to find at the destination.
type userEdits struct {
	// Changed is the Message-ID of a message whose read state and flag
	// were changed, to Read and Flagged.
	Changed       string
	Read, Flagged bool
	// Deleted is the Message-ID of a message deleted for good.
	Deleted string
}

// graphUser acts as a mailbox's user against a Graph sandbox through plain
// REST calls with an app token from the sandbox's token endpoint, as any
// Graph client would: nothing here goes through mailferry's connector.
type graphUser struct {
	base, token string
	hc          *http.Client
}

func newGraphUser(t *testing.T, sb *graph.Sandbox) graphUser {
	t.Helper()
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: sb.CertPool()}}}
	tenant, client, secret := sb.Credentials()
	form := url.Values{"grant_type": {"client_credentials"}, "client_id": {client}, "client_secret": {secret},
		"scope": {"https://graph.microsoft.com/.default"}}
	resp, err := hc.PostForm(sb.AuthorityURL()+tenant+"/oauth2/v2.0/token", form)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&tok); err != nil || resp.StatusCode != http.StatusOK || tok.AccessToken == "" {
		t.Fatalf("token: HTTP %d, %v", resp.StatusCode, err)
	}
	return graphUser{base: sb.BaseURL() + "/v1.0", token: tok.AccessToken, hc: hc}
}

func (g graphUser) do(t *testing.T, method, path string, body any) {
	t.Helper()
	g.call(t, method, path, body, nil)
}

// call sends one request and decodes a JSON answer into out (if not nil).
func (g graphUser) call(t *testing.T, method, path string, body, out any) {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, g.base+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+g.token)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := g.hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 300 {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("%s %s: HTTP %d %s", method, path, resp.StatusCode, b)
	}
	if out != nil {
		if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
			t.Fatalf("%s %s: %v", method, path, err)
		}
	}
}

// editInbox makes the user of mailbox mb toggle the read state and flag of
// one inbox message and delete another one for good.
func (g graphUser) editInbox(t *testing.T, src platform.Connector, mb string) userEdits {
	t.Helper()
	msgs := inboxMessages(t, src, mb)
	if len(msgs) < 2 {
		t.Fatalf("mailbox %s has %d inbox messages, want at least 2", mb, len(msgs))
	}
	changed, deleted := msgs[0], msgs[1]
	e := userEdits{Changed: messageID(t, changed), Read: !changed.Read, Flagged: !changed.Flagged, Deleted: messageID(t, deleted)}
	status := "notFlagged"
	if e.Flagged {
		status = "flagged"
	}
	id := url.PathEscape(changed.Ref.ID)
	g.do(t, http.MethodPatch, "/users/"+url.PathEscape(mb)+"/messages/"+id, map[string]any{"isRead": e.Read, "flag": map[string]string{"flagStatus": status}})
	g.do(t, http.MethodPost, "/users/"+url.PathEscape(mb)+"/messages/"+url.PathEscape(deleted.Ref.ID)+"/permanentDelete", nil)
	return e
}

func inboxMessages(t *testing.T, c platform.Connector, mb string) []platform.Item {
	t.Helper()
	ctx := context.Background()
	folders, err := c.Folders(ctx, mb)
	if err != nil {
		t.Fatal(err)
	}
	var out []platform.Item
	for _, f := range folders {
		if f.Role != platform.RoleInbox {
			continue
		}
		for tok := ""; ; {
			p, err := c.Items(ctx, mb, f.ID, tok)
			if err != nil {
				t.Fatal(err)
			}
			for _, r := range p.Items {
				it, err := c.ReadItem(ctx, mb, r)
				if err != nil {
					t.Fatal(err)
				}
				out = append(out, it)
			}
			if p.NextToken == "" {
				break
			}
			tok = p.NextToken
		}
	}
	return out
}

func messageID(t *testing.T, it platform.Item) string {
	t.Helper()
	m, err := mail.ReadMessage(bytes.NewReader(it.Content))
	if err != nil {
		t.Fatalf("item %s is not RFC 5322: %v", it.Ref.ID, err)
	}
	return strings.TrimSpace(m.Header.Get("Message-ID"))
}

// checkEdits finds the user's edits at the destination: the changed message
// once, with its new read state and flag, and the deleted one nowhere.
func checkEdits(t *testing.T, dst platform.Connector, mb string, e userEdits) {
	t.Helper()
	ctx := context.Background()
	folders, err := dst.Folders(ctx, mb)
	if err != nil {
		t.Fatal(err)
	}
	var found []platform.Item
	for _, f := range folders {
		if f.Kind != platform.Mail {
			continue
		}
		for tok := ""; ; {
			p, err := dst.Items(ctx, mb, f.ID, tok)
			if err != nil {
				t.Fatal(err)
			}
			for _, r := range p.Items {
				it, err := dst.ReadItem(ctx, mb, r)
				if err != nil {
					t.Fatal(err)
				}
				switch messageID(t, it) {
				case e.Deleted:
					t.Errorf("the message deleted at the source, %s, is still at the destination in %q", e.Deleted, f.Name)
				case e.Changed:
					found = append(found, it)
				}
			}
			if p.NextToken == "" {
				break
			}
			tok = p.NextToken
		}
	}
	if len(found) != 1 {
		t.Fatalf("the changed message %s is %d times at the destination, want once", e.Changed, len(found))
	}
	if it := found[0]; it.Read != e.Read || it.Flagged != e.Flagged {
		t.Errorf("the changed message is read=%v flagged=%v at the destination, want read=%v flagged=%v", it.Read, it.Flagged, e.Read, e.Flagged)
	}
}

func (e userEdits) String() string {
	return fmt.Sprintf("changed %s (read=%v flagged=%v), deleted %s", e.Changed, e.Read, e.Flagged, e.Deleted)
}
