package sweep

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"kubently.io/libs/logging"
	"kubently.io/libs/store"
)

// Store is what the sweep needs of the state store (store.Bridge.Queues
// and IndexedQueues).
type Store interface {
	Queues(ctx context.Context, clusters []string) ([]store.QueueState, error)
	IndexedQueues(ctx context.Context, clusters []string) ([]store.QueueState, error)
}

// Hub is what the sweep needs of the replica's stream hub (hub.Hub).
type Hub interface {
	// Clusters appends the clusters with a local stream to dst[:0].
	Clusters(dst []string) []string
	// WakeOne wakes one local stream of cluster; false if there is none.
	WakeOne(cluster string) bool
}

// Config configures New.
type Config struct {
	// Store answers which clusters have a command to hand out; required.
	Store Store
	// Hub lists the clusters held here and wakes their streams; required.
	Hub Hub
	// Interval is the time between sweeps; zero means 2s.
	Interval time.Duration
	// Timeout bounds one Store.Queues call; zero means 5s.
	Timeout time.Duration
	// FullEvery makes every FullEvery-th sweep (and the first) a full one
	// (Store.Queues, a check of every held cluster's queue); the others
	// ask the store's index of non-empty queues (Store.IndexedQueues),
	// whose cost follows the clusters with commands. The full sweeps
	// restore an index entry the store lost, so such a command waits at
	// most FullEvery intervals. Zero means 30; 1 makes every sweep full.
	FullEvery int
	// Log is the logger; required.
	Log *slog.Logger
	// OnSweep, if not nil, is told after each sweep which clusters were
	// asked about (held: every cluster with a stream here), what the
	// store said of their queues (the ones not empty), how many streams
	// were woken, and the store error, if any. It runs on the sweeping
	// goroutine and must not keep held, which the next sweep reuses. The
	// gateway sets its metrics from it.
	OnSweep func(held []string, queues []store.QueueState, woken int, err error)
}

// Sweeper sweeps one replica's clusters. Create it with New.
type Sweeper struct {
	cfg Config
	// n counts Run's sweeps (Run's goroutine only).
	n int
}

// New returns a sweeper; it does nothing until Run or Sweep is called.
func New(cfg Config) (*Sweeper, error) {
	if cfg.Store == nil || cfg.Hub == nil || cfg.Log == nil {
		return nil, errors.New("sweep: Store, Hub and Log are required")
	}
	if cfg.Interval < 0 || cfg.Timeout < 0 || cfg.FullEvery < 0 {
		return nil, errors.New("sweep: negative Interval, Timeout or FullEvery")
	}
	if cfg.FullEvery == 0 {
		cfg.FullEvery = 30
	}
	if cfg.Interval == 0 {
		cfg.Interval = 2 * time.Second
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = 5 * time.Second
	}
	return &Sweeper{cfg: cfg}, nil
}

// Run sweeps every Interval until ctx ends. A store error is logged and
// the next sweep tries again.
func (s *Sweeper) Run(ctx context.Context) {
	t := time.NewTicker(s.cfg.Interval)
	defer t.Stop()
	var buf []string
	for ctx.Err() == nil {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		var err error
		full := s.n%s.cfg.FullEvery == 0
		if buf, _, err = s.sweep(ctx, buf, full); err != nil && ctx.Err() == nil {
			s.cfg.Log.Warn("bridge sweep failed; retried on the next one", logging.KeyErr, err, "interval", s.cfg.Interval, "full", full)
		}
		if err == nil {
			s.n++ // a failed full sweep is made again
		}
	}
}

// Sweep runs one full sweep now and returns how many streams it woke.
func (s *Sweeper) Sweep(ctx context.Context) (woken int, err error) {
	_, woken, err = s.sweep(ctx, nil, true)
	return woken, err
}

// SweepIndexed runs one sweep from the store's index now (as Run does
// between full sweeps) and returns how many streams it woke.
func (s *Sweeper) SweepIndexed(ctx context.Context) (woken int, err error) {
	_, woken, err = s.sweep(ctx, nil, false)
	return woken, err
}

// sweep asks the store about the clusters held here (listed into buf,
// returned for reuse) — all of them if full, else those its index of
// non-empty queues names — and wakes one stream of each that has a
// command to hand out.
func (s *Sweeper) sweep(ctx context.Context, buf []string, full bool) (_ []string, woken int, err error) {
	buf = s.cfg.Hub.Clusters(buf)
	var queues []store.QueueState
	if len(buf) > 0 {
		cctx, cancel := context.WithTimeout(ctx, s.cfg.Timeout)
		if full {
			queues, err = s.cfg.Store.Queues(cctx, buf)
		} else {
			queues, err = s.cfg.Store.IndexedQueues(cctx, buf)
		}
		cancel()
		for _, q := range queues {
			// A cluster whose last stream ended meanwhile has none to wake;
			// the next stream claims on connect.
			if q.Claimable && s.cfg.Hub.WakeOne(q.Cluster) {
				woken++
			}
		}
	}
	if s.cfg.OnSweep != nil {
		s.cfg.OnSweep(buf, queues, woken, err)
	}
	return buf, woken, err
}
