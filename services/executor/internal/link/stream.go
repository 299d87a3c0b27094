package link

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"time"

	"kubently.io/libs/contracts"
	"kubently.io/libs/logging"
	"kubently.io/libs/sse"
)

// Run holds the stream until ctx ends or the token is rejected, calling
// onCommand for every command event.
func (c *Client) Run(ctx context.Context, onCommand func(contracts.Command)) error {
	actx, stopAcks := context.WithCancel(ctx)
	acksDone := make(chan struct{})
	go func() {
		defer close(acksDone)
		c.ackLoop(actx)
	}()
	defer func() {
		stopAcks()
		<-acksDone
	}()
	attempt := 0
	for ctx.Err() == nil {
		start := time.Now()
		err := c.stream(ctx, onCommand)
		if errors.Is(err, ErrUnauthorized) {
			c.cfg.Log.Error("executor token rejected; not retrying", logging.KeyCluster, c.cfg.Cluster, logging.KeyErr, err)
			return err
		}
		if ctx.Err() != nil {
			break
		}
		if time.Since(start) > c.cfg.MaxBackoff {
			attempt = 0 // a long-lived stream resets the backoff
		}
		delay := sse.Backoff(attempt, c.cfg.MinBackoff, c.cfg.MaxBackoff)
		attempt++
		c.reconnects.Inc()
		c.cfg.Log.Warn("stream ended; reconnecting", logging.KeyErr, err, "in", delay.Round(time.Millisecond), "attempt", attempt)
		t := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			t.Stop()
		case <-t.C:
		}
	}
	return ctx.Err()
}

// stream runs one connection.
func (c *Client) stream(ctx context.Context, onCommand func(contracts.Command)) error {
	sctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	req, err := http.NewRequestWithContext(sctx, http.MethodGet, c.base.JoinPath(contracts.PathExecutorStream).String(), nil)
	if err != nil {
		return err
	}
	c.connID.Store("")
	c.authorize(req)
	req.Header.Set("Accept", "text/event-stream")
	req.Header.Set(contracts.HeaderExecutorHeartbeats, "1")
	if last, _ := c.lastEvent.Load().(string); last != "" {
		req.Header.Set(contracts.HeaderLastEventID, last)
	}
	resp, err := c.cfg.HTTP.Do(req)
	if err != nil {
		return fmt.Errorf("connect: %w", err)
	}
	defer func() { _ = resp.Body.Close() }()
	if resp.StatusCode == http.StatusUnauthorized {
		return ErrUnauthorized
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("connect: gateway answered %s: %s", resp.Status, readSnippet(resp.Body))
	}

	stale := c.cfg.StaleAfter
	if stale <= 0 {
		stale = 15 * time.Second
	}
	var lastRead atomic.Int64
	lastRead.Store(time.Now().UnixNano())
	var staleNanos atomic.Int64
	staleNanos.Store(int64(stale))
	go func() {
		t := time.NewTicker(250 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-sctx.Done():
				return
			case <-t.C:
				if time.Since(time.Unix(0, lastRead.Load())) > time.Duration(staleNanos.Load()) {
					cancel(ErrStale)
					return
				}
			}
		}
	}()

	c.setConnected(true)
	defer c.setConnected(false)
	defer c.connID.Store("")
	beating := false
	r := sse.NewReader(resp.Body, maxEventBytes)
	for {
		ev, err := r.Next()
		if err != nil {
			cause := context.Cause(sctx)
			if errors.Is(cause, ErrStale) {
				// Whatever black-holed the stream may hold the idle
				// connections of acks and results too.
				c.cfg.HTTP.CloseIdleConnections()
				return ErrStale
			}
			if errors.Is(cause, ErrStreamUnknown) {
				return ErrStreamUnknown
			}
			return fmt.Errorf("read: %w", err)
		}
		lastRead.Store(time.Now().UnixNano())
		if ev.Comment {
			continue
		}
		if ev.ID != "" {
			c.lastEvent.Store(ev.ID)
		}
		switch ev.Name {
		case contracts.EventConnected:
			var hello contracts.ConnectedEvent
			ok := json.Unmarshal([]byte(ev.Data), &hello) == nil
			if ok && c.cfg.StaleAfter <= 0 && hello.IntervalMS > 0 {
				staleNanos.Store(int64(3 * time.Duration(hello.IntervalMS) * time.Millisecond))
			}
			c.cfg.Log.Info("connected to gateway", logging.KeyCluster, c.cfg.Cluster, "conn_id", hello.ConnID, "gateway", hello.Gateway, "instance", c.instance)
			if ok && contracts.ValidateConnID(hello.ConnID) == nil {
				c.connID.Store(hello.ConnID)
				// A gateway that asks for heartbeats gets them, one
				// goroutine per stream, ending with it.
				if hello.ContactIntervalMS > 0 && !beating {
					beating = true
					interval := max(time.Duration(hello.ContactIntervalMS)*time.Millisecond, 100*time.Millisecond)
					go c.contactLoop(sctx, cancel, interval, contracts.ExecutorHeartbeat{ConnID: hello.ConnID, Gateway: hello.Gateway})
				}
			}
		case contracts.EventHeartbeat:
			var hb contracts.HeartbeatEvent
			if json.Unmarshal([]byte(ev.Data), &hb) == nil && c.cfg.StaleAfter <= 0 && hb.IntervalMS > 0 {
				staleNanos.Store(int64(3 * time.Duration(hb.IntervalMS) * time.Millisecond))
			}
		case contracts.EventCommand:
			var cmd contracts.Command
			if err := json.Unmarshal([]byte(ev.Data), &cmd); err != nil || cmd.ID == "" {
				c.cfg.Log.Warn("malformed command event ignored", "event_id", ev.ID)
			} else {
				// The receipt: logged (synchronously) before the command
				// is handed on to run, so a process killed while running
				// it still shows it arrived.
				c.cfg.Log.Info("command received", logging.KeyCommandID, cmd.ID, "instance", c.instance)
				c.receivedCommand(cmd, onCommand)
			}
		}
	}
}

func readSnippet(r io.Reader) string {
	b, _ := io.ReadAll(io.LimitReader(r, 512))
	return strings.TrimSpace(string(b))
}
