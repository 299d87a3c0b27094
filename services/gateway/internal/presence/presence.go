package presence

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"kubently.io/libs/contracts"
	"kubently.io/libs/logging"
)

// Store is what the keeper needs of the state store (store.Presence).
type Store interface {
	Join(ctx context.Context, lease string, info contracts.ExecutorInfo, ttl time.Duration) error
	RenewLease(ctx context.Context, lease string, ttl time.Duration) (lapsed bool, err error)
	Leave(ctx context.Context, cluster, connID string) error
}

// Config configures New.
type Config struct {
	// Store keeps the records; required.
	Store Store
	// TTL is the lease's TTL: the streams of a replica that stopped
	// renewing vanish from presence within it. The lease is renewed every
	// TTL/3. Required (> 0).
	TTL time.Duration
	// RecordTTL is each stream's own record TTL (store.Presence.Join); a
	// stream is joined again once half of it passed. Zero means 1h.
	RecordTTL time.Duration
	// Timeout bounds each store call; zero means 5s.
	Timeout time.Duration
	// Log is the logger; required.
	Log *slog.Logger
	// OnRenew, if not nil, is told the outcome of each renewal (lapsed,
	// or the store error) on the renewing goroutine.
	OnRenew func(lapsed bool, err error)
}

// rejoinWorkers bounds the store calls in flight when every stream is
// joined again (after a lapsed lease).
const rejoinWorkers = 8

// Keeper keeps one replica's streams present. Create it with New.
type Keeper struct {
	cfg   Config
	lease string

	mu      sync.Mutex
	streams map[string]*stream // by connection id
	// liveUntil is when the lease runs out by this process's clock, as
	// far as the last successful renewal knows; zero before the first.
	liveUntil time.Time

	// renewing serializes renewals (Run and a Join finding the lease not
	// live).
	renewing sync.Mutex
}

// stream is one held stream's record.
type stream struct {
	// mu serializes the stream's Join calls with its Leave, so that a
	// Join of a stream again (rejoin) never lands after its Leave.
	mu     sync.Mutex
	info   contracts.ExecutorInfo
	joined time.Time // of the latest successful Join
	left   bool
	// stale: the lease lapsed since the latest successful Join, which
	// must be made again.
	stale bool
}

// New returns a keeper with a new lease; nothing is written until Run or
// Join.
func New(cfg Config) (*Keeper, error) {
	if cfg.Store == nil || cfg.Log == nil {
		return nil, errors.New("presence: Store and Log are required")
	}
	if cfg.TTL <= 0 || cfg.RecordTTL < 0 || cfg.Timeout < 0 {
		return nil, errors.New("presence: TTL must be positive, RecordTTL and Timeout not negative")
	}
	if cfg.RecordTTL == 0 {
		cfg.RecordTTL = time.Hour
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = 5 * time.Second
	}
	return &Keeper{cfg: cfg, lease: contracts.NewID(), streams: map[string]*stream{}}, nil
}

// Lease is the keeper's lease id (one per keeper, so per replica process).
func (k *Keeper) Lease() string { return k.lease }

// Join records info as connected under the keeper's lease, renewing the
// lease first if it is not known to be live (no renewal succeeded yet, or
// none within the TTL), and returns the function that removes it at once
// (store.Presence.Leave), to be called when the stream ends. An error
// means the stream is not recorded; leave is then nil.
func (k *Keeper) Join(ctx context.Context, info contracts.ExecutorInfo) (leave func(context.Context) error, err error) {
	if !k.live(time.Now()) {
		// A lapse it finds marks the held streams to be joined again,
		// which Run's next renewal does.
		if _, err := k.renew(ctx); err != nil {
			return nil, err
		}
	}
	st := &stream{info: info}
	if err := k.join(ctx, st); err != nil {
		return nil, err
	}
	k.mu.Lock()
	k.streams[info.ConnID] = st
	k.mu.Unlock()
	return func(ctx context.Context) error {
		st.mu.Lock()
		st.left = true
		st.mu.Unlock()
		k.mu.Lock()
		delete(k.streams, info.ConnID)
		k.mu.Unlock()
		cctx, cancel := context.WithTimeout(ctx, k.cfg.Timeout)
		defer cancel()
		return k.cfg.Store.Leave(cctx, info.Cluster, info.ConnID)
	}, nil
}

// join writes the stream's record unless it left.
func (k *Keeper) join(ctx context.Context, st *stream) error {
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.left {
		return nil
	}
	cctx, cancel := context.WithTimeout(ctx, k.cfg.Timeout)
	defer cancel()
	now := time.Now()
	if err := k.cfg.Store.Join(cctx, k.lease, st.info, k.cfg.RecordTTL); err != nil {
		return err
	}
	st.joined, st.stale = now, false
	return nil
}

// live reports whether the lease is known to be live at now.
func (k *Keeper) live(now time.Time) bool {
	k.mu.Lock()
	defer k.mu.Unlock()
	return now.Before(k.liveUntil)
}

// Run renews the lease now and every TTL/3 until ctx ends, and joins
// streams again when a renewal found the lease lapsed or their record is
// half way through its RecordTTL. A store error is logged and the next
// renewal tries again.
func (k *Keeper) Run(ctx context.Context) {
	t := time.NewTicker(k.cfg.TTL / 3)
	defer t.Stop()
	for {
		_, err := k.renew(ctx)
		if err != nil && ctx.Err() == nil {
			k.cfg.Log.Warn("presence lease renewal failed; retried on the next one", logging.KeyErr, err, "lease", k.lease)
		}
		if err == nil {
			k.rejoin(ctx)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Renew renews the lease once now, and joins streams again as Run does.
// It is Run's step, for tests.
func (k *Keeper) Renew(ctx context.Context) error {
	_, err := k.renew(ctx)
	if err == nil {
		k.rejoin(ctx)
	}
	return err
}

// renew renews the lease and records how long it is live; if the lease
// had lapsed, it marks every held stream to be joined again (rejoin).
func (k *Keeper) renew(ctx context.Context) (lapsed bool, err error) {
	k.renewing.Lock()
	defer k.renewing.Unlock()
	cctx, cancel := context.WithTimeout(ctx, k.cfg.Timeout)
	defer cancel()
	start := time.Now()
	lapsed, err = k.cfg.Store.RenewLease(cctx, k.lease, k.cfg.TTL)
	if k.cfg.OnRenew != nil {
		k.cfg.OnRenew(lapsed, err)
	}
	if err != nil {
		return false, err
	}
	k.mu.Lock()
	// By this clock the lease runs out TTL after the renewal was sent at
	// the latest.
	k.liveUntil = start.Add(k.cfg.TTL)
	streams := make([]*stream, 0, len(k.streams))
	if lapsed {
		for _, st := range k.streams {
			streams = append(streams, st)
		}
	}
	k.mu.Unlock()
	for _, st := range streams {
		st.mu.Lock()
		st.stale = true
		st.mu.Unlock()
	}
	return lapsed, nil
}

// rejoin joins again the held streams a lapsed lease marked (stale, until
// their Join succeeds) and those half way through their RecordTTL.
func (k *Keeper) rejoin(ctx context.Context) {
	cutoff := time.Now().Add(-k.cfg.RecordTTL / 2)
	k.mu.Lock()
	var due []*stream
	for _, st := range k.streams {
		st.mu.Lock()
		if st.stale || st.joined.Before(cutoff) {
			due = append(due, st)
		}
		st.mu.Unlock()
	}
	k.mu.Unlock()
	if len(due) == 0 {
		return
	}
	work := make(chan *stream)
	var wg sync.WaitGroup
	var failed int
	var fmu sync.Mutex
	for range min(rejoinWorkers, len(due)) {
		wg.Go(func() {
			for st := range work {
				if err := k.join(ctx, st); err != nil {
					fmu.Lock()
					failed++
					fmu.Unlock()
				}
			}
		})
	}
	for _, st := range due {
		work <- st
	}
	close(work)
	wg.Wait()
	if failed > 0 && ctx.Err() == nil {
		k.cfg.Log.Warn("presence: joining streams again failed; retried on the next renewal", "failed", failed, "of", len(due))
	}
}
