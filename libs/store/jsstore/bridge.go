package jsstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"kubently.io/libs/contracts"
	"kubently.io/libs/store"
	"kubently.io/libs/store/internal/check"
)

// owner is the value of an owners key.
type owner struct {
	Cluster string    `json:"cluster_id"`
	Until   time.Time `json:"until"`
	// Lease is the ack subject of the command's latest delivery by Claim;
	// empty before the first claim and after Ack.
	Lease string `json:"lease,omitempty"`
	// Fenced marks an id Fence claimed before any Enqueue (no cluster).
	Fenced bool `json:"fenced,omitempty"`
}

// createOwner records o for id unless a live record exists, which it
// returns instead (created false).
func (s *Store) createOwner(ctx context.Context, id string, o owner) (cur owner, created bool, err error) {
	b, err := json.Marshal(o)
	if err != nil {
		return owner{}, false, fmt.Errorf("encode owner: %w", err)
	}
	ttl := seconds(time.Until(o.Until))
	for range 3 {
		_, err := s.owners.Create(ctx, id, b, jetstream.KeyTTL(ttl))
		if err == nil {
			return o, true, nil
		}
		if !errors.Is(err, jetstream.ErrKeyExists) {
			return owner{}, false, err
		}
		e, err := s.owners.Get(ctx, id)
		if errors.Is(err, jetstream.ErrKeyNotFound) {
			continue // it expired meanwhile
		}
		if err != nil {
			return owner{}, false, err
		}
		if err := json.Unmarshal(e.Value(), &cur); err != nil {
			return owner{}, false, fmt.Errorf("decode owner of %s: %w", id, err)
		}
		if time.Now().Before(cur.Until) {
			return cur, false, nil
		}
		// Past its exact time, not yet past its whole-second TTL.
		if err := s.cas(ctx, s.owners, id, b, e.Revision(), ttl); err == nil {
			return o, true, nil
		} else if !conflict(err) {
			return owner{}, false, err
		}
	}
	return owner{}, false, fmt.Errorf("owner of %s kept changing", id)
}

// putOwner writes o under a command id until o.Until.
func (s *Store) putOwner(ctx context.Context, id string, o owner) error {
	b, err := json.Marshal(o)
	if err != nil {
		return fmt.Errorf("encode owner: %w", err)
	}
	return s.put(ctx, s.owners, id, b, seconds(time.Until(o.Until)))
}

// getOwner reads a command's owner record.
func (s *Store) getOwner(ctx context.Context, id string) (owner, error) {
	var o owner
	e, err := s.owners.Get(ctx, id)
	if err != nil {
		return o, err
	}
	if err := json.Unmarshal(e.Value(), &o); err != nil {
		return o, fmt.Errorf("decode owner of %s: %w", id, err)
	}
	return o, nil
}

// Enqueue implements store.Bridge: Reserve, then Append.
func (s *Store) Enqueue(ctx context.Context, cmd contracts.Command) error {
	if err := s.Reserve(ctx, cmd); err != nil {
		return err
	}
	return s.Append(ctx, cmd)
}

// Reserve implements store.Reserver: it creates the owner record.
func (s *Store) Reserve(ctx context.Context, cmd contracts.Command) error {
	if err := check.Command(cmd); err != nil {
		return err
	}
	if err := s.ready(); err != nil {
		return err
	}
	// The owner first: a command an executor can claim must be
	// attributable when its result comes back.
	until := cmd.Deadline.Add(s.grace)
	if !until.After(time.Now()) {
		return nil
	}
	cur, created, err := s.createOwner(ctx, cmd.ID, owner{Cluster: cmd.Cluster, Until: until.UTC()})
	if err != nil {
		return fail("enqueue", err)
	}
	if !created && (cur.Fenced || cur.Cluster != cmd.Cluster) {
		return fmt.Errorf("%w: command id %s is fenced or was issued to another cluster", store.ErrConflict, cmd.ID)
	}
	return nil
}

// Append implements store.Reserver: it publishes the command to the
// bridge stream.
func (s *Store) Append(ctx context.Context, cmd contracts.Command) error {
	if err := check.Command(cmd); err != nil {
		return err
	}
	if err := s.ready(); err != nil {
		return err
	}
	b, err := json.Marshal(cmd)
	if err != nil {
		return fmt.Errorf("jsstore: encode command: %w", err)
	}
	msg := &nats.Msg{Subject: s.subject + "." + cmd.Cluster, Data: b}
	// The message ID makes a retried Enqueue of the same command a no-op
	// (within the stream's 2m duplicate window).
	if _, err := s.js.PublishMsg(ctx, msg, jetstream.WithMsgID(cmd.ID), jetstream.WithMsgTTL(seconds(time.Until(cmd.Deadline)))); err != nil {
		return fail("enqueue", err)
	}
	return nil
}

// consumer returns the cluster's durable pull consumer, creating it on
// first use.
func (s *Store) consumer(ctx context.Context, cluster string) (jetstream.Consumer, error) {
	s.mu.Lock()
	c, ok := s.consumers[cluster]
	s.mu.Unlock()
	if ok {
		return c, nil
	}
	c, err := s.js.CreateOrUpdateConsumer(ctx, s.bridge, jetstream.ConsumerConfig{
		Durable:       cluster,
		Description:   "Kubently executors of cluster " + cluster,
		FilterSubject: s.subject + "." + cluster,
		DeliverPolicy: jetstream.DeliverAllPolicy,
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       s.visibility,
	})
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	s.consumers[cluster] = c
	s.mu.Unlock()
	return c, nil
}

func (s *Store) forgetConsumer(cluster string) {
	s.mu.Lock()
	delete(s.consumers, cluster)
	s.mu.Unlock()
}

// Claim implements store.Bridge. All claimers of a cluster share its one
// durable consumer; consumer is only checked.
func (s *Store) Claim(ctx context.Context, cluster, consumer string, max int) ([]contracts.Command, error) {
	if err := check.Cluster(cluster); err != nil {
		return nil, err
	}
	if err := check.Token("consumer", consumer); err != nil {
		return nil, err
	}
	if err := check.Max(max); err != nil {
		return nil, err
	}
	if err := s.ready(); err != nil {
		return nil, err
	}
	out := make([]contracts.Command, 0, min(max, 64))
	recreated, retries := false, 0
	// backoff waits before a retry; false when retries or ctx ran out.
	backoff := func() bool {
		if retries >= claimRetries {
			return false
		}
		retries++
		select {
		case <-ctx.Done():
			return false
		case <-time.After(time.Millisecond << (retries - 1)):
			return true
		}
	}
	for len(out) < max {
		want := max - len(out)
		n, cmds, err := s.fetch(ctx, cluster, want)
		out = append(out, cmds...)
		switch {
		case err == nil:
		case !recreated && (errors.Is(err, jetstream.ErrConsumerNotFound) || errors.Is(err, jetstream.ErrConsumerDeleted)):
			// Deleted behind our back (or the stream was recreated).
			s.forgetConsumer(cluster)
			recreated = true
			continue
		case errors.Is(err, nats.ErrNoResponders) && backoff():
			// The consumer was just created by another process and is not
			// listening yet.
			continue
		case len(out) > 0:
			// What was acknowledged is ours; the rest stays queued.
			return out, nil
		default:
			return out, fail("claim", err)
		}
		if n == want {
			continue
		}
		// A short batch. The consumer learns of new messages
		// asynchronously, so a command enqueued a moment ago may not be
		// fetchable yet: retry briefly while the stream holds commands
		// that no one has been handed.
		more, err := s.undelivered(ctx, cluster)
		if err != nil {
			if len(out) > 0 {
				return out, nil
			}
			return out, fail("claim", err)
		}
		if !more || !backoff() {
			break
		}
	}
	return out, nil
}

// undelivered reports whether the cluster's queue holds commands that
// have not been handed to any claimer.
func (s *Store) undelivered(ctx context.Context, cluster string) (bool, error) {
	subj := s.subject + "." + cluster
	si, err := s.stream.Info(ctx, jetstream.WithSubjectFilter(subj))
	if err != nil {
		return false, fmt.Errorf("stream info: %w", err)
	}
	queued := si.State.Subjects[subj]
	if queued == 0 {
		return false, nil
	}
	cons, err := s.consumer(ctx, cluster)
	if err != nil {
		return false, fmt.Errorf("consumer: %w", err)
	}
	ci, err := cons.Info(ctx)
	if err != nil {
		return false, fmt.Errorf("consumer info: %w", err)
	}
	return queued > uint64(ci.NumAckPending), nil
}

// fetch takes up to want messages without waiting and leases them: each
// stays unacknowledged (redelivered after the consumer's AckWait) and its
// ack subject is recorded with its owner, so Ack, on any process, can
// acknowledge it. n counts every message received, returned or dropped.
func (s *Store) fetch(ctx context.Context, cluster string, want int) (n int, out []contracts.Command, err error) {
	cons, err := s.consumer(ctx, cluster)
	if err != nil {
		return 0, nil, fmt.Errorf("consumer: %w", err)
	}
	batch, err := cons.FetchNoWait(want)
	if err != nil {
		return 0, nil, fmt.Errorf("fetch: %w", err)
	}
	var leaseErr error
	for {
		var msg jetstream.Msg
		var ok bool
		select {
		case msg, ok = <-batch.Messages():
		case <-ctx.Done():
			// Unreturned messages are delivered again after AckWait.
			return n, out, ctx.Err()
		}
		if !ok {
			break
		}
		n++
		var cmd contracts.Command
		if err := json.Unmarshal(msg.Data(), &cmd); err != nil || cmd.Expired(time.Now()) {
			_ = msg.Ack() // dropped: remove it, no need to wait
			continue
		}
		if err := s.lease(ctx, cmd, msg.Reply()); err != nil {
			// Not returned: an executor could not acknowledge it. Hand it
			// out again at once.
			_ = msg.Nak()
			leaseErr = fmt.Errorf("lease: %w", err)
			continue
		}
		out = append(out, cmd)
	}
	if err := batch.Error(); err != nil {
		return n, out, fmt.Errorf("fetch: %w", err)
	}
	return n, out, leaseErr
}

// lease records the ack subject of cmd's delivery with its owner.
func (s *Store) lease(ctx context.Context, cmd contracts.Command, reply string) error {
	if reply == "" {
		return errors.New("message has no ack subject")
	}
	return s.putOwner(ctx, cmd.ID, owner{Cluster: cmd.Cluster, Until: cmd.Deadline.Add(s.grace).UTC(), Lease: reply})
}

// Ack implements store.Bridge: each command's latest delivery is
// acknowledged (a double ack, confirmed by the server) through the ack
// subject Claim recorded, and the record is cleared so a repeated Ack is
// a no-op. A command not claimed yet is ignored.
func (s *Store) Ack(ctx context.Context, cluster string, commandIDs []string) (int, error) {
	if err := check.Cluster(cluster); err != nil {
		return 0, err
	}
	if err := check.CommandIDs(commandIDs); err != nil {
		return 0, err
	}
	if err := s.ready(); err != nil {
		return 0, err
	}
	n := 0
	for _, id := range commandIDs {
		o, err := s.getOwner(ctx, id)
		if errors.Is(err, jetstream.ErrKeyNotFound) {
			continue
		}
		if err != nil {
			return n, fail("ack", err)
		}
		if o.Cluster != cluster || o.Lease == "" || !time.Now().Before(o.Until) {
			continue
		}
		if _, err := s.nc.RequestWithContext(ctx, o.Lease, []byte("+ACK")); err != nil {
			return n, fail("ack", err)
		}
		o.Lease = ""
		if err := s.putOwner(ctx, id, o); err != nil {
			return n, fail("ack", err)
		}
		n++
	}
	return n, nil
}

// Depth implements store.Bridge: the number of messages the bridge stream
// holds on the cluster's subject (one stream info request filtered to that
// literal subject). The stream is a work queue, so a claimed (acknowledged)
// command is gone from it; one handed to a claimer whose acknowledgement
// failed stays, and is counted, until it is delivered again and claimed.
// Commands past their deadline leave with their message TTL. It reads the
// stream, not the cluster's consumer, so it creates no consumer and counts
// commands queued before any executor connected.
func (s *Store) Depth(ctx context.Context, cluster string) (int, error) {
	if err := check.Cluster(cluster); err != nil {
		return 0, err
	}
	if err := s.ready(); err != nil {
		return 0, err
	}
	subj := s.subject + "." + cluster
	si, err := s.stream.Info(ctx, jetstream.WithSubjectFilter(subj))
	if err != nil {
		return 0, fail("depth", err)
	}
	return int(si.State.Subjects[subj]), nil
}

// Queues implements store.Bridge with one stream info request filtered
// to every cluster's subject (paged by the server for many subjects), so
// its cost follows the clusters whose queue holds commands, not
// len(clusters). Depth is as Depth counts it. Every queue that is not
// empty is Claimable: the consumer does not tell a lease that ran out
// from one that runs, so a queue whose commands are all leased is too
// (its Claim returns nothing until a lease runs out or the executor
// acks).
func (s *Store) Queues(ctx context.Context, clusters []string) ([]store.QueueState, error) {
	for _, c := range clusters {
		if err := check.Cluster(c); err != nil {
			return nil, err
		}
	}
	if len(clusters) == 0 {
		return nil, nil
	}
	if err := s.ready(); err != nil {
		return nil, err
	}
	si, err := s.stream.Info(ctx, jetstream.WithSubjectFilter(s.subject+".>"))
	if err != nil {
		return nil, fail("queues", err)
	}
	var out []store.QueueState
	for _, c := range clusters {
		if n := si.State.Subjects[s.subject+"."+c]; n > 0 {
			out = append(out, store.QueueState{Cluster: c, Depth: int(n), Claimable: true})
		}
	}
	return out, nil
}

// IndexedQueues implements store.Bridge: Queues, whose one stream info
// request already lists only the subjects that hold messages.
func (s *Store) IndexedQueues(ctx context.Context, clusters []string) ([]store.QueueState, error) {
	return s.Queues(ctx, clusters)
}

var _ store.Reserver = (*Store)(nil)
