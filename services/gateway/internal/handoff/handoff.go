// Package handoff receives the commands a dispatcher hands straight to an
// executor stream this gateway replica holds, and passes each batch to
// that stream's goroutine, which writes it to the executor in order with
// what it claims itself.
//
// The dispatcher queues a command and leases it to one stream in the same
// store step (store.HandOff.AppendLeased), then sends it with one NATS
// request on the replica's hand-off subject (contracts.HandOffSubject),
// which each replica serves with one subscription (Subscribe). The reply
// comes from the stream once it wrote the commands (delivered), or at
// once if the replica holds no such stream or the stream's inbox is full
// (no_stream): nothing was or will be written, and the dispatcher releases
// the leases so that another stream claims the commands without waiting
// for them to run out. A stream that ends answers no_stream for every
// batch it had not taken yet.
//
// # Usage
//
//	reg := handoff.New()
//	sub, _ := reg.Subscribe(nc, gatewayName) // once per replica
//	inbox, remove := reg.Add(cluster, connID) // per stream, before its presence is written
//	defer remove()
//	for d := range inbox.C() { write d.Commands; d.Done() }
//
// # Concurrency
//
// A Registry is safe for concurrent use. Offer holds a read lock while it
// hands a batch over without blocking; remove takes the write lock before
// it answers what is left, so no batch is ever left unanswered.
package handoff

import (
	"encoding/json"
	"sync"

	"github.com/nats-io/nats.go"

	"kubently.io/libs/contracts"
)

// inboxSize is how many batches a stream's inbox holds; one more is
// answered no_stream (the dispatcher then releases and notifies, and the
// stream claims the commands when it gets to them). Small, because every
// stream has one: 16 pointers, about 0.2 KB a stream with the channel.
const inboxSize = 16

// Delivery is one batch of commands handed to a stream, oldest first.
type Delivery struct {
	// Commands are leased to the stream; never empty.
	Commands []contracts.Command
	reply    func(status string)
	once     sync.Once
}

// Done answers the batch delivered: the stream wrote the commands, or
// failed to (it is gone; they are redelivered when their lease runs
// out). Calls after the first do nothing.
func (d *Delivery) Done() { d.answer(contracts.HandOffDelivered) }

// refuse answers the batch no_stream: nothing was written.
func (d *Delivery) refuse() { d.answer(contracts.HandOffNoStream) }

func (d *Delivery) answer(status string) {
	d.once.Do(func() {
		if d.reply != nil {
			d.reply(status)
		}
	})
}

// NewDelivery returns a batch whose Done and refusal call reply with the
// status (contracts.HandOffDelivered or contracts.HandOffNoStream); for
// tests and for callers offering batches without NATS.
func NewDelivery(cmds []contracts.Command, reply func(status string)) *Delivery {
	return &Delivery{Commands: cmds, reply: reply}
}

// Inbox is one stream's queue of handed-off batches.
type Inbox struct {
	cluster string
	c       chan *Delivery
}

// C returns the channel of batches; the stream writes each and calls
// Done.
func (i *Inbox) C() <-chan *Delivery { return i.c }

// Registry maps the conn ids of the streams this replica holds to their
// inboxes.
type Registry struct {
	mu      sync.RWMutex
	inboxes map[string]*Inbox
}

// New returns an empty registry.
func New() *Registry { return &Registry{inboxes: map[string]*Inbox{}} }

// Add records stream connID of cluster. Call the returned func when the
// stream ends (after its last read of the inbox): it answers no_stream
// to every batch still in the inbox and to any offered later.
func (r *Registry) Add(cluster, connID string) (*Inbox, func()) {
	in := &Inbox{cluster: cluster, c: make(chan *Delivery, inboxSize)}
	r.mu.Lock()
	r.inboxes[connID] = in
	r.mu.Unlock()
	return in, func() {
		r.mu.Lock()
		if r.inboxes[connID] == in {
			delete(r.inboxes, connID)
		}
		r.mu.Unlock()
		// No Offer can reach the inbox any more.
		for {
			select {
			case d := <-in.c:
				d.refuse()
			default:
				return
			}
		}
	}
}

// Offer passes d to stream connID of cluster and reports whether it did.
// If it did not (no such stream here, another cluster's, or its inbox is
// full), d is answered no_stream.
func (r *Registry) Offer(cluster, connID string, d *Delivery) bool {
	r.mu.RLock()
	defer r.mu.RUnlock()
	in := r.inboxes[connID]
	if in != nil && in.cluster == cluster && len(d.Commands) > 0 {
		select {
		case in.c <- d:
			return true
		default:
		}
	}
	d.refuse()
	return false
}

// Len returns how many streams the registry holds.
func (r *Registry) Len() int {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return len(r.inboxes)
}

// Subscribe serves this replica's hand-off subject: each
// contracts.CommandHandOff is offered to its stream and answered with a
// contracts.CommandHandOffReply, by the stream once it wrote the batch or
// at once with no_stream. A malformed request, or one with a command of
// another cluster, is answered no_stream. onHandOff, if not nil, is told
// whether each batch reached a stream (for metrics).
func (r *Registry) Subscribe(nc *nats.Conn, gateway string, onHandOff func(offered bool)) (*nats.Subscription, error) {
	subj, err := contracts.HandOffSubject(gateway)
	if err != nil {
		return nil, err
	}
	replies := map[string][]byte{}
	for _, status := range []string{contracts.HandOffDelivered, contracts.HandOffNoStream} {
		b, err := json.Marshal(contracts.CommandHandOffReply{Type: contracts.TypeCommandHandOffReply, Status: status})
		if err != nil {
			return nil, err
		}
		replies[status] = b
	}
	return nc.Subscribe(subj, func(m *nats.Msg) {
		d := &Delivery{reply: func(status string) {
			if m.Reply != "" {
				_ = m.Respond(replies[status])
			}
		}}
		var h contracts.CommandHandOff
		if json.Unmarshal(m.Data, &h) != nil || h.Type != contracts.TypeCommandHandOff || !sameCluster(h) {
			d.refuse()
			if onHandOff != nil {
				onHandOff(false)
			}
			return
		}
		d.Commands = h.Commands
		ok := r.Offer(h.Cluster, h.ConnID, d)
		if onHandOff != nil {
			onHandOff(ok)
		}
	})
}

// sameCluster reports whether every command of h is one of h's cluster.
func sameCluster(h contracts.CommandHandOff) bool {
	for _, c := range h.Commands {
		if c.Cluster != h.Cluster {
			return false
		}
	}
	return true
}
