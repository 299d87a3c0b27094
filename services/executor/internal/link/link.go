// Package link is the executor's side of the dial-out connection: it holds
// the SSE stream from the gateway (reconnecting with capped, jittered
// exponential backoff; dropping a stream that misses heartbeats; stopping
// for good on 401) and posts results back with retries.
//
// Every command event is acknowledged (POST /v1/executor/ack, batched)
// right after onCommand returns, that is once the command is queued and
// before it runs: the gateway sends an unacknowledged command to another
// executor after its visibility timeout. Acks are retried briefly; one
// that is lost only risks a redelivery, which the worker deduplicates on
// this executor. A reconnecting stream sends the last event id seen
// (Last-Event-ID).
//
// Dead links are noticed in both directions. The executor drops a stream
// that received nothing for 3 heartbeat intervals (ErrStale). It also
// announces heartbeats (contracts.HeaderExecutorHeartbeats); a gateway
// that supports them answers with contact_interval_ms in the `connected`
// event, and the executor then posts POST /v1/executor/heartbeat at that
// interval (and names the stream's conn id on its acks and results), so
// the gateway can close a stream whose executor is gone. A heartbeat
// answered 404 unknown_stream ends the stream (ErrStreamUnknown): the
// gateway no longer holds it. A post that times out, and a stale stream,
// close the client's idle connections, which may be black-holed too.
//
// Trace context arrives inside each command (contracts.Command.TraceParent,
// decoded with the rest of the event) and is picked up by the worker that
// runs it. PostResult runs under an "executor.post_result" span and sends
// its context in the POST's traceparent header, so the gateway can
// continue the trace.
//
// With Config.Registerer set, the client exports kubently_executor_connected
// (1 while a stream is open) and kubently_executor_reconnects_total.
//
// # Usage
//
//	c, _ := link.New(link.Config{APIURL: u, Cluster: id, Token: tok, Log: log})
//	err := c.Run(ctx, func(cmd contracts.Command) { pool.Submit(cmd) })
//	// err is ErrUnauthorized, or ctx's error on shutdown.
//
// # Concurrency
//
// Run must be called once; PostResult may be called from many goroutines at
// once, also while Run reconnects. The onCommand callback runs on Run's
// goroutine and must not block for long.
package link

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"kubently.io/libs/contracts"
	"kubently.io/libs/logging"
	"kubently.io/libs/telemetry"
)

// Sentinel errors.
var (
	// ErrUnauthorized: the gateway rejected the executor's token. Retrying
	// cannot help; the operator must fix the token.
	ErrUnauthorized = errors.New("link: gateway rejected the executor token (401): check KUBENTLY_TOKEN and CLUSTER_ID")
	// ErrRejected: the gateway refused a result for good (unknown, expired
	// or not awaited command, or wrong cluster).
	ErrRejected = errors.New("link: result rejected")
	// ErrStale: the stream missed its heartbeats and was dropped.
	ErrStale = errors.New("link: stream stale (missed heartbeats)")
	// ErrStreamUnknown: the gateway answered a heartbeat saying no replica
	// holds the stream any more, so it was dropped.
	ErrStreamUnknown = errors.New("link: the gateway no longer holds the stream")
)

// Ack batching: at most ackBatch ids per POST; at most ackQueue ids wait
// (beyond that an id is dropped and the command may be redelivered); an
// ack is retried until ackGiveUp after it was first tried.
const (
	ackBatch  = 64
	ackQueue  = 1024
	ackGiveUp = 5 * time.Second
	// ackFirstTimeout bounds an ack's first attempt; each retry doubles it
	// (up to ResultTimeout). Short, so that an ack stuck on a black-holed
	// connection is retried on a fresh one well within the gateway's
	// visibility timeout; growing, so that a slow link still gets through.
	ackFirstTimeout = time.Second
)

// maxEventBytes bounds one SSE line, so a broken gateway cannot make the
// executor buffer without limit.
const maxEventBytes = 4 << 20

// Config configures New.
type Config struct {
	// APIURL is the gateway's base URL, e.g. https://kubently.example.com.
	APIURL string
	// Cluster is this executor's cluster id.
	Cluster string
	// Token is the cluster's executor token. Never logged.
	Token string
	// ExecutorID identifies this process across reconnects.
	ExecutorID string
	// Version is sent to the gateway for presence.
	Version string
	// HTTP is the client for both the stream and results; nil means a
	// client with no overall timeout (the stream is long-lived) and
	// sensible dial/TLS timeouts.
	HTTP *http.Client
	// Log is the logger; required.
	Log *slog.Logger
	// MinBackoff and MaxBackoff bound the reconnect delay; zero means
	// 250ms and 30s.
	MinBackoff, MaxBackoff time.Duration
	// StaleAfter drops a stream that received nothing for this long; zero
	// means 3 × the heartbeat interval the gateway announces (15s before
	// it announces one).
	StaleAfter time.Duration
	// ResultTimeout bounds one result POST; zero means 10s.
	ResultTimeout time.Duration
	// Registerer receives the link's metrics (kubently_executor_connected,
	// kubently_executor_reconnects_total); nil registers none.
	Registerer prometheus.Registerer
}

// Client is the executor's link to the gateway.
type Client struct {
	cfg       Config
	base      *url.URL
	lastEvent atomic.Value // string
	connected atomic.Bool
	// connID is the conn_id of the current stream ("" between streams),
	// sent as X-Executor-Conn-ID on acks and results.
	connID atomic.Value // string
	// acks holds the ids of received commands waiting to be acknowledged.
	acks chan string

	// upGauge is 1 while a stream is open; reconnects counts the
	// attempts to open one again.
	upGauge    prometheus.Gauge
	reconnects prometheus.Counter
}

// New validates cfg and returns a Client.
func New(cfg Config) (*Client, error) {
	if cfg.Log == nil {
		return nil, errors.New("link: Log is required")
	}
	u, err := url.Parse(strings.TrimRight(cfg.APIURL, "/"))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("link: KUBENTLY_API_URL %q is not an http(s) URL", cfg.APIURL)
	}
	if err := contracts.ValidateID("cluster", cfg.Cluster); err != nil {
		return nil, fmt.Errorf("link: %w", err)
	}
	if cfg.Token == "" {
		return nil, errors.New("link: executor token is empty")
	}
	if cfg.HTTP == nil {
		cfg.HTTP = &http.Client{Transport: http.DefaultTransport.(*http.Transport).Clone()}
	}
	if cfg.MinBackoff <= 0 {
		cfg.MinBackoff = 250 * time.Millisecond
	}
	if cfg.MaxBackoff <= 0 {
		cfg.MaxBackoff = 30 * time.Second
	}
	if cfg.ResultTimeout <= 0 {
		cfg.ResultTimeout = 10 * time.Second
	}
	c := &Client{cfg: cfg, base: u, acks: make(chan string, ackQueue),
		upGauge: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "kubently_executor_connected",
			Help: "1 while the executor's SSE stream from the gateway is open, else 0.",
		}),
		reconnects: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "kubently_executor_reconnects_total",
			Help: "Reconnect attempts: streams to the gateway that ended, or could not be opened, and are retried after a backoff.",
		}),
	}
	c.lastEvent.Store("")
	c.connID.Store("")
	if cfg.Registerer != nil {
		if err := cfg.Registerer.Register(c.upGauge); err != nil {
			return nil, fmt.Errorf("link: register metrics: %w", err)
		}
		if err := cfg.Registerer.Register(c.reconnects); err != nil {
			cfg.Registerer.Unregister(c.upGauge)
			return nil, fmt.Errorf("link: register metrics: %w", err)
		}
	}
	return c, nil
}

// Connected reports whether a stream is open right now.
func (c *Client) Connected() bool { return c.connected.Load() }

// setConnected records whether a stream is open, for Connected and the
// kubently_executor_connected gauge.
func (c *Client) setConnected(up bool) {
	c.connected.Store(up)
	if up {
		c.upGauge.Set(1)
	} else {
		c.upGauge.Set(0)
	}
}

func (c *Client) authorize(r *http.Request) {
	r.Header.Set("Authorization", "Bearer "+c.cfg.Token)
	r.Header.Set(contracts.HeaderClusterID, c.cfg.Cluster)
	if c.cfg.ExecutorID != "" {
		r.Header.Set(contracts.HeaderExecutorID, c.cfg.ExecutorID)
	}
	if c.cfg.Version != "" {
		r.Header.Set(contracts.HeaderExecutorVersion, c.cfg.Version)
	}
	if id, _ := c.connID.Load().(string); id != "" {
		r.Header.Set(contracts.HeaderExecutorConnID, id)
	}
}

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
		delay := Backoff(attempt, c.cfg.MinBackoff, c.cfg.MaxBackoff)
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

// Backoff returns the delay before reconnect attempt n (0-based): "full
// jitter" — uniform in [min, min(max, min·2ⁿ)].
func Backoff(n int, lo, hi time.Duration) time.Duration {
	ceil := lo
	for i := 0; i < n && ceil < hi; i++ {
		ceil *= 2
	}
	ceil = min(ceil, hi)
	if ceil <= lo {
		return lo
	}
	return lo + rand.N(ceil-lo)
}

// stream runs one connection.
func (c *Client) stream(ctx context.Context, onCommand func(contracts.Command)) error {
	sctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	req, err := http.NewRequestWithContext(sctx, http.MethodGet, c.base.JoinPath("/v1/executor/stream").String(), nil)
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
	r := bufio.NewReaderSize(resp.Body, 64<<10)
	var ev event
	for {
		line, err := readLine(r)
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
		if line != "" {
			ev.add(line)
			continue
		}
		// Blank line: dispatch the event.
		if ev.id != "" {
			c.lastEvent.Store(ev.id)
		}
		switch ev.name {
		case "connected", "heartbeat":
			var hb struct {
				IntervalMS  int64 `json:"interval_ms"`
				HeartbeatMS int64 `json:"heartbeat_interval_ms"`
				// connected only:
				ConnID            string `json:"conn_id"`
				Gateway           string `json:"gateway"`
				ContactIntervalMS int64  `json:"contact_interval_ms"`
			}
			ok := json.Unmarshal([]byte(ev.data), &hb) == nil
			if ok && c.cfg.StaleAfter <= 0 {
				if ms := max(hb.IntervalMS, hb.HeartbeatMS); ms > 0 {
					staleNanos.Store(int64(3 * time.Duration(ms) * time.Millisecond))
				}
			}
			if ev.name == "connected" {
				c.cfg.Log.Info("connected to gateway", logging.KeyCluster, c.cfg.Cluster, "conn_id", hb.ConnID, "gateway", hb.Gateway)
				if ok && contracts.ValidateConnID(hb.ConnID) == nil {
					c.connID.Store(hb.ConnID)
					// A gateway that asks for heartbeats gets them, one
					// goroutine per stream, ending with it.
					if hb.ContactIntervalMS > 0 && !beating {
						beating = true
						interval := max(time.Duration(hb.ContactIntervalMS)*time.Millisecond, 100*time.Millisecond)
						go c.heartbeatLoop(sctx, cancel, interval, contracts.ExecutorHeartbeat{ConnID: hb.ConnID, Gateway: hb.Gateway})
					}
				}
			}
		case "command":
			var cmd contracts.Command
			if err := json.Unmarshal([]byte(ev.data), &cmd); err != nil || cmd.ID == "" {
				c.cfg.Log.Warn("malformed command event ignored", "event_id", ev.id)
			} else {
				onCommand(cmd)
				c.queueAck(cmd.ID)
			}
		}
		ev = event{}
	}
}

type event struct {
	id, name string
	data     string
}

func (e *event) add(line string) {
	if strings.HasPrefix(line, ":") {
		return // comment
	}
	field, value, _ := strings.Cut(line, ":")
	value = strings.TrimPrefix(value, " ")
	switch field {
	case "id":
		e.id = value
	case "event":
		e.name = value
	case "data":
		if e.data != "" {
			e.data += "\n"
		}
		e.data += value
	}
}

// readLine reads one line (without the line ending), bounded.
func readLine(r *bufio.Reader) (string, error) {
	var buf []byte
	for {
		chunk, isPrefix, err := r.ReadLine()
		if err != nil {
			return "", err
		}
		buf = append(buf, chunk...)
		if len(buf) > maxEventBytes {
			return "", fmt.Errorf("event line longer than %d bytes", maxEventBytes)
		}
		if !isPrefix {
			return string(buf), nil
		}
	}
}

func readSnippet(r io.Reader) string {
	b, _ := io.ReadAll(io.LimitReader(r, 512))
	return strings.TrimSpace(string(b))
}

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
		err := c.post(actx, "/v1/executor/ack", body)
		cancel()
		timeout = min(2*timeout, c.cfg.ResultTimeout)
		if err == nil {
			c.cfg.Log.Debug("commands acknowledged", "count", len(ids))
			return
		}
		delay := Backoff(attempt, 50*time.Millisecond, time.Second)
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

// PostResult posts a result, retrying transient failures (network errors,
// 429 and 5xx) with backoff until it is accepted or giveUp passes. A result
// the gateway refuses for good returns ErrRejected; a 401 ErrUnauthorized.
//
// The POSTs carry the trace context of an "executor.post_result" span, a
// child of the span in ctx (the worker's executor.run).
func (c *Client) PostResult(ctx context.Context, res contracts.ExecutorResult, giveUp time.Time) (err error) {
	body, err := json.Marshal(res)
	if err != nil {
		return err
	}
	ctx, span := otel.Tracer(telemetry.ScopeName).Start(ctx, telemetry.SpanExecutorPostResult,
		trace.WithSpanKind(trace.SpanKindClient), trace.WithAttributes(
			telemetry.AttrCluster.String(c.cfg.Cluster), telemetry.AttrCommandID.String(res.CommandID),
			telemetry.AttrStatus.String(string(res.Status))))
	attempts := 0
	defer func() {
		span.SetAttributes(telemetry.AttrAttempts.Int(attempts))
		if err != nil {
			span.SetStatus(codes.Error, err.Error())
		}
		span.End()
	}()
	for attempt := 0; ; attempt++ {
		attempts++
		err := c.postOnce(ctx, body)
		if err == nil || errors.Is(err, ErrRejected) || errors.Is(err, ErrUnauthorized) {
			return err
		}
		delay := Backoff(attempt, 100*time.Millisecond, 5*time.Second)
		if time.Now().Add(delay).After(giveUp) {
			return fmt.Errorf("link: giving up on result %s: %w", res.CommandID, err)
		}
		c.cfg.Log.Warn("result post failed; retrying", logging.KeyCommandID, res.CommandID, logging.KeyErr, err, "in", delay.Round(time.Millisecond))
		t := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
	}
}

func (c *Client) postOnce(ctx context.Context, body []byte) error {
	return c.post(ctx, "/v1/executor/results", body)
}

// post sends one executor POST (results or ack) and maps its answer.
func (c *Client) post(ctx context.Context, path string, body []byte) error {
	resp, err := c.send(ctx, path, body)
	if err != nil {
		return err
	}
	defer func() { _ = resp.Body.Close() }()
	switch {
	case resp.StatusCode == http.StatusOK:
		_, _ = io.Copy(io.Discard, resp.Body)
		return nil
	case resp.StatusCode == http.StatusUnauthorized:
		return ErrUnauthorized
	case resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode >= 500:
		return fmt.Errorf("gateway answered %s", resp.Status)
	default:
		return fmt.Errorf("%w: gateway answered %s: %s", ErrRejected, resp.Status, readSnippet(resp.Body))
	}
}

// send sends one executor POST within ResultTimeout (or ctx's earlier
// deadline). A POST that times out closes the client's idle connections:
// the path may black-hole them, and the retry should dial a fresh one.
func (c *Client) send(ctx context.Context, path string, body []byte) (*http.Response, error) {
	ctx, cancel := context.WithTimeout(ctx, c.cfg.ResultTimeout)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.base.JoinPath(path).String(), bytes.NewReader(body))
	if err != nil {
		cancel()
		return nil, err
	}
	c.authorize(req)
	req.Header.Set("Content-Type", "application/json")
	telemetry.InjectHTTP(ctx, req.Header)
	resp, err := c.cfg.HTTP.Do(req)
	if err != nil {
		cancel()
		if errors.Is(err, context.DeadlineExceeded) {
			c.cfg.HTTP.CloseIdleConnections()
		}
		return nil, err
	}
	resp.Body = cancelOnClose{ReadCloser: resp.Body, cancel: cancel}
	return resp, nil
}

// cancelOnClose releases a request's context when its body is closed.
type cancelOnClose struct {
	io.ReadCloser
	cancel context.CancelFunc
}

func (b cancelOnClose) Close() error {
	err := b.ReadCloser.Close()
	b.cancel()
	return err
}

// heartbeatLoop posts hb every interval until ctx (the stream's) ends. A
// 404 unknown_stream ends the stream through endStream; other failures
// are logged and the next beat tries again (the gateway tolerates missed
// beats up to its contact timeout).
func (c *Client) heartbeatLoop(ctx context.Context, endStream context.CancelCauseFunc, interval time.Duration, hb contracts.ExecutorHeartbeat) {
	body, err := json.Marshal(hb)
	if err != nil {
		return
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
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

// postHeartbeat posts one heartbeat: nil when counted, ErrStreamUnknown
// on 404 unknown_stream, ErrUnauthorized on 401, else an error.
func (c *Client) postHeartbeat(ctx context.Context, body []byte) error {
	resp, err := c.send(ctx, "/v1/executor/heartbeat", body)
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
		if json.Unmarshal(b, &e) == nil && e.Reason == reasonUnknownStream {
			return ErrStreamUnknown
		}
		// A 404 without the reason (a gateway without the route, in a
		// rolling upgrade) says nothing about the stream.
		return fmt.Errorf("gateway answered %s: %s", resp.Status, strings.TrimSpace(string(b)))
	default:
		return fmt.Errorf("gateway answered %s: %s", resp.Status, readSnippet(resp.Body))
	}
}

// reasonUnknownStream is the reason of the gateway's 404 to a heartbeat
// for a stream no replica holds.
const reasonUnknownStream = "unknown_stream"
