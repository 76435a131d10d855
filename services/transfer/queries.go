package transfer

import (
	"context"
	"encoding/json"
	"errors"
	"strconv"
	"strings"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/mailferry/mailferry/libs/errs"
)

// ShardOwner is one shard and the worker leasing it ("" when free).
type ShardOwner struct {
	Shard  int    `json:"shard"`
	Worker string `json:"worker"`
}

// ShardsResponse answers query.transfer.shards.
type ShardsResponse struct {
	Shards  []ShardOwner `json:"shards"`
	Workers []string     `json:"workers"`
}

// CheckpointRequest asks query.transfer.checkpoint for a mailbox's
// checkpoint; the answer is the checkpoint JSON (engine.Checkpoint),
// including the items that were skipped or failed and why.
type CheckpointRequest struct {
	ProjectID string `json:"projectId"`
	SourceID  string `json:"sourceId"`
}

// queryShards answers {} with who leases which shard and which workers are
// alive, for operators.
func (s *Service) queryShards(ctx context.Context, _ json.RawMessage) (any, error) {
	out := ShardsResponse{Shards: make([]ShardOwner, 0, s.cfg.Shards), Workers: []string{}}
	for i := 0; i < s.cfg.Shards; i++ {
		o := ShardOwner{Shard: i}
		e, err := s.shardsKV.Get(ctx, shardKey(i))
		switch {
		case err == nil:
			o.Worker = string(e.Value())
		case !errors.Is(err, jetstream.ErrKeyNotFound):
			return nil, err
		}
		out.Shards = append(out.Shards, o)
	}
	keys, err := s.workersKV.Keys(ctx)
	if err != nil && !errors.Is(err, jetstream.ErrNoKeysFound) {
		return nil, err
	}
	for _, k := range keys {
		e, err := s.workersKV.Get(ctx, k)
		if err != nil {
			continue // expired between listing and reading
		}
		out.Workers = append(out.Workers, string(e.Value()))
	}
	return out, nil
}

// queryCheckpoint answers {"projectId","sourceId"} with the mailbox's
// checkpoint.
func (s *Service) queryCheckpoint(ctx context.Context, raw json.RawMessage) (any, error) {
	var req CheckpointRequest
	if err := json.Unmarshal(raw, &req); err != nil {
		return nil, errs.New(errs.Invalid, "the request is not the JSON {\"projectId\",\"sourceId\"}", "send both fields")
	}
	if strings.TrimSpace(req.ProjectID) == "" {
		return nil, errs.Field("projectId", "is required")
	}
	if strings.TrimSpace(req.SourceID) == "" {
		return nil, errs.Field("sourceId", "is required")
	}
	cp, err := (&kvCheckpoints{kv: s.checkpointsKV, key: checkpointKey(req.ProjectID, req.SourceID)}).Load(ctx)
	if err != nil {
		return nil, err
	}
	if cp == nil {
		return nil, errs.New(errs.NotFound, "mailbox "+strconv.Quote(req.SourceID)+" of this project has no checkpoint yet",
			"run the mailbox first; a checkpoint exists once a prestage, full or delta run reached it")
	}
	return cp, nil
}
