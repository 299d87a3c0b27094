package client

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"sync/atomic"
	"time"

	"kubently.io/libs/audit"
	"kubently.io/libs/contracts"
	"kubently.io/libs/sse"
)

// Audit defaults.
const (
	// DefaultFollowMinBackoff and DefaultFollowMaxBackoff bound the delay
	// before FollowAudit reconnects a dropped stream.
	DefaultFollowMinBackoff = 500 * time.Millisecond
	DefaultFollowMaxBackoff = 30 * time.Second
	// DefaultFollowStaleAfter is how long FollowAudit waits without a
	// byte (record or ": ping") before it treats the stream as dead.
	DefaultFollowStaleAfter = 90 * time.Second
	// MaxSSELine bounds one line, and one record's data, of the audit
	// stream. A record is a few KiB at most (see audit.MaxArgs and
	// audit.MaxArgLen: 64 KiB of argv).
	MaxSSELine = 256 << 10
	// followSeen is how many recent record ids FollowAudit remembers to
	// drop the records a reconnect replays.
	followSeen = 16384
)

// ErrStreamStale reports an audit stream that sent nothing, not even a
// ping, for FollowOptions.StaleAfter.
var ErrStreamStale = errors.New("client: audit stream silent")

// AuditQuery selects audit records. Zero fields match anything; the
// gateway ANDs the others. Cursor and Limit apply to Audit only.
type AuditQuery struct {
	// Since selects records at or after it; zero: no lower bound.
	Since time.Time
	// Until selects records before it; zero: no upper bound.
	Until time.Time
	// Cluster selects one cluster (audit.NoCluster: records naming none).
	Cluster string
	// Identity selects one caller.
	Identity string
	// Outcome selects one outcome.
	Outcome audit.Outcome
	// Event selects one event.
	Event audit.Event
	// CommandID selects one command's records.
	CommandID string
	// Cursor continues a previous page (audit.Result.NextCursor); empty
	// starts at the beginning of the range.
	Cursor string
	// Limit is the page size; zero means the gateway's default.
	Limit int
}

func (q AuditQuery) values(paged bool) url.Values {
	v := url.Values{}
	set := func(k, s string) {
		if s != "" {
			v.Set(k, s)
		}
	}
	if !q.Since.IsZero() {
		v.Set("since", q.Since.UTC().Format(time.RFC3339Nano))
	}
	if !q.Until.IsZero() {
		v.Set("until", q.Until.UTC().Format(time.RFC3339Nano))
	}
	set("cluster", q.Cluster)
	set("identity", q.Identity)
	set("outcome", string(q.Outcome))
	set("event", string(q.Event))
	set("command_id", q.CommandID)
	if paged {
		set("cursor", q.Cursor)
		if q.Limit > 0 {
			v.Set("limit", strconv.Itoa(q.Limit))
		}
	}
	return v
}

// Audit reads one page of audit records. Rejected requests return an
// *APIError (errors.As also finds its *contracts.Error).
func (c *Client) Audit(ctx context.Context, q AuditQuery) (audit.Result, error) {
	var p audit.Result
	path := contracts.PathAudit
	if v := q.values(true); len(v) > 0 {
		path += "?" + v.Encode()
	}
	_, err := c.do(ctx, http.MethodGet, path, nil, &p, false)
	return p, err
}

// FollowOptions tune FollowAuditWith. Zero fields take the defaults.
type FollowOptions struct {
	// MinBackoff and MaxBackoff bound the reconnect delay (full jitter,
	// doubling per failed attempt); zero: DefaultFollowMinBackoff and
	// DefaultFollowMaxBackoff. A 429 or 503 Retry-After overrides them.
	MinBackoff, MaxBackoff time.Duration
	// StaleAfter drops a stream silent for this long; zero:
	// DefaultFollowStaleAfter.
	StaleAfter time.Duration
	// Skip holds ids of records the caller already has (from a backlog
	// query); those records are not delivered again. Nil: none.
	Skip []string
	// OnReconnect, if set, is called before each reconnect with why the
	// stream ended and how long FollowAuditWith waits.
	OnReconnect func(err error, wait time.Duration)
}

// FollowAudit is FollowAuditWith with default options.
func (c *Client) FollowAudit(ctx context.Context, q AuditQuery, fn func(audit.Record) error) error {
	return c.FollowAuditWith(ctx, q, FollowOptions{}, fn)
}

// FollowAuditWith tails GET /v1/audit/stream, calling fn with each record
// matching q (Cursor and Limit are ignored) until ctx ends, when it
// returns nil. q.Since zero streams only records stored from now on.
//
// A stream that drops after it was established is reconnected with
// backoff; the reconnect asks again from the newest record seen (less
// audit.ClockSlack, since records from different writers are not stored
// in Time order), sends Last-Event-ID if the gateway sent ids, and drops
// the records it had already delivered. A stream that fails before its
// first connection, or any 4xx answer other than 429, returns the error.
// With q.Until set, a stream that ends after Until ends FollowAuditWith
// with nil. An error from fn is returned as is.
func (c *Client) FollowAuditWith(ctx context.Context, q AuditQuery, opt FollowOptions, fn func(audit.Record) error) error {
	if opt.MinBackoff <= 0 {
		opt.MinBackoff = DefaultFollowMinBackoff
	}
	if opt.MaxBackoff <= 0 {
		opt.MaxBackoff = DefaultFollowMaxBackoff
	}
	opt.MaxBackoff = max(opt.MaxBackoff, opt.MinBackoff)
	if opt.StaleAfter <= 0 {
		opt.StaleAfter = DefaultFollowStaleAfter
	}
	f := &follower{c: c, q: q, opt: opt, fn: fn, seen: newRecent(followSeen)}
	for _, id := range opt.Skip {
		f.seen.add(id)
	}
	connected := false
	for attempt := 0; ; {
		err := f.stream(ctx, &connected)
		if ctx.Err() != nil {
			return nil
		}
		var cbErr callbackError
		if errors.As(err, &cbErr) {
			return cbErr.err
		}
		if !q.Until.IsZero() && time.Now().After(q.Until) {
			return nil
		}
		var ae *APIError
		if errors.As(err, &ae) && ae.Status < 500 && ae.Status != http.StatusTooManyRequests {
			return err
		}
		if !connected {
			return err
		}
		if f.progressed {
			attempt = 0
			f.progressed = false
		}
		wait := sse.Backoff(attempt, opt.MinBackoff, opt.MaxBackoff)
		if ae != nil && ae.RetryAfter > 0 {
			wait = ae.RetryAfter
		}
		attempt++
		if opt.OnReconnect != nil {
			opt.OnReconnect(err, wait)
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-t.C:
		}
	}
}

// callbackError marks an error returned by the caller's fn.
type callbackError struct{ err error }

func (e callbackError) Error() string { return e.err.Error() }

type follower struct {
	c          *Client
	q          AuditQuery
	opt        FollowOptions
	fn         func(audit.Record) error
	seen       *recent
	lastID     string    // last SSE id, for Last-Event-ID
	newest     time.Time // newest record Time delivered
	progressed bool      // a connection delivered at least one byte since the last backoff
}

// stream runs one connection. It sets *connected once the gateway
// answered 200.
func (f *follower) stream(ctx context.Context, connected *bool) error {
	sctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	q := f.q
	if !f.newest.IsZero() {
		// Ask again from a little before the newest record seen: writers'
		// clocks differ, so a record stored after it may be older.
		from := f.newest.Add(-audit.ClockSlack)
		if from.After(q.Since) {
			q.Since = from
		}
	}
	u := f.c.base.String() + contracts.PathAuditStream
	if v := q.values(false); len(v) > 0 {
		u += "?" + v.Encode()
	}
	req, err := http.NewRequestWithContext(sctx, http.MethodGet, u, nil)
	if err != nil {
		return err
	}
	req.Header.Set(contracts.HeaderAPIKey, f.c.key)
	req.Header.Set("Accept", "text/event-stream")
	if f.lastID != "" {
		req.Header.Set(contracts.HeaderLastEventID, f.lastID)
	}
	resp, err := f.c.http.Do(req)
	if err != nil {
		return fmt.Errorf("cannot reach the gateway at %s: %w", f.c.base.Redacted(), err)
	}
	defer func() { _ = resp.Body.Close() }()
	if resp.StatusCode != http.StatusOK {
		raw, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
		var e contracts.Error
		if json.Unmarshal(raw, &e) == nil && e.Code != "" {
			return newAPIError(resp, &e)
		}
		return &APIError{Status: resp.StatusCode, RetryAfter: retryAfter(resp.Header.Get("Retry-After")),
			Err: &contracts.Error{Code: codeForStatus(resp.StatusCode), Message: fmt.Sprintf("gateway answered %s: %s", resp.Status, snippet(raw))}}
	}
	*connected = true

	// Watchdog: a stream that sends nothing, not even a ping, is dead.
	var lastRead atomic.Int64
	lastRead.Store(time.Now().UnixNano())
	go func() {
		tick := min(f.opt.StaleAfter/4, time.Second)
		t := time.NewTicker(tick)
		defer t.Stop()
		for {
			select {
			case <-sctx.Done():
				return
			case <-t.C:
				if time.Since(time.Unix(0, lastRead.Load())) > f.opt.StaleAfter {
					cancel(ErrStreamStale)
					return
				}
			}
		}
	}()

	r := sse.NewReader(resp.Body, MaxSSELine)
	for {
		ev, err := r.Next()
		if err != nil {
			if cause := context.Cause(sctx); errors.Is(cause, ErrStreamStale) {
				return fmt.Errorf("%w for %s", ErrStreamStale, f.opt.StaleAfter)
			}
			if errors.Is(err, io.EOF) {
				return errors.New("audit stream ended")
			}
			return fmt.Errorf("reading the audit stream: %w", err)
		}
		lastRead.Store(time.Now().UnixNano())
		f.progressed = true
		if ev.Comment {
			continue
		}
		if ev.ID != "" {
			f.lastID = ev.ID
		}
		if ev.Name != contracts.EventRecord {
			continue // unknown events are for newer clients
		}
		var rec audit.Record
		if err := json.Unmarshal([]byte(ev.Data), &rec); err != nil {
			return fmt.Errorf("malformed audit record on the stream: %w", err)
		}
		if rec.ID != "" && !f.seen.add(rec.ID) {
			continue
		}
		if rec.Time.After(f.newest) {
			f.newest = rec.Time
		}
		if err := f.fn(rec); err != nil {
			return callbackError{err}
		}
	}
}

// codeForStatus names the wire code for a status whose body was not a
// gateway error (a proxy's answer, say).
func codeForStatus(status int) contracts.ErrorCode {
	switch status {
	case http.StatusBadRequest:
		return contracts.CodeBadRequest
	case http.StatusUnauthorized:
		return contracts.CodeUnauthorized
	case http.StatusForbidden:
		return contracts.CodeForbidden
	case http.StatusNotFound:
		return contracts.CodeNotFound
	case http.StatusTooManyRequests:
		return contracts.CodeRateLimited
	case http.StatusServiceUnavailable, http.StatusBadGateway:
		return contracts.CodeUnavailable
	case http.StatusGatewayTimeout:
		return contracts.CodeTimeout
	}
	return contracts.CodeInternal
}

// recent is a bounded set of the most recently added ids.
type recent struct {
	ring []string
	next int
	set  map[string]struct{}
}

func newRecent(n int) *recent {
	return &recent{ring: make([]string, n), set: make(map[string]struct{}, n)}
}

// add records id and reports whether it was new.
func (r *recent) add(id string) bool {
	if _, ok := r.set[id]; ok {
		return false
	}
	if old := r.ring[r.next]; old != "" {
		delete(r.set, old)
	}
	r.ring[r.next] = id
	r.next = (r.next + 1) % len(r.ring)
	r.set[id] = struct{}{}
	return true
}
