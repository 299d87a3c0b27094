// Package link is the executor's side of the dial-out connection: it holds
// the SSE stream from the gateway (reconnecting with capped, jittered
// exponential backoff; dropping a stream that misses heartbeats; stopping
// for good on 401) and posts results back with retries.
//
// Every command event is acknowledged, since the gateway sends an
// unacknowledged command to another executor after its visibility
// timeout. A command's result post acknowledges it too, so the ack waits
// Config.AckDelay after onCommand returned: a command answered by then
// (and its post answered acked) needs no separate ack; the others get one
// (POST /v1/executor/ack, batched), which also makes this process the
// command's holder for the gateway's executor_lost answer. Acks are
// retried briefly; one that is lost only risks a redelivery, which the
// worker deduplicates on this executor. A reconnecting stream sends the
// last event id seen (Last-Event-ID).
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
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"kubently.io/libs/contracts"
	"kubently.io/libs/ops"
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
	// AckDelay is how long the ack of a received command waits for its
	// result, whose post acknowledges it too; zero acks every command as
	// soon as onCommand returned. Keep it far below the gateway's
	// visibility timeout: a command acknowledged by neither within that
	// timeout is sent again.
	AckDelay time.Duration
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
	// streams counts the streams opened (Streams).
	streams atomic.Uint64
	// connID is the conn_id of the current stream ("" between streams),
	// sent as X-Executor-Conn-ID on acks and results.
	connID atomic.Value // string
	// acks holds the ids of received commands to acknowledge now.
	acks chan string
	// deferred holds the received commands whose ack waits for AckDelay;
	// ackKick wakes the ack loop when the first one arrives.
	deferred deferredAcks
	ackKick  chan struct{}
	// now and after are the ack loop's clock (time.Now, time.After;
	// tests replace them before Run).
	now   func() time.Time
	after func(time.Duration) <-chan time.Time
	// instance identifies this run of the process (drawn in New), sent as
	// X-Executor-Instance on every request: the gateway records it as the
	// holder of the commands this process acknowledges.
	instance string

	// upGauge is 1 while a stream is open; reconnects counts the
	// attempts to open one again.
	upGauge    prometheus.Gauge
	reconnects prometheus.Counter

	// beatTicker, if set (by tests, before Run), makes the heartbeat
	// loop's ticker in place of time.NewTicker: a test delivers each beat
	// itself instead of counting beats against the wall clock.
	beatTicker func(d time.Duration) (<-chan time.Time, func())
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
	if cfg.AckDelay < 0 {
		cfg.AckDelay = 0
	}
	c := &Client{cfg: cfg, base: u, acks: make(chan string, ackQueue), instance: contracts.NewID(),
		deferred: deferredAcks{at: map[string]time.Time{}}, ackKick: make(chan struct{}, 1), now: time.Now, after: time.After,
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
	if err := ops.Register(cfg.Registerer, c.upGauge, c.reconnects); err != nil {
		return nil, fmt.Errorf("link: register metrics: %w", err)
	}
	return c, nil
}

// Instance returns this run's instance id (X-Executor-Instance).
func (c *Client) Instance() string { return c.instance }

// Connected reports whether a stream is open right now.
func (c *Client) Connected() bool { return c.connected.Load() }

// setConnected records whether a stream is open, for Connected and the
// kubently_executor_connected gauge.
func (c *Client) setConnected(up bool) {
	c.connected.Store(up)
	if up {
		c.streams.Add(1)
		c.upGauge.Set(1)
	} else {
		c.upGauge.Set(0)
	}
}

func (c *Client) authorize(r *http.Request) {
	r.Header.Set("Authorization", "Bearer "+c.cfg.Token)
	r.Header.Set(contracts.HeaderClusterID, c.cfg.Cluster)
	r.Header.Set(contracts.HeaderExecutorInstance, c.instance)
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

// Streams counts the streams opened so far: a caller that must tell every
// new stream's gateway something (the discovery summary) compares it.
func (c *Client) Streams() uint64 { return c.streams.Load() }
