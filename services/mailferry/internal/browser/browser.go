// Package browser drives the web console in headless Chromium (Debian's
// /usr/bin/chromium, through chromedp and the DevTools protocol): the
// console's end-to-end tests use it, and `make bench` measures with it how
// the mapping table of a 10,000-mailbox project answers to filtering and
// paging. Numbers are reported, never asserted.
package browser

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"sort"
	"time"

	"github.com/chromedp/cdproto/browser"
	"github.com/chromedp/chromedp"
)

// ErrNoChromium says Chromium is not installed; callers skip and say so.
var ErrNoChromium = errors.New("chromium is not installed (apt-get install chromium; `make test` and `make deps` install it)")

// Path finds Chromium: $MAILFERRY_CHROMIUM, chromium on the PATH, or
// Debian's /usr/bin/chromium.
func Path() (string, error) {
	if p := os.Getenv("MAILFERRY_CHROMIUM"); p != "" {
		return p, nil
	}
	if p, err := exec.LookPath("chromium"); err == nil {
		return p, nil
	}
	if _, err := os.Stat("/usr/bin/chromium"); err == nil {
		return "/usr/bin/chromium", nil
	}
	return "", ErrNoChromium
}

// New starts a headless Chromium with a window of 1280x900 and returns a
// context for its first tab. Downloads land in downloads when it is not
// empty. cancel ends the browser.
func New(ctx context.Context, downloads string) (context.Context, context.CancelFunc, error) {
	path, err := Path()
	if err != nil {
		return nil, nil, err
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(path), chromedp.WindowSize(1280, 900),
		// The browser runs as root in CI containers, where Chromium's
		// sandbox cannot start.
		chromedp.NoSandbox)
	actx, cancelAlloc := chromedp.NewExecAllocator(ctx, opts...)
	bctx, cancelTab := chromedp.NewContext(actx)
	cancel := func() { cancelTab(); cancelAlloc() }
	if err := chromedp.Do(bctx); err != nil {
		cancel()
		return nil, nil, fmt.Errorf("start chromium %s: %w", path, err)
	}
	if downloads != "" {
		events := true
		if _, err := chromedp.CallBrowser(bctx, browser.SetDownloadBehavior, browser.SetDownloadBehaviorParams{
			Behavior: "allow", DownloadPath: downloads, EventsEnabled: &events}); err != nil {
			cancel()
			return nil, nil, fmt.Errorf("chromium downloads: %w", err)
		}
	}
	return bctx, cancel, nil
}

// SignIn opens the console at base and signs in with key, as a person
// would: typing it into the form.
func SignIn(ctx context.Context, base, key string) error {
	return chromedp.Do(ctx,
		chromedp.Navigate(base+"/console/#/login"),
		chromedp.WaitVisible(chromedp.CSS(`input[name=apiKey]`)),
		chromedp.SendKeys(chromedp.CSS(`input[name=apiKey]`), key),
		chromedp.Click(chromedp.CSS(`form[data-testid=login] button[type=submit]`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid=who]`)),
	)
}

// Timing is what one measured action of the table took in the browser:
// from the action to the new page of the table drawn, and how many rows it
// showed of how many matches.
type Timing struct {
	Ms    float64 `json:"ms"`
	Rows  int     `json:"rows"`
	Total int     `json:"total"`
}

// measureJS performs an action on the mapping page and resolves when the
// table that answers it is drawn (the page replaces the table element),
// one animation frame later so the time includes layout.
const measureJS = `(async (kind, term) => {
  const sel = '[data-testid=mapping-table]';
  const before = document.querySelector(sel);
  const t0 = performance.now();
  if (kind === 'filter') {
    const f = document.querySelector('main [data-filter]');
    f.value = term;
    f.dispatchEvent(new Event('input', {bubbles: true}));
    f.dispatchEvent(new KeyboardEvent('keydown', {key: 'Enter', bubbles: true}));
  } else {
    document.querySelector('[data-testid=' + kind + ']').click();
  }
  await new Promise((resolve, reject) => {
    const limit = t0 + 60000;
    const tick = () => {
      const t = document.querySelector(sel);
      if (t && t !== before) return resolve();
      if (performance.now() > limit) return reject(new Error('the table did not change in 60 s'));
      requestAnimationFrame(tick);
    };
    tick();
  });
  await new Promise((r) => requestAnimationFrame(() => r()));
  const t = document.querySelector(sel);
  return {ms: performance.now() - t0, rows: t.tBodies[0].querySelectorAll('tr[data-source]').length, total: Number(t.dataset.total)};
})`

// Act runs one measured action on the open mapping page: kind "filter"
// with a term, or "next" / "prev" to page.
func Act(ctx context.Context, kind, term string) (Timing, error) {
	return chromedp.Run(ctx, chromedp.Evaluate[Timing](fmt.Sprintf("%s(%q, %q)", measureJS, kind, term), chromedp.EvalAwaitPromise))
}

// MappingResult sums up the measurement of a mapping table.
type MappingResult struct {
	Mailboxes int
	FirstPage time.Duration
	// Filter and Page are the medians (and the worst) of the measured
	// actions.
	Filter, FilterMax, Page, PageMax time.Duration
	Filters, Pages                   int
}

// MeasureMapping opens the project's mapping in a signed-in tab, then
// filters with each term and pages forward and back pages times,
// measuring each in the browser.
func MeasureMapping(ctx context.Context, base, projectID string, terms []string, pages int) (MappingResult, []Timing, error) {
	var r MappingResult
	var all []Timing
	start := time.Now()
	if err := chromedp.Do(ctx,
		chromedp.Navigate(base+"/console/#/p/"+projectID+"/mapping"),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid=mapping-table] tr[data-source]`)),
	); err != nil {
		return r, nil, fmt.Errorf("open the mapping: %w", err)
	}
	r.FirstPage = time.Since(start)
	total, err := chromedp.Run(ctx, chromedp.Evaluate[int](`Number(document.querySelector('[data-testid=mapping-table]').dataset.total)`))
	if err != nil {
		return r, nil, err
	}
	r.Mailboxes = total
	var filters, paging []time.Duration
	for _, term := range terms {
		t, err := Act(ctx, "filter", term)
		if err != nil {
			return r, all, fmt.Errorf("filter %q: %w", term, err)
		}
		all = append(all, t)
		filters = append(filters, ms(t.Ms))
	}
	if _, err := Act(ctx, "filter", ""); err != nil {
		return r, all, fmt.Errorf("clear the filter: %w", err)
	}
	for i := 0; i < pages; i++ {
		for _, kind := range []string{"next", "prev"} {
			t, err := Act(ctx, kind, "")
			if err != nil {
				return r, all, fmt.Errorf("page %s: %w", kind, err)
			}
			all = append(all, t)
			paging = append(paging, ms(t.Ms))
		}
	}
	r.Filter, r.FilterMax = median(filters)
	r.Page, r.PageMax = median(paging)
	r.Filters, r.Pages = len(filters), len(paging)
	return r, all, nil
}

func ms(f float64) time.Duration { return time.Duration(f * float64(time.Millisecond)) }

func median(ds []time.Duration) (mid, worst time.Duration) {
	if len(ds) == 0 {
		return 0, 0
	}
	s := append([]time.Duration(nil), ds...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return s[len(s)/2], s[len(s)-1]
}

// Markdown is the result as the bench's results file shows it.
func (r MappingResult) Markdown() string {
	round := func(d time.Duration) time.Duration { return d.Round(100 * time.Microsecond) }
	return fmt.Sprintf("| measure | value |\n|---|---|\n"+
		"| mailboxes in the mapping | %d |\n"+
		"| open the mapping step (navigation to the first page drawn) | %s |\n"+
		"| filter, median of %d (worst) | %s (%s) |\n"+
		"| next or previous page of 100, median of %d (worst) | %s (%s) |\n",
		r.Mailboxes, round(r.FirstPage), r.Filters, round(r.Filter), round(r.FilterMax), r.Pages, round(r.Page), round(r.PageMax))
}
