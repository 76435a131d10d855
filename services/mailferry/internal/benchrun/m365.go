package main

import (
	"context"
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/mailferry/mailferry/libs/sandbox/graph"
	"github.com/mailferry/mailferry/libs/tenantgen"
)

// graphTenant starts a Graph sandbox and returns it with credentials the
// platform can use.
func graphTenant(limits graph.Limits) (*graph.Sandbox, map[string]any, error) {
	sb, err := graph.New(graph.Config{Limits: limits})
	if err != nil {
		return nil, nil, err
	}
	if err := sb.Start(); err != nil {
		return nil, nil, err
	}
	tenant, client, secret := sb.Credentials()
	creds := map[string]any{
		"fields":  map[string]string{"tenantId": tenant, "clientId": client, "graphBaseUrl": sb.BaseURL(), "authorityUrl": sb.AuthorityURL(), "caPem": string(sb.CAPEM())},
		"secrets": map[string]string{"clientSecret": secret},
	}
	return sb, creds, nil
}

type m365Result struct {
	mailboxes, messages int
	run                 time.Duration
	requests, throttled int
	permitted           int     // requests the throttle allowed over the run
	efficiency          float64 // share of the throttle's budget used
	peakRSS             int64
	bytes               int64 // of mail the destination holds afterwards
}

// benchM365 moves mail between two Graph sandboxes through `mailferry up`.
// With limits, the destination enforces Graph's rates (scaled to a shorter
// window, same requests and bytes per second) and the result says how close
// one mailbox gets to what the throttle allows. The source holds mail of
// the given profile: realistic mail (about 75 KB a message) makes a
// throttled mailbox upload-bound, as it is against real Graph.
func benchM365(ctx context.Context, binary string, users, messages int, limits graph.Limits, profile tenantgen.Profile) (m365Result, error) {
	r := m365Result{mailboxes: users, messages: users * messages}
	src, srcCreds, err := graphTenant(graph.Limits{})
	if err != nil {
		return r, err
	}
	defer src.Close()
	dst, dstCreds, err := graphTenant(limits)
	if err != nil {
		return r, err
	}
	defer dst.Close()
	src.Seed(graph.SeedSpec{Users: users, MessagesPerUser: messages, Seed: 5, Profile: profile})
	for i := 1; i <= users; i++ {
		dst.AddUser(fmt.Sprintf("user%04d@%s", i, dst.Domain()), fmt.Sprintf("User %d", i))
	}
	p, err := startPlatform(binary)
	if err != nil {
		return r, err
	}
	defer p.stop()
	before := dst.Requests()
	_, r.run, err = p.migrate(ctx, users, "m365", "m365", srcCreds, dstCreds, false)
	if err != nil {
		return r, err
	}
	r.requests, r.throttled, r.bytes = dst.Requests()-before, dst.Throttled(), dst.StoredBytes()
	r.peakRSS = peakRSS(p.cmd.Process.Pid)
	if limits.RequestsPerWindow > 0 {
		// The sandbox, like Graph, counts in windows: what the throttle
		// allowed over the run is the budget of every window it touched.
		windows := math.Ceil(r.run.Seconds() / limits.Window.Seconds())
		r.permitted = int(windows) * limits.RequestsPerWindow
		r.efficiency = float64(r.requests) / float64(r.permitted)
		if limits.UploadBytes > 0 {
			upWindows := math.Ceil(r.run.Seconds() / limits.UploadWindow.Seconds())
			if e := float64(dst.StoredBytes()) / (upWindows * float64(limits.UploadBytes)); e > r.efficiency {
				r.efficiency = e
			}
		}
	}
	return r, nil
}

func writeM365(b *strings.Builder, single, many m365Result) {
	fmt.Fprintf(b, "\n## Microsoft 365 to Microsoft 365 over the Graph sandbox (`mailferry up`)\n\n")
	fmt.Fprintf(b, "| measure | value |\n|---|---|\n")
	rate := float64(single.messages) / single.run.Seconds()
	fmt.Fprintf(b, "| one mailbox, %d messages of realistic size (%.1f MB, %.0f KB on average), destination at Graph's rates (16.7 requests/s, 0.5 MB/s upload, 4 concurrent; windows scaled to 20 s and 10 s) | %.2f items/s in %s; %d requests (%.1f per item) of the %d the throttle allowed over the windows the run touched: %.0f%% of the budget |\n",
		single.messages, float64(single.bytes)/1e6, float64(single.bytes)/1e3/float64(single.messages), rate, single.run.Round(time.Second), single.requests, float64(single.requests)/float64(single.messages), single.permitted, 100*single.efficiency)
	fmt.Fprintf(b, "| requests answered 429 in that run | %d |\n", single.throttled)
	fmt.Fprintf(b, "| %d mailboxes x %d light messages (%.0f KB on average), throttling off | %.0f items/s (%s) |\n", many.mailboxes, many.messages/many.mailboxes, float64(many.bytes)/1e3/float64(max(many.messages, 1)), float64(many.messages)/many.run.Seconds(), many.run.Round(time.Millisecond))
	fmt.Fprintf(b, "| peak RSS of the platform process (many mailboxes) | %.0f MB |\n", float64(many.peakRSS)/1e6)
}
