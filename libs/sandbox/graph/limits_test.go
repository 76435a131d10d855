package graph_test

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	msgraphcore "github.com/microsoftgraph/msgraph-sdk-go-core"
	"github.com/microsoftgraph/msgraph-sdk-go/models"
	"github.com/microsoftgraph/msgraph-sdk-go/models/odataerrors"

	"github.com/mailferry/mailferry/libs/bus/bustest"
	"github.com/mailferry/mailferry/libs/sandbox/graph"
)

func TestRequestRateIsThrottledWithRetryAfter(t *testing.T) {
	sb := start(t, graph.Config{Limits: graph.Limits{RequestsPerWindow: 3, Window: time.Minute}})
	uid := sb.AddUser("jo@"+sb.Domain(), "Jo")
	gc := client(t, sb, defaultCred(t, sb), clientOpts{noRetry: true})
	ctx := context.Background()
	for range 3 {
		if _, err := gc.Users().ByUserId(uid).MailFolders().ByMailFolderId("inbox").Get(ctx, nil); err != nil {
			t.Fatal(err)
		}
	}
	_, err := gc.Users().ByUserId(uid).MailFolders().ByMailFolderId("inbox").Get(ctx, nil)
	code, status := odataErr(t, err)
	if status != 429 || code != "ApplicationThrottled" {
		t.Fatalf("4th request: %s %d", code, status)
	}
	var oe *odataerrors.ODataError
	errors.As(err, &oe)
	ra := oe.GetResponseHeaders().Get("Retry-After")
	if len(ra) != 1 {
		t.Fatalf("Retry-After %v", ra)
	}
	if secs, _ := strconv.Atoi(ra[0]); secs < 1 || secs > 60 {
		t.Fatalf("Retry-After %q", ra[0])
	}
	// The limit is per mailbox: another mailbox is not affected.
	other := sb.AddUser("kim@"+sb.Domain(), "Kim")
	if _, err := gc.Users().ByUserId(other).MailFolders().ByMailFolderId("inbox").Get(ctx, nil); err != nil {
		t.Fatalf("other mailbox: %v", err)
	}
}

func TestSDKRetriesThrottledRequestsAfterRetryAfter(t *testing.T) {
	sb := start(t, graph.Config{Limits: graph.Limits{RequestsPerWindow: 2, Window: 500 * time.Millisecond}})
	uid := sb.AddUser("lee@"+sb.Domain(), "Lee")
	gc := sdkClient(t, sb) // with the default retry handler
	ctx := context.Background()
	for range 4 {
		if _, err := gc.Users().ByUserId(uid).MailFolders().ByMailFolderId("inbox").Get(ctx, nil); err != nil {
			t.Fatal(err)
		}
	}
	if sb.Throttled() == 0 {
		t.Fatal("no request was throttled")
	}
}

func TestConcurrencyPerMailboxIsLimited(t *testing.T) {
	sb := start(t, graph.Config{Limits: graph.Limits{Concurrent: 2}, Faults: graph.Faults{Latency: 300 * time.Millisecond}})
	uid := sb.AddUser("max@"+sb.Domain(), "Max")
	gc := client(t, sb, defaultCred(t, sb), clientOpts{noRetry: true})
	ctx := context.Background()
	if _, err := gc.Users().ByUserId(uid).MailFolders().Get(ctx, nil); err != nil { // warm the token
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	ok, throttled := 0, 0
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := gc.Users().ByUserId(uid).MailFolders().ByMailFolderId("inbox").Get(ctx, nil)
			mu.Lock()
			defer mu.Unlock()
			if err == nil {
				ok++
				return
			}
			var oe *odataerrors.ODataError
			if errors.As(err, &oe) && oe.ResponseStatusCode == 429 && strings.Contains(*oe.GetErrorEscaped().GetMessage(), "MailboxConcurrency") {
				throttled++
			}
		}()
	}
	wg.Wait()
	if ok < 2 || throttled == 0 || ok+throttled != 8 {
		t.Fatalf("ok=%d throttled=%d", ok, throttled)
	}
}

func TestUploadBytesAreThrottled(t *testing.T) {
	sb := start(t, graph.Config{Limits: graph.Limits{UploadBytes: 1500, UploadWindow: time.Minute}})
	uid := sb.AddUser("ned@"+sb.Domain(), "Ned")
	tok := token(t, sb)
	body := `{"subject":"` + strings.Repeat("x", 1000) + `"}`
	res, _ := rawDo(t, sb, "POST", "/v1.0/users/"+uid+"/messages", tok, body, map[string]string{"Content-Type": "application/json"})
	if res.StatusCode != 201 {
		t.Fatalf("first upload: %d", res.StatusCode)
	}
	res, b := rawDo(t, sb, "POST", "/v1.0/users/"+uid+"/messages", tok, body, map[string]string{"Content-Type": "application/json"})
	if res.StatusCode != 429 || res.Header.Get("Retry-After") == "" || !strings.Contains(string(b), "IncomingBytes") {
		t.Fatalf("second upload: %d %s", res.StatusCode, b)
	}
	// Reads are not uploads.
	if res, _ := rawDo(t, sb, "GET", "/v1.0/users/"+uid+"/messages", tok, "", nil); res.StatusCode != 200 {
		t.Fatalf("read after upload budget: %d", res.StatusCode)
	}
}

func TestBatchThroughTheSDKThrottlesEachRequest(t *testing.T) {
	sb := start(t, graph.Config{})
	uid := sb.Seed(graph.SeedSpec{Users: 1, MessagesPerUser: 12, Seed: 1})[0]
	gc := sdkClient(t, sb)
	ctx := context.Background()
	adapter := gc.GetAdapter()

	batch := msgraphcore.NewBatchRequest(adapter)
	inboxReq, _ := gc.Users().ByUserId(uid).MailFolders().ByMailFolderId("inbox").ToGetRequestInformation(ctx, nil)
	missingReq, _ := gc.Users().ByUserId(uid).Messages().ByMessageId("AAMkAGnotthere=").ToGetRequestInformation(ctx, nil)
	usersReq, _ := gc.Users().ToGetRequestInformation(ctx, nil)
	inboxStep, err := batch.AddBatchRequestStep(*inboxReq)
	if err != nil {
		t.Fatal(err)
	}
	missingStep, _ := batch.AddBatchRequestStep(*missingReq)
	usersStep, _ := batch.AddBatchRequestStep(*usersReq)
	resp, err := batch.Send(ctx, adapter)
	if err != nil {
		t.Fatal(err)
	}
	inbox, err := msgraphcore.GetBatchResponseById[models.MailFolderable](resp, *inboxStep.GetId(), models.CreateMailFolderFromDiscriminatorValue)
	if err != nil || *inbox.GetDisplayName() != "Inbox" {
		t.Fatalf("inbox step: %v", err)
	}
	us, err := msgraphcore.GetBatchResponseById[models.UserCollectionResponseable](resp, *usersStep.GetId(), models.CreateUserCollectionResponseFromDiscriminatorValue)
	if err != nil || len(us.GetValue()) != 1 {
		t.Fatalf("users step: %v", err)
	}
	if st := resp.GetStatusCodes()[*missingStep.GetId()]; st != 404 {
		t.Fatalf("missing message step: %d", st)
	}

	// Ten requests for one mailbox against a budget of five: exactly five
	// are answered, five are throttled with Retry-After inside the batch.
	sb.SetLimits(graph.Limits{RequestsPerWindow: 5, Window: time.Minute})
	b2 := msgraphcore.NewBatchRequest(adapter)
	for range 10 {
		ri, _ := gc.Users().ByUserId(uid).MailFolders().ByMailFolderId("inbox").Messages().ToGetRequestInformation(ctx, nil)
		if _, err := b2.AddBatchRequestStep(*ri); err != nil {
			t.Fatal(err)
		}
	}
	resp2, err := b2.Send(ctx, adapter)
	if err != nil {
		t.Fatal(err)
	}
	okN, throttled := 0, 0
	for _, item := range resp2.GetResponses() {
		switch *item.GetStatus() {
		case 200:
			okN++
		case 429:
			if item.GetHeaders()["Retry-After"] == "" {
				t.Fatal("429 inside the batch without Retry-After")
			}
			throttled++
		}
	}
	if okN != 5 || throttled != 5 {
		t.Fatalf("ok=%d throttled=%d", okN, throttled)
	}

	// More than twenty requests is refused as a whole.
	var reqs []map[string]any
	for i := range 21 {
		reqs = append(reqs, map[string]any{"id": strconv.Itoa(i), "method": "GET", "url": "/users"})
	}
	raw, _ := json.Marshal(map[string]any{"requests": reqs})
	res, _ := rawDo(t, sb, "POST", "/v1.0/$batch", token(t, sb), string(raw), map[string]string{"Content-Type": "application/json"})
	if res.StatusCode != 400 {
		t.Fatalf("21 requests: %d", res.StatusCode)
	}
}

func TestBatchDependsOnFailsDependents(t *testing.T) {
	sb := start(t, graph.Config{})
	uid := sb.AddUser("ola@"+sb.Domain(), "Ola")
	raw := `{"requests":[
	  {"id":"1","method":"GET","url":"/users/` + uid + `/messages/missing"},
	  {"id":"2","method":"GET","url":"/users/` + uid + `/mailFolders/inbox","dependsOn":["1"]},
	  {"id":"3","method":"POST","url":"/users/` + uid + `/mailFolders","headers":{"Content-Type":"application/json"},"body":{"displayName":"Batch"}}]}`
	res, body := rawDo(t, sb, "POST", "/v1.0/$batch", token(t, sb), raw, map[string]string{"Content-Type": "application/json"})
	var out struct {
		Responses []struct {
			ID     string `json:"id"`
			Status int    `json:"status"`
		} `json:"responses"`
	}
	if err := json.Unmarshal(body, &out); err != nil || res.StatusCode != 200 {
		t.Fatalf("batch: %d %v", res.StatusCode, err)
	}
	got := map[string]int{}
	for _, r := range out.Responses {
		got[r.ID] = r.Status
	}
	if got["1"] != 404 || got["2"] != 424 || got["3"] != 201 {
		t.Fatalf("statuses %v", got)
	}
}

func TestFaults(t *testing.T) {
	sb := start(t, graph.Config{})
	uid := sb.AddUser("pat@"+sb.Domain(), "Pat")
	tok := token(t, sb)
	sb.SetFaults(graph.Faults{FailEvery: 2})
	statuses := []int{}
	for range 4 {
		res, _ := rawDo(t, sb, "GET", "/v1.0/users/"+uid+"/mailFolders", tok, "", nil)
		statuses = append(statuses, res.StatusCode)
	}
	fails := 0
	for _, s := range statuses {
		if s == 503 {
			fails++
		}
	}
	if fails != 2 {
		t.Fatalf("statuses %v", statuses)
	}
	// The SDK's retry handler rides over them.
	gc := sdkClient(t, sb)
	for range 3 {
		if _, err := gc.Users().ByUserId(uid).MailFolders().Get(context.Background(), nil); err != nil {
			t.Fatalf("SDK over 503s: %v", err)
		}
	}

	sb.SetFaults(graph.Faults{DropEvery: 1})
	req, _ := http.NewRequest("GET", sb.BaseURL()+"/v1.0/users/"+uid+"/mailFolders", nil)
	req.Header.Set("Authorization", "Bearer "+tok)
	if res, err := (&http.Client{Transport: transport(sb)}).Do(req); err == nil {
		res.Body.Close()
		t.Fatalf("dropped connection answered %d", res.StatusCode)
	}
	sb.SetFaults(graph.Faults{})
	if res, _ := rawDo(t, sb, "GET", "/v1.0/users/"+uid+"/mailFolders", tok, "", nil); res.StatusCode != 200 {
		t.Fatalf("after faults: %d", res.StatusCode)
	}
}

func TestServePrintsAWorkingConnectionLine(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() { done <- graph.Serve(ctx, "127.0.0.1:0", 7, 3, 5, pw) }()
	line, err := bufio.NewReader(pr).ReadString('\n')
	if err != nil {
		t.Fatal(err)
	}
	go func() { _, _ = io.Copy(io.Discard, pr) }()
	var info struct{ BaseURL, AuthorityURL, CAFile, TenantID, ClientID, ClientSecret string }
	if err := json.Unmarshal([]byte(line), &info); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(info.BaseURL, "https://127.0.0.1:") || info.AuthorityURL != info.BaseURL+"/" || info.CAFile == "" || info.ClientSecret == "" {
		t.Fatalf("connection line %s", line)
	}
	// Connect with nothing but the printed line.
	v, err := newFromLine(info.BaseURL, info.CAFile)
	if err != nil {
		t.Fatal(err)
	}
	tokReq := "grant_type=client_credentials&client_id=" + info.ClientID + "&client_secret=" + info.ClientSecret + "&scope=https%3A%2F%2Fgraph.microsoft.com%2F.default"
	res, err := v.Post(info.AuthorityURL+info.TenantID+"/oauth2/v2.0/token", "application/x-www-form-urlencoded", strings.NewReader(tokReq))
	if err != nil {
		t.Fatal(err)
	}
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	_ = json.NewDecoder(res.Body).Decode(&tok)
	res.Body.Close()
	req, _ := http.NewRequest("GET", info.BaseURL+"/v1.0/users?$select=id", nil)
	req.Header.Set("Authorization", "Bearer "+tok.AccessToken)
	res, err = v.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var users struct{ Value []map[string]any }
	_ = json.NewDecoder(res.Body).Decode(&users)
	res.Body.Close()
	if len(users.Value) != 3 {
		t.Fatalf("served users: %d", len(users.Value))
	}
	cancel()
	bustest.Eventually(t, 5*time.Second, "Serve to return after its context ends", func() bool {
		select {
		case err := <-done:
			return err == nil
		default:
			return false
		}
	})
}

// newFromLine builds an HTTP client trusting the CA file Serve wrote.
func newFromLine(_ string, caFile string) (*http.Client, error) {
	pem, err := os.ReadFile(caFile)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, errors.New("no certificate in the CA file")
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	return &http.Client{Transport: tr, Timeout: 30 * time.Second}, nil
}
