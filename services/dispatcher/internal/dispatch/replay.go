package dispatch

import (
	"container/list"
	"encoding/json"
	"sync"
	"time"

	"github.com/nats-io/nats.go"

	"kubently.io/libs/contracts"
)

// Replay cache defaults: a reply is kept this long, and all of them in at
// most this many bytes (oldest evicted first).
const (
	defaultReplayTTL   = 2 * time.Minute
	defaultReplayBytes = 32 << 20
)

// replayCache keeps the replies a dispatcher sent recently, by command id,
// so that a reply lost in a NATS disruption can be sent again when the
// gateway asks (contracts.DispatchReplaySubject). It is bounded in bytes
// and age; a reply evicted or never cached is simply not replayed.
type replayCache struct {
	mu       sync.Mutex
	ttl      time.Duration
	maxBytes int
	size     int
	order    *list.List // of *replayEntry, oldest first
	byID     map[string]*list.Element
	now      func() time.Time
}

type replayEntry struct {
	id    string
	reply []byte
	at    time.Time
}

func newReplayCache(ttl time.Duration, maxBytes int, now func() time.Time) *replayCache {
	return &replayCache{ttl: ttl, maxBytes: maxBytes, order: list.New(), byID: map[string]*list.Element{}, now: now}
}

// put keeps reply for id, replacing an earlier one; a reply larger than
// the whole cache is not kept.
func (r *replayCache) put(id string, reply []byte) {
	if len(reply) > r.maxBytes {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if el, ok := r.byID[id]; ok {
		r.remove(el)
	}
	r.byID[id] = r.order.PushBack(&replayEntry{id: id, reply: reply, at: r.now()})
	r.size += len(reply)
	r.evict()
}

// get returns the reply kept for id, if it is still there.
func (r *replayCache) get(id string) ([]byte, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.evict()
	el, ok := r.byID[id]
	if !ok {
		return nil, false
	}
	return el.Value.(*replayEntry).reply, true
}

// evict drops entries past the TTL or beyond the byte bound, oldest first.
func (r *replayCache) evict() {
	horizon := r.now().Add(-r.ttl)
	for el := r.order.Front(); el != nil; el = r.order.Front() {
		e := el.Value.(*replayEntry)
		if r.size <= r.maxBytes && e.at.After(horizon) {
			return
		}
		r.remove(el)
	}
}

func (r *replayCache) remove(el *list.Element) {
	e := r.order.Remove(el).(*replayEntry)
	delete(r.byID, e.id)
	r.size -= len(e.reply)
}

// len reports how many replies are kept (for tests).
func (r *replayCache) len() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.order.Len()
}

// pendingReply answers a replay request for a command still in progress.
var pendingReply = []byte(`{"type":"` + contracts.TypeReplayPending + `"}`)

// serveReplay answers a replay request with the reply kept for its
// command, or pendingReply while it is still being worked on, and stays
// silent otherwise (another replica may have it; the asker times out or
// gets no responders if nobody does).
func (d *Dispatcher) serveReplay(m *nats.Msg) {
	var req contracts.ReplayRequest
	if err := json.Unmarshal(m.Data, &req); err != nil || contracts.ValidateCommandID(req.CommandID) != nil {
		return
	}
	reply, ok := d.replies.get(req.CommandID)
	if !ok {
		if _, working := d.working.Load(req.CommandID); !working {
			return
		}
		// Not lost, just not out yet (a slow audit write, say): the
		// gateway keeps waiting.
		reply = pendingReply
	}
	if err := m.Respond(reply); err != nil {
		d.m.natsErrors.WithLabelValues("replay").Inc()
		return
	}
	if ok {
		d.m.replays.Inc()
		d.cfg.Log.Info("reply sent again on request", "command_id", req.CommandID)
	}
}
