package sweep

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"kubently.io/libs/logging"
	"kubently.io/libs/store"
	"kubently.io/libs/testkit"
	"kubently.io/services/gateway/internal/hub"
)

// countingStore records each Queues and IndexedQueues call and answers
// with the queues it holds of the clusters it was asked about; the index
// names every queue unless unindexed lists it (a lost index entry).
type countingStore struct {
	mu        sync.Mutex
	calls     [][]string
	full      []bool // of each call: Queues (not IndexedQueues)
	queues    map[string]store.QueueState
	unindexed map[string]bool
	err       error
}

func (s *countingStore) Queues(_ context.Context, clusters []string) ([]store.QueueState, error) {
	return s.answer(clusters, true)
}

func (s *countingStore) IndexedQueues(_ context.Context, clusters []string) ([]store.QueueState, error) {
	return s.answer(clusters, false)
}

func (s *countingStore) answer(clusters []string, full bool) ([]store.QueueState, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls = append(s.calls, slices.Clone(clusters))
	s.full = append(s.full, full)
	if s.err != nil {
		return nil, s.err
	}
	var out []store.QueueState
	for _, c := range clusters {
		if q, ok := s.queues[c]; ok && (full || !s.unindexed[c]) {
			out = append(out, q)
		}
	}
	return out, nil
}

func (s *countingStore) fullCalls() []bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.full)
}

func (s *countingStore) callCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.calls)
}

// streams registers perCluster streams for each of n clusters c0000..
// and returns their wakers by cluster.
func streams(t *testing.T, h *hub.Hub, n, perCluster int) map[string][]*hub.Waker {
	t.Helper()
	out := map[string][]*hub.Waker{}
	for i := range n {
		c := fmt.Sprintf("c%04d", i)
		for range perCluster {
			w, done := h.Register(c, nil)
			t.Cleanup(done)
			out[c] = append(out[c], w)
		}
	}
	return out
}

func woken(ws []*hub.Waker) int {
	n := 0
	for _, w := range ws {
		select {
		case <-w.C():
			n++
		default:
		}
	}
	return n
}

func TestNew(t *testing.T) {
	h, st, log := hub.New(), &countingStore{}, logging.Discard()
	tests := []struct {
		name    string
		cfg     Config
		wantErr bool
	}{
		{name: "defaults", cfg: Config{Store: st, Hub: h, Log: log}},
		{name: "no store", cfg: Config{Hub: h, Log: log}, wantErr: true},
		{name: "no hub", cfg: Config{Store: st, Log: log}, wantErr: true},
		{name: "no log", cfg: Config{Store: st, Hub: h}, wantErr: true},
		{name: "negative interval", cfg: Config{Store: st, Hub: h, Log: log, Interval: -time.Second}, wantErr: true},
		{name: "negative full every", cfg: Config{Store: st, Hub: h, Log: log, FullEvery: -1}, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sw, err := New(tt.cfg)
			if (err != nil) != tt.wantErr {
				t.Fatalf("New() = %v; want error %v", err, tt.wantErr)
			}
			if err == nil && (sw.cfg.Interval != 2*time.Second || sw.cfg.Timeout != 5*time.Second || sw.cfg.FullEvery != 30) {
				t.Errorf("defaults: Interval %v, Timeout %v, FullEvery %d; want 2s, 5s, 30", sw.cfg.Interval, sw.cfg.Timeout, sw.cfg.FullEvery)
			}
		})
	}
}

// TestSweepWakesOneStreamOfClustersWithWork: one sweep of a replica with
// many streams is one store call about each held cluster once, and wakes
// exactly one stream of each cluster with a claimable command, and no
// other (not one whose commands are all leased).
func TestSweepWakesOneStreamOfClustersWithWork(t *testing.T) {
	h := hub.New()
	ws := streams(t, h, 500, 3)
	st := &countingStore{queues: map[string]store.QueueState{
		"c0001":    {Cluster: "c0001", Depth: 3, Claimable: true},
		"c0420":    {Cluster: "c0420", Depth: 1, Claimable: true},
		"c0007":    {Cluster: "c0007", Depth: 2}, // leased, within the lease
		"not-held": {Cluster: "not-held", Depth: 1, Claimable: true},
	}}
	var gotClusters, gotQueues, gotWoken int
	sw, err := New(Config{Store: st, Hub: h, Log: logging.Discard(), OnSweep: func(held []string, queues []store.QueueState, woken int, err error) {
		gotClusters, gotQueues, gotWoken = len(held), len(queues), woken
	}})
	if err != nil {
		t.Fatal(err)
	}
	n, err := sw.Sweep(t.Context())
	if err != nil || n != 2 {
		t.Fatalf("Sweep() = %d, %v; want 2, nil", n, err)
	}
	if got := st.callCount(); got != 1 {
		t.Fatalf("Queues calls = %d; want 1", got)
	}
	if asked := st.calls[0]; len(asked) != 500 {
		t.Errorf("Queues asked about %d clusters; want each of the 500 held once", len(asked))
	}
	if gotClusters != 500 || gotQueues != 3 || gotWoken != 2 {
		t.Errorf("OnSweep(%d held, %d queues, %d woken); want (500, 3, 2)", gotClusters, gotQueues, gotWoken)
	}
	for c, cws := range ws {
		want := 0
		if st.queues[c].Claimable {
			want = 1
		}
		if got := woken(cws); got != want {
			t.Errorf("streams of %s woken: %d; want %d", c, got, want)
		}
	}
}

// TestRunCostIsPerIntervalNotPerStream: an idle replica holding 2,000
// streams makes one store call per interval and wakes nothing.
func TestRunCostIsPerIntervalNotPerStream(t *testing.T) {
	h := hub.New()
	ws := streams(t, h, 1000, 2)
	st := &countingStore{}
	const interval = 20 * time.Millisecond
	sw, err := New(Config{Store: st, Hub: h, Interval: interval, Log: logging.Discard()})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	start := time.Now() // before Run's ticker starts
	go func() {
		defer close(done)
		sw.Run(ctx)
	}()
	// Three sweeps, however long a busy machine takes for them; then no
	// more calls than ticks: one per interval at most.
	testkit.CheckFor(t, 30*time.Second, interval, func() error {
		if got := st.callCount(); got < 3 {
			return fmt.Errorf("%d Queues calls; waiting for 3", got)
		}
		return nil
	})
	cancel()
	<-done
	elapsed := time.Since(start)
	if got, most := st.callCount(), int(elapsed/interval)+1; got > most {
		t.Errorf("Queues calls in %v = %d; want at most %d (one per %v)", elapsed.Round(time.Millisecond), got, most, interval)
	}
	for c, cws := range ws {
		if got := woken(cws); got != 0 {
			t.Fatalf("streams of %s woken: %d; want 0 (nothing queued)", c, got)
		}
	}
}

// TestSweepStoreError: a store error wakes nothing and is reported; an
// empty hub asks the store nothing.
func TestSweepStoreError(t *testing.T) {
	h := hub.New()
	st := &countingStore{err: errors.New("store down")}
	sw, err := New(Config{Store: st, Hub: h, Log: logging.Discard()})
	if err != nil {
		t.Fatal(err)
	}
	if n, err := sw.Sweep(t.Context()); n != 0 || err != nil {
		t.Errorf("Sweep() with no streams = %d, %v; want 0, nil", n, err)
	}
	if got := st.callCount(); got != 0 {
		t.Errorf("Queues calls with no streams = %d; want 0", got)
	}
	ws := streams(t, h, 1, 1)
	if n, err := sw.Sweep(t.Context()); n != 0 || !errors.Is(err, st.err) {
		t.Errorf("Sweep() = %d, %v; want 0, %v", n, err, st.err)
	}
	if got := woken(ws["c0000"]); got != 0 {
		t.Errorf("streams woken after a store error: %d; want 0", got)
	}
}

// TestRunFullEvery: Run's first sweep and every FullEvery-th are full
// (Queues), the others ask the index (IndexedQueues); a command whose
// cluster the index lost is found by the next full sweep, never lost.
func TestRunFullEvery(t *testing.T) {
	h := hub.New()
	ws := streams(t, h, 3, 1)
	st := &countingStore{}
	const interval, every = 10 * time.Millisecond, 3
	sw, err := New(Config{Store: st, Hub: h, Interval: interval, FullEvery: every, Log: logging.Discard()})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() {
		defer close(done)
		sw.Run(ctx)
	}()
	testkit.CheckFor(t, 30*time.Second, interval, func() error {
		if got := len(st.fullCalls()); got < 2*every+1 {
			return fmt.Errorf("%d sweeps; waiting for %d", got, 2*every+1)
		}
		return nil
	})
	// A command queued on c0001 whose index entry was lost: only a full
	// sweep sees it.
	st.mu.Lock()
	st.queues = map[string]store.QueueState{"c0001": {Cluster: "c0001", Depth: 1, Claimable: true}}
	st.unindexed = map[string]bool{"c0001": true}
	st.mu.Unlock()
	select {
	case <-ws["c0001"][0].C():
	case <-time.After(30 * time.Second):
		t.Fatal("the stream of c0001 was not woken within 30s")
	}
	cancel()
	<-done
	for i, full := range st.fullCalls() {
		if want := i%every == 0; full != want {
			t.Fatalf("sweep %d full = %v; want %v (first and every %dth full): %v", i, full, want, every, st.fullCalls())
		}
	}
}

// TestSweepIndexed: a sweep from the index wakes the streams of the
// clusters with work the index names, and not one whose entry was lost.
func TestSweepIndexed(t *testing.T) {
	h := hub.New()
	ws := streams(t, h, 3, 1)
	st := &countingStore{
		queues: map[string]store.QueueState{
			"c0000": {Cluster: "c0000", Depth: 1, Claimable: true},
			"c0002": {Cluster: "c0002", Depth: 1, Claimable: true},
		},
		unindexed: map[string]bool{"c0002": true},
	}
	sw, err := New(Config{Store: st, Hub: h, Log: logging.Discard()})
	if err != nil {
		t.Fatal(err)
	}
	if n, err := sw.SweepIndexed(t.Context()); n != 1 || err != nil {
		t.Fatalf("SweepIndexed() = %d, %v; want 1, nil", n, err)
	}
	if got := st.fullCalls(); len(got) != 1 || got[0] {
		t.Errorf("store calls (full?) = %v; want one IndexedQueues", got)
	}
	if woken(ws["c0000"]) != 1 || woken(ws["c0002"]) != 0 {
		t.Errorf("woken: want only the stream of c0000")
	}
	if n, err := sw.Sweep(t.Context()); n != 2 || err != nil {
		t.Errorf("Sweep() = %d, %v; want 2, nil (c0000 and the unindexed c0002)", n, err)
	}
}
