package sse

import (
	"math/rand/v2"
	"time"
)

// Backoff returns the delay before reconnect (or retry) attempt n
// (0-based): "full jitter", uniform in [lo, min(hi, lo·2ⁿ)]. The executor
// link and the CLI's audit follower reconnect their streams with it.
func Backoff(n int, lo, hi time.Duration) time.Duration {
	ceil := lo
	for i := 0; i < n && ceil < hi; i++ {
		ceil *= 2
	}
	ceil = min(ceil, hi)
	if ceil <= lo {
		return lo
	}
	return lo + rand.N(ceil-lo)
}
