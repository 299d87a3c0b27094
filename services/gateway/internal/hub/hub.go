// Package hub wakes the executor streams a gateway replica holds when a
// command is queued for their cluster, and closes them when the cluster's
// token is revoked or rotated. One NATS subscription per replica on the
// bridge notify wildcard, and one on the bridge revoke wildcard, fan out to
// in-process channels and stop funcs, so ten thousand streams cost ten
// thousand small channels, not ten thousand NATS subscriptions or store
// pollers.
//
// # Concurrency
//
// A Hub is safe for concurrent use. Wake channels have a buffer of one and
// are signalled without blocking: a burst of notifies collapses into one
// wake-up, after which the stream drains its queue. Stop funcs are called
// with the hub's lock held and must not block (a context.CancelFunc).
package hub

import (
	"strings"
	"sync"
	"sync/atomic"

	"github.com/nats-io/nats.go"

	"kubently.io/libs/contracts"
)

// Waker is one stream's wake-up channel.
type Waker struct {
	cluster string
	c       chan struct{}
	stop    func()
}

// C returns the channel that receives a value when the stream should read
// its queue.
func (w *Waker) C() <-chan struct{} { return w.c }

// Hub maps clusters to the local streams serving them.
type Hub struct {
	mu      sync.Mutex
	streams map[string]map[*Waker]struct{}
	// revocations counts the calls of Revoke.
	revocations atomic.Uint64
}

// New returns an empty hub.
func New() *Hub { return &Hub{streams: map[string]map[*Waker]struct{}{}} }

// Register adds a stream for cluster; call the returned func when it ends.
// stop ends the stream (its context's cancel func); Revoke calls it. Nil
// means the stream cannot be closed by a revocation.
func (h *Hub) Register(cluster string, stop func()) (*Waker, func()) {
	if stop == nil {
		stop = func() {}
	}
	w := &Waker{cluster: cluster, c: make(chan struct{}, 1), stop: stop}
	h.mu.Lock()
	set := h.streams[cluster]
	if set == nil {
		set = map[*Waker]struct{}{}
		h.streams[cluster] = set
	}
	set[w] = struct{}{}
	h.mu.Unlock()
	return w, func() {
		h.mu.Lock()
		delete(h.streams[cluster], w)
		if len(h.streams[cluster]) == 0 {
			delete(h.streams, cluster)
		}
		h.mu.Unlock()
	}
}

// Notify wakes every local stream of cluster.
func (h *Hub) Notify(cluster string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for w := range h.streams[cluster] {
		select {
		case w.c <- struct{}{}:
		default:
		}
	}
}

// WakeOne wakes one local stream of cluster, any one, and reports
// whether the hub holds a stream of it. The replica's sweep (package
// sweep) uses it: one stream's Claim takes what the cluster's queue
// holds, so waking the others would only cost empty Claims.
func (h *Hub) WakeOne(cluster string) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	for w := range h.streams[cluster] {
		select {
		case w.c <- struct{}{}:
		default:
		}
		return true
	}
	return false
}

// Clusters appends to dst[:0] the clusters the hub holds at least one
// stream of, in no particular order, and returns it.
func (h *Hub) Clusters(dst []string) []string {
	dst = dst[:0]
	h.mu.Lock()
	defer h.mu.Unlock()
	for c := range h.streams {
		dst = append(dst, c)
	}
	return dst
}

// Revoke ends every local stream of cluster (their token was revoked or
// rotated) and returns how many it ended. The streams unregister
// themselves as they end.
func (h *Hub) Revoke(cluster string) int {
	h.revocations.Add(1)
	h.mu.Lock()
	defer h.mu.Unlock()
	for w := range h.streams[cluster] {
		w.stop()
	}
	return len(h.streams[cluster])
}

// Revocations returns how many times Revoke was called: a value that
// changes whenever a cluster's token is revoked or rotated (on this
// replica, or on another one whose broadcast reached this one), for
// caches of registry records to drop what they hold.
func (h *Hub) Revocations() uint64 { return h.revocations.Load() }

// Streams returns how many streams the hub holds in all.
func (h *Hub) Streams() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	n := 0
	for _, s := range h.streams {
		n += len(s)
	}
	return n
}

// Subscribe listens on the bridge notify wildcard and wakes local streams.
func (h *Hub) Subscribe(nc *nats.Conn) (*nats.Subscription, error) {
	prefix := strings.TrimSuffix(contracts.BridgeNotifyWildcard, "*")
	return nc.Subscribe(contracts.BridgeNotifyWildcard, func(m *nats.Msg) {
		h.Notify(strings.TrimPrefix(m.Subject, prefix))
	})
}

// SubscribeRevocations listens on the bridge revoke wildcard and ends the
// local streams of the cluster each message names. onRevoke, if not nil,
// is told the cluster and how many streams were ended (for logs).
func (h *Hub) SubscribeRevocations(nc *nats.Conn, onRevoke func(cluster string, ended int)) (*nats.Subscription, error) {
	prefix := strings.TrimSuffix(contracts.BridgeRevokeWildcard, "*")
	return nc.Subscribe(contracts.BridgeRevokeWildcard, func(m *nats.Msg) {
		cluster := strings.TrimPrefix(m.Subject, prefix)
		n := h.Revoke(cluster)
		if onRevoke != nil {
			onRevoke(cluster, n)
		}
	})
}
