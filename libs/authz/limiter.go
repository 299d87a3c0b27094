package authz

import (
	"fmt"
	"math"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// Which bucket denied a request, as returned by Limiter.Allow.
const (
	// LimitIdentity: the caller's per-identity bucket is empty.
	LimitIdentity = "identity"
	// LimitCluster: the target cluster's bucket is empty.
	LimitCluster = "cluster"
)

// Defaults for LimitConfig.
const (
	// DefaultMaxKeys bounds the buckets kept per dimension.
	DefaultMaxKeys = 10000
	// DefaultIdleTTL is how long an unused bucket is kept.
	DefaultIdleTTL = 10 * time.Minute
)

// Bucket is a token bucket: Rate tokens per second refill up to Burst.
// The zero value disables the bucket.
type Bucket struct {
	// Rate is the sustained rate in requests per second. Zero disables the
	// bucket (and then Burst must be zero too).
	Rate float64
	// Burst is the bucket size. Zero with a positive Rate means
	// max(1, ceil(Rate)).
	Burst int
}

func (b Bucket) enabled() bool { return b.Rate > 0 }

func (b *Bucket) validate(what string) error {
	switch {
	case b.Rate < 0 || math.IsNaN(b.Rate) || math.IsInf(b.Rate, 0):
		return fmt.Errorf("%w: %s rate must be a finite number >= 0", ErrLimitConfig, what)
	case b.Burst < 0:
		return fmt.Errorf("%w: %s burst must be >= 0", ErrLimitConfig, what)
	case b.Rate == 0 && b.Burst != 0:
		return fmt.Errorf("%w: %s burst set without a rate", ErrLimitConfig, what)
	case b.Rate > 0 && b.Burst == 0:
		b.Burst = max(1, int(math.Ceil(b.Rate)))
	}
	return nil
}

// refill is how long an empty bucket takes to fill up.
func (b Bucket) refill() time.Duration {
	return time.Duration(float64(b.Burst) / b.Rate * float64(time.Second))
}

// LimitConfig configures a Limiter. The zero value disables limiting.
type LimitConfig struct {
	// PerIdentity limits each identity (key it by Identity.Principal).
	PerIdentity Bucket
	// PerCluster limits each target cluster, whoever calls.
	PerCluster Bucket
	// MaxKeys bounds the buckets kept per dimension; at the bound, idle
	// buckets are evicted first, then the least recently used. Zero means
	// DefaultMaxKeys.
	MaxKeys int
	// IdleTTL is how long an unused bucket is kept. Zero means
	// DefaultIdleTTL. It is raised to a bucket's refill time, so evicting
	// an idle bucket never forgives debt (an idle bucket is full).
	IdleTTL time.Duration
	// Now returns the current time; nil means time.Now.
	Now func() time.Time
}

// Limiter rate-limits requests per identity and per cluster with token
// buckets. Safe for concurrent use.
type Limiter struct {
	cfg LimitConfig

	mu        sync.Mutex
	ids       map[string]*bucketEntry
	clusters  map[string]*bucketEntry
	lastSweep time.Time
}

type bucketEntry struct {
	lim  *rate.Limiter
	used time.Time
}

// NewLimiter validates cfg and returns a Limiter.
func NewLimiter(cfg LimitConfig) (*Limiter, error) {
	if err := cfg.PerIdentity.validate("per-identity"); err != nil {
		return nil, err
	}
	if err := cfg.PerCluster.validate("per-cluster"); err != nil {
		return nil, err
	}
	if cfg.MaxKeys < 0 || cfg.IdleTTL < 0 {
		return nil, fmt.Errorf("%w: MaxKeys and IdleTTL must be >= 0", ErrLimitConfig)
	}
	if cfg.MaxKeys == 0 {
		cfg.MaxKeys = DefaultMaxKeys
	}
	if cfg.IdleTTL == 0 {
		cfg.IdleTTL = DefaultIdleTTL
	}
	for _, b := range []Bucket{cfg.PerIdentity, cfg.PerCluster} {
		if b.enabled() {
			cfg.IdleTTL = max(cfg.IdleTTL, b.refill())
		}
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Limiter{
		cfg:      cfg,
		ids:      make(map[string]*bucketEntry),
		clusters: make(map[string]*bucketEntry),
	}, nil
}

// Allow takes one token from identity's bucket and one from cluster's
// (an empty identity or cluster, or a disabled dimension, is not limited).
// A request is allowed only if both have a token; a denied request takes
// none. When denied, retryAfter is when the empty bucket will have a token
// again, rounded up to whole seconds and at least 1s (for Retry-After),
// and which is LimitIdentity or LimitCluster. A nil Limiter allows all.
func (l *Limiter) Allow(identity, cluster string) (ok bool, retryAfter time.Duration, which string) {
	if l == nil {
		return true, 0, ""
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.cfg.Now()
	l.maybeSweep(now)

	var idRes *rate.Reservation
	if identity != "" && l.cfg.PerIdentity.enabled() {
		idRes = l.bucket(l.ids, identity, l.cfg.PerIdentity, now).ReserveN(now, 1)
		if d := idRes.DelayFrom(now); d > 0 {
			idRes.CancelAt(now)
			return false, retryAfterFrom(d), LimitIdentity
		}
	}
	if cluster != "" && l.cfg.PerCluster.enabled() {
		r := l.bucket(l.clusters, cluster, l.cfg.PerCluster, now).ReserveN(now, 1)
		if d := r.DelayFrom(now); d > 0 {
			r.CancelAt(now)
			if idRes != nil {
				idRes.CancelAt(now)
			}
			return false, retryAfterFrom(d), LimitCluster
		}
	}
	return true, 0, ""
}

func retryAfterFrom(d time.Duration) time.Duration {
	s := (d + time.Second - 1) / time.Second
	return max(1, s) * time.Second
}

// bucket returns key's limiter in m, creating it (and evicting to stay
// within MaxKeys) if needed. Called with l.mu held.
func (l *Limiter) bucket(m map[string]*bucketEntry, key string, b Bucket, now time.Time) *rate.Limiter {
	if e, ok := m[key]; ok {
		e.used = now
		return e.lim
	}
	if len(m) >= l.cfg.MaxKeys {
		l.sweep(m, now)
	}
	if len(m) >= l.cfg.MaxKeys {
		var lruKey string
		var lru time.Time
		for k, e := range m {
			if lruKey == "" || e.used.Before(lru) {
				lruKey, lru = k, e.used
			}
		}
		delete(m, lruKey)
	}
	e := &bucketEntry{lim: rate.NewLimiter(rate.Limit(b.Rate), b.Burst), used: now}
	m[key] = e
	return e.lim
}

// maybeSweep drops idle buckets at most once per IdleTTL/2.
func (l *Limiter) maybeSweep(now time.Time) {
	if now.Sub(l.lastSweep) < l.cfg.IdleTTL/2 {
		return
	}
	l.lastSweep = now
	l.sweep(l.ids, now)
	l.sweep(l.clusters, now)
}

func (l *Limiter) sweep(m map[string]*bucketEntry, now time.Time) {
	for k, e := range m {
		if now.Sub(e.used) >= l.cfg.IdleTTL {
			delete(m, k)
		}
	}
}

// LimiterStats reports a Limiter's size, for metrics and tests.
type LimiterStats struct {
	// Identities and Clusters are the numbers of buckets held.
	Identities, Clusters int
}

// Stats returns the number of buckets held.
func (l *Limiter) Stats() LimiterStats {
	if l == nil {
		return LimiterStats{}
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	return LimiterStats{Identities: len(l.ids), Clusters: len(l.clusters)}
}
