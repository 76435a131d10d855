package main

import (
	"context"
	"errors"
	"fmt"
	"net/http/httptest"
	"strings"
	"time"

	"github.com/mailferry/mailferry/libs/platform/memory"
	"github.com/mailferry/mailferry/services/mailferry/internal/browser"
	"github.com/mailferry/mailferry/services/mailferry/internal/client"
)

// consoleMailboxes is the size of the project whose mapping table the
// console benchmark opens in the browser.
const consoleMailboxes = 10000

// benchConsole measures the web console's mapping step of a 10,000-mailbox
// project in headless Chromium: the time from an action (filter, next or
// previous page) to the new page of the table drawn, measured in the
// page. Without Chromium it says so in the results.
func benchConsole(ctx context.Context, binary string, b *strings.Builder) error {
	fmt.Fprintf(b, "## Console: the mapping table of a %d-mailbox project (headless Chromium)\n\n", consoleMailboxes)
	if _, err := browser.Path(); errors.Is(err, browser.ErrNoChromium) {
		fmt.Fprintf(b, "Not measured: %v.\n\n", err)
		return nil
	}
	store := memory.NewStore()
	src, dst := store.AddTenant("src", "source.example"), store.AddTenant("dst", "dest.example")
	browser.SeedLarge(src, dst, consoleMailboxes)
	sandbox := httptest.NewServer(memory.NewHandler(store))
	defer sandbox.Close()
	p, err := startPlatform(binary)
	if err != nil {
		return err
	}
	defer p.stop()
	op := client.New(p.api, p.opKey)
	var acct struct {
		APIKey string `json:"apiKey"`
	}
	if err := op.JSON(ctx, "POST", "/api/accounts", map[string]string{"name": "console bench"}, &acct); err != nil {
		return err
	}
	c := client.New(p.api, acct.APIKey)
	var pr struct {
		ID string `json:"id"`
	}
	if err := c.JSON(ctx, "POST", "/api/projects", map[string]string{"name": "console bench", "source": "memory", "destination": "memory"}, &pr); err != nil {
		return err
	}
	for side, t := range map[string]*memory.Tenant{"source": src, "destination": dst} {
		body := map[string]any{"fields": map[string]string{"endpoint": sandbox.URL, "tenant": t.Name()}, "secrets": map[string]string{"token": t.Token()}}
		if err := c.JSON(ctx, "PUT", "/api/projects/"+pr.ID+"/credentials/"+side, body, nil); err != nil {
			return err
		}
	}
	runID, err := startRun(ctx, c, pr.ID, map[string]any{"mode": "discovery"})
	if err != nil {
		return err
	}
	if err := waitRun(ctx, c, runID); err != nil {
		return err
	}
	// The API answers the mapping once the mapping service has suggested
	// it; the measurement is about the table, so it starts after that.
	if err := c.JSON(ctx, "GET", "/api/projects/"+pr.ID+"/mapping?limit=1", nil, nil); err != nil {
		return err
	}
	bctx, cancel, err := browser.New(ctx, "")
	if err != nil {
		return err
	}
	defer cancel()
	tctx, tcancel := context.WithTimeout(bctx, 5*time.Minute)
	defer tcancel()
	if err := browser.SignIn(tctx, p.api, acct.APIKey); err != nil {
		return fmt.Errorf("console sign-in: %w", err)
	}
	res, _, err := browser.MeasureMapping(tctx, p.api, pr.ID, []string{"user0042@", "user1", "user09", "dest.example", "nobody-matches-this", "user5", "user77"}, 10)
	if err != nil {
		return fmt.Errorf("console measurement: %w", err)
	}
	path, _ := browser.Path()
	fmt.Fprintf(b, "`mailferry up` in one process, the sandbox tenants served by the benchmark; %s headless, window 1280x900. Each time runs in the page from the action (typing the filter and Enter, or the next/previous button) to the new table drawn: the API request, the mapping service's filter over %d entries, and the rendering of 100 rows. The filter is matched on the server.\n\n", path, consoleMailboxes)
	fmt.Fprintf(b, "%s\n", res.Markdown())
	return nil
}
