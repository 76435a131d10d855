package transfer

import (
	"context"
	"errors"
	"hash/fnv"
	"sort"
	"strconv"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/mailferry/mailferry/events/transfer"
	"github.com/mailferry/mailferry/services/transfer/internal/shard"
)

// maxAckPending bounds the jobs of one shard out with workers at once; a
// dead worker's jobs count until AckWait, which is the point: the shard
// does not hand the same mailbox to someone else while its job is pending.
const maxAckPending = 4

type ownedShard struct {
	rev    uint64
	cancel context.CancelFunc
}

func shardKey(i int) string { return "shard-" + strconv.Itoa(i) }

func (s *Service) workerKey() string { return "worker-" + shard.SafeKey(s.cfg.Worker) }

// work keeps this worker's heartbeat and shard leases until ctx ends, then
// releases them so other workers take over at once instead of after the TTL.
func (s *Service) work(ctx context.Context) {
	t := time.NewTicker(s.cfg.Lease / 3)
	defer t.Stop()
	for {
		s.balance(ctx)
		select {
		case <-ctx.Done():
			s.releaseAll()
			return
		case <-t.C:
		}
	}
}

// balance renews owned leases, gives back shards above the fair share and
// claims free ones up to it. The fair share is ceil(shards/live workers),
// live workers being the heartbeats in transfer_workers, so shards spread
// out again when a worker joins or dies.
func (s *Service) balance(ctx context.Context) {
	cctx, cancel := context.WithTimeout(ctx, s.cfg.Lease/3)
	defer cancel()
	if _, err := s.workersKV.Put(cctx, s.workerKey(), []byte(s.cfg.Worker)); err != nil {
		if ctx.Err() == nil && s.heartbeatOK {
			s.log.Warn("cannot record worker heartbeat", "error", err)
		}
		s.heartbeatOK = false
	} else {
		s.heartbeatOK = true
	}
	live := 1
	if keys, err := s.workersKV.Keys(cctx); err == nil && len(keys) > 0 {
		live = len(keys)
	}
	fair := shard.FairShare(s.cfg.Shards, live)

	s.mu.Lock()
	defer s.mu.Unlock()
	for i, o := range s.owned {
		rev, err := s.shardsKV.Update(cctx, shardKey(i), []byte(s.cfg.Worker), o.rev)
		if err != nil {
			if ctx.Err() == nil {
				s.log.Warn("shard lease lost; no longer pulling it", "shard", i, "error", err)
			}
			o.cancel()
			delete(s.owned, i)
			continue
		}
		o.rev = rev
	}
	if len(s.owned) > fair {
		ids := make([]int, 0, len(s.owned))
		for i := range s.owned {
			ids = append(ids, i)
		}
		sort.Sort(sort.Reverse(sort.IntSlice(ids)))
		for _, i := range ids[:len(ids)-fair] {
			o := s.owned[i]
			o.cancel()
			delete(s.owned, i)
			if err := s.shardsKV.Delete(cctx, shardKey(i), jetstream.LastRevision(o.rev)); err != nil {
				s.log.Warn("cannot release shard", "shard", i, "error", err)
			}
			s.log.Info("shard released for another worker", "shard", i, "fair_share", fair)
		}
	}
	if len(s.owned) >= fair || ctx.Err() != nil {
		return
	}
	// Start at a worker-specific shard so workers starting together do
	// not all race for shard 0.
	h := fnv.New32a()
	_, _ = h.Write([]byte(s.cfg.Worker))
	start := int(h.Sum32() % uint32(s.cfg.Shards))
	for k := 0; k < s.cfg.Shards && len(s.owned) < fair; k++ {
		i := (start + k) % s.cfg.Shards
		if _, ok := s.owned[i]; ok {
			continue
		}
		rev, err := s.shardsKV.Create(cctx, shardKey(i), []byte(s.cfg.Worker))
		if err != nil {
			continue // owned by another worker, or the bus is unreachable
		}
		pctx, pcancel := context.WithCancel(ctx)
		s.owned[i] = &ownedShard{rev: rev, cancel: pcancel}
		s.log.Info("shard claimed", "shard", i, "fair_share", fair)
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			s.pull(pctx, ctx, i)
		}()
	}
}

// releaseAll gives back every lease and the heartbeat on shutdown.
func (s *Service) releaseAll() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, o := range s.owned {
		o.cancel()
		_ = s.shardsKV.Delete(ctx, shardKey(i), jetstream.LastRevision(o.rev))
		delete(s.owned, i)
	}
	_ = s.workersKV.Delete(ctx, s.workerKey())
}

// ownedShards lists the shards this worker pulls, for tests and logs.
func (s *Service) ownedShards() []int {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]int, 0, len(s.owned))
	for i := range s.owned {
		out = append(out, i)
	}
	sort.Ints(out)
	return out
}

// pull fetches a shard's jobs while the lease lasts (ctx), one at a time and
// only when the process has a free slot, so jobs never wait in a buffer
// while their ack timer runs. Jobs run under jobCtx: losing the shard stops
// pulling, not the mailboxes already running (their locks protect them).
func (s *Service) pull(ctx, jobCtx context.Context, i int) {
	cfg := jetstream.ConsumerConfig{
		Durable:       ShardConsumerPrefix + strconv.Itoa(i),
		FilterSubject: transfer.WorkSubject(i),
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       s.cfg.AckWait,
		MaxAckPending: maxAckPending,
		MaxDeliver:    -1,
	}
	js := s.d.Bus.JetStream()
	var cons jetstream.Consumer
	for {
		var err error
		cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		cons, err = js.CreateOrUpdateConsumer(cctx, WorkStream, cfg)
		cancel()
		if err == nil {
			break
		}
		if !sleep(ctx, 500*time.Millisecond) {
			return
		}
	}
	for ctx.Err() == nil {
		select {
		case s.sem <- struct{}{}:
		case <-ctx.Done():
			return
		}
		batch, err := cons.Fetch(1, jetstream.FetchMaxWait(time.Second))
		if err != nil {
			<-s.sem
			if !sleep(ctx, 500*time.Millisecond) {
				return
			}
			continue
		}
		got := false
		// Drain the batch even if the lease ends meanwhile: a fetched job
		// must be handled (or at least nak'ed), never dropped.
		for msg := range batch.Messages() {
			got = true
			s.wg.Add(1)
			go func() {
				defer s.wg.Done()
				defer func() { <-s.sem }()
				s.handle(jobCtx, i, msg)
			}()
		}
		if !got {
			<-s.sem
		}
	}
}

func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// heldLock is a mailbox lock in transfer_locks, renewed every Lease/3. Its
// context ends when the lock is lost, which stops the transfer before the
// key can expire and another worker take the mailbox.
type heldLock struct {
	ctx    context.Context
	cancel context.CancelFunc
	done   chan struct{}
	rev    uint64
	lost   bool
}

func (s *Service) holdLock(ctx context.Context, key string, rev uint64) *heldLock {
	lctx, cancel := context.WithCancel(ctx)
	l := &heldLock{ctx: lctx, cancel: cancel, done: make(chan struct{}), rev: rev}
	go func() {
		defer close(l.done)
		t := time.NewTicker(s.cfg.Lease / 3)
		defer t.Stop()
		lastOK := time.Now()
		for {
			select {
			case <-lctx.Done():
				return
			case <-t.C:
			}
			cctx, ccancel := context.WithTimeout(lctx, s.cfg.Lease/3)
			next, err := s.locksKV.Update(cctx, key, []byte(s.cfg.Worker), l.rev)
			ccancel()
			if err == nil {
				l.rev, lastOK = next, time.Now()
				continue
			}
			if lctx.Err() != nil {
				return
			}
			var apiErr *jetstream.APIError
			// Someone else holds it now, or we cannot renew in time:
			// stop before the key expires under us.
			if errors.As(err, &apiErr) || errors.Is(err, nats.ErrConnectionClosed) || time.Since(lastOK) >= s.cfg.Lease/2 {
				s.log.Warn("mailbox lock lost; stopping the mailbox", "lock", key, "error", err)
				l.lost = true
				cancel()
				return
			}
		}
	}()
	return l
}

// release stops renewing and deletes the lock unless it was lost.
func (s *Service) release(l *heldLock, key string) {
	l.cancel()
	<-l.done
	if l.lost {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := s.locksKV.Delete(ctx, key, jetstream.LastRevision(l.rev)); err != nil {
		s.log.Debug("cannot release mailbox lock; it expires by itself", "lock", key, "error", err)
	}
}

// keepAlive tells the server the job is still being worked on every
// AckWait/3, so only a silent worker's jobs are redelivered.
func (s *Service) keepAlive(msg jetstream.Msg) (stop func()) {
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		t := time.NewTicker(s.cfg.AckWait / 3)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				_ = msg.InProgress()
			}
		}
	}()
	return func() {
		close(done)
		<-finished
	}
}
