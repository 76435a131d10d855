package engine

import (
	"context"
	"encoding/json"
	"sync"
)

// MemStore is a Store in memory. It keeps checkpoints as JSON, as the KV
// store does, so nothing the engine holds is shared with it.
type MemStore struct {
	mu    sync.Mutex
	data  []byte
	saves int
}

// Load returns the saved checkpoint, or nil.
func (m *MemStore) Load(context.Context) (*Checkpoint, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.data == nil {
		return nil, nil
	}
	var cp Checkpoint
	if err := json.Unmarshal(m.data, &cp); err != nil {
		return nil, err
	}
	return &cp, nil
}

// Save stores cp.
func (m *MemStore) Save(_ context.Context, cp *Checkpoint) error {
	b, err := json.Marshal(cp)
	if err != nil {
		return err
	}
	m.mu.Lock()
	m.data = b
	m.saves++
	m.mu.Unlock()
	return nil
}

// Saves counts Save calls.
func (m *MemStore) Saves() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.saves
}
