package link

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"kubently.io/libs/contracts"
	"kubently.io/libs/logging"
)

// contactLoop posts the executor heartbeat hb (a contact) every interval until ctx (the stream's) ends. A
// 404 unknown_stream ends the stream through endStream; other failures
// are logged and the next beat tries again (the gateway tolerates missed
// beats up to its contact timeout).
func (c *Client) contactLoop(ctx context.Context, endStream context.CancelCauseFunc, interval time.Duration, hb contracts.ExecutorHeartbeat) {
	body, err := json.Marshal(hb)
	if err != nil {
		return
	}
	tick, stop := c.ticker(interval)
	defer stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick:
		}
		// One beat may take up to an interval: a beat stuck on a dead
		// connection does not delay the next.
		bctx, cancel := context.WithTimeout(ctx, interval)
		err := c.postHeartbeat(bctx, body)
		cancel()
		switch {
		case err == nil:
		case errors.Is(err, ErrStreamUnknown):
			c.cfg.Log.Warn("gateway no longer holds the stream; reconnecting", "conn_id", hb.ConnID, "gateway", hb.Gateway)
			endStream(err)
			return
		case ctx.Err() != nil:
			return
		default:
			c.cfg.Log.Warn("heartbeat failed", "conn_id", hb.ConnID, logging.KeyErr, err)
		}
	}
}

// ticker returns the heartbeat loop's ticks every d and the func that
// stops them: a time.Ticker, unless a test drives the beats itself
// (Client.beatTicker).
func (c *Client) ticker(d time.Duration) (<-chan time.Time, func()) {
	if c.beatTicker != nil {
		return c.beatTicker(d)
	}
	t := time.NewTicker(d)
	return t.C, t.Stop
}

// postHeartbeat posts one heartbeat: nil when counted, ErrStreamUnknown
// on 404 unknown_stream, ErrUnauthorized on 401, else an error.
func (c *Client) postHeartbeat(ctx context.Context, body []byte) error {
	resp, err := c.send(ctx, contracts.PathExecutorHeartbeat, body)
	if err != nil {
		return err
	}
	defer func() { _ = resp.Body.Close() }()
	switch resp.StatusCode {
	case http.StatusOK:
		_, _ = io.Copy(io.Discard, resp.Body)
		return nil
	case http.StatusUnauthorized:
		return ErrUnauthorized
	case http.StatusNotFound:
		var e contracts.Error
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<10))
		if json.Unmarshal(b, &e) == nil && e.Reason == contracts.ReasonUnknownStream {
			return ErrStreamUnknown
		}
		// A 404 without the reason (a gateway without the route, in a
		// rolling upgrade) says nothing about the stream.
		return fmt.Errorf("gateway answered %s: %s", resp.Status, strings.TrimSpace(string(b)))
	default:
		return fmt.Errorf("gateway answered %s: %s", resp.Status, readSnippet(resp.Body))
	}
}
