package app

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"kubently.io/libs/contracts"
	"kubently.io/libs/logging"
)

type fakeSource struct {
	mu      sync.Mutex
	kinds   []string
	changed chan struct{}
}

func (s *fakeSource) DiscoverySummary(context.Context) (contracts.ExecutorDiscovery, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var rs []contracts.DiscoveryResource
	for _, k := range s.kinds {
		rs = append(rs, contracts.DiscoveryResource{Version: "v1", Resource: k, Kind: "K" + k})
	}
	return contracts.NewExecutorDiscovery(rs), nil
}

func (s *fakeSource) DiscoveryChanged() <-chan struct{} { return s.changed }

type fakeLink struct {
	streams atomic.Uint64
	mu      sync.Mutex
	posts   []string // hashes
}

func (l *fakeLink) Connected() bool { return l.streams.Load() > 0 }
func (l *fakeLink) Streams() uint64 { return l.streams.Load() }
func (l *fakeLink) PostDiscovery(_ context.Context, d contracts.ExecutorDiscovery) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.posts = append(l.posts, d.Hash)
	return nil
}

func (l *fakeLink) count() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.posts)
}

// TestPublishDiscovery: the summary is posted once a stream is up, again
// on every new stream, and again when the runner saw a change; not
// otherwise.
func TestPublishDiscovery(t *testing.T) {
	src := &fakeSource{kinds: []string{"pods"}, changed: make(chan struct{}, 1)}
	lc := &fakeLink{}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan struct{})
	go func() { publishDiscovery(ctx, src, lc, time.Hour, logging.Discard()); close(done) }()
	waitPosts := func(n int) {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for lc.count() < n {
			if time.Now().After(deadline) {
				t.Fatalf("%d posts; want %d", lc.count(), n)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	time.Sleep(50 * time.Millisecond)
	if lc.count() != 0 {
		t.Fatalf("posted before any stream was open")
	}
	lc.streams.Add(1)
	waitPosts(1)
	lc.streams.Add(1) // a reconnect
	waitPosts(2)
	src.mu.Lock()
	src.kinds = append(src.kinds, "widgets")
	src.mu.Unlock()
	src.changed <- struct{}{}
	waitPosts(3)
	lc.mu.Lock()
	first, last := lc.posts[0], lc.posts[2]
	lc.mu.Unlock()
	if first == last {
		t.Errorf("the post after the change carries the old hash %s", first)
	}
	cancel()
	<-done
	if n := lc.count(); n != 3 {
		t.Errorf("%d posts; want 3 (connect, reconnect, change)", n)
	}
}
