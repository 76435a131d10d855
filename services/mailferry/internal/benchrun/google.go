package main

import (
	"context"
	"fmt"
	"math"
	"os"
	"strings"
	"sync"
	"time"

	gsandbox "github.com/mailferry/mailferry/libs/sandbox/google"
	"github.com/mailferry/mailferry/libs/tenantgen"
)

// Gmail's per-user quota and what messages.import costs of it (BRIEF
// section 5): at most 10 imports a second into one mailbox.
const (
	gmailUnitsPerMinute = 15000
	gmailImportUnits    = 25
	gmailImportsCeiling = float64(gmailUnitsPerMinute) / 60 / gmailImportUnits
)

// googlePerMailbox messages make the single-mailbox run span several of
// the scaled quota windows.
const googlePerMailbox = 900

// googleWindow is the quota window of the single-mailbox run: Google's
// budgets per minute, counted over 30 s with half the budget, so that the
// rate allowed per second is Google's and the run spans several windows
// in under two minutes.
const googleWindow = 30 * time.Second

// googleConcurrency is how many mailboxes the many-mailbox run moves at
// once. The connector paces every user at Gmail's quota (10 imports a
// second) even when the sandbox enforces none, so at the default of 8 a
// worker could never go past 80 imports a second; aggregate throughput
// comes from many mailboxes at once.
const googleConcurrency = 64

// scaledGoogleLimits are Google's real quotas over a window of w, the
// budgets scaled with it.
func scaledGoogleLimits(w time.Duration) gsandbox.Limits {
	real := gsandbox.RealLimits()
	f := w.Seconds() / real.Window.Seconds()
	scale := func(n int) int { return int(math.Round(float64(n) * f)) }
	return gsandbox.Limits{
		Window:         w,
		GmailUserUnits: scale(real.GmailUserUnits), GmailProjectUnits: scale(real.GmailProjectUnits),
		CalendarUserRequests: scale(real.CalendarUserRequests), CalendarProjectRequests: scale(real.CalendarProjectRequests),
		PeopleUserRequests:    scale(real.PeopleUserRequests),
		DirectoryUserRequests: scale(real.DirectoryUserRequests),
	}
}

// googleWorkspace starts a Google sandbox with its administrator and
// returns it with credentials the platform can use.
func googleWorkspace(limits gsandbox.Limits) (*gsandbox.Sandbox, map[string]any, error) {
	sb, err := gsandbox.New(gsandbox.Config{Limits: limits})
	if err != nil {
		return nil, nil, err
	}
	if err := sb.Start(); err != nil {
		return nil, nil, err
	}
	sb.Seed(gsandbox.SeedSpec{}) // the administrator only
	creds := map[string]any{
		"fields":  map[string]string{"adminEmail": "admin@" + sb.Domain(), "endpoint": sb.Endpoint(), "tokenUrl": sb.TokenURL(), "caPem": string(sb.CAPEM())},
		"secrets": map[string]string{"serviceAccountKey": string(sb.ServiceAccountKey())},
	}
	return sb, creds, nil
}

type googleResult struct {
	mailboxes, messages int
	concurrency         int
	run                 time.Duration
	units               int64 // Gmail units the destination charged the mailboxes
	allowedUnits        int64 // what the quota allowed over the windows the run touched
	throttled           int
	peakRSS             int64
	bytes               int64 // of the source's mail
	// copyRate is the imports per second between the 20th import and the
	// last one: the rate once copying runs, without what comes before it.
	copyRate float64
}

// unitWatch samples the units a destination charged, to tell when
// imports ran.
type unitWatch struct {
	mu              sync.Mutex
	firstAt, lastAt time.Time
	firstU, lastU   int64
	base            int64
	stop, done      chan struct{}
	sample          func() int64
}

func watchUnits(sample func() int64) *unitWatch {
	w := &unitWatch{stop: make(chan struct{}), done: make(chan struct{}), sample: sample, base: sample()}
	w.lastU = w.base
	go func() {
		defer close(w.done)
		t := time.NewTicker(100 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-w.stop:
				return
			case now := <-t.C:
				u := w.sample()
				w.mu.Lock()
				// The 20th import: discovery and folder creation cost far
				// fewer units than 20 imports.
				if w.firstAt.IsZero() && u-w.base >= 20*gmailImportUnits {
					w.firstAt, w.firstU = now, u
				}
				if u != w.lastU {
					w.lastAt, w.lastU = now, u
				}
				w.mu.Unlock()
			}
		}
	}()
	return w
}

// importRate stops the watch and returns the imports per second between
// the first sample past 20 imports and the last change.
func (w *unitWatch) importRate() float64 {
	close(w.stop)
	<-w.done
	w.mu.Lock()
	defer w.mu.Unlock()
	span := w.lastAt.Sub(w.firstAt).Seconds()
	if w.firstAt.IsZero() || span <= 0 {
		return 0
	}
	return float64(w.lastU-w.firstU) / gmailImportUnits / span
}

// benchGoogle moves mail between two Google sandboxes through `mailferry
// up` (mail only). With limits, the destination enforces Gmail's quotas
// and the result says how much of what the quota allows one mailbox got.
// The source's quotas are off: reading costs a message about 10 units
// against the 25 of an import, so the destination's quota is the limit,
// as it is between two real Workspaces.
func benchGoogle(ctx context.Context, binary string, users, messages, concurrency int, limits gsandbox.Limits, profile tenantgen.Profile) (googleResult, error) {
	r := googleResult{mailboxes: users, messages: users * messages, concurrency: concurrency}
	src, srcCreds, err := googleWorkspace(gsandbox.Limits{})
	if err != nil {
		return r, err
	}
	defer src.Close()
	dst, dstCreds, err := googleWorkspace(limits)
	if err != nil {
		return r, err
	}
	defer dst.Close()
	addrs := src.Seed(gsandbox.SeedSpec{Users: users, MessagesPerUser: messages, Seed: 5, Profile: profile})
	var dstAddrs []string
	for _, a := range addrs {
		local, _, _ := strings.Cut(a, "@")
		addr := local + "@" + dst.Domain()
		dst.AddUser(addr, "User "+local)
		dstAddrs = append(dstAddrs, addr)
	}
	// The seed's sizes, as the sandbox generated them (user n is n).
	for n := 1; n <= users; n++ {
		for idx := 0; idx < messages; idx++ {
			r.bytes += tenantgen.Mail(5, n, idx, src.Domain(), tenantgen.Options{Profile: profile}).Size
		}
	}
	units := func() int64 {
		var u int64
		for _, a := range dstAddrs {
			u += dst.GmailUnits(a)
		}
		return u
	}
	p, err := startPlatform(binary, fmt.Sprintf("MAILFERRY_TRANSFER_CONCURRENCY=%d", concurrency))
	if err != nil {
		return r, err
	}
	defer p.stop()
	watch := watchUnits(units)
	// The administrators are mailboxes too (empty ones): one credit more.
	_, r.run, err = p.migrate(ctx, users+1, "google", "google", srcCreds, dstCreds, false)
	r.copyRate = watch.importRate()
	if err != nil {
		return r, err
	}
	r.throttled = dst.Throttled()
	r.peakRSS = peakRSS(p.cmd.Process.Pid)
	r.units = units()
	if limits.GmailUserUnits > 0 {
		// Google, like the sandbox, counts in fixed windows: what the
		// quota allowed over the run is the budget of every window it
		// touched.
		windows := math.Ceil(r.run.Seconds() / limits.Window.Seconds())
		r.allowedUnits = int64(windows) * int64(limits.GmailUserUnits) * int64(users)
	}
	return r, nil
}

// benchGoogleAll runs the single-mailbox run at Gmail's quota and the
// many-mailbox run with quotas off, and writes their section.
func benchGoogleAll(ctx context.Context, b *strings.Builder, binary string) error {
	fmt.Fprintln(os.Stderr, "bench: Google Workspace, one mailbox at Gmail's quota ...")
	single, err := benchGoogle(ctx, binary, 1, googlePerMailbox, 8, scaledGoogleLimits(googleWindow), tenantgen.Realistic)
	if err != nil {
		return fmt.Errorf("google, one mailbox: %w", err)
	}
	fmt.Fprintln(os.Stderr, "bench: Google Workspace, many mailboxes, quotas off ...")
	many, err := benchGoogle(ctx, binary, 100, 40, googleConcurrency, gsandbox.Limits{}, tenantgen.Light)
	if err != nil {
		return fmt.Errorf("google, many mailboxes: %w", err)
	}
	writeGoogle(b, single, many)
	return nil
}

func writeGoogle(b *strings.Builder, single, many googleResult) {
	fmt.Fprintf(b, "\n## Google Workspace to Google Workspace over the Google sandbox (`mailferry up`)\n\n")
	fmt.Fprintf(b, "| measure | value |\n|---|---|\n")
	rate := float64(single.messages) / single.run.Seconds()
	fmt.Fprintf(b, "| one mailbox, %d messages of realistic size (%.1f MB, %.0f KB on average), destination at Gmail's quota (15,000 units a minute per user, messages.import 25 units: at most %.0f imports/s; windows scaled to %s) | %.2f items/s over the whole run (%s, request to completed): %.0f%% of the imports the quota allows |\n",
		single.messages, float64(single.bytes)/1e6, float64(single.bytes)/1e3/float64(single.messages), gmailImportsCeiling, googleWindow, rate, single.run.Round(time.Second), 100*rate/gmailImportsCeiling)
	fmt.Fprintf(b, "| the same run once copying (from the 20th import to the last) | %.2f imports/s: %.0f%% of the quota's allowance |\n", single.copyRate, 100*single.copyRate/gmailImportsCeiling)
	fmt.Fprintf(b, "| Gmail units charged in that run | %d (%.1f per item) of the %d the quota allowed over the windows the run touched: %.0f%% |\n",
		single.units, float64(single.units)/float64(single.messages), single.allowedUnits, 100*float64(single.units)/float64(max(single.allowedUnits, 1)))
	fmt.Fprintf(b, "| requests answered 429 in that run | %d |\n", single.throttled)
	fmt.Fprintf(b, "| %d mailboxes x %d light messages (%.0f KB on average), quotas off (the connector still paces each user at Gmail's rate), %d mailboxes at once | %.0f items/s (%s) |\n",
		many.mailboxes, many.messages/many.mailboxes, float64(many.bytes)/1e3/float64(max(many.messages, 1)), many.concurrency, float64(many.messages)/many.run.Seconds(), many.run.Round(time.Millisecond))
	fmt.Fprintf(b, "| peak RSS of the platform process (many mailboxes) | %.0f MB |\n", float64(many.peakRSS)/1e6)
}
