package audit

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"kubently.io/libs/contracts"
)

// Writer defaults applied to zero WriterConfig fields.
const (
	// DefaultAuthDeniedLimit is how many auth_denied records one source
	// may write per window.
	DefaultAuthDeniedLimit = 10
	// DefaultAuthDeniedWindow is the rate limit's window.
	DefaultAuthDeniedWindow = time.Minute
	// DefaultMaxTrackedKeys bounds the sources the rate limit tracks.
	DefaultMaxTrackedKeys = 10000
	// DefaultAttemptTimeout bounds one publish attempt.
	DefaultAttemptTimeout = 2 * time.Second
)

const (
	retryMin = 25 * time.Millisecond
	retryMax = time.Second
)

// WriterConfig configures NewWriter.
type WriterConfig struct {
	// JS publishes the records; required. The stream must exist (see
	// Ensure).
	JS jetstream.JetStream
	// Source is set on records whose Source is empty (for example
	// "dispatcher"); empty leaves them as they are.
	Source string
	// Replica is set on records whose Replica is empty (for example the
	// pod name); empty leaves them as they are.
	Replica string
	// AuthDeniedLimit is how many auth_denied records one source (the
	// identity, else the remote address) may write per AuthDeniedWindow;
	// the rest are counted and summarised. Zero means
	// DefaultAuthDeniedLimit; negative is rejected.
	AuthDeniedLimit int
	// AuthDeniedWindow is the rate limit's window; zero means
	// DefaultAuthDeniedWindow.
	AuthDeniedWindow time.Duration
	// MaxTrackedKeys bounds the sources tracked per window; sources beyond
	// it share one budget. Zero means DefaultMaxTrackedKeys.
	MaxTrackedKeys int
	// AttemptTimeout bounds one publish attempt, after which Write tries
	// again (same ID) while its ctx lasts; zero means
	// DefaultAttemptTimeout.
	AttemptTimeout time.Duration
	// Now returns the current time; nil means time.Now.
	Now func() time.Time
}

// Validate checks c.
func (c WriterConfig) Validate() error {
	switch {
	case c.JS == nil:
		return invalid("nil JetStream")
	case c.AuthDeniedLimit < 0:
		return invalid("negative auth_denied limit %d", c.AuthDeniedLimit)
	case c.AuthDeniedWindow < 0:
		return invalid("negative auth_denied window %v", c.AuthDeniedWindow)
	case c.MaxTrackedKeys < 0:
		return invalid("negative max tracked keys %d", c.MaxTrackedKeys)
	case c.AttemptTimeout < 0:
		return invalid("negative attempt timeout %v", c.AttemptTimeout)
	case len(c.Source) > MaxFieldLen || len(c.Replica) > MaxFieldLen:
		return invalid("source or replica longer than %d bytes", MaxFieldLen)
	}
	return nil
}

// Writer appends records to the audit stream. It is safe for concurrent
// use.
type Writer struct {
	js      jetstream.JetStream
	source  string
	replica string
	attempt time.Duration
	now     func() time.Time

	mu  sync.Mutex
	lim *limiter
}

// NewWriter validates cfg and returns a Writer. It does no I/O.
func NewWriter(cfg WriterConfig) (*Writer, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.AuthDeniedLimit == 0 {
		cfg.AuthDeniedLimit = DefaultAuthDeniedLimit
	}
	if cfg.AuthDeniedWindow == 0 {
		cfg.AuthDeniedWindow = DefaultAuthDeniedWindow
	}
	if cfg.MaxTrackedKeys == 0 {
		cfg.MaxTrackedKeys = DefaultMaxTrackedKeys
	}
	if cfg.AttemptTimeout == 0 {
		cfg.AttemptTimeout = DefaultAttemptTimeout
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Writer{
		js:      cfg.JS,
		source:  cfg.Source,
		replica: cfg.Replica,
		attempt: cfg.AttemptTimeout,
		now:     cfg.Now,
		lim:     newLimiter(cfg.AuthDeniedLimit, cfg.AuthDeniedWindow, cfg.MaxTrackedKeys),
	}, nil
}

// Write fills rec's Type, ID, Time, Source and Replica where empty,
// validates it and publishes it, returning once JetStream has acknowledged
// that the record is stored (replicated, on a clustered stream). Transient
// failures are retried with the same ID, so the record is stored once,
// until ctx ends; the error then wraps ErrUnavailable and the last NATS
// error. An invalid record is ErrInvalid and is not retried.
//
// An auth_denied record beyond the rate limit is counted and dropped, and
// Write returns nil; the count is written as a summary record (Reason
// ReasonRateLimited, Suppressed set) by the first Write or Flush after the
// window ends.
func (w *Writer) Write(ctx context.Context, rec Record) error {
	w.fill(&rec)
	if err := rec.Validate(); err != nil {
		return err
	}
	now := w.now()
	w.mu.Lock()
	var ok = true
	var due []Record
	if rec.Event == EventAuthDenied && rec.Suppressed == 0 {
		ok, due = w.lim.admit(&rec, now)
	} else {
		due = w.lim.rotate(now, false)
	}
	w.mu.Unlock()
	if err := w.publishAll(ctx, due); err != nil {
		return err
	}
	if !ok {
		return nil
	}
	return w.publish(ctx, &rec)
}

// Flush ends the rate limit's current window at once and writes its
// summary records. Call it before shutting down, and on a ticker if
// summaries should not wait for the next Write.
func (w *Writer) Flush(ctx context.Context) error {
	now := w.now()
	w.mu.Lock()
	due := w.lim.rotate(now, true)
	w.mu.Unlock()
	return w.publishAll(ctx, due)
}

func (w *Writer) fill(rec *Record) {
	if rec.Type == "" {
		rec.Type = RecordType
	}
	if rec.ID == "" {
		rec.ID = contracts.NewID()
	}
	if rec.Time.IsZero() {
		rec.Time = w.now()
	}
	rec.Time = rec.Time.UTC()
	if rec.Source == "" {
		rec.Source = w.source
	}
	if rec.Replica == "" {
		rec.Replica = w.replica
	}
}

func (w *Writer) publishAll(ctx context.Context, recs []Record) error {
	for i := range recs {
		w.fill(&recs[i])
		if err := w.publish(ctx, &recs[i]); err != nil {
			return fmt.Errorf("write rate limit summary: %w", err)
		}
	}
	return nil
}

func (w *Writer) publish(ctx context.Context, rec *Record) error {
	subj, err := Subject(rec.Event, rec.Cluster)
	if err != nil {
		return err
	}
	data, err := json.Marshal(rec)
	if err != nil {
		return invalid("encode: %v", err)
	}
	msg := &nats.Msg{Subject: subj, Data: data, Header: nats.Header{}}
	backoff := retryMin
	for {
		actx, cancel := context.WithTimeout(ctx, w.attempt)
		// The library's own retry covers only "no responders" and leaves
		// the header set; this loop retries everything transient.
		msg.Header = nats.Header{}
		_, err = w.js.PublishMsg(actx, msg,
			jetstream.WithMsgID(rec.ID),
			jetstream.WithExpectStream(StreamName),
			jetstream.WithRetryAttempts(0))
		cancel()
		if err == nil {
			return nil
		}
		if errors.Is(err, nats.ErrConnectionClosed) || !transient(err) {
			return natsErr("publish "+subj, err)
		}
		if ctx.Err() != nil {
			return w.gaveUp(ctx, subj, err)
		}
		select {
		case <-ctx.Done():
			return w.gaveUp(ctx, subj, err)
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, retryMax)
	}
}

func (w *Writer) gaveUp(ctx context.Context, subj string, last error) error {
	return fmt.Errorf("%w: audit: publish %s: gave up: %w (NATS connection %s; last attempt: %w)",
		ErrUnavailable, subj, context.Cause(ctx), w.js.Conn().Status(), last)
}
