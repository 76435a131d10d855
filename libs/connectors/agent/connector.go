package agent

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/mailferry/mailferry/libs/bus"
	"github.com/mailferry/mailferry/libs/connectors/agent/wire"
	"github.com/mailferry/mailferry/libs/errs"
	"github.com/mailferry/mailferry/libs/platform"
)

// Options tune a Connector; zero values take the defaults.
type Options struct {
	// Kind is the platform the agent serves (default exchange).
	Kind platform.Kind
	// OfflineWait is how long a call waits for a project instance to
	// hold the agent (a reconnect, a project restart) before it fails
	// with agent_offline. Default 30s.
	OfflineWait time.Duration
	// Liveness is how long a call waits without hearing from its relay or
	// agent before it is sent again. Default 60s (a poll every 25s
	// reports running calls).
	Liveness time.Duration
	// Resends is how many times a call whose agent went silent is sent
	// again before it fails with agent_offline. Default 2.
	Resends int
	// CallTimeout bounds one call when its context has no deadline.
	// Default 30 minutes.
	CallTimeout time.Duration
	// Info looks an agent up; nil asks the project service's query.
	Info func(ctx context.Context, agentID string) (Info, error)
}

// Connector is a platform.Connector whose every call is executed by an
// agent's local connector. It also forwards Verify, CreateMailbox and the
// native path, answering as the local connector would (or as the engine
// does for a connector without them).
type Connector struct {
	b       *bus.Bus
	nc      *nats.Conn
	agentID string
	opts    Options
	limits  atomic.Pointer[platform.Limits]
}

// New returns the connector of agent agentID over the bus b.
func New(b *bus.Bus, agentID string, opts Options) (*Connector, error) {
	if b == nil {
		return nil, errors.New("agent: nil bus")
	}
	if !wire.ValidID(agentID) {
		return nil, errs.Field("fields."+FieldAgentID, "not an agent id (agt_...)")
	}
	if opts.Kind == "" {
		opts.Kind = platform.Exchange
	}
	if opts.OfflineWait <= 0 {
		opts.OfflineWait = 30 * time.Second
	}
	if opts.Liveness <= 0 {
		opts.Liveness = 60 * time.Second
	}
	if opts.Resends <= 0 {
		opts.Resends = 2
	}
	if opts.CallTimeout <= 0 {
		opts.CallTimeout = 30 * time.Minute
	}
	c := &Connector{b: b, nc: b.Conn(), agentID: agentID, opts: opts}
	if c.opts.Info == nil {
		c.opts.Info = c.queryInfo
	}
	return c, nil
}

// AgentID is the agent this connector calls.
func (c *Connector) AgentID() string { return c.agentID }

func (c *Connector) queryInfo(ctx context.Context, agentID string) (Info, error) {
	var in Info
	err := c.b.Query(ctx, QueryService, QueryEndpoint, map[string]string{"agentId": agentID}, &in)
	return in, err
}

// Kind is the platform the agent serves.
func (c *Connector) Kind() platform.Kind { return c.opts.Kind }

// Limits asks the agent's platform once; the contract leaves no room for
// an error, so an unreachable agent yields the hop's own limit and the
// write that follows reports the real problem.
func (c *Connector) Limits() platform.Limits {
	if l := c.limits.Load(); l != nil {
		return *l
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var l platform.Limits
	if _, err := c.do(ctx, wire.OpLimits, wire.Args{}, nil, &l); err != nil || l.MaxItemBytes <= 0 {
		return platform.Limits{MaxItemBytes: wire.MaxContent}
	}
	l.MaxItemBytes = min(l.MaxItemBytes, wire.MaxContent)
	c.limits.Store(&l)
	return l
}

func (c *Connector) ListMailboxes(ctx context.Context) ([]platform.Mailbox, error) {
	var out []platform.Mailbox
	_, err := c.do(ctx, wire.OpListMailboxes, wire.Args{}, nil, &out)
	return out, err
}

func (c *Connector) Folders(ctx context.Context, mailboxID string) ([]platform.Folder, error) {
	var out []platform.Folder
	_, err := c.do(ctx, wire.OpFolders, wire.Args{MailboxID: mailboxID}, nil, &out)
	return out, err
}

func (c *Connector) Items(ctx context.Context, mailboxID, folderID, token string) (platform.ItemPage, error) {
	var out platform.ItemPage
	_, err := c.do(ctx, wire.OpItems, wire.Args{MailboxID: mailboxID, FolderID: folderID, Token: token}, nil, &out)
	return out, err
}

func (c *Connector) ReadItem(ctx context.Context, mailboxID string, ref platform.ItemRef) (platform.Item, error) {
	var out platform.Item
	content, err := c.do(ctx, wire.OpReadItem, wire.Args{MailboxID: mailboxID, Ref: &ref}, nil, &out)
	out.Content = content
	return out, err
}

func (c *Connector) Stats(ctx context.Context, mailboxID string) (platform.Stats, error) {
	var out platform.Stats
	_, err := c.do(ctx, wire.OpStats, wire.Args{MailboxID: mailboxID}, nil, &out)
	return out, err
}

func (c *Connector) EnsureFolder(ctx context.Context, mailboxID string, f platform.Folder) (platform.Folder, error) {
	var out platform.Folder
	_, err := c.do(ctx, wire.OpEnsureFolder, wire.Args{MailboxID: mailboxID, Folder: &f}, nil, &out)
	return out, err
}

func (c *Connector) FindByMarker(ctx context.Context, mailboxID, marker string) ([]platform.Placed, error) {
	var out []platform.Placed
	_, err := c.do(ctx, wire.OpFindByMarker, wire.Args{MailboxID: mailboxID, Marker: marker}, nil, &out)
	return out, err
}

func (c *Connector) WriteItem(ctx context.Context, mailboxID, folderID string, item platform.Item, marker string) (string, error) {
	content := item.Content
	item.Content = nil
	var id string
	_, err := c.do(ctx, wire.OpWriteItem, wire.Args{MailboxID: mailboxID, FolderID: folderID, Item: &item, Marker: marker}, content, &id)
	return id, err
}

func (c *Connector) DeleteItem(ctx context.Context, mailboxID string, p platform.Placed) error {
	_, err := c.do(ctx, wire.OpDeleteItem, wire.Args{MailboxID: mailboxID, Placed: &p}, nil, nil)
	return err
}

// Verify has the agent check its local credentials.
func (c *Connector) Verify(ctx context.Context) (platform.Verification, error) {
	var out platform.Verification
	_, err := c.do(ctx, wire.OpVerify, wire.Args{}, nil, &out)
	return out, err
}

func (c *Connector) NativeReadFormat(ctx context.Context) (string, error) {
	var f string
	_, err := c.do(ctx, wire.OpNativeReadFormat, wire.Args{}, nil, &f)
	return f, err
}

func (c *Connector) ReadNative(ctx context.Context, mailboxID string, ref platform.ItemRef) (platform.NativeItem, error) {
	var out platform.NativeItem
	data, err := c.do(ctx, wire.OpReadNative, wire.Args{MailboxID: mailboxID, Ref: &ref}, nil, &out)
	out.Data = data
	return out, err
}

func (c *Connector) NativeWriteFormat(ctx context.Context) (string, error) {
	var f string
	_, err := c.do(ctx, wire.OpNativeWriteFormat, wire.Args{}, nil, &f)
	return f, err
}

func (c *Connector) WriteNative(ctx context.Context, mailboxID, folderID string, it platform.NativeItem, marker string) (string, error) {
	data := it.Data
	it.Data = nil
	var id string
	_, err := c.do(ctx, wire.OpWriteNative, wire.Args{MailboxID: mailboxID, FolderID: folderID, Native: &it, Marker: marker}, data, &id)
	return id, err
}

func (c *Connector) DeleteNative(ctx context.Context, mailboxID string, p platform.Placed) error {
	_, err := c.do(ctx, wire.OpDeleteNative, wire.Args{MailboxID: mailboxID, Placed: &p}, nil, nil)
	return err
}

// CreateMailbox has the agent's platform create a mailbox; a platform
// that cannot answers mailbox_missing, as the engine itself would.
func (c *Connector) CreateMailbox(ctx context.Context, m platform.Mailbox) (platform.Mailbox, error) {
	var out platform.Mailbox
	_, err := c.do(ctx, wire.OpCreateMailbox, wire.Args{Mailbox: &m}, nil, &out)
	return out, err
}

var (
	_ platform.Connector         = (*Connector)(nil)
	_ platform.Provisioner       = (*Connector)(nil)
	_ platform.Verifier          = (*Connector)(nil)
	_ platform.NativeSource      = (*Connector)(nil)
	_ platform.NativeDestination = (*Connector)(nil)
)

// Outcomes of one attempt that make the call try again.
var (
	errNoSession = errors.New("agent: no project instance holds the agent")
	errRequeue   = errors.New("agent: the relay lost the agent before handing the call out")
	errSilent    = errors.New("agent: nothing heard of the call for the liveness interval")
)

// do executes one call: it sends it until a relay takes it, waits for the
// result, and decodes the value into out. It returns the content sent
// beside the value.
func (c *Connector) do(ctx context.Context, op string, args wire.Args, content []byte, out any) ([]byte, error) {
	if len(content) > wire.MaxContent {
		return nil, errs.New(errs.ItemTooLarge, fmt.Sprintf("the item is %d bytes; an agent carries items up to %d bytes", len(content), wire.MaxContent),
			"nothing: the item is listed as skipped")
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, c.opts.CallTimeout)
		defer cancel()
	}
	var offlineSince time.Time
	silent, requeues := 0, 0
	delay := 100 * time.Millisecond
	for {
		res, data, err := c.attempt(ctx, op, args, content)
		switch {
		case err == nil:
			if res.Error != nil {
				// A warning comes with its value (the id of a copy
				// stored with a loss).
				if out != nil && len(res.Value) > 0 {
					_ = json.Unmarshal(res.Value, out)
				}
				return nil, res.Error.Err()
			}
			if out != nil && len(res.Value) > 0 {
				if err := json.Unmarshal(res.Value, out); err != nil {
					return nil, fmt.Errorf("agent: decode %s answer: %w", op, err)
				}
			}
			return data, nil
		case errors.Is(err, errNoSession):
			now := time.Now()
			if offlineSince.IsZero() {
				offlineSince = now
			}
			info, ierr := c.info(ctx)
			if ierr == nil && info.Revoked {
				return nil, c.revokedErr(info)
			}
			// An agent gone for longer than the wait fails at once; one
			// that was here a moment ago (or never yet) gets the wait to
			// come back (a reconnect, a platform restart, a first start).
			longGone := ierr == nil && !info.Connected && !info.LastContact.IsZero() && now.Sub(info.LastContact) > c.opts.OfflineWait
			if longGone || now.Sub(offlineSince) >= c.opts.OfflineWait {
				return nil, c.offlineErr(info, ierr == nil, "")
			}
		case errors.Is(err, errRequeue):
			// The relay let go of the agent (it moved to another
			// instance): send again at once, a bounded number of times.
			requeues++
			if requeues <= 10 {
				continue
			}
			info, ierr := c.info(ctx)
			return nil, c.offlineErr(info, ierr == nil, "")
		case errors.Is(err, errSilent):
			silent++
			if silent > c.opts.Resends {
				info, ierr := c.info(ctx)
				return nil, c.offlineErr(info, ierr == nil, fmt.Sprintf("it did not answer a %s call for %s", op, c.opts.Liveness))
			}
			continue
		default:
			return nil, err
		}
		t := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, ctx.Err()
		case <-t.C:
		}
		delay = min(2*delay, 2*time.Second)
	}
}

func (c *Connector) info(ctx context.Context) (Info, error) {
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	return c.opts.Info(ctx, c.agentID)
}

func (c *Connector) name(info Info, known bool) string {
	if known && info.Name != "" {
		return fmt.Sprintf("%q (%s)", info.Name, c.agentID)
	}
	return c.agentID
}

func (c *Connector) revokedErr(info Info) error {
	return errs.New(CodeRevoked, "the outbound connector agent "+c.name(info, true)+" was revoked",
		"register a new agent with a new token and point the project's credentials at it")
}

func (c *Connector) offlineErr(info Info, known bool, why string) error {
	cause := "the outbound connector agent " + c.name(info, known) + " is not connected"
	if why != "" {
		cause = "the outbound connector agent " + c.name(info, known) + " stopped answering: " + why
	}
	switch {
	case known && !info.LastContact.IsZero():
		cause += fmt.Sprintf("; last contact %s (%s ago)", info.LastContact.UTC().Format(time.RFC3339), time.Since(info.LastContact).Round(time.Second))
	case known:
		cause += "; it has never been in contact"
	}
	return errs.New(CodeOffline, cause, "check that the agent runs on the server inside the network (connector-agent run, or its Windows service) and can reach the platform over HTTPS; its log says why it cannot; then run again")
}

// newCallID returns a random id, unique per attempt.
func newCallID() string {
	var b [18]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(err)
	}
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// attempt sends the call once under a fresh id and follows it to its end.
func (c *Connector) attempt(ctx context.Context, op string, args wire.Args, content []byte) (wire.Result, []byte, error) {
	id := newCallID()
	sub, err := c.nc.SubscribeSync(replySubject(c.agentID, id))
	if err != nil {
		return wire.Result{}, nil, fmt.Errorf("agent: subscribe: %w", err)
	}
	defer func() { _ = sub.Unsubscribe() }()
	_ = sub.SetPendingLimits(4096, 64<<20)
	call := wire.Call{ID: id, Op: op, Args: args, ContentSize: int64(len(content))}
	if len(content) <= wire.InlineMax {
		call.Content = content
	} else {
		chunk := chunkSize(c.nc.MaxPayload())
		csub, err := c.nc.Subscribe(contentSubject(c.agentID, id), func(m *nats.Msg) {
			off, err := strconv.ParseInt(string(m.Data), 10, 64)
			if err != nil || off < 0 || off > int64(len(content)) {
				off = int64(len(content))
			}
			end := min(off+int64(chunk), int64(len(content)))
			r := nats.NewMsg(m.Reply)
			r.Header.Set(hSize, strconv.Itoa(len(content)))
			r.Data = content[off:end]
			_ = m.RespondMsg(r)
		})
		if err != nil {
			return wire.Result{}, nil, fmt.Errorf("agent: subscribe: %w", err)
		}
		defer func() { _ = csub.Unsubscribe() }()
	}
	data, err := json.Marshal(call)
	if err != nil {
		return wire.Result{}, nil, err
	}
	rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	m := nats.NewMsg(callSubject(c.agentID))
	m.Data = data
	resp, err := c.nc.RequestMsgWithContext(rctx, m)
	cancel()
	switch {
	case errors.Is(err, nats.ErrNoResponders):
		return wire.Result{}, nil, errNoSession
	case ctx.Err() != nil:
		return wire.Result{}, nil, ctx.Err()
	case err != nil:
		// The relay did not answer in time: busy or gone.
		return wire.Result{}, nil, errSilent
	}
	switch resp.Header.Get(hKind) {
	case kindQueued:
	case kindRequeue:
		return wire.Result{}, nil, errRequeue
	case kindFail:
		return wire.Result{}, nil, decodeFail(resp.Data)
	default:
		return wire.Result{}, nil, fmt.Errorf("agent: unexpected relay answer %q", resp.Header.Get(hKind))
	}
	return c.follow(ctx, sub)
}

func decodeFail(data []byte) error {
	var e wire.Error
	if err := json.Unmarshal(data, &e); err != nil || e.Cause == "" {
		return errs.New(errs.Internal, "the relay refused the call", "retry")
	}
	return e.Err()
}

// follow reads the reply subject until the result is complete.
func (c *Connector) follow(ctx context.Context, sub *nats.Subscription) (wire.Result, []byte, error) {
	var meta, content []byte
	next := 0
	for {
		lctx, cancel := context.WithTimeout(ctx, c.opts.Liveness)
		m, err := sub.NextMsgWithContext(lctx)
		cancel()
		if err != nil {
			if ctx.Err() != nil {
				return wire.Result{}, nil, ctx.Err()
			}
			return wire.Result{}, nil, errSilent
		}
		switch m.Header.Get(hKind) {
		case kindQueued, kindAccepted, kindRunning:
			continue
		case kindRequeue:
			return wire.Result{}, nil, errRequeue
		case kindFail:
			return wire.Result{}, nil, decodeFail(m.Data)
		case kindResult:
		default:
			continue
		}
		seq, _ := strconv.Atoi(m.Header.Get(hSeq))
		if seq == 0 {
			// A result sent again from the start (the agent retried
			// after losing its connection mid-upload).
			meta, content, next = meta[:0], content[:0], 0
		}
		if seq != next {
			// A stale stream (an upload abandoned midway): stop it.
			r := nats.NewMsg(m.Reply)
			r.Header.Set(hGone, "1")
			_ = m.RespondMsg(r)
			continue
		}
		next++
		switch m.Header.Get(hPart) {
		case partMeta:
			if len(meta)+len(m.Data) > wire.MaxMeta {
				return wire.Result{}, nil, c.ackGone(m, errs.New(errs.Internal, "the agent's answer is larger than allowed", "report this with the agent's log"))
			}
			meta = append(meta, m.Data...)
		case partContent:
			if content == nil {
				size, _ := strconv.ParseInt(m.Header.Get(hSize), 10, 64)
				content = make([]byte, 0, min(max(size, 0), wire.MaxContent))
			}
			if len(content)+len(m.Data) > wire.MaxContent {
				return wire.Result{}, nil, c.ackGone(m, errs.New(errs.ItemTooLarge, "the agent sent an item over the hop's limit", "nothing: the item is listed as skipped"))
			}
			content = append(content, m.Data...)
		case partEnd:
			var res wire.Result
			if err := json.Unmarshal(meta, &res); err != nil {
				return wire.Result{}, nil, c.ackGone(m, fmt.Errorf("agent: undecodable answer: %w", err))
			}
			if int64(len(content)) != res.ContentSize {
				return wire.Result{}, nil, c.ackGone(m, fmt.Errorf("agent: answer incomplete: %d of %d content bytes", len(content), res.ContentSize))
			}
			_ = m.Respond(nil)
			if content == nil && res.ContentSize == 0 && res.Error == nil {
				content = []byte{}
			}
			return res, content, nil
		}
		if err := m.Respond(nil); err != nil {
			return wire.Result{}, nil, fmt.Errorf("agent: acknowledge: %w", err)
		}
	}
}

// ackGone tells the sender to stop, and returns err.
func (c *Connector) ackGone(m *nats.Msg, err error) error {
	r := nats.NewMsg(m.Reply)
	r.Header.Set(hGone, "1")
	_ = m.RespondMsg(r)
	return err
}
