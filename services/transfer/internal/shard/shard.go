// Package shard holds the stable names transfer derives from a mailbox: its
// shard (which work queue, and so which worker, carries its jobs), its key
// (used in KV keys and progress subjects) and the fair share of shards a
// worker takes. They must never change between releases: every process of a
// deployment, old or new, has to put a mailbox on the same shard.
package shard

import (
	"crypto/sha256"
	"encoding/hex"
	"hash/fnv"
	"strings"
)

// Of returns the shard of a source mailbox: FNV-1a (32 bit) of its id, mod
// shards. FNV-1a is specified byte for byte, so the mapping is the same on
// every platform and Go version. shards < 1 counts as 1.
func Of(sourceID string, shards int) int {
	if shards < 1 {
		return 0
	}
	h := fnv.New32a()
	_, _ = h.Write([]byte(sourceID))
	return int(h.Sum32() % uint32(shards))
}

// MailboxKey is the hex of the first 8 bytes of SHA-256(sourceID): short,
// safe in subjects and KV keys whatever characters the platform's ids use.
func MailboxKey(sourceID string) string {
	sum := sha256.Sum256([]byte(sourceID))
	return hex.EncodeToString(sum[:8])
}

// FairShare is how many shards a worker may own when live workers share
// shards: ceil(shards/live), so that together they cover every shard.
func FairShare(shards, live int) int {
	if live < 1 {
		live = 1
	}
	if shards < 1 {
		return 0
	}
	return (shards + live - 1) / live
}

// SafeKey turns an id into a valid KV key token: letters, digits, '-' and
// '_' are kept, anything else becomes '_'. Ids minted by mailferry pass
// through unchanged.
func SafeKey(id string) string {
	return strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' {
			return r
		}
		return '_'
	}, id)
}
