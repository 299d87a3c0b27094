package authz

import (
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"
)

type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func newFakeClock() *fakeClock { return &fakeClock{now: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

func TestLimiterIdentityBurst(t *testing.T) {
	clk := newFakeClock()
	l, err := NewLimiter(LimitConfig{PerIdentity: Bucket{Rate: 0.5, Burst: 3}, Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		if ok, _, _ := l.Allow("alice", "c1"); !ok {
			t.Fatalf("request %d denied within burst", i)
		}
	}
	ok, retry, which := l.Allow("alice", "c1")
	if ok || which != LimitIdentity || retry != 2*time.Second {
		t.Fatalf("Allow after burst = %v, %v, %q; want false, 2s, identity", ok, retry, which)
	}
	if ok, _, _ := l.Allow("bob", "c1"); !ok {
		t.Error("bob limited by alice's bucket")
	}
	clk.Advance(1500 * time.Millisecond)
	if ok, retry, _ := l.Allow("alice", "c1"); ok || retry != time.Second {
		t.Errorf("after 1.5s = %v, %v; want false, 1s (0.5s rounded up)", ok, retry)
	}
	clk.Advance(500 * time.Millisecond)
	if ok, _, _ := l.Allow("alice", "c1"); !ok {
		t.Error("after 2s: denied; want a refilled token")
	}
}

func TestLimiterRetryAfterAtLeastOneSecond(t *testing.T) {
	clk := newFakeClock()
	l, _ := NewLimiter(LimitConfig{PerIdentity: Bucket{Rate: 1000, Burst: 1}, Now: clk.Now})
	l.Allow("a", "")
	if ok, retry, _ := l.Allow("a", ""); ok || retry != time.Second {
		t.Errorf("Allow = %v, %v; want false, 1s", ok, retry)
	}
}

func TestLimiterPerCluster(t *testing.T) {
	clk := newFakeClock()
	l, _ := NewLimiter(LimitConfig{
		PerIdentity: Bucket{Rate: 1, Burst: 2},
		PerCluster:  Bucket{Rate: 1, Burst: 3},
		Now:         clk.Now,
	})
	// Three identities share cluster c1's 3 tokens.
	for _, id := range []string{"a", "b", "c"} {
		if ok, _, _ := l.Allow(id, "c1"); !ok {
			t.Fatalf("%s denied", id)
		}
	}
	ok, retry, which := l.Allow("d", "c1")
	if ok || which != LimitCluster || retry != time.Second {
		t.Fatalf("4th on c1 = %v, %v, %q; want false, 1s, cluster", ok, retry, which)
	}
	// d's own bucket was not charged by the denied request: two more pass on c2.
	for i := range 2 {
		if ok, _, which := l.Allow("d", "c2"); !ok {
			t.Fatalf("d on c2 #%d denied by %s", i, which)
		}
	}
	// Identity exhaustion does not charge the cluster.
	if ok, _, which := l.Allow("d", "c2"); ok || which != LimitIdentity {
		t.Fatalf("d 3rd = %v, %q; want denied by identity", ok, which)
	}
	if ok, _, _ := l.Allow("e", "c2"); !ok {
		t.Error("c2 charged by a request its identity bucket denied")
	}
	// Empty cluster: identity only.
	if ok, _, _ := l.Allow("e", ""); !ok {
		t.Error("empty cluster limited")
	}
}

func TestLimiterDisabled(t *testing.T) {
	l, err := NewLimiter(LimitConfig{})
	if err != nil {
		t.Fatal(err)
	}
	for range 1000 {
		if ok, _, _ := l.Allow("a", "c"); !ok {
			t.Fatal("zero config limited")
		}
	}
	if st := l.Stats(); st != (LimiterStats{}) {
		t.Errorf("Stats = %+v; want no buckets", st)
	}
	var nilL *Limiter
	if ok, _, _ := nilL.Allow("a", "c"); !ok {
		t.Error("nil limiter limited")
	}
}

func TestLimiterEviction(t *testing.T) {
	clk := newFakeClock()
	l, _ := NewLimiter(LimitConfig{
		PerIdentity: Bucket{Rate: 1, Burst: 1},
		PerCluster:  Bucket{Rate: 100, Burst: 100},
		MaxKeys:     10, IdleTTL: time.Minute, Now: clk.Now,
	})
	for i := range 50 {
		l.Allow(fmt.Sprintf("id-%d", i), fmt.Sprintf("c-%d", i))
		clk.Advance(time.Millisecond)
		if st := l.Stats(); st.Identities > 10 || st.Clusters > 10 {
			t.Fatalf("after %d: %+v exceeds MaxKeys 10", i, st)
		}
	}
	// The most recent bucket survived LRU eviction: still empty.
	if ok, _, _ := l.Allow("id-49", ""); ok {
		t.Error("recent bucket was evicted (its debt forgiven)")
	}
	// Idle buckets are swept.
	clk.Advance(2 * time.Minute)
	l.Allow("fresh", "")
	if st := l.Stats(); st.Identities != 1 || st.Clusters != 0 {
		t.Errorf("after idle sweep: %+v; want 1 identity, 0 clusters", st)
	}
}

func TestLimiterIdleTTLCoversRefill(t *testing.T) {
	clk := newFakeClock()
	// Refill of 10 tokens at 0.01/s takes 1000s > IdleTTL 1m.
	l, _ := NewLimiter(LimitConfig{PerIdentity: Bucket{Rate: 0.01, Burst: 10}, IdleTTL: time.Minute, Now: clk.Now})
	if l.cfg.IdleTTL < 1000*time.Second {
		t.Fatalf("IdleTTL = %v; want raised to the 1000s refill time", l.cfg.IdleTTL)
	}
	for range 10 {
		l.Allow("a", "")
	}
	clk.Advance(90 * time.Second) // 0.9 tokens back; a 1m TTL would evict
	l.mu.Lock()
	l.sweep(l.ids, clk.Now())
	l.mu.Unlock()
	if ok, _, _ := l.Allow("a", ""); ok {
		t.Error("bucket evicted before refilled: debt forgiven")
	}
}

func TestLimiterConfig(t *testing.T) {
	tests := []struct {
		name string
		cfg  LimitConfig
		ok   bool
	}{
		{"zero", LimitConfig{}, true},
		{"burst defaults", LimitConfig{PerCluster: Bucket{Rate: 2.5}}, true},
		{"negative rate", LimitConfig{PerIdentity: Bucket{Rate: -1}}, false},
		{"negative burst", LimitConfig{PerIdentity: Bucket{Rate: 1, Burst: -1}}, false},
		{"burst without rate", LimitConfig{PerCluster: Bucket{Burst: 5}}, false},
		{"negative max keys", LimitConfig{MaxKeys: -1}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := NewLimiter(tt.cfg)
			if (err == nil) != tt.ok || (err != nil && !errors.Is(err, ErrLimitConfig)) {
				t.Errorf("NewLimiter = %v; want ok=%v", err, tt.ok)
			}
		})
	}
	l, _ := NewLimiter(LimitConfig{PerCluster: Bucket{Rate: 2.5}})
	if l.cfg.PerCluster.Burst != 3 {
		t.Errorf("default burst = %d; want 3", l.cfg.PerCluster.Burst)
	}
}

func TestLimiterConcurrent(t *testing.T) {
	l, _ := NewLimiter(LimitConfig{PerIdentity: Bucket{Rate: 1e-9, Burst: 100}, PerCluster: Bucket{Rate: 1e-9, Burst: 1000}})
	var mu sync.Mutex
	allowed := 0
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for range 50 {
				if ok, _, _ := l.Allow(fmt.Sprintf("id-%d", g%2), "c"); ok {
					mu.Lock()
					allowed++
					mu.Unlock()
				}
			}
		})
	}
	wg.Wait()
	if allowed != 200 {
		t.Errorf("allowed %d; want 200 (2 identities × burst 100)", allowed)
	}
}

func BenchmarkLimiterAllow(b *testing.B) {
	l, _ := NewLimiter(LimitConfig{PerIdentity: Bucket{Rate: 1e9, Burst: 1e9}, PerCluster: Bucket{Rate: 1e9, Burst: 1e9}})
	ids := make([]string, 1000)
	for i := range ids {
		ids[i] = fmt.Sprintf("id-%d", i)
	}
	i := 0
	for b.Loop() {
		l.Allow(ids[i%len(ids)], "cluster-1")
		i++
	}
}
