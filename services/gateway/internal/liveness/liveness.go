// Package liveness records when the executor at the far end of each
// stream a gateway replica holds was last heard from, so that the stream
// loop can close a stream whose executor went silent (a half-open TCP
// connection: the host vanished, or a middlebox black-holes the
// connection while keeping it open, and the gateway's writes keep
// landing in socket buffers).
//
// Executors post heartbeats (POST /v1/executor/heartbeat) to whichever
// replica the load balancer picks. The replica holding the stream counts
// them directly (Touch); any other replica passes the contact on with one
// NATS request to the holder's contact subject
// (contracts.ExecutorContactSubject), which each replica serves with one
// subscription (Subscribe). No store is read or written on the way: ten
// thousand streams cost a map entry and an atomic each.
//
// # Usage
//
//	reg := liveness.New()
//	sub, _ := reg.Subscribe(nc, gatewayName) // once per replica
//	conn, remove := reg.Add(cluster, connID, tokenHash) // per stream
//	defer remove()
//	... if time.Since(conn.LastContact()) > timeout { close the stream }
//	// another replica:
//	known, err := liveness.Forward(ctx, nc, holder, contracts.ExecutorContact{...})
//
// # Concurrency
//
// A Registry is safe for concurrent use; Touch takes a read lock and
// stores one atomic, so heartbeats do not contend with each other.
package liveness

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"

	"kubently.io/libs/contracts"
)

// Sentinel errors.
var (
	// ErrUnreachable: the replica named as the stream's holder could not be
	// asked (NATS down, the request timed out, a malformed reply). A
	// holder that is gone (nobody listens on its subject) is no error:
	// Forward reports the stream unknown.
	ErrUnreachable = errors.New("liveness: holder replica unreachable")
)

// Conn is one stream's contact record.
type Conn struct {
	cluster   string
	tokenHash string
	last      atomic.Int64 // unix nanoseconds
}

// LastContact returns when the executor was last heard from (the stream's
// opening counts).
func (c *Conn) LastContact() time.Time { return time.Unix(0, c.last.Load()) }

// Registry maps the conn ids of the streams this replica holds to their
// contact records.
type Registry struct {
	mu    sync.RWMutex
	conns map[string]*Conn
	now   func() time.Time
}

// New returns an empty registry.
func New() *Registry { return &Registry{conns: map[string]*Conn{}, now: time.Now} }

// Add records a stream of cluster opened with the token whose registry
// hash is tokenHash; its last contact is now. Call the returned func when
// the stream ends.
func (r *Registry) Add(cluster, connID, tokenHash string) (*Conn, func()) {
	c := &Conn{cluster: cluster, tokenHash: tokenHash}
	c.last.Store(r.now().UnixNano())
	r.mu.Lock()
	r.conns[connID] = c
	r.mu.Unlock()
	return c, func() {
		r.mu.Lock()
		if r.conns[connID] == c {
			delete(r.conns, connID)
		}
		r.mu.Unlock()
	}
}

// Touch counts a contact for stream connID if this replica holds it, for
// cluster, opened with the token hashing to tokenHash. It reports whether
// it did; a stream of another cluster or token is left alone.
func (r *Registry) Touch(cluster, connID, tokenHash string) bool {
	r.mu.RLock()
	c := r.conns[connID]
	r.mu.RUnlock()
	if c == nil || c.cluster != cluster || subtle.ConstantTimeCompare([]byte(c.tokenHash), []byte(tokenHash)) != 1 {
		return false
	}
	c.last.Store(r.now().UnixNano())
	return true
}

// Len returns how many streams the registry holds.
func (r *Registry) Len() int {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return len(r.conns)
}

// Subscribe serves this replica's contact subject: each ExecutorContact
// is counted with Touch and answered with an ExecutorContactReply. onContact,
// if not nil, is told whether each contact was known (for metrics).
func (r *Registry) Subscribe(nc *nats.Conn, gateway string, onContact func(known bool)) (*nats.Subscription, error) {
	subj, err := contracts.ExecutorContactSubject(gateway)
	if err != nil {
		return nil, err
	}
	reply, err := json.Marshal(contracts.ExecutorContactReply{Type: contracts.TypeExecutorContactReply, Known: true})
	if err != nil {
		return nil, err
	}
	unknown, err := json.Marshal(contracts.ExecutorContactReply{Type: contracts.TypeExecutorContactReply})
	if err != nil {
		return nil, err
	}
	return nc.Subscribe(subj, func(m *nats.Msg) {
		var ct contracts.ExecutorContact
		known := json.Unmarshal(m.Data, &ct) == nil && ct.Type == contracts.TypeExecutorContact &&
			r.Touch(ct.Cluster, ct.ConnID, ct.TokenHash)
		if onContact != nil {
			onContact(known)
		}
		if m.Reply == "" {
			return
		}
		if known {
			_ = m.Respond(reply)
		} else {
			_ = m.Respond(unknown)
		}
	})
}

// Forward passes a contact to the replica named gateway and reports
// whether that replica holds the stream. Nobody listening on its subject
// (the replica is gone) means unknown, not an error; a NATS failure or
// timeout is ErrUnreachable.
func Forward(ctx context.Context, nc *nats.Conn, gateway string, ct contracts.ExecutorContact) (bool, error) {
	subj, err := contracts.ExecutorContactSubject(gateway)
	if err != nil {
		return false, err
	}
	ct.Type = contracts.TypeExecutorContact
	body, err := json.Marshal(ct)
	if err != nil {
		return false, err
	}
	m, err := nc.RequestWithContext(ctx, subj, body)
	switch {
	case errors.Is(err, nats.ErrNoResponders):
		return false, nil
	case err != nil:
		return false, fmt.Errorf("%w: %s: %w", ErrUnreachable, gateway, err)
	}
	var rep contracts.ExecutorContactReply
	if err := json.Unmarshal(m.Data, &rep); err != nil || rep.Type != contracts.TypeExecutorContactReply {
		return false, fmt.Errorf("%w: %s: malformed reply", ErrUnreachable, gateway)
	}
	return rep.Known, nil
}
