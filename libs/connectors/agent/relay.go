package agent

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/mailferry/mailferry/libs/connectors/agent/wire"
	"github.com/mailferry/mailferry/libs/errs"
)

// RelayOptions tune a Relay; zero values take the defaults.
type RelayOptions struct {
	// Linger is how long the relay keeps an agent's call subscription
	// after its last poll ended: the agent normally polls again within
	// milliseconds. Default 10s.
	Linger time.Duration
	// Keepalive is how often callers of queued calls hear that their
	// call is still waiting for the agent. Default 10s (well under the
	// callers' liveness interval).
	Keepalive time.Duration
	Log       *slog.Logger
}

// Errors of the relay, for the HTTP handlers to answer with.
var (
	ErrRevoked = errs.New(CodeRevoked, "this agent was revoked", "register the agent again with a new token")
	ErrClosing = errs.New(errs.Unavailable, "this platform instance is shutting down", "nothing: the agent reconnects by itself")
	ErrGone    = errs.New(errs.NotFound, "nobody waits for this call's answer any more (it timed out or was sent again)", "nothing: the answer is dropped")
)

// Relay hands calls for agents to the agents' long polls and their
// results back to the callers. The project service has one per process.
type Relay struct {
	nc   *nats.Conn
	opts RelayOptions

	mu       sync.Mutex
	sessions map[string]*session
	// revoked agents stay refused: a revocation is for good, and a poll
	// that authenticated just before it must not open a session after.
	revoked map[string]bool
	closed  bool
	stop    chan struct{}
	wg      sync.WaitGroup
}

// session is one agent held by this relay: subscribed to the agent's call
// subject from its first poll until Linger after its last.
type session struct {
	id    string
	sub   *nats.Subscription
	queue []wire.Call
	// wake is closed (and replaced) whenever a call is queued, waking
	// every poll waiting on it.
	wake  chan struct{}
	polls int
	timer *time.Timer
	ended bool
	done  chan struct{}
	err   error
}

// NewRelay returns a relay over nc; Close it when done.
func NewRelay(nc *nats.Conn, opts RelayOptions) (*Relay, error) {
	if nc == nil {
		return nil, errors.New("agent: nil NATS connection")
	}
	if opts.Linger <= 0 {
		opts.Linger = 10 * time.Second
	}
	if opts.Keepalive <= 0 {
		opts.Keepalive = 10 * time.Second
	}
	if opts.Log == nil {
		opts.Log = slog.New(slog.DiscardHandler)
	}
	r := &Relay{nc: nc, opts: opts, sessions: map[string]*session{}, revoked: map[string]bool{}, stop: make(chan struct{})}
	r.wg.Add(1)
	go r.keepalive()
	return r, nil
}

// Poll waits until calls for agentID are queued here and returns at most
// capacity of them, or returns none when ctx ends. running names the
// calls the agent is executing, whose callers then hear that they live.
// With capacity 0 the poll is a heartbeat that waits for ctx.
func (r *Relay) Poll(ctx context.Context, agentID string, capacity int, running []string) ([]wire.Call, error) {
	if !wire.ValidID(agentID) {
		return nil, errs.Field("agentId", "not an agent id")
	}
	s, err := r.attach(agentID)
	if err != nil {
		return nil, err
	}
	defer r.detach(s)
	for _, id := range running {
		if wire.ValidID(id) {
			r.signal(replySubject(agentID, id), kindRunning)
		}
	}
	capacity = min(capacity, wire.MaxCalls)
	for {
		r.mu.Lock()
		wake := s.wake
		var calls []wire.Call
		if capacity > 0 && ctx.Err() == nil && !s.ended {
			n := min(capacity, len(s.queue))
			calls = append(calls, s.queue[:n]...)
			s.queue = s.queue[n:]
		}
		r.mu.Unlock()
		if len(calls) > 0 {
			for _, c := range calls {
				r.signal(replySubject(agentID, c.ID), kindAccepted)
			}
			return calls, nil
		}
		select {
		case <-ctx.Done():
			return nil, nil
		case <-s.done:
			return nil, s.err
		case <-wake:
		}
	}
}

func (r *Relay) attach(agentID string) (*session, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return nil, ErrClosing
	}
	if r.revoked[agentID] {
		return nil, ErrRevoked
	}
	s := r.sessions[agentID]
	if s == nil {
		s = &session{id: agentID, wake: make(chan struct{}), done: make(chan struct{})}
		sub, err := r.nc.QueueSubscribe(callSubject(agentID), "relay", func(m *nats.Msg) { r.onCall(s, m) })
		if err != nil {
			return nil, fmt.Errorf("agent: subscribe to %s's calls: %w", agentID, err)
		}
		s.sub = sub
		r.sessions[agentID] = s
		r.opts.Log.Debug("agent session opened", "agent_id", agentID)
	}
	if s.timer != nil {
		s.timer.Stop()
		s.timer = nil
	}
	s.polls++
	return s, nil
}

func (r *Relay) detach(s *session) {
	r.mu.Lock()
	defer r.mu.Unlock()
	s.polls--
	if s.polls == 0 && !s.ended {
		s.timer = time.AfterFunc(r.opts.Linger, func() { r.expire(s) })
	}
}

// expire ends a session nobody polled for Linger: its queued calls go
// back to their callers, who send them again (to wherever the agent
// polls now).
func (r *Relay) expire(s *session) {
	r.mu.Lock()
	if s.polls > 0 || s.ended {
		r.mu.Unlock()
		return
	}
	queued := r.end(s, nil)
	r.mu.Unlock()
	for _, c := range queued {
		r.signal(replySubject(s.id, c.ID), kindRequeue)
	}
	r.opts.Log.Debug("agent session expired", "agent_id", s.id, "requeued", len(queued))
}

// end closes a session; r.mu is held. It returns the calls not handed out.
func (r *Relay) end(s *session, err error) []wire.Call {
	s.ended, s.err = true, err
	if s.timer != nil {
		s.timer.Stop()
	}
	_ = s.sub.Unsubscribe()
	close(s.done)
	if r.sessions[s.id] == s {
		delete(r.sessions, s.id)
	}
	q := s.queue
	s.queue = nil
	return q
}

// onCall queues a call arriving on an agent's subject.
func (r *Relay) onCall(s *session, m *nats.Msg) {
	var call wire.Call
	if err := json.Unmarshal(m.Data, &call); err != nil || !wire.ValidID(call.ID) {
		r.respond(m, kindFail, wire.EncodeError(errs.New(errs.Invalid, "the relay received an unreadable call", "report this"), nil))
		return
	}
	r.mu.Lock()
	if s.ended {
		r.mu.Unlock()
		if errors.Is(s.err, ErrRevoked) {
			r.respond(m, kindFail, wire.EncodeError(ErrRevoked, nil))
		} else {
			r.respond(m, kindRequeue, nil)
		}
		return
	}
	s.queue = append(s.queue, call)
	close(s.wake)
	s.wake = make(chan struct{})
	r.mu.Unlock()
	r.respond(m, kindQueued, nil)
}

func (r *Relay) respond(m *nats.Msg, kind string, e *wire.Error) {
	out := nats.NewMsg(m.Reply)
	out.Header.Set(hKind, kind)
	if e != nil {
		out.Data, _ = json.Marshal(e)
	}
	_ = m.RespondMsg(out)
}

// signal tells a caller about its call; nobody listening is fine.
func (r *Relay) signal(subject, kind string) {
	m := nats.NewMsg(subject)
	m.Header.Set(hKind, kind)
	_ = r.nc.PublishMsg(m)
}

func (r *Relay) keepalive() {
	defer r.wg.Done()
	t := time.NewTicker(r.opts.Keepalive)
	defer t.Stop()
	for {
		select {
		case <-r.stop:
			return
		case <-t.C:
		}
		var subjects []string
		r.mu.Lock()
		for _, s := range r.sessions {
			for _, c := range s.queue {
				subjects = append(subjects, replySubject(s.id, c.ID))
			}
		}
		r.mu.Unlock()
		for _, subj := range subjects {
			r.signal(subj, kindQueued)
		}
	}
}

// Revoke ends agentID's session at once: its polls end with ErrRevoked
// and its queued calls fail with agent_revoked.
func (r *Relay) Revoke(agentID string) {
	r.mu.Lock()
	r.revoked[agentID] = true
	s := r.sessions[agentID]
	var queued []wire.Call
	if s != nil && !s.ended {
		queued = r.end(s, ErrRevoked)
	}
	r.mu.Unlock()
	body, _ := json.Marshal(wire.EncodeError(ErrRevoked, nil))
	for _, c := range queued {
		m := nats.NewMsg(replySubject(agentID, c.ID))
		m.Header.Set(hKind, kindFail)
		m.Data = body
		_ = r.nc.PublishMsg(m)
	}
}

// Close ends every session: polls end with ErrClosing (the agents
// reconnect, to another instance if there is one) and queued calls go
// back to their callers.
func (r *Relay) Close() {
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return
	}
	r.closed = true
	close(r.stop)
	var requeue []string
	for _, s := range r.sessions {
		for _, c := range r.end(s, ErrClosing) {
			requeue = append(requeue, replySubject(s.id, c.ID))
		}
	}
	r.mu.Unlock()
	for _, subj := range requeue {
		r.signal(subj, kindRequeue)
	}
	_ = r.nc.Flush()
	r.wg.Wait()
}

// Deliver streams one result to its caller: meta (the JSON wire.Result)
// and then contentSize bytes of content, in chunks the caller
// acknowledges one by one, so neither side holds more than a chunk in
// flight. It returns ErrGone when the caller no longer waits. A content
// stream that breaks off sends no end, and the caller keeps waiting for
// the agent to send the result again.
func (r *Relay) Deliver(ctx context.Context, agentID, callID string, meta []byte, contentSize int64, content io.Reader) error {
	if !wire.ValidID(agentID) || !wire.ValidID(callID) {
		return errs.Field("callId", "not a call id")
	}
	if contentSize < 0 || contentSize > wire.MaxContent {
		return errs.New(errs.ItemTooLarge, fmt.Sprintf("a result may carry up to %d bytes of content", wire.MaxContent), "nothing: the item is listed as skipped")
	}
	subj := replySubject(agentID, callID)
	chunk := chunkSize(r.nc.MaxPayload())
	seq := 0
	send := func(part string, data []byte, size int64) error {
		m := nats.NewMsg(subj)
		m.Header.Set(hKind, kindResult)
		m.Header.Set(hSeq, strconv.Itoa(seq))
		m.Header.Set(hPart, part)
		if size >= 0 {
			m.Header.Set(hSize, strconv.FormatInt(size, 10))
		}
		m.Data = data
		sctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		resp, err := r.nc.RequestMsgWithContext(sctx, m)
		cancel()
		switch {
		case errors.Is(err, nats.ErrNoResponders):
			return ErrGone
		case err != nil:
			return fmt.Errorf("agent: hand the result over: %w", err)
		case resp.Header.Get(hGone) != "":
			return ErrGone
		}
		seq++
		return nil
	}
	for off := 0; ; off += chunk {
		if err := send(partMeta, meta[off:min(off+chunk, len(meta))], -1); err != nil {
			return err
		}
		if off+chunk >= len(meta) {
			break
		}
	}
	if contentSize > 0 {
		if content == nil {
			return errs.New(errs.Invalid, "the result announces content but carries none", "send the content part")
		}
		buf := make([]byte, chunk)
		var total int64
		for total < contentSize {
			n, err := io.ReadFull(io.LimitReader(content, contentSize-total), buf[:min(int64(chunk), contentSize-total)])
			if n > 0 {
				size := int64(-1)
				if total == 0 {
					size = contentSize
				}
				if serr := send(partContent, buf[:n], size); serr != nil {
					return serr
				}
				total += int64(n)
			}
			if err != nil {
				return fmt.Errorf("agent: read the result's content after %d of %d bytes: %w", total, contentSize, err)
			}
		}
	}
	return send(partEnd, nil, -1)
}

// Content copies a call's content from its caller to w (the agent's
// download), chunk by chunk. It returns the bytes copied.
func (r *Relay) Content(ctx context.Context, agentID, callID string, w io.Writer) (int64, error) {
	if !wire.ValidID(agentID) || !wire.ValidID(callID) {
		return 0, errs.Field("callId", "not a call id")
	}
	subj := contentSubject(agentID, callID)
	var off int64
	for {
		m := nats.NewMsg(subj)
		m.Data = []byte(strconv.FormatInt(off, 10))
		sctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		resp, err := r.nc.RequestMsgWithContext(sctx, m)
		cancel()
		switch {
		case errors.Is(err, nats.ErrNoResponders):
			return off, ErrGone
		case err != nil:
			return off, fmt.Errorf("agent: fetch content: %w", err)
		}
		total, _ := strconv.ParseInt(resp.Header.Get(hSize), 10, 64)
		if len(resp.Data) > 0 {
			if _, err := w.Write(resp.Data); err != nil {
				return off, err
			}
			off += int64(len(resp.Data))
		}
		if off >= total || len(resp.Data) == 0 {
			return off, nil
		}
	}
}

// Pending is how many calls for agentID wait here for a poll.
func (r *Relay) Pending(agentID string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	if s := r.sessions[agentID]; s != nil {
		return len(s.queue)
	}
	return 0
}

// Holds reports whether this relay holds agentID: a poll is open, or
// ended less than Linger ago.
func (r *Relay) Holds(agentID string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.sessions[agentID] != nil
}
