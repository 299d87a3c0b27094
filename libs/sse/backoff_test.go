package sse

import (
	"testing"
	"time"
)

func TestBackoffIsCappedAndJittered(t *testing.T) {
	lo, hi := 100*time.Millisecond, 2*time.Second
	seen := map[time.Duration]bool{}
	for n := 0; n < 50; n++ {
		for i := 0; i < 20; i++ {
			d := Backoff(n, lo, hi)
			if d < lo || d > hi {
				t.Fatalf("Backoff(%d) = %s; want within [%s, %s]", n, d, lo, hi)
			}
			seen[d] = true
		}
	}
	if len(seen) < 100 {
		t.Errorf("only %d distinct delays; want jitter", len(seen))
	}
	if d := Backoff(0, lo, hi); d != lo {
		t.Errorf("Backoff(0) = %s; want %s", d, lo)
	}
}
