package shard

import "testing"

func TestOfIsFNV1aModShards(t *testing.T) {
	t.Parallel()
	// Reference values of FNV-1a 32: "" = 0x811c9dc5, "a" = 0xe40c292c,
	// "foobar" = 0xbf9cf968 (from the FNV specification's test vectors).
	tests := []struct {
		id     string
		shards int
		want   int
	}{
		{"", 16, 0x811c9dc5 % 16},
		{"a", 16, 0xe40c292c % 16},
		{"foobar", 16, 0xbf9cf968 % 16},
		{"foobar", 7, 0xbf9cf968 % 7},
		{"foobar", 1, 0},
		{"foobar", 0, 0},
	}
	for _, tt := range tests {
		if got := Of(tt.id, tt.shards); got != tt.want {
			t.Errorf("Of(%q, %d) = %d, want %d", tt.id, tt.shards, got, tt.want)
		}
	}
}

func TestOfSpreadsMailboxes(t *testing.T) {
	t.Parallel()
	seen := map[int]int{}
	for i := 0; i < 1000; i++ {
		seen[Of("mbx-"+string(rune('a'+i%26))+string(rune('a'+i/26)), 16)]++
	}
	if len(seen) != 16 {
		t.Fatalf("1000 mailboxes used %d of 16 shards", len(seen))
	}
}

func TestMailboxKey(t *testing.T) {
	t.Parallel()
	// sha256("abc") starts ba7816bf8f01cfea.
	if got := MailboxKey("abc"); got != "ba7816bf8f01cfea" {
		t.Fatalf("MailboxKey(abc) = %s", got)
	}
	if MailboxKey("a") == MailboxKey("b") {
		t.Fatal("different ids share a key")
	}
}

func TestFairShare(t *testing.T) {
	t.Parallel()
	tests := []struct{ shards, live, want int }{
		{16, 1, 16}, {16, 2, 8}, {16, 3, 6}, {16, 0, 16}, {4, 8, 1}, {0, 2, 0},
	}
	for _, tt := range tests {
		if got := FairShare(tt.shards, tt.live); got != tt.want {
			t.Errorf("FairShare(%d, %d) = %d, want %d", tt.shards, tt.live, got, tt.want)
		}
	}
}

func TestSafeKey(t *testing.T) {
	t.Parallel()
	tests := []struct{ in, want string }{
		{"run-01H_x", "run-01H_x"}, {"a.b c/d", "a_b_c_d"}, {"", ""},
	}
	for _, tt := range tests {
		if got := SafeKey(tt.in); got != tt.want {
			t.Errorf("SafeKey(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}
