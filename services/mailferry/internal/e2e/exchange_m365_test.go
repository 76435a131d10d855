package e2e

import (
	"bytes"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/mailferry/mailferry/libs/bus/bustest"
	"github.com/mailferry/mailferry/libs/connectors/ews"
	"github.com/mailferry/mailferry/libs/connectors/m365"
	"github.com/mailferry/mailferry/libs/ews/soap"
	"github.com/mailferry/mailferry/libs/platform"
	"github.com/mailferry/mailferry/libs/platform/platformtest"
	ewssb "github.com/mailferry/mailferry/libs/sandbox/ews"
	"github.com/mailferry/mailferry/libs/sandbox/graph"
	"github.com/mailferry/mailferry/libs/tenantgen"
)

// displayEWSURL is what the platform is told of the customer's Exchange
// when an agent serves it: a name for people to read, in a top-level
// domain that never resolves (RFC 2606), so the platform could not reach
// Exchange even if it tried.
const displayEWSURL = "https://exchange.customer.invalid/EWS/Exchange.asmx"

// TestExchangeM365 moves a small organisation between Exchange
// on-premises and Microsoft 365 in both directions, with Exchange reached
// directly over HTTPS and through the outbound connector agent, through
// the saga with every service in its own process. Each case ends with
// every item exactly once at the destination (one copy per engine
// marker, mail compared by the hashes of its parts), a re-run adding
// nothing, a delta run bringing only the message that arrived since, and
// neither Exchange nor Microsoft 365 having sent a message or an
// invitation. Through the agent, the platform is given no route to
// Exchange: only the agent and Exchange live in the customer's network
// (customerNet), the platform's credentials carry the agent's id and a
// display URL that does not resolve, and every connection Exchange
// accepted is traced to the process that opened it
// (checkOnlyAgentReachedExchange).
func TestExchangeM365(t *testing.T) {
	for _, tc := range []struct {
		name       string
		toExchange bool // Microsoft 365 to Exchange; else Exchange to Microsoft 365
		viaAgent   bool
	}{
		{"exchange-to-m365/direct", false, false},
		{"exchange-to-m365/agent", false, true},
		{"m365-to-exchange/direct", true, false},
		{"m365-to-exchange/agent", true, true},
	} {
		t.Run(tc.name, func(t *testing.T) { migrateExchangeM365(t, tc.name, tc.toExchange, tc.viaAgent) })
	}
}

// migrateExchangeM365 is one case of TestExchangeM365.
func migrateExchangeM365(t *testing.T, name string, toExchange, viaAgent bool) {
	var (
		sb            *ewssb.Sandbox
		openEx        func() *ews.Connector
		fields        map[string]string
		secrets       map[string]string
		customerNet   *customerNet
		watch         *peerWatch
		platformCreds map[string]any
	)
	if viaAgent {
		customerNet = newCustomerNet(t)
		sb, openEx, fields, secrets, watch = exchangeBehindAgent(t, customerNet)
	} else {
		sb, _, fields, secrets = exchangeOrg(t)
		platformCreds = map[string]any{"fields": fields, "secrets": secrets}
		openEx = func() *ews.Connector {
			c, err := ews.FromCredentials(context.Background(), platform.Credentials{Platform: platform.Exchange, Fields: fields, Secrets: secrets})
			if err != nil {
				t.Fatal(err)
			}
			return c
		}
	}
	gsb, gc, gFields, gSecrets := graphTenant(t, 0, 0)
	t.Cleanup(func() {
		if n := gsb.SentMessages(); n != 0 {
			t.Errorf("Microsoft 365 sent %d messages during the migration", n)
		}
		if inv := gsb.Invitations(); len(inv) != 0 {
			t.Errorf("Microsoft 365 sent %d meeting messages during the migration: %+v", len(inv), inv)
		}
	})
	local := func(addr string) string { return strings.SplitN(addr, "@", 2)[0] }
	if toExchange {
		gsb.Seed(graph.SeedSpec{Users: 3, MessagesPerUser: 6, EventsPerUser: 3, ContactsPerUser: 3, Seed: 11, Profile: tenantgen.Light})
		users, err := gc.ListMailboxes(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		for _, u := range users {
			if err := sb.AddAccount(ewssb.Account{Username: local(u.PrimaryAddress), Password: "Pw-" + local(u.PrimaryAddress) + "!1",
				DisplayName: u.DisplayName, HasMailbox: true}); err != nil {
				t.Fatal(err)
			}
		}
	} else {
		sb.Seed(ewssb.SeedSpec{Users: 3, MessagesPerUser: 6, EventsPerUser: 3, ContactsPerUser: 3, Seed: exchangeSeed, Profile: tenantgen.Light})
		// Every Exchange mailbox has its counterpart, the service
		// account's own included, so that nothing is an exception.
		for _, m := range sb.Mailboxes() {
			gsb.AddUser(local(m.SMTP)+"@"+gsb.Domain(), m.DisplayName)
		}
	}

	c := startCluster(t)
	a, _, _ := newAccount(t, c, "E2E "+name)
	var agentProc *proc
	var tapped *wiretap
	if viaAgent {
		tapped = tap(t, c.bus.Conn(), secrets["password"])
		var agentID string
		agentProc, agentID = agentIn(t, c, a, customerNet, fields, secrets)
		platformCreds = map[string]any{"fields": map[string]string{"agentId": agentID, "ewsUrl": displayEWSURL, "username": fields["username"]}}
	}
	m365Creds := map[string]any{"fields": gFields, "secrets": gSecrets}
	srcKind, dstKind, srcCreds, dstCreds := "exchange", "m365", platformCreds, m365Creds
	if toExchange {
		srcKind, dstKind, srcCreds, dstCreds = "m365", "exchange", m365Creds, platformCreds
	}
	// The test looks at both sides through connectors of its own,
	// opened anew for every look: connectors keep what they listed
	// (folders, marker indexes) for minutes, and the copies are
	// written by the platform's processes.
	observe := func() (src, dst platform.Connector) {
		ex := openEx()
		g, err := m365.FromCredentials(context.Background(), platform.Credentials{Platform: platform.M365, Fields: gFields, Secrets: gSecrets})
		if err != nil {
			t.Fatal(err)
		}
		if toExchange {
			return g, ex
		}
		return ex, g
	}
	var p struct {
		ID string `json:"id"`
	}
	a.must(http.MethodPost, "/api/projects", map[string]string{"name": name, "source": srcKind, "destination": dstKind}, &p)
	a.must(http.MethodPut, "/api/projects/"+p.ID+"/credentials/source", srcCreds, nil)
	a.must(http.MethodPut, "/api/projects/"+p.ID+"/credentials/destination", dstCreds, nil)
	verifySide(t, a, p.ID, "source")
	verifySide(t, a, p.ID, "destination")
	discoverAndMap(t, a, p.ID)

	src, dst := observe()
	pairs := pairUp(t, src, dst)
	runMode(t, a, p.ID, "full")
	src, dst = observe()
	n := checkPairs(t, "full run", src, dst, pairs)
	// Exchange renders bodies anew on the way into Microsoft 365's
	// standard path: there only attachments keep their hashes. Into
	// Exchange every part does.
	checkMail(t, src, dst, toExchange)

	runMode(t, a, p.ID, "full")
	src, dst = observe()
	if again := checkPairs(t, "re-run", src, dst, pairs); again != n {
		t.Fatalf("the re-run changed the destination from %d to %d items", n, again)
	}

	// A message arrives in the first mailbox after the full run;
	// the delta run brings it and nothing else.
	first := pairs[0]
	inbox := inboxOf(t, src, first.src.ID)
	arrival := platformtest.Message("arrived after the full run", 2500)
	if _, err := src.WriteItem(context.Background(), first.src.ID, inbox, arrival, fmt.Sprintf("arrival-%d", time.Now().UnixNano())); err != nil {
		t.Fatal(err)
	}
	before := map[string]int{}
	for _, pr := range pairs {
		before[pr.dst.ID] = total(t, dst, pr.dst.ID)
	}
	runMode(t, a, p.ID, "delta")
	src, dst = observe()
	for i, pr := range pairs {
		want := before[pr.dst.ID]
		if i == 0 {
			want++
		}
		if got := total(t, dst, pr.dst.ID); got != want {
			t.Errorf("after the delta run %s holds %d items, want %d", pr.dst.PrimaryAddress, got, want)
		}
	}
	if t.Failed() {
		t.FailNow()
	}
	checkPairs(t, "delta run", src, dst, pairs)
	checkMail(t, src, dst, toExchange)
	t.Logf("%d items moved, each exactly once; the re-run added nothing and the delta brought the one new message", n)

	if viaAgent {
		checkOnlyAgentReachedExchange(t, c, customerNet, watch, sb, agentProc, secrets["password"])
		if leaks := tapped.leaks.Load(); leaks > 0 || tapped.agent.Load() == 0 {
			t.Errorf("%d bus messages carried the Exchange password (of %d agent messages seen)", leaks, tapped.agent.Load())
		}
		if strings.Contains(bustest.Dump(t, c.bus), secrets["password"]) {
			t.Error("the Exchange password is in a stream")
		}
		if l, _ := listening(t, agentProc.cmd.Process.Pid); len(l) > 0 {
			t.Errorf("the agent listens on %v", l)
		}
	}
}

// pair is a source mailbox and its destination.
type pair struct{ src, dst platform.Mailbox }

// pairUp pairs every source mailbox with the destination mailbox of the
// same local part, as the mapping suggests.
func pairUp(t *testing.T, src, dst platform.Connector) []pair {
	t.Helper()
	mbs, err := src.ListMailboxes(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	domain := domainOf(t, dst)
	var out []pair
	for _, m := range mbs {
		// The first pair gets the delta's message: a user's mailbox,
		// not the Exchange service account's.
		d := tenants{}.mailboxByAddress(t, dst, strings.SplitN(m.PrimaryAddress, "@", 2)[0]+"@"+domain)
		if strings.HasPrefix(strings.ToLower(m.PrimaryAddress), ewssb.ServiceAccount+"@") {
			out = append(out, pair{m, d})
		} else {
			out = append([]pair{{m, d}}, out...)
		}
	}
	if len(out) < 3 {
		t.Fatalf("%d source mailboxes; the test needs its three users", len(out))
	}
	return out
}

// checkPairs checks every pair: the destination holds as many items as
// the source, and each source item exactly once (one copy carrying the
// transfer engine's marker). It returns the items at the destination.
func checkPairs(t *testing.T, stage string, src, dst platform.Connector, pairs []pair) int {
	t.Helper()
	sum, items := 0, 0
	for _, pr := range pairs {
		want, got := total(t, src, pr.src.ID), total(t, dst, pr.dst.ID)
		if got != want {
			t.Errorf("%s: %s holds %d items, the source %s %d", stage, pr.dst.PrimaryAddress, got, pr.src.PrimaryAddress, want)
		}
		for _, r := range itemsOf(t, src, pr.src.ID) {
			found, err := dst.FindByMarker(context.Background(), pr.dst.ID, engineMarker(pr.src.ID, r.ID))
			if err != nil || len(found) != 1 {
				t.Errorf("%s: item %s of %s has %d copies at the destination (%v)", stage, r.ID, pr.src.PrimaryAddress, len(found), err)
			}
			items++
		}
		sum += got
	}
	if t.Failed() {
		t.FailNow()
	}
	if items == 0 {
		t.Fatalf("%s: the source holds no items; the check proves nothing", stage)
	}
	return sum
}

func inboxOf(t *testing.T, c platform.Source, mb string) string {
	t.Helper()
	folders, err := c.Folders(context.Background(), mb)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range folders {
		if f.Role == platform.RoleInbox {
			return f.ID
		}
	}
	t.Fatalf("%s has no inbox", mb)
	return ""
}

// customerNet is the customer's network. When the test may create network
// namespaces (it runs as root) it is a namespace of its own with nothing
// but a loopback interface: the EWS sandbox listens there, the agent runs
// there, and the platform's processes, in the test's namespace, have no
// route into it. The test process reaches into it for the sandbox's
// listener, its own observing connector and the customer's way out to the
// platform, each from a thread that entered the namespace. Where
// namespaces are not allowed the customer's network is the test's own,
// and the agent is only a process of its own (why says why).
type customerNet struct {
	ns   *os.File // the namespace, or nil
	nsfd int
	why  string
}

func newCustomerNet(t *testing.T) *customerNet {
	t.Helper()
	if _, err := exec.LookPath("nsenter"); err != nil {
		n := &customerNet{why: "nsenter (util-linux) is not installed to start the agent in a namespace"}
		t.Logf("the customer's network is the test's own: %s", n.why)
		return n
	}
	type made struct {
		f   *os.File
		err error
	}
	ch := make(chan made, 1)
	go func() {
		runtime.LockOSThread()
		if err := unix.Unshare(unix.CLONE_NEWNET); err != nil {
			runtime.UnlockOSThread()
			ch <- made{err: err}
			return
		}
		// The thread is in the new namespace now and stays locked: it
		// ends with this goroutine instead of running other goroutines.
		f, err := os.Open(fmt.Sprintf("/proc/self/task/%d/ns/net", unix.Gettid()))
		if err == nil {
			err = loopbackUp()
		}
		ch <- made{f, err}
	}()
	m := <-ch
	if m.err != nil {
		if m.f != nil {
			m.f.Close()
		}
		n := &customerNet{why: "no network namespace: " + m.err.Error()}
		t.Logf("the customer's network is the test's own: %s", n.why)
		return n
	}
	t.Cleanup(func() { m.f.Close() })
	t.Log("the customer's network is a network namespace of its own with only a loopback interface")
	return &customerNet{ns: m.f, nsfd: int(m.f.Fd())}
}

// loopbackUp brings up lo in the calling thread's network namespace.
func loopbackUp() error {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("socket: %w", err)
	}
	defer unix.Close(fd)
	ifr, err := unix.NewIfreq("lo")
	if err != nil {
		return err
	}
	if err := unix.IoctlIfreq(fd, unix.SIOCGIFFLAGS, ifr); err != nil {
		return fmt.Errorf("SIOCGIFFLAGS: %w", err)
	}
	ifr.SetUint16(ifr.Uint16() | unix.IFF_UP)
	if err := unix.IoctlIfreq(fd, unix.SIOCSIFFLAGS, ifr); err != nil {
		return fmt.Errorf("SIOCSIFFLAGS: %w", err)
	}
	return nil
}

// isolated says whether the customer's network is a namespace of its own.
func (n *customerNet) isolated() bool { return n.ns != nil }

// inside runs fn on a thread in the customer's network: sockets fn opens
// belong to it.
func (n *customerNet) inside(fn func() error) error {
	if n.ns == nil {
		return fn()
	}
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		// Never unlocked: the thread leaves the namespace by ending with
		// this goroutine.
		if err := unix.Setns(n.nsfd, unix.CLONE_NEWNET); err != nil {
			errc <- fmt.Errorf("setns: %w", err)
			return
		}
		errc <- fn()
	}()
	return <-errc
}

func (n *customerNet) listen(t *testing.T) net.Listener {
	t.Helper()
	var ln net.Listener
	if err := n.inside(func() (err error) {
		ln, err = net.Listen("tcp", "127.0.0.1:0")
		return err
	}); err != nil {
		t.Fatal(err)
	}
	return ln
}

// dial connects from inside the customer's network.
func (n *customerNet) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	var c net.Conn
	err := n.inside(func() (err error) {
		c, err = (&net.Dialer{}).DialContext(ctx, network, addr)
		return err
	})
	return c, err
}

// command runs a program inside the customer's network.
func (n *customerNet) command(bin string, args ...string) *exec.Cmd {
	if n.ns == nil {
		return exec.Command(bin, args...)
	}
	return exec.Command("nsenter", append([]string{fmt.Sprintf("--net=/proc/%d/fd/%d", os.Getpid(), n.nsfd), "--", bin}, args...)...)
}

// exit is the customer's way out to the platform (its firewall lets
// outbound HTTPS through): an address inside the customer's network that
// leads to target outside it.
func (n *customerNet) exit(t *testing.T, target string) string {
	t.Helper()
	if n.ns == nil {
		return target
	}
	ln := n.listen(t)
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				up, err := net.Dial("tcp", target)
				if err != nil {
					return
				}
				defer up.Close()
				done := make(chan struct{})
				go func() {
					_, _ = io.Copy(up, c)
					if tc, ok := up.(*net.TCPConn); ok {
						_ = tc.CloseWrite()
					}
					close(done)
				}()
				_, _ = io.Copy(c, up)
				_ = c.(*net.TCPConn).CloseWrite()
				<-done
			}()
		}
	}()
	return ln.Addr().String()
}

// peerWatch records, for every connection the EWS sandbox accepts, which
// process opened it: found by the client's socket in the network's TCP
// table and the process holding that socket.
type peerWatch struct {
	net *customerNet
	mu  sync.Mutex
	// byPID counts connections per process; exe names each process's
	// executable, cmd its command line.
	byPID    map[int]int
	exe, cmd map[int]string
	unknown  []string
}

type watchedListener struct {
	net.Listener
	w *peerWatch
}

func (l watchedListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err == nil {
		l.w.record(c)
	}
	return c, err
}

func (w *peerWatch) record(c net.Conn) {
	pid, err := w.owner(c.RemoteAddr().(*net.TCPAddr), c.LocalAddr().(*net.TCPAddr))
	w.mu.Lock()
	defer w.mu.Unlock()
	if err != nil {
		w.unknown = append(w.unknown, fmt.Sprintf("%s: %v", c.RemoteAddr(), err))
		return
	}
	w.byPID[pid]++
	if _, ok := w.exe[pid]; !ok {
		w.exe[pid], _ = os.Readlink(fmt.Sprintf("/proc/%d/exe", pid))
		cmd, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
		w.cmd[pid] = strings.TrimSpace(string(bytes.ReplaceAll(cmd, []byte{0}, []byte{' '})))
	}
}

// owner finds the process whose socket is the client end of the
// connection from client to server.
func (w *peerWatch) owner(client, server *net.TCPAddr) (int, error) {
	hex := func(a *net.TCPAddr) string {
		ip := a.IP.To4()
		if ip == nil {
			return ""
		}
		// The kernel prints the address as a number in host byte order.
		return fmt.Sprintf("%02X%02X%02X%02X:%04X", ip[3], ip[2], ip[1], ip[0], a.Port)
	}
	var table []byte
	if err := w.net.inside(func() (err error) {
		table, err = os.ReadFile("/proc/thread-self/net/tcp")
		return err
	}); err != nil {
		return 0, err
	}
	inode := ""
	for _, line := range strings.Split(string(table), "\n")[1:] {
		f := strings.Fields(line)
		if len(f) >= 10 && f[1] == hex(client) && f[2] == hex(server) {
			inode = f[9]
		}
	}
	if inode == "" || inode == "0" {
		return 0, fmt.Errorf("no socket from %s to %s in the TCP table", client, server)
	}
	want := "socket:[" + inode + "]"
	procs, err := os.ReadDir("/proc")
	if err != nil {
		return 0, err
	}
	for _, p := range procs {
		pid, err := strconv.Atoi(p.Name())
		if err != nil {
			continue
		}
		fds, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
		if err != nil {
			continue
		}
		for _, fd := range fds {
			if l, err := os.Readlink(fmt.Sprintf("/proc/%d/fd/%s", pid, fd.Name())); err == nil && l == want {
				return pid, nil
			}
		}
	}
	return 0, fmt.Errorf("no process holds %s", want)
}

// exchangeBehindAgent starts an Exchange sandbox (Exchange's default
// throttling policy, NTLM, its self-signed certificate pinned by
// fingerprint) listening inside the customer's network only, watching
// which process opens every connection to it. It returns the sandbox,
// how the test opens a connector of its own to it (reaching into that
// network), the fields and secret the agent is configured with, and the
// watch.
func exchangeBehindAgent(t *testing.T, n *customerNet) (*ewssb.Sandbox, func() *ews.Connector, map[string]string, map[string]string, *peerWatch) {
	t.Helper()
	sb, err := ewssb.New(ewssb.Config{Limits: ewssb.RealLimits()})
	if err != nil {
		t.Fatal(err)
	}
	w := &peerWatch{net: n, byPID: map[int]int{}, exe: map[int]string{}, cmd: map[int]string{}}
	if err := sb.StartListener(watchedListener{n.listen(t), w}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if n := sb.SentMessages(); n != 0 {
			t.Errorf("Exchange sent %d messages during the migration", n)
		}
		if inv := sb.Invitations(); len(inv) != 0 {
			t.Errorf("Exchange sent %d meeting messages during the migration: %+v", len(inv), inv)
		}
		sb.Close()
	})
	sb.Seed(ewssb.SeedSpec{Seed: exchangeSeed}) // the service account
	u, err := url.Parse(sb.URL())
	if err != nil {
		t.Fatal(err)
	}
	raw, err := n.dial(context.Background(), "tcp", u.Host)
	if err != nil {
		t.Fatal(err)
	}
	conn := tls.Client(raw, &tls.Config{InsecureSkipVerify: true})
	if err := conn.Handshake(); err != nil {
		t.Fatal(err)
	}
	fp := ews.Fingerprint(conn.ConnectionState().PeerCertificates[0])
	conn.Close()
	fields := map[string]string{"ewsUrl": sb.URL(), "username": sb.NetBIOSDomain() + `\` + ewssb.ServiceAccount, "auth": "ntlm", "certFingerprint": fp}
	secrets := map[string]string{"password": ewssb.Password(exchangeSeed, ewssb.ServiceAccount)}
	open := func() *ews.Connector {
		c, err := ews.Open(ews.Config{URL: fields["ewsUrl"], Username: fields["username"], Password: secrets["password"],
			Auth: soap.AuthNTLM, CertFingerprint: fp, DialContext: n.dial})
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	return sb, open, fields, secrets, w
}

// agentIn registers a connector agent of account a inside the customer's
// network, configures it with the Exchange it alone is told about (the
// sandbox's real URL and the password, on its standard input), checks it
// and starts it; the agent reaches the platform through the customer's
// way out to an HTTPS front. It returns the running agent and its id.
func agentIn(t *testing.T, c *cluster, a api, n *customerNet, fields, secrets map[string]string) (*proc, string) {
	t.Helper()
	front, ca := tlsFront(t, c.api)
	fu, err := url.Parse(front)
	if err != nil {
		t.Fatal(err)
	}
	platformURL := "https://" + n.exit(t, fu.Host)
	dir, bin := filepath.Join(t.TempDir(), "agent"), agentBinary(t)
	// The agent gets nothing of the platform's environment.
	env := []string{"PATH=" + os.Getenv("PATH"), "HOME=" + dir}
	agentCmd := func(stdin string, args ...string) string {
		t.Helper()
		cmd := n.command(bin, append(args, "--dir", dir)...)
		cmd.Stdin, cmd.Env = strings.NewReader(stdin), env
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("connector-agent %s: %v\n%s", args[0], err, out)
		}
		return string(out)
	}
	var tok struct {
		Token string `json:"token"`
	}
	a.must(http.MethodPost, "/api/agents/tokens", map[string]any{"label": "e2e exchange", "ttlMinutes": 10}, &tok)
	out := agentCmd("", "register", "--url", platformURL, "--token", tok.Token, "--name", "customer-dc1", "--ca-file", ca)
	_, after, ok := strings.Cut(out, "registered as agent ")
	if !ok {
		t.Fatalf("register said:\n%s", out)
	}
	agentID := strings.Fields(after)[0]
	agentCmd(secrets["password"]+"\n", "configure", "exchange", "--ews-url", fields["ewsUrl"], "--user", fields["username"], "--password-stdin",
		"--field", "auth="+fields["auth"], "--field", "certFingerprint="+fields["certFingerprint"])
	agentCmd("", "check")

	cmd := n.command(bin, "run", "--dir", dir, "--poll-wait", "5s")
	cmd.Env = env
	buf := &logBuffer{}
	cmd.Stdout, cmd.Stderr = buf, buf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start the agent: %v", err)
	}
	p := &proc{name: "connector-agent", cmd: cmd, out: buf, done: make(chan struct{})}
	go func() { _ = cmd.Wait(); close(p.done) }()
	t.Cleanup(func() {
		p.stop()
		if t.Failed() {
			t.Logf("---- output of the agent ----\n%s", tail(buf.String(), 6000))
		}
	})
	var info agentInfo
	bustest.Eventually(t, 30*time.Second, "the agent connected", func() bool {
		a.do(http.MethodGet, "/api/agents/"+agentID, nil, &info)
		return info.Connected && info.Health == "ok" && info.Platform == "exchange"
	})
	return p, agentID
}

// checkOnlyAgentReachedExchange: every connection Exchange accepted was
// opened by the agent's executable (its check and run commands) or by the
// test's own observing connector, the running agent opened some, and no
// platform process opened one. In a namespace of its own, Exchange's
// address leads nowhere from the platform's network; and the platform's
// logs never name it or the password.
func checkOnlyAgentReachedExchange(t *testing.T, c *cluster, n *customerNet, w *peerWatch, sb *ewssb.Sandbox, agent *proc, password string) {
	t.Helper()
	bin := agentBinary(t)
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.unknown) > 0 {
		t.Errorf("%d connections to Exchange came from a process not found: %v", len(w.unknown), w.unknown)
	}
	platformPIDs := map[int]string{}
	for name, ps := range c.procs {
		for _, p := range ps {
			platformPIDs[p.cmd.Process.Pid] = name
		}
	}
	byAgent, byObserver := 0, 0
	for pid, conns := range w.byPID {
		switch {
		case platformPIDs[pid] != "":
			t.Errorf("the platform's %s process (pid %d) opened %d connections to Exchange", platformPIDs[pid], pid, conns)
		case w.exe[pid] == bin:
			byAgent += conns
		case pid == os.Getpid():
			byObserver += conns
		default:
			t.Errorf("process %d (%s) opened %d connections to Exchange", pid, w.cmd[pid], conns)
		}
	}
	if w.byPID[agent.cmd.Process.Pid] == 0 {
		t.Errorf("the running agent (pid %d) opened no connection to Exchange: %v", agent.cmd.Process.Pid, w.byPID)
	}
	u, err := url.Parse(sb.URL())
	if err != nil {
		t.Fatal(err)
	}
	if n.isolated() {
		if conn, err := net.DialTimeout("tcp", u.Host, 2*time.Second); err == nil {
			conn.Close()
			t.Errorf("Exchange's address %s is reachable from the platform's network", u.Host)
		}
	}
	if lines := scanLines(c.logs(), u.Host, password); len(lines) > 0 {
		t.Errorf("the platform's logs name Exchange's address or password: %s", lines[0])
	}
	t.Logf("Exchange accepted %d connections from the agent's processes (%d from the running agent), %d from the test's own observer, none from the platform (customer network isolated: %v)",
		byAgent, w.byPID[agent.cmd.Process.Pid], byObserver, n.isolated())
}
