package link

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"kubently.io/libs/contracts"
	"kubently.io/libs/logging"
	"kubently.io/libs/sse"
)

// queueAck schedules an ack of a received command without blocking.
func (c *Client) queueAck(id string) {
	select {
	case c.acks <- id:
	default:
		c.cfg.Log.Warn("ack queue full; command may be redelivered", logging.KeyCommandID, id)
	}
}

// ackLoop posts the queued acks in batches until ctx ends.
func (c *Client) ackLoop(ctx context.Context) {
	for {
		var ids []string
		select {
		case <-ctx.Done():
			return
		case id := <-c.acks:
			ids = append(ids, id)
		}
	more:
		for len(ids) < ackBatch {
			select {
			case id := <-c.acks:
				ids = append(ids, id)
			default:
				break more
			}
		}
		c.postAck(ctx, ids)
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
		err := c.post(actx, contracts.PathExecutorAck, body)
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
