// Package transfer is the transfer service: it turns approved prestage, full
// and delta runs into one mailbox job per pair on sharded work queues, runs
// those jobs in workers spread over any number of processes, and finishes a
// run once every mailbox has ended (architecture.md, "The run saga", steps 4
// and 5).
//
// Two parts share the process and can be switched off separately:
//   - the coordinator: reactors transfer-runs (project.run.>) and
//     transfer-progress (transfer.run.>);
//   - the worker: shard leases in KV transfer_shards, one durable pull
//     consumer transfer-shard-<i> per owned shard on TRANSFERWORK, a
//     per-mailbox lock in transfer_locks and checkpoints in
//     transfer_checkpoints.
package transfer

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/mailferry/mailferry/events/project"
	"github.com/mailferry/mailferry/libs/bus"
	"github.com/mailferry/mailferry/libs/svc"
	"github.com/mailferry/mailferry/services/transfer/internal/runstate"
)

// KV buckets of the transfer service.
const (
	BucketShards      = "transfer_shards"
	BucketWorkers     = "transfer_workers"
	BucketLocks       = "transfer_locks"
	BucketCancels     = "transfer_cancels"
	BucketCheckpoints = "transfer_checkpoints"
)

// Consumer names.
const (
	ConsumerRuns     = "transfer-runs"
	ConsumerProgress = "transfer-progress"
	// ShardConsumerPrefix + shard number is the durable pull consumer of a
	// shard's work queue.
	ShardConsumerPrefix = "transfer-shard-"
	// WorkStream holds the mailbox jobs.
	WorkStream = "TRANSFERWORK"
)

// Config is read from MAILFERRY_TRANSFER_* variables. Every process of a
// deployment must use the same Shards.
type Config struct {
	Shards int `env:"MAILFERRY_TRANSFER_SHARDS" envDefault:"16"`
	// Worker identifies this worker in leases, locks and events; empty
	// means hostname-pid.
	Worker string `env:"MAILFERRY_TRANSFER_WORKER"`
	// Concurrency is how many mailboxes this process transfers at once.
	Concurrency int `env:"MAILFERRY_TRANSFER_CONCURRENCY" envDefault:"8"`
	// Lease is the TTL of shard leases, worker heartbeats and mailbox
	// locks; they are renewed every Lease/3.
	Lease time.Duration `env:"MAILFERRY_TRANSFER_LEASE" envDefault:"15s"`
	// AckWait is how long a job stays with a worker that stopped reporting
	// before it is redelivered.
	AckWait time.Duration `env:"MAILFERRY_TRANSFER_ACK_WAIT" envDefault:"60s"`
	// NoCoordinator and NoWorker switch a part off, e.g. to scale workers
	// separately.
	NoCoordinator bool `env:"MAILFERRY_TRANSFER_NO_COORDINATOR"`
	NoWorker      bool `env:"MAILFERRY_TRANSFER_NO_WORKER"`
	// RetryBackoff is the first wait before retrying a failed platform call.
	RetryBackoff time.Duration `env:"MAILFERRY_TRANSFER_RETRY_BACKOFF" envDefault:"500ms"`
}

func (c *Config) defaults() {
	if c.Shards <= 0 {
		c.Shards = 16
	}
	if c.Concurrency <= 0 {
		c.Concurrency = 8
	}
	if c.Lease <= 0 {
		c.Lease = 15 * time.Second
	}
	if c.AckWait <= 0 {
		c.AckWait = 60 * time.Second
	}
	if c.RetryBackoff <= 0 {
		c.RetryBackoff = 500 * time.Millisecond
	}
	if c.Worker == "" {
		host, err := os.Hostname()
		if err != nil || host == "" {
			host = "worker"
		}
		c.Worker = host + "-" + strconv.Itoa(os.Getpid())
	}
}

// Service is the transfer service.
type Service struct {
	d   *svc.Deps
	cfg Config
	log *slog.Logger

	runs     *bus.Repo[runstate.State]
	projects *bus.Repo[projectState]

	shardsKV, workersKV, locksKV, cancelsKV, checkpointsKV jetstream.KeyValue

	started atomic.Bool
	sem     chan struct{}
	wg      sync.WaitGroup

	mu    sync.Mutex
	owned map[int]*ownedShard
	// heartbeatOK is only touched by the balance loop; it keeps a dead
	// bus from logging the same warning every tick.
	heartbeatOK bool
}

// New returns the service; it rejects missing dependencies.
func New(d *svc.Deps, cfg Config) (*Service, error) {
	if d == nil || d.Bus == nil || d.Log == nil || d.Opener == nil {
		return nil, errors.New("transfer: New needs deps with a bus, a logger and a connector opener")
	}
	cfg.defaults()
	s := &Service{d: d, cfg: cfg, log: d.Log.With("worker", cfg.Worker), sem: make(chan struct{}, cfg.Concurrency), owned: map[int]*ownedShard{}, heartbeatOK: true}
	var err error
	s.runs, err = bus.NewRepo(d.Bus, "TRANSFER", runstate.New, func(st runstate.State, env bus.Envelope) runstate.State {
		return runstate.Fold(st, env.Event)
	})
	if err != nil {
		return nil, err
	}
	s.projects, err = bus.NewRepo(d.Bus, "PROJECT", func() projectState { return projectState{} }, foldProject)
	if err != nil {
		return nil, err
	}
	return s, nil
}

// Worker is this process's worker id.
func (s *Service) Worker() string { return s.cfg.Worker }

// Start registers the reactors and queries and starts the worker; the
// reactors run once the bus runs (Run does both). The worker stops when ctx
// ends; Wait waits for it to release its leases and locks.
func (s *Service) Start(ctx context.Context) error {
	if !s.started.CompareAndSwap(false, true) {
		return errors.New("transfer: already started")
	}
	kvs := []struct {
		kv     *jetstream.KeyValue
		bucket string
		ttl    time.Duration
	}{
		{&s.shardsKV, BucketShards, s.cfg.Lease},
		{&s.workersKV, BucketWorkers, s.cfg.Lease},
		{&s.locksKV, BucketLocks, s.cfg.Lease},
		{&s.cancelsKV, BucketCancels, 0},
		{&s.checkpointsKV, BucketCheckpoints, 0},
	}
	for _, k := range kvs {
		kv, err := s.d.Bus.KV(ctx, k.bucket, k.ttl)
		if err != nil {
			return err
		}
		*k.kv = kv
	}
	if !s.cfg.NoCoordinator {
		if err := s.d.Bus.Handle(bus.Consumer{Name: ConsumerRuns, Stream: "PROJECT", Subject: []string{project.RunSubject(">")}, Parallel: 4}, s.onProjectRun); err != nil {
			return fmt.Errorf("transfer: %s: %w", ConsumerRuns, err)
		}
		if err := s.d.Bus.Handle(bus.Consumer{Name: ConsumerProgress, Stream: "TRANSFER", Subject: []string{"transfer.run.>"}}, s.onTransferRun); err != nil {
			return fmt.Errorf("transfer: %s: %w", ConsumerProgress, err)
		}
	}
	if err := s.d.Bus.Serve("transfer", "1.0.0", map[string]bus.QueryFunc{
		"shards":     s.queryShards,
		"checkpoint": s.queryCheckpoint,
	}); err != nil {
		return err
	}
	if !s.cfg.NoWorker {
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			s.work(ctx)
		}()
	}
	return nil
}

// Wait blocks until the worker started by Start has stopped and released
// what it held.
func (s *Service) Wait() { s.wg.Wait() }

// Run starts the service and blocks until ctx ends.
func (s *Service) Run(ctx context.Context) error {
	if err := s.Start(ctx); err != nil {
		return err
	}
	s.log.Info("transfer service running", "shards", s.cfg.Shards, "concurrency", s.cfg.Concurrency,
		"coordinator", !s.cfg.NoCoordinator, "worker", !s.cfg.NoWorker)
	err := s.d.Bus.Run(ctx)
	s.wg.Wait()
	return err
}
