package link

import (
	"context"
	"encoding/json"
	"errors"
	"sync"
	"time"

	"kubently.io/libs/contracts"
	"kubently.io/libs/logging"
	"kubently.io/libs/sse"
)

// deferredAck is a received command whose ack waits for its result.
type deferredAck struct {
	id string
	at time.Time // received
}

// deferredAcks holds the commands received and not acknowledged yet,
// waiting for AckDelay: a result post that acknowledges a command
// (contracts.ExecutorResultResponse.Acked) takes it out; the ack loop
// acks the rest once their delay is up.
type deferredAcks struct {
	mu sync.Mutex
	// at maps each waiting id to when it was received.
	at map[string]time.Time
	// order holds the waiting ids in arrival order; an entry whose id was
	// taken out (answered) or received again since is skipped.
	order []deferredAck
}

// add records id as received at now and reports whether it is the only
// one waiting (the ack loop then needs a timer). An id already waiting
// keeps its first time.
func (d *deferredAcks) add(id string, now time.Time) (first bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if _, ok := d.at[id]; ok {
		return false
	}
	d.at[id] = now
	d.order = append(d.order, deferredAck{id: id, at: now})
	return len(d.at) == 1
}

// answered takes id out: its result post acknowledged it.
func (d *deferredAcks) answered(id string) {
	d.mu.Lock()
	delete(d.at, id)
	d.mu.Unlock()
}

// due takes out and returns the ids received at or before cutoff, oldest
// first, and the receipt time of the oldest one left (zero if none).
func (d *deferredAcks) due(cutoff time.Time) (ids []string, next time.Time) {
	d.mu.Lock()
	defer d.mu.Unlock()
	i := 0
	for ; i < len(d.order); i++ {
		e := d.order[i]
		at, ok := d.at[e.id]
		if !ok || !at.Equal(e.at) {
			continue // answered, or waiting under a later entry
		}
		if e.at.After(cutoff) {
			next = e.at
			break
		}
		delete(d.at, e.id)
		ids = append(ids, e.id)
	}
	d.order = d.order[i:]
	if len(d.order) == 0 {
		d.order = nil // let a large backing array go
	}
	return ids, next
}

// receivedCommand hands cmd on to run (onCommand) and acknowledges it:
// at once when AckDelay is zero, else after AckDelay unless its result's
// post acknowledges it first. A deferred ack is registered before the
// command is handed on, since its result may come back before onCommand
// returns.
func (c *Client) receivedCommand(cmd contracts.Command, onCommand func(contracts.Command)) {
	if c.cfg.AckDelay <= 0 {
		onCommand(cmd)
		c.queueAck(cmd.ID)
		return
	}
	first := c.deferred.add(cmd.ID, c.now())
	onCommand(cmd)
	if first {
		select {
		case c.ackKick <- struct{}{}:
		default:
		}
	}
}

// resultAcked records that the post of id's result acknowledged it, so
// no separate ack is sent.
func (c *Client) resultAcked(id string) {
	if c.cfg.AckDelay > 0 {
		c.deferred.answered(id)
	}
}

// queueAck schedules an ack of a received command without blocking.
func (c *Client) queueAck(id string) {
	select {
	case c.acks <- id:
	default:
		c.cfg.Log.Warn("ack queue full; command may be redelivered", logging.KeyCommandID, id)
	}
}

// ackLoop posts acks until ctx ends: the ids queued for an ack at once,
// and the deferred ones whose delay is up. Deferred acks falling due
// within a quarter of the delay of each other go out together, so that
// under load one POST acks many commands.
func (c *Client) ackLoop(ctx context.Context) {
	var timer <-chan time.Time // set while deferred acks wait
	arm := func(next time.Time) {
		timer = nil
		if !next.IsZero() {
			timer = c.after(next.Add(c.cfg.AckDelay).Sub(c.now()))
		}
	}
	for {
		var ids []string
		select {
		case <-ctx.Done():
			return
		case <-c.ackKick:
			if timer == nil {
				_, next := c.deferred.due(time.Time{})
				arm(next)
			}
			continue
		case <-timer:
			var next time.Time
			ids, next = c.deferred.due(c.now().Add(c.cfg.AckDelay/4 - c.cfg.AckDelay))
			arm(next)
		case id := <-c.acks:
			ids = append(ids, id)
		}
	more:
		for {
			select {
			case id := <-c.acks:
				ids = append(ids, id)
			default:
				break more
			}
		}
		for len(ids) > 0 {
			n := min(len(ids), ackBatch)
			c.postAck(ctx, ids[:n])
			ids = ids[n:]
		}
	}
}

// postAck posts one ack, retrying transient failures until ackGiveUp.
func (c *Client) postAck(ctx context.Context, ids []string) {
	body, err := json.Marshal(contracts.ExecutorAck{CommandIDs: ids})
	if err != nil {
		return
	}
	giveUp := time.Now().Add(ackGiveUp)
	timeout := ackFirstTimeout
	for attempt := 0; ; attempt++ {
		actx, cancel := context.WithTimeout(ctx, timeout)
		err := c.post(actx, contracts.PathExecutorAck, body, nil)
		cancel()
		timeout = min(2*timeout, c.cfg.ResultTimeout)
		if err == nil {
			c.cfg.Log.Debug("commands acknowledged", "count", len(ids))
			return
		}
		delay := sse.Backoff(attempt, 50*time.Millisecond, time.Second)
		if errors.Is(err, ErrRejected) || errors.Is(err, ErrUnauthorized) || time.Now().Add(delay).After(giveUp) {
			c.cfg.Log.Warn("ack not delivered; commands may be redelivered", "count", len(ids), logging.KeyErr, err)
			return
		}
		t := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
	}
}
