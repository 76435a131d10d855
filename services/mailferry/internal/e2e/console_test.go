package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/mailferry/mailferry/libs/bus/bustest"
	"github.com/mailferry/mailferry/libs/connectors/m365"
	"github.com/mailferry/mailferry/libs/platform"
	"github.com/mailferry/mailferry/libs/platform/memory"
	"github.com/mailferry/mailferry/libs/sandbox/graph"
	"github.com/mailferry/mailferry/services/mailferry/internal/browser"
)

// The console's browser tests drive Debian's Chromium headless against
// the services running as OS processes and sandbox tenants served over
// real HTTP. `make test` installs Chromium; without it they skip and say
// so.

// tab is a browser tab on the console.
type tab struct {
	t         *testing.T
	ctx       context.Context
	base      string
	downloads string
	mu        sync.Mutex
	errors    []string
}

func openConsole(t *testing.T, base string) *tab {
	t.Helper()
	if _, err := browser.Path(); errors.Is(err, browser.ErrNoChromium) {
		t.Skipf("SKIPPED, not run: %v", err)
	}
	dl := t.TempDir()
	ctx, cancel, err := browser.New(context.Background(), dl)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cancel)
	b := &tab{t: t, ctx: ctx, base: base, downloads: dl}
	msgs := chromedp.Console(ctx)
	go func() {
		for m, err := range msgs {
			if err != nil {
				return
			}
			if m.IsException() {
				b.mu.Lock()
				b.errors = append(b.errors, m.String())
				b.mu.Unlock()
			}
		}
	}()
	t.Cleanup(func() {
		b.mu.Lock()
		defer b.mu.Unlock()
		for _, e := range b.errors {
			t.Errorf("uncaught exception in the console: %s", e)
		}
	})
	return b
}

// do runs actions with a timeout; a failure saves a screenshot of the page
// for the report.
func (b *tab) do(actions ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 60*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		b.fail("%v", err)
	}
}

func (b *tab) fail(format string, args ...any) {
	b.t.Helper()
	msg := fmt.Sprintf(format, args...)
	ctx, cancel := context.WithTimeout(b.ctx, 10*time.Second)
	defer cancel()
	if png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100)); err == nil {
		p := filepath.Join(os.TempDir(), fmt.Sprintf("console-failure-%d.png", time.Now().UnixNano()))
		if os.WriteFile(p, png, 0o644) == nil {
			msg += "\nscreenshot of the page: " + p
		}
	}
	if text, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.querySelector('main') ? document.querySelector('main').innerText : ''`)); err == nil {
		msg += "\npage text:\n" + tail(text, 3000)
	}
	b.t.Fatal(msg)
}

// eval evaluates a JavaScript expression in the page.
func eval[T any](b *tab, js string) T {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 30*time.Second)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](js, chromedp.EvalAwaitPromise))
	if err != nil {
		b.fail("evaluate %s: %v", js, err)
	}
	return v
}

// until waits for a JavaScript condition to hold.
func (b *tab) until(what, js string, timeout time.Duration) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, timeout+5*time.Second)
	defer cancel()
	if _, err := chromedp.Run(ctx, chromedp.Poll[bool](js, chromedp.WithPollingTimeout(timeout), chromedp.WithPollingInterval(100*time.Millisecond))); err != nil {
		b.fail("waiting for %s: %v", what, err)
	}
}

// setValue sets an input's value as a script would (date inputs refuse
// the protocol's way).
func (b *tab) setValue(sel, value string) {
	b.t.Helper()
	if !eval[bool](b, fmt.Sprintf(`(() => { const e = document.querySelector(%q); if (!e) return false; e.value = %q; return e.value === %q; })()`, sel, value, value)) {
		b.fail("could not set %s to %q", sel, value)
	}
}

// textOf is the text of the first element matching sel, "" if none.
func (b *tab) textOf(sel string) string {
	b.t.Helper()
	return eval[string](b, fmt.Sprintf(`(() => { const e = document.querySelector(%q); return e ? e.textContent : ''; })()`, sel))
}

// waitText waits until the element matching sel contains want.
func (b *tab) waitText(sel, want string, timeout time.Duration) {
	b.t.Helper()
	b.until(fmt.Sprintf("%q in %s", want, sel), fmt.Sprintf(`(() => { const e = document.querySelector(%q); return !!e && e.textContent.includes(%q); })()`, sel, want), timeout)
}

// fieldError is the message shown next to the input named name inside
// the element matching scope.
func (b *tab) fieldError(scope, name string) string {
	b.t.Helper()
	return eval[string](b, fmt.Sprintf(`(() => { const i = document.querySelector(%q + ' [name="' + %q + '"]'); if (!i) return 'NO INPUT'; const e = document.getElementById(i.id + '-err'); return (e ? e.textContent : '') + (i.getAttribute('aria-invalid') === 'true' ? '' : ' [input not marked invalid]'); })()`, scope, name))
}

// expectFieldError waits for a message next to the field that contains want.
func (b *tab) expectFieldError(scope, name, want string) {
	b.t.Helper()
	b.until(fmt.Sprintf("the error next to %s %s", scope, name), fmt.Sprintf(`(() => { const i = document.querySelector(%q + ' [name="' + %q + '"]'); const e = i && document.getElementById(i.id + '-err'); return !!e && e.textContent.length > 0 && i.getAttribute('aria-invalid') === 'true'; })()`, scope, name), 20*time.Second)
	if got := b.fieldError(scope, name); !strings.Contains(got, want) {
		b.fail("next to %s %s: %q, want it to say %q", scope, name, got, want)
	}
}

// goTo opens a console route and waits for sel.
func (b *tab) goTo(hash, sel string) {
	b.t.Helper()
	b.do(chromedp.Navigate(b.base+"/console/#"+hash), chromedp.WaitVisible(chromedp.CSS(sel)))
}

// screenshotDir is where the console tests write their screenshots: the
// folder MAILFERRY_SCREENSHOTS names (`make screenshots` sets it to
// docs/screenshots, which the README shows), else a folder of the test's,
// so that an ordinary test run leaves the tracked pictures alone.
func screenshotDir(t *testing.T) string {
	t.Helper()
	if d := os.Getenv("MAILFERRY_SCREENSHOTS"); d != "" {
		if !filepath.IsAbs(d) {
			root, err := repoRoot()
			if err != nil {
				t.Fatal(err)
			}
			d = filepath.Join(root, d)
		}
		return d
	}
	return filepath.Join(os.TempDir(), "mailferry-screenshots", t.Name())
}

// shot writes a screenshot of the page to screenshotDir/name.png.
func (b *tab) shot(name string) {
	b.t.Helper()
	// Let the last answers draw before the picture.
	time.Sleep(300 * time.Millisecond)
	ctx, cancel := context.WithTimeout(b.ctx, 30*time.Second)
	defer cancel()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		b.fail("screenshot %s: %v", name, err)
	}
	dir := screenshotDir(b.t)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		b.t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, name+".png"), png, 0o644); err != nil {
		b.t.Fatal(err)
	}
}

// download waits for a file whose name starts with prefix in the tab's
// download folder and returns its content.
func (b *tab) download(prefix string) string {
	b.t.Helper()
	var content string
	bustest.Eventually(b.t, 30*time.Second, "a download named "+prefix+"*", func() bool {
		entries, _ := os.ReadDir(b.downloads)
		for _, e := range entries {
			if strings.HasPrefix(e.Name(), prefix) && !strings.HasSuffix(e.Name(), ".crdownload") {
				data, err := os.ReadFile(filepath.Join(b.downloads, e.Name()))
				if err == nil && len(data) > 0 {
					content = string(data)
					return true
				}
			}
		}
		return false
	})
	return content
}

// confirm waits for the confirmation dialog and accepts it.
func (b *tab) confirm() {
	b.t.Helper()
	b.do(chromedp.WaitVisible(chromedp.CSS(`dialog[data-testid=confirm] [data-testid=confirm-ok]`)),
		chromedp.Click(chromedp.CSS(`dialog[data-testid=confirm] [data-testid=confirm-ok]`)),
		chromedp.WaitNotPresent(chromedp.CSS(`dialog[data-testid=confirm]`)))
}

// consoleSandbox is a source of four mailboxes and a destination with the
// first three of them: the fourth is the mapping's exception.
func consoleSandbox(t *testing.T) *sandbox {
	t.Helper()
	store := memory.NewStore()
	src := store.AddTenant("src", "source.example")
	dst := store.AddTenant("dst", "dest.example")
	mbs := memory.Seed(src, memory.SeedSpec{Mailboxes: 4, ItemsPerMailbox: 16, Seed: 8})
	for _, m := range mbs[:3] {
		local, _, _ := strings.Cut(m.PrimaryAddress, "@")
		dst.AddMailbox(platform.Mailbox{PrimaryAddress: local + "@dest.example", DisplayName: m.DisplayName})
	}
	return &sandbox{url: httpTestServer(t, memory.NewHandler(store)), src: src, dst: dst, sources: mbs}
}

// TestConsoleWizard walks the six steps in the browser as a hosting
// provider's engineer would: create the project, enter credentials (and
// the guided Microsoft 365 setup against the Graph sandbox), run
// discovery, fix the mapping's exception, see a short balance block the
// launch, add credits on the operator page, launch a full run, watch a
// mailbox turn throttled and then complete, open its log and download the
// reconciliation report. Bad input in the forms gets a message next to
// the field; typed secrets are never shown again. Screenshots of each step
// go to docs/screenshots.
func TestConsoleWizard(t *testing.T) {
	if _, err := browser.Path(); err != nil {
		t.Skipf("SKIPPED, not run: %v", err)
	}
	sb := consoleSandbox(t)
	gsb, err := graph.New(graph.Config{})
	if err != nil {
		t.Fatal(err)
	}
	if err := gsb.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(gsb.Close)
	c := startCluster(t)
	op := api{t: t, c: clientFor(c.api, operatorKey)}
	var acct struct {
		AccountID string `json:"accountId"`
		APIKey    string `json:"apiKey"`
	}
	op.must(http.MethodPost, "/api/accounts", map[string]string{"name": "Northwind Hosting"}, &acct)
	op.must(http.MethodPost, "/api/accounts/"+acct.AccountID+"/credits", map[string]any{"amount": 2, "reference": "trial"}, nil)
	a := api{t: t, c: clientFor(c.api, acct.APIKey)}

	b := openConsole(t, c.api)

	// Sign in: an empty key and a wrong key are refused next to the field.
	b.goTo("/login", `form[data-testid=login]`)
	b.do(chromedp.Click(chromedp.CSS(`form[data-testid=login] button[type=submit]`)))
	b.expectFieldError(`form[data-testid=login]`, "apiKey", "Enter your API key")
	b.do(chromedp.SendKeys(chromedp.CSS(`input[name=apiKey]`), "mf_not-a-real-key"), chromedp.Click(chromedp.CSS(`form[data-testid=login] button[type=submit]`)))
	b.expectFieldError(`form[data-testid=login]`, "apiKey", "not valid or was revoked")
	if v := eval[string](b, `document.querySelector('input[name=apiKey]').value`); v != "" {
		b.fail("the key field still holds %q after a failed sign-in", v)
	}
	b.shot("00-sign-in")
	b.do(chromedp.SendKeys(chromedp.CSS(`input[name=apiKey]`), acct.APIKey), chromedp.Click(chromedp.CSS(`form[data-testid=login] button[type=submit]`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid=who]`)))
	b.waitText(`[data-testid=who]`, "Northwind Hosting", 10*time.Second)

	// Step 1: the project. A missing name is refused next to the field.
	b.goTo("/projects/new", `form[data-testid=new-project]`)
	b.do(chromedp.Click(chromedp.CSS(`form[data-testid=new-project] button[type=submit]`)))
	b.expectFieldError(`form[data-testid=new-project]`, "name", "Give the project a name")
	b.expectFieldError(`form[data-testid=new-project]`, "source", "Choose where the mailboxes are now")
	b.do(chromedp.SendKeys(chromedp.CSS(`form[data-testid=new-project] [name=name]`), "Contoso to Fabrikam"),
		chromedp.SetValue(chromedp.CSS(`form[data-testid=new-project] [name=source]`), "memory"),
		chromedp.SetValue(chromedp.CSS(`form[data-testid=new-project] [name=destination]`), "memory"))
	b.shot("01-project")
	b.do(chromedp.Click(chromedp.CSS(`form[data-testid=new-project] button[type=submit]`)),
		chromedp.WaitVisible(chromedp.CSS(`form[data-testid=source-form]`)))
	pid := eval[string](b, `location.hash.split('/')[2]`)
	if !strings.HasPrefix(pid, "prj_") {
		b.fail("after creating the project the console is at %q", eval[string](b, `location.hash`))
	}

	// Step 2: credentials. A bad endpoint is refused next to the field;
	// the typed token is cleared and never shown again.
	src := `form[data-testid=source-form]`
	dst := `form[data-testid=destination-form]`
	b.do(chromedp.SendKeys(chromedp.CSS(src+` [name=endpoint]`), "sandbox.local"),
		chromedp.SendKeys(chromedp.CSS(src+` [name=tenant]`), "src"),
		chromedp.SendKeys(chromedp.CSS(src+` [name=token]`), sb.src.Token()),
		chromedp.Click(chromedp.CSS(src+` button[type=submit]`)))
	b.expectFieldError(src, "endpoint", "Enter a full URL")
	if v := eval[string](b, `document.querySelector('`+src+` [name=token]').value`); v != "" {
		b.fail("the token field was not cleared after a refused submit")
	}
	// One side at a time: a saved side redraws the page, which would
	// clear what was being typed into the other side's form.
	for _, side := range []struct {
		name, form, tenant, token string
	}{{"source", src, "src", sb.src.Token()}, {"destination", dst, "dst", sb.dst.Token()}} {
		b.do(chromedp.SetValue(chromedp.CSS(side.form+` [name=endpoint]`), sb.url),
			chromedp.SetValue(chromedp.CSS(side.form+` [name=tenant]`), side.tenant),
			chromedp.SendKeys(chromedp.CSS(side.form+` [name=token]`), side.token),
			chromedp.Click(chromedp.CSS(side.form+` button[type=submit]`)))
		b.waitText(`section[data-side=`+side.name+`]`, "Credentials set", 20*time.Second)
	}
	b.do(chromedp.Click(chromedp.CSS(`[data-testid=source-verify-btn]`)))
	b.waitText(`[data-testid=source-verify]`, "Verified", 30*time.Second)
	b.do(chromedp.Click(chromedp.CSS(`[data-testid=destination-verify-btn]`)))
	b.waitText(`[data-testid=destination-verify]`, "Verified", 30*time.Second)
	html := eval[string](b, `document.documentElement.outerHTML + JSON.stringify(Object.assign({}, sessionStorage))`)
	for _, secret := range []string{sb.src.Token(), sb.dst.Token()} {
		if strings.Contains(html, secret) {
			b.fail("a typed token is still in the page or the tab's storage")
		}
	}
	b.shot("02-credentials")

	// The guided Microsoft 365 setup, against the Graph sandbox: verify
	// lists the permission still missing, and passes once it is granted.
	m365Setup(t, b, a, gsb)
	googleExchangeForms(t, b, a)

	// Step 3: discovery, live; then the table, sortable on the server.
	b.goTo("/p/"+pid+"/discovery", `[data-testid=start-discovery]`)
	b.do(chromedp.Click(chromedp.CSS(`[data-testid=start-discovery]`)))
	b.until("the discovery table", `(() => { const t = document.querySelector('[data-testid=discovery-table]'); return !!t && t.dataset.total === '4'; })()`, 90*time.Second)
	b.waitText(`[data-testid=discovery-run]`, "completed", 10*time.Second)
	b.do(chromedp.Click(chromedp.CSS(`[data-testid=discovery-table] button[data-sort=size]`)))
	b.until("sorting by size", `(() => { const th = document.querySelector('[data-testid=discovery-table] button[data-sort=size]'); return !!th && th.closest('th').getAttribute('aria-sort') === 'descending'; })()`, 20*time.Second)
	b.shot("03-discovery")

	// Step 4: mapping. The exception is listed first; a destination that
	// does not exist is refused on its row; flagging it for creation fixes
	// it. A CSV with bad rows changes nothing and lists the rows.
	missing := sb.sources[3].PrimaryAddress
	b.goTo("/p/"+pid+"/mapping", `[data-testid=mapping-table] tr[data-source]`)
	b.waitText(`[data-testid=exceptions-count]`, "1 exception", 10*time.Second)
	first := eval[string](b, `document.querySelector('[data-testid=mapping-table] tbody tr[data-source]').dataset.source`)
	if first != missing {
		b.fail("the first row is %s, want the exception %s", first, missing)
	}
	row := fmt.Sprintf(`[data-testid=mapping-table] tr[data-source=%q]`, missing)
	local, _, _ := strings.Cut(missing, "@")
	b.do(chromedp.SetValue(chromedp.CSS(row+` [name=destination]`), "nobody@dest.example"),
		chromedp.Evaluate[chromedp.Void](`document.querySelector('`+row+` [name=destination]').dispatchEvent(new Event('input'))`),
		chromedp.Click(chromedp.CSS(row+` [data-testid=row-save]`)))
	b.waitText(`tr.row-error`, "not a mailbox found in the destination", 20*time.Second)
	b.shot("04-mapping-row-error")
	b.do(chromedp.SetValue(chromedp.CSS(row+` [name=destination]`), local+"@dest.example"),
		chromedp.SetValue(chromedp.CSS(row+` [name=rowAction]`), "create"),
		chromedp.Evaluate[chromedp.Void](`document.querySelector('`+row+` [name=rowAction]').dispatchEvent(new Event('change'))`),
		chromedp.Click(chromedp.CSS(row+` [data-testid=row-save]`)))
	b.waitText(`[data-testid=exceptions-count]`, "No exceptions", 20*time.Second)
	csvPath := filepath.Join(t.TempDir(), "bad-mapping.csv")
	if err := os.WriteFile(csvPath, []byte("source,destination,action\nnobody@nowhere.example,x@dest.example,migrate\n"+missing+",,teleport\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	b.do(chromedp.SetUploadFiles(chromedp.CSS(`input[name=csv]`), []string{csvPath}),
		chromedp.Click(chromedp.CSS(`form[data-testid=csv-form] button[type=submit]`)))
	b.until("the CSV's row errors", `!!document.querySelector('[data-testid=csv-errors] tbody tr')`, 30*time.Second)
	if n := eval[int](b, `document.querySelectorAll('[data-testid=csv-errors] tbody tr').length`); n < 2 {
		b.fail("the CSV import lists %d row errors, want both bad rows", n)
	}
	b.do(chromedp.Click(chromedp.CSS(`[data-testid=export-csv]`)))
	if csv := b.download("mapping-"); !strings.Contains(csv, missing) || !strings.Contains(csv, "create") {
		b.fail("the exported mapping misses the fixed row:\n%s", csv)
	}
	b.shot("04-mapping")
	// Keyboard: "/" focuses the filter, Alt+5 goes to the credits step.
	b.do(chromedp.Evaluate[chromedp.Void](`document.activeElement && document.activeElement.blur()`), chromedp.KeyEvent("/"))
	if !eval[bool](b, `document.activeElement.matches('[data-filter]')`) {
		b.fail("/ did not focus the filter")
	}
	b.do(chromedp.Evaluate[chromedp.Void](`document.activeElement.blur()`), chromedp.KeyEvent("5", chromedp.KeyModifiers(chromedp.ModifierAlt)),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid=quote]`)))
	if h := eval[string](b, `location.hash`); !strings.HasSuffix(h, "/credits") {
		b.fail("Alt+5 went to %s, want the credits step", h)
	}

	// Step 5: credits. Four mailboxes need four credits; two are there:
	// the launch is blocked, saying so.
	b.goTo("/p/"+pid+"/credits", `[data-testid=quote] [data-testid=needed]`)
	b.waitText(`[data-testid=quote]`, "Launch blocked: needs 4 credits, has 2", 20*time.Second)
	b.shot("05-credits-short")
	b.goTo("/p/"+pid+"/launch", `[data-testid=launch-form]`)
	b.waitText(`[data-testid=quote]`, "Launch blocked", 20*time.Second)
	if !eval[bool](b, `document.querySelector('[data-testid=launch]').disabled`) {
		b.fail("the launch button is enabled although the balance is short")
	}
	b.shot("06-launch-blocked")

	// The operator page: bad amounts and a wrong operator key are refused
	// next to their fields; then credits are added.
	b.goTo("/operator", `form[data-testid=add-credits]`)
	form := `form[data-testid=add-credits]`
	b.do(chromedp.SendKeys(chromedp.CSS(form+` [name=amount]`), "0"), chromedp.Click(chromedp.CSS(form+` button[type=submit]`)))
	b.expectFieldError(form, "amount", "whole number of credits from 1")
	b.expectFieldError(form, "operatorKey", "Enter the operator key")
	b.do(chromedp.SetValue(chromedp.CSS(form+` [name=amount]`), "10"),
		chromedp.SendKeys(chromedp.CSS(form+` [name=operatorKey]`), "wrong-operator-key"),
		chromedp.Click(chromedp.CSS(form+` button[type=submit]`)))
	b.expectFieldError(form, "operatorKey", "not valid")
	b.do(chromedp.SendKeys(chromedp.CSS(form+` [name=operatorKey]`), operatorKey),
		chromedp.SendKeys(chromedp.CSS(form+` [name=reference]`), "PO-1042"),
		chromedp.Click(chromedp.CSS(form+` button[type=submit]`)))
	b.waitText(`[data-testid=available-after]`, "12", 30*time.Second)
	if v := eval[string](b, `document.querySelector('`+form+` [name=operatorKey]').value`); v != "" {
		b.fail("the operator key field was not cleared")
	}
	b.shot("07-operator-credits")

	// Step 6: launch a full run, with the destination throttling.
	sb.dst.SetFaults(memory.Faults{ThrottleEvery: 3, RetryAfter: 3 * time.Second, WriteDelay: 40 * time.Millisecond})
	b.goTo("/p/"+pid+"/launch", `[data-testid=launch-form]`)
	b.waitText(`[data-testid=quote]`, "The balance covers the run", 20*time.Second)
	b.do(chromedp.Click(chromedp.CSS(`[data-testid=launch]`)), chromedp.WaitVisible(chromedp.CSS(`dialog[data-testid=confirm]`)))
	b.shot("08-launch-confirm")
	b.confirm()
	b.do(chromedp.WaitVisible(chromedp.CSS(`[data-testid=run-head]`)))
	runID := eval[string](b, `location.hash.split('/')[4]`)

	// Live progress: a mailbox turns throttled (the page is never
	// reloaded) ...
	b.until("a throttled mailbox", `!!document.querySelector('[data-testid=run-mailboxes] [data-health=throttled]')`, 90*time.Second)
	throttled := eval[string](b, `document.querySelector('[data-testid=run-mailboxes] [data-health=throttled]').closest('tr').dataset.source`)
	b.shot("09-run-throttled")
	sb.dst.SetFaults(memory.Faults{})
	// ... and then completes, with the rest of the run.
	b.until("the run to complete", `!!document.querySelector('[data-testid=run-head] [data-state=completed]')`, 3*time.Minute)
	b.until("the throttled mailbox to complete", fmt.Sprintf(`(() => { const r = document.querySelector('[data-testid=run-mailboxes] tr[data-source=%q]'); return !!r && !!r.querySelector('[data-state=completed]'); })()`, throttled), 30*time.Second)
	b.waitText(`[data-testid=run-totals] [data-testid=completed]`, "4", 30*time.Second)
	b.shot("10-run-completed")
	if r := a.waitRun(runID, time.Minute); r.State != "completed" {
		t.Fatalf("the run the console launched ended %s %s", r.State, r.Reason)
	}
	checkEventStream(t, c.api, acct.APIKey, pid, runID)

	// The throttled mailbox's log shows the throttling; a backwards time
	// range is refused next to the field.
	b.do(chromedp.Click(chromedp.CSS(fmt.Sprintf(`[data-testid=run-mailboxes] tr[data-source=%q] a`, throttled))),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid=mailbox-detail] h2`)))
	b.until("the mailbox's log", `!!document.querySelector('[data-testid=log-lines] tr[data-kind=throttled]')`, 60*time.Second)
	b.setValue(`form[data-testid=log-filter] [name=from]`, "2030-01-02T10:00")
	b.setValue(`form[data-testid=log-filter] [name=to]`, "2030-01-01T10:00")
	b.do(chromedp.Click(chromedp.CSS(`form[data-testid=log-filter] button[type=submit]`)))
	b.expectFieldError(`form[data-testid=log-filter]`, "to", "The end must be after the start")
	b.setValue(`form[data-testid=log-filter] [name=from]`, "")
	b.setValue(`form[data-testid=log-filter] [name=to]`, "")
	b.do(chromedp.SetValue(chromedp.CSS(`form[data-testid=log-filter] [name=level]`), "warning"),
		chromedp.Click(chromedp.CSS(`form[data-testid=log-filter] button[type=submit]`)))
	b.until("warnings only", `(() => { const rows = [...document.querySelectorAll('[data-testid=log-lines] tbody tr[data-level]')]; return rows.length > 0 && rows.every((r) => r.dataset.level !== 'info'); })()`, 20*time.Second)
	b.shot("11-mailbox-log")

	// The reconciliation report downloads from the run.
	b.goTo("/p/"+pid+"/track/"+runID, `[data-testid=download-report]`)
	b.do(chromedp.Click(chromedp.CSS(`[data-testid=download-report]`)))
	if rep := b.download("reconciliation-"); !strings.Contains(rep, throttled) {
		b.fail("the reconciliation report does not mention %s:\n%s", throttled, tail(rep, 2000))
	}

	// The account's other views.
	b.goTo("/fleet", `fieldset`)
	b.until("the fleet's answer", `!!document.querySelector('main .notice.ok, [data-testid=fleet]')`, 20*time.Second)
	b.shot("12-fleet")
	b.goTo("/projects", `[data-testid=projects] tbody tr`)
	b.waitText(`[data-testid=projects]`, "Contoso to Fabrikam", 10*time.Second)
	b.shot("13-projects")
}

// checkEventStream reads the project's event stream as a script would:
// the runs, the project's progress and the page of the run's mailboxes,
// answered by the telemetry service's read model.
func checkEventStream(t *testing.T, apiURL, key, projectID, runID string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, apiURL+"/api/projects/"+projectID+"/events?runId="+runID+"&state=completed&limit=2", nil)
	req.Header.Set("Authorization", "Bearer "+key)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("event stream: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	got := map[string]map[string]any{}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	name := ""
	for sc.Scan() && len(got) < 3 {
		line := sc.Text()
		if v, ok := strings.CutPrefix(line, "event: "); ok {
			name = v
		} else if v, ok := strings.CutPrefix(line, "data: "); ok {
			var data map[string]any
			if err := json.Unmarshal([]byte(v), &data); err != nil {
				t.Fatalf("event %s: %v in %s", name, err, v)
			}
			got[name] = data
		}
	}
	run := got["run"]
	totals, _ := run["totals"].(map[string]any)
	mbs, _ := run["mailboxes"].([]any)
	if run["state"] != "completed" || totals["completed"] != float64(4) || run["total"] != float64(4) || len(mbs) != 2 {
		t.Fatalf("the run event: %v", run)
	}
	if runs, _ := got["runs"]["runs"].([]any); len(runs) < 2 {
		t.Fatalf("the runs event: %v", got["runs"])
	}
	if prog, _ := got["progress"]["runs"].([]any); len(prog) == 0 {
		t.Fatalf("the progress event: %v", got["progress"])
	}
}

// googleExchangeForms checks the Google and Exchange forms catch bad input
// next to the field before anything is sent: a file that is no
// service-account key, a malformed certificate fingerprint; and that the
// connector agent's registration is offered.
func googleExchangeForms(t *testing.T, b *tab, a api) {
	t.Helper()
	var p struct {
		ID string `json:"id"`
	}
	a.must(http.MethodPost, "/api/projects", map[string]string{"name": "Workspace to Exchange", "source": "google", "destination": "exchange"}, &p)
	src, dst := `form[data-testid=source-form]`, `form[data-testid=destination-form]`
	b.goTo("/p/"+p.ID+"/credentials", src)
	notKey := filepath.Join(t.TempDir(), "key.json")
	if err := os.WriteFile(notKey, []byte(`{"type": "authorized_user", "client_id": "1"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	b.do(chromedp.SendKeys(chromedp.CSS(src+` [name=adminEmail]`), "admin@example.com"),
		chromedp.SetUploadFiles(chromedp.CSS(src+` [name=serviceAccountKey]`), []string{notKey}))
	b.waitText(`[data-testid=source-key-checks]`, "not service_account", 10*time.Second)
	b.do(chromedp.Click(chromedp.CSS(src + ` button[type=submit]`)))
	b.expectFieldError(src, "serviceAccountKey", "cannot be used")
	b.do(chromedp.SendKeys(chromedp.CSS(dst+` [name=ewsUrl]`), "https://mail.example.com/EWS/Exchange.asmx"),
		chromedp.SendKeys(chromedp.CSS(dst+` [name=username]`), `CORP\svc-mailferry`),
		chromedp.SendKeys(chromedp.CSS(dst+` [name=password]`), "s3cret-typed"),
		chromedp.SendKeys(chromedp.CSS(dst+` [name=certFingerprint]`), "12:34"),
		chromedp.Click(chromedp.CSS(dst+` button[type=submit]`)))
	b.expectFieldError(dst, "certFingerprint", "64 hex digits")
	if v := eval[string](b, `document.querySelector('`+dst+` [name=password]').value`); v != "" {
		b.fail("the Exchange password field was not cleared")
	}
	b.do(chromedp.Click(chromedp.CSS(`input[name=destination-exmode][value=agent]`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid=destination-agent] form button[type=submit]`)))
}

// m365Setup drives the guided Microsoft 365 setup of a second project
// against the Graph sandbox, with one required permission not granted.
func m365Setup(t *testing.T, b *tab, a api, gsb *graph.Sandbox) {
	t.Helper()
	revoked := m365.RequiredRoles[0]
	gsb.Revoke(revoked)
	var p struct {
		ID string `json:"id"`
	}
	a.must(http.MethodPost, "/api/projects", map[string]string{"name": "Tailspin tenant move", "source": "m365", "destination": "memory"}, &p)
	tenant, client, secret := gsb.Credentials()
	form := `form[data-testid=source-form]`
	b.goTo("/p/"+p.ID+"/credentials", form)
	b.do(chromedp.SendKeys(chromedp.CSS(form+` [name=tenantId]`), tenant),
		chromedp.SendKeys(chromedp.CSS(form+` [name=clientId]`), client),
		chromedp.Click(chromedp.CSS(`[data-testid=source-show-guide]`)))
	b.waitText(`[data-testid=source-guide]`, revoked, 20*time.Second)
	if m := b.textOf(`[data-testid=manifest]`); !strings.Contains(m, "requiredResourceAccess") || !strings.Contains(m, m365.Permissions[0].ID) {
		b.fail("the manifest shown is %q", m)
	}
	if href := eval[string](b, `document.querySelector('[data-testid=consent-link]').href`); !strings.Contains(href, "adminconsent") || !strings.Contains(href, client) {
		b.fail("the admin-consent link is %q", href)
	}
	// Saving without a secret or a certificate is refused next to the field.
	b.do(chromedp.Click(chromedp.CSS(form + ` button[type=submit]`)))
	b.expectFieldError(form, "clientSecret", "Enter the client secret")
	b.do(chromedp.Evaluate[chromedp.Void](`document.querySelector('`+form+` [name=graphBaseUrl]').closest('details').open = true`),
		chromedp.SetValue(chromedp.CSS(form+` [name=graphBaseUrl]`), gsb.BaseURL()),
		chromedp.SetValue(chromedp.CSS(form+` [name=authorityUrl]`), gsb.AuthorityURL()),
		chromedp.SetValue(chromedp.CSS(form+` [name=caPem]`), string(gsb.CAPEM())),
		chromedp.SendKeys(chromedp.CSS(form+` [name=clientSecret]`), secret),
		chromedp.Click(chromedp.CSS(form+` button[type=submit]`)))
	b.waitText(`section[data-side=source]`, "Credentials set", 20*time.Second)
	b.do(chromedp.Click(chromedp.CSS(`[data-testid=source-verify-btn]`)))
	b.waitText(`[data-testid=source-verify]`, "Still missing", 60*time.Second)
	b.waitText(`[data-testid=source-verify]`, revoked, 5*time.Second)
	if strings.Contains(eval[string](b, `document.documentElement.outerHTML`), secret) {
		b.fail("the client secret is still in the page")
	}
	b.shot("02b-m365-guided-setup")
	gsb.Grant(revoked)
	b.do(chromedp.Click(chromedp.CSS(`[data-testid=source-verify-btn]`)))
	b.waitText(`[data-testid=source-verify]`, "Verified", 60*time.Second)
}

// TestConsoleLargeMapping opens the mapping of a 10,000-mailbox project in
// the browser and measures how long filtering and paging take, from the
// action to the new page drawn. The times are reported (make bench writes
// them to bench/results.md), not asserted; what is asserted is that the
// server filtered and paged: the right counts, never more than a page of
// rows in the page.
func TestConsoleLargeMapping(t *testing.T) {
	if _, err := browser.Path(); err != nil {
		t.Skipf("SKIPPED, not run: %v", err)
	}
	const n = 10000
	store := memory.NewStore()
	sb := &sandbox{src: store.AddTenant("src", "source.example"), dst: store.AddTenant("dst", "dest.example")}
	browser.SeedLarge(sb.src, sb.dst, n)
	sb.url = httpTestServer(t, memory.NewHandler(store))
	c := startCluster(t)
	op := api{t: t, c: clientFor(c.api, operatorKey)}
	var acct struct {
		AccountID string `json:"accountId"`
		APIKey    string `json:"apiKey"`
	}
	op.must(http.MethodPost, "/api/accounts", map[string]string{"name": "Large hosting"}, &acct)
	a := api{t: t, c: clientFor(c.api, acct.APIKey)}
	var p struct {
		ID string `json:"id"`
	}
	a.must(http.MethodPost, "/api/projects", map[string]string{"name": "10,000 mailboxes", "source": "memory", "destination": "memory"}, &p)
	pid := p.ID
	for side, tn := range map[string]*memory.Tenant{"source": sb.src, "destination": sb.dst} {
		a.must(http.MethodPut, "/api/projects/"+pid+"/credentials/"+side, map[string]any{
			"fields": map[string]string{"endpoint": sb.url, "tenant": tn.Name()}, "secrets": map[string]string{"token": tn.Token()}}, nil)
	}
	var created struct {
		Run run `json:"run"`
	}
	a.must(http.MethodPost, "/api/projects/"+pid+"/runs", map[string]any{"mode": "discovery"}, &created)
	if r := a.waitRun(created.Run.ID, 10*time.Minute); r.State != "completed" {
		t.Fatalf("discovery of %d mailboxes ended %s %s", n, r.State, r.Reason)
	}
	// The mapping service suggests the pairs of 10,000 mailboxes a moment
	// after discovery completes; the API waits for that, and so does the
	// measurement, which is about the table.
	a.must(http.MethodGet, "/api/projects/"+pid+"/mapping?limit=1", nil, nil)

	b := openConsole(t, c.api)
	if err := browser.SignIn(b.ctx, c.api, acct.APIKey); err != nil {
		b.fail("sign in: %v", err)
	}
	terms := []string{"user0042@", "user1", "user09", "dest.example", "nobody-matches-this"}
	res, timings, err := browser.MeasureMapping(b.ctx, c.api, pid, terms, 5)
	if err != nil {
		b.fail("measure: %v", err)
	}
	if res.Mailboxes != n {
		b.fail("the mapping lists %d mailboxes, want %d", res.Mailboxes, n)
	}
	for i, term := range terms {
		tm := timings[i]
		want := 0
		for k := 1; k <= n; k++ {
			addr := fmt.Sprintf("user%04d@source.example", k)
			if strings.Contains(addr, term) || (k%100 != 0 && strings.Contains(fmt.Sprintf("user%04d@dest.example", k), term)) {
				want++
			}
		}
		if tm.Total != want || tm.Rows != min(want, 100) {
			b.fail("filter %q: %d rows of %d matches shown, want %d of %d", term, tm.Rows, tm.Total, min(want, 100), want)
		}
	}
	for _, tm := range timings[len(terms):] {
		if tm.Total != n || tm.Rows != 100 {
			b.fail("a page shows %d rows of %d, want 100 of %d", tm.Rows, tm.Total, n)
		}
	}
	t.Logf("mapping of %d mailboxes in Chromium (reported, not asserted):\n%s", n, res.Markdown())
	png, err := chromedp.Run(b.ctx, chromedp.CaptureScreenshot())
	if err != nil {
		b.fail("screenshot: %v", err)
	}
	dir := screenshotDir(t)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "14-mapping-10000.png"), png, 0o644); err != nil {
		t.Fatal(err)
	}
}
