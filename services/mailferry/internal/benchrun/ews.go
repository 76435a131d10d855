package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/mailferry/mailferry/libs/connectors/ews"
	"github.com/mailferry/mailferry/libs/ews/soap"
	ewssb "github.com/mailferry/mailferry/libs/sandbox/ews"
	"github.com/mailferry/mailferry/libs/tenantgen"
)

// The Exchange benchmark's sizes: the burst run stays well inside a fresh
// budget; the budget-bound runs last about a minute each at Exchange's
// sustained rate.
const (
	ewsSeed         = 5
	ewsBurstItems   = 300
	ewsWriteItems   = 150
	ewsReadItems    = 250
	ewsManyUsers    = 50
	ewsManyMessages = 40
	ewsConcurrency  = 32
)

// ewsProfile is the sandbox's own default: realistic mail, capped below
// what one EWS request may carry.
var ewsProfile = tenantgen.Realistic.WithMax(48 << 20)

// ewsOrg is an Exchange sandbox with the service account and the
// credentials the platform stores for it.
type ewsOrg struct {
	sb    *ewssb.Sandbox
	creds map[string]any
}

// newEWSOrg starts an Exchange sandbox with the given throttling policy;
// the platform reaches it over NTLM with its certificate pinned.
func newEWSOrg(domain string, limits ewssb.Limits) (*ewsOrg, error) {
	sb, err := ewssb.New(ewssb.Config{Domain: domain, Limits: limits})
	if err != nil {
		return nil, err
	}
	if err := sb.Start(); err != nil {
		return nil, err
	}
	sb.Seed(ewssb.SeedSpec{Seed: ewsSeed}) // the service account
	u, err := url.Parse(sb.URL())
	if err != nil {
		sb.Close()
		return nil, err
	}
	conn, err := tls.Dial("tcp", u.Host, &tls.Config{InsecureSkipVerify: true})
	if err != nil {
		sb.Close()
		return nil, err
	}
	fp := ews.Fingerprint(conn.ConnectionState().PeerCertificates[0])
	conn.Close()
	return &ewsOrg{sb: sb, creds: map[string]any{
		"fields": map[string]string{"ewsUrl": sb.URL(), "username": sb.NetBIOSDomain() + `\` + ewssb.ServiceAccount,
			"auth": "ntlm", "certFingerprint": fp},
		"secrets": map[string]string{"password": ewssb.Password(ewsSeed, ewssb.ServiceAccount)},
	}}, nil
}

// budget is the service account's budget for one mailbox, which every
// request the migration makes for that mailbox is charged to.
func (o *ewsOrg) budget(mailbox string) ewssb.BudgetUse {
	return o.sb.Budget(ewssb.ServiceAccount, mailbox)
}

// drain spends a mailbox's budget down to nothing with cheap requests,
// as if its user's Outlook had just used it all: what follows runs at
// the budget's recharge rate.
func (o *ewsOrg) drain(ctx context.Context, mailbox string, cost time.Duration) error {
	c := &soap.Client{URL: o.sb.URL(), Username: ewssb.ServiceAccount, Password: ewssb.Password(ewsSeed, ewssb.ServiceAccount),
		Auth: soap.AuthBasic, HTTP: &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: o.sb.CertPool()},
			MaxIdleConnsPerHost: 16}, Timeout: time.Minute}}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	var wg sync.WaitGroup
	errc := make(chan error, 16)
	for range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil && o.budget(mailbox).Balance >= cost {
				var resp soap.GetFolderResponse
				err := c.Call(ctx, mailbox, &soap.GetFolder{FolderShape: soap.FolderShape{BaseShape: soap.ShapeIDOnly},
					FolderIDs: *soap.FolderList("inbox")}, &resp)
				var fault *soap.Fault
				if err != nil && !(errors.As(err, &fault) && fault.ResponseCode == "ErrorServerBusy") {
					errc <- fmt.Errorf("drain the budget of %s: %w", mailbox, err)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errc)
	if err := <-errc; err != nil {
		return err
	}
	return ctx.Err()
}

// ewsRun is one migration between two Exchange sandboxes through
// `mailferry up`.
type ewsRun struct {
	mailboxes, messages int
	bytes               int64 // of the source's mail
	run                 time.Duration
	// requests charged to the throttled mailbox's budget, from the
	// drain's end (or the platform's start) to the run's end, and what
	// the budget allowed over that span.
	requests, refused int
	allowed           float64
	span              time.Duration
	// peakRSS is the platform process's high-water mark, startRSS its
	// resident memory once it answered, before the run.
	peakRSS, startRSS int64
}

// ewsMode says which side, if any, enforces Exchange's default policy
// on one mailbox, and whether that mailbox's budget starts spent.
type ewsMode struct {
	throttleSource, throttleDest bool
	drained                      bool
	concurrency                  int // mailboxes at once (0: the platform's default)
	profile                      tenantgen.Profile
}

// benchEWS moves users x messages (mail only) from one Exchange sandbox
// to another through `mailferry up`.
func benchEWS(ctx context.Context, binary string, users, messages int, m ewsMode) (ewsRun, error) {
	r := ewsRun{mailboxes: users, messages: users * messages}
	limitsOf := func(on bool) ewssb.Limits {
		if on {
			return ewssb.RealLimits()
		}
		return ewssb.Limits{}
	}
	src, err := newEWSOrg("source-exchange.example", limitsOf(m.throttleSource))
	if err != nil {
		return r, err
	}
	defer src.sb.Close()
	dst, err := newEWSOrg("target-exchange.example", limitsOf(m.throttleDest))
	if err != nil {
		return r, err
	}
	defer dst.sb.Close()
	addrs := src.sb.Seed(ewssb.SeedSpec{Users: users, MessagesPerUser: messages, Seed: ewsSeed, Profile: m.profile})
	for n := 1; n <= users; n++ {
		for idx := 0; idx < messages; idx++ {
			r.bytes += tenantgen.Mail(ewsSeed, n, idx, src.sb.Domain(), tenantgen.Options{Profile: m.profile}).Size
		}
	}
	var dstAddrs []string
	for _, a := range addrs {
		local, _, _ := strings.Cut(a, "@")
		if err := dst.sb.AddAccount(ewssb.Account{Username: local, Password: "Bench-" + local + "!1", HasMailbox: true}); err != nil {
			return r, err
		}
		dstAddrs = append(dstAddrs, local+"@"+dst.sb.Domain())
	}
	var env []string
	if m.concurrency > 0 {
		env = append(env, fmt.Sprintf("MAILFERRY_TRANSFER_CONCURRENCY=%d", m.concurrency))
	}
	p, err := startPlatform(binary, env...)
	if err != nil {
		return r, err
	}
	defer p.stop()
	r.startRSS = residentRSS(p.cmd.Process.Pid)

	// The throttled side's first mailbox is the one measured.
	var org *ewsOrg
	var mailbox string
	switch {
	case m.throttleDest:
		org, mailbox = dst, dstAddrs[0]
	case m.throttleSource:
		org, mailbox = src, addrs[0]
	}
	var before ewssb.BudgetUse
	start := time.Now()
	if org != nil {
		if m.drained {
			if err := org.drain(ctx, mailbox, ewssb.RealLimits().RequestCost); err != nil {
				return r, err
			}
		}
		before, start = org.budget(mailbox), time.Now()
	}
	// The service accounts' mailboxes move too (empty ones): one credit
	// more.
	_, r.run, err = p.migrate(ctx, users+1, "exchange", "exchange", src.creds, dst.creds, false)
	if err != nil {
		return r, err
	}
	r.peakRSS = peakRSS(p.cmd.Process.Pid)
	if org != nil {
		after := org.budget(mailbox)
		r.span = time.Since(start)
		r.requests, r.refused = after.Admitted-before.Admitted, after.Refused-before.Refused
		// What the budget could pay over the span: its balance at the
		// start and what it recharged since (Exchange's default: 900 s
		// of server time an hour, a request costing 50 ms).
		l := ewssb.RealLimits()
		recharged := time.Duration(float64(l.RechargePerHour) * r.span.Hours())
		r.allowed = float64(before.Balance+recharged) / float64(l.RequestCost)
	}
	return r, nil
}

// ewsSustainedRate is the requests per second the default policy's
// recharge pays for (900 s an hour at 50 ms a request: 5).
func ewsSustainedRate() float64 {
	l := ewssb.RealLimits()
	return float64(l.RechargePerHour) / float64(time.Hour) / l.RequestCost.Seconds()
}

// benchEWSAll runs the Exchange benchmark and writes its section.
func benchEWSAll(ctx context.Context, b *strings.Builder, binary string) error {
	fmt.Fprintln(os.Stderr, "bench: Exchange, one mailbox into a fresh budget ...")
	burst, err := benchEWS(ctx, binary, 1, ewsBurstItems, ewsMode{throttleDest: true, profile: ewsProfile})
	if err != nil {
		return fmt.Errorf("exchange, burst: %w", err)
	}
	fmt.Fprintln(os.Stderr, "bench: Exchange, one mailbox into a spent budget ...")
	write, err := benchEWS(ctx, binary, 1, ewsWriteItems, ewsMode{throttleDest: true, drained: true, profile: ewsProfile})
	if err != nil {
		return fmt.Errorf("exchange, writing at the budget: %w", err)
	}
	fmt.Fprintln(os.Stderr, "bench: Exchange, one mailbox out of a spent budget ...")
	read, err := benchEWS(ctx, binary, 1, ewsReadItems, ewsMode{throttleSource: true, drained: true, profile: ewsProfile})
	if err != nil {
		return fmt.Errorf("exchange, reading at the budget: %w", err)
	}
	fmt.Fprintln(os.Stderr, "bench: Exchange, many mailboxes, throttling off ...")
	many, err := benchEWS(ctx, binary, ewsManyUsers, ewsManyMessages, ewsMode{concurrency: ewsConcurrency, profile: tenantgen.Light})
	if err != nil {
		return fmt.Errorf("exchange, many mailboxes: %w", err)
	}
	writeEWS(b, burst, write, read, many)
	return nil
}

func writeEWS(b *strings.Builder, burst, write, read, many ewsRun) {
	l := ewssb.RealLimits()
	burstRequests := float64(l.Burst) / float64(l.RequestCost)
	rate := ewsSustainedRate()
	perSec := func(r ewsRun) float64 { return float64(r.messages) / r.run.Seconds() }
	kb := func(r ewsRun) float64 { return float64(r.bytes) / 1e3 / float64(max(r.messages, 1)) }
	fmt.Fprintf(b, "\n## Exchange to Exchange over the EWS sandbox (`mailferry up`, NTLM over HTTPS)\n\n")
	fmt.Fprintf(b, "Exchange's default throttling policy on the measured mailbox (the sandbox's `RealLimits`: %d requests in flight; a budget of %.0f s of server time recharging %.0f s an hour, a request charged %d ms: a burst of %.0f requests, then %.0f requests/s). Messages of the realistic profile, mail only; the other side unthrottled.\n\n",
		l.MaxConcurrency, l.Burst.Seconds(), l.RechargePerHour.Seconds(), l.RequestCost.Milliseconds(), burstRequests, rate)
	fmt.Fprintf(b, "| measure | value |\n|---|---|\n")
	fmt.Fprintf(b, "| into one mailbox with a fresh budget, %d messages (%.1f MB, %.0f KB on average) | %.1f items/s (%s); %d requests charged to the mailbox (%.1f per item): %.0f%% of the burst; %d refused |\n",
		burst.messages, float64(burst.bytes)/1e6, kb(burst), perSec(burst), burst.run.Round(time.Millisecond), burst.requests,
		float64(burst.requests)/float64(burst.messages), 100*float64(burst.requests)/burstRequests, burst.refused)
	for _, x := range []struct {
		what string
		r    ewsRun
	}{{"into one mailbox whose budget is spent", write}, {"out of one mailbox whose budget is spent", read}} {
		fmt.Fprintf(b, "| %s, %d messages (%.1f MB) | %.2f items/s (%s); %d requests in %s (%.1f per item, %.2f/s) of the %.0f the budget allowed: %.0f%% of the budget; %d refused with ErrorServerBusy |\n",
			x.what, x.r.messages, float64(x.r.bytes)/1e6, perSec(x.r), x.r.run.Round(time.Second), x.r.requests, x.r.span.Round(time.Second),
			float64(x.r.requests)/float64(x.r.messages), float64(x.r.requests)/x.r.span.Seconds(), x.r.allowed, 100*float64(x.r.requests)/x.r.allowed, x.r.refused)
	}
	fmt.Fprintf(b, "| %d mailboxes x %d light messages (%.0f KB on average), throttling off, %d mailboxes at once | %.0f items/s (%s) |\n",
		many.mailboxes, many.messages/many.mailboxes, kb(many), ewsConcurrency, perSec(many), many.run.Round(time.Millisecond))
	fmt.Fprintf(b, "| peak RSS of the platform process (many mailboxes) | %.0f MB (%.0f MB before the run) |\n", float64(many.peakRSS)/1e6, float64(many.startRSS)/1e6)
	fmt.Fprintf(b, "| peak RSS of the platform process (one mailbox, realistic messages) | %.0f MB (%.0f MB before the run) |\n",
		float64(max(burst.peakRSS, write.peakRSS, read.peakRSS))/1e6, float64(burst.startRSS)/1e6)
}

// residentRSS reads a process's resident memory now.
func residentRSS(pid int) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "VmRSS:" {
			kb, _ := strconv.ParseInt(f[1], 10, 64)
			return kb * 1024
		}
	}
	return 0
}
