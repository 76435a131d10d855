package tenantgen

import "testing"

// TestTailIsSpreadEvenly: each block of a mailbox's indexes has exactly
// one large message and each cell of 100 mailboxes x 1000 indexes exactly
// one huge one, whose size lies between 10 MB and the profile's maximum.
func TestTailIsSpreadEvenly(t *testing.T) {
	t.Parallel()
	for _, max := range []int64{150 << 20, 35 << 20} {
		p := Realistic.WithMax(max)
		sz := p.sizer()
		huge, large := 0, map[int]int{}
		for mb := range 100 { // one cell of the huge tail
			for idx := range 1000 {
				switch sz.tailOf(item{7, mb, idx, "contoso.test"}) {
				case tailHuge:
					huge++
					if m := Mail(7, mb, idx, "contoso.test", Options{Profile: p}); m.Size < hugeLo || m.Size > max {
						t.Errorf("huge message of %d bytes, want %d to %d", m.Size, hugeLo, max)
					}
				case tailLarge:
					if mb == 1 {
						large[idx/largeEvery]++
						if m := Mail(7, mb, idx, "contoso.test", Options{Profile: p}); m.Size < largeLo || m.Size > 9<<20 {
							t.Errorf("large message of %d bytes, want 1 to 9 MiB", m.Size)
						}
					}
				}
			}
		}
		if huge != 1 {
			t.Errorf("max %d: %d huge messages in 100,000, want one per cell", max, huge)
		}
		for block, n := range large {
			if n != 1 {
				t.Errorf("max %d: block %d of mailbox 1 has %d large messages, want 1", max, block, n)
			}
		}
		if len(large) != 1000/largeEvery {
			t.Errorf("max %d: %d blocks with a large message, want %d", max, len(large), 1000/largeEvery)
		}
	}
}

// TestSmallMaximumHasNoTail: a destination limit too small for the tail
// turns it off, and nothing exceeds the limit.
func TestSmallMaximumHasNoTail(t *testing.T) {
	t.Parallel()
	p := Realistic.WithMax(3 << 20)
	sz := p.sizer()
	if sz.largeOn || sz.hugeOn {
		t.Fatalf("tail on under a 3 MiB limit: %+v", sz)
	}
	for idx := range 3000 {
		if m := Mail(1, 2, idx, "contoso.test", Options{Profile: p}); m.Size > p.Max {
			t.Fatalf("message %d: %d bytes over the %d limit", idx, m.Size, p.Max)
		}
	}
}
