package audit

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"kubently.io/libs/contracts"
)

// Reader defaults and bounds.
const (
	// DefaultLimit is the page size when Page.Limit is zero.
	DefaultLimit = 100
	// MaxLimit is the largest page size.
	MaxLimit = 1000
	// DefaultScanBudget is how many stored records one Query examines at
	// most before it returns what it found and a cursor.
	DefaultScanBudget = 10000
	// ClockSlack is how far a record's Time may be from the time the
	// server stored it and still be found exactly by a time range: the
	// Reader positions by storage time, widened by ClockSlack, then
	// filters on Time.
	ClockSlack = 2 * time.Minute
)

const (
	fetchBatch    = 256
	fetchTimeout  = 5 * time.Second
	inactiveAfter = 30 * time.Second
	deleteTimeout = 2 * time.Second
)

// ReaderConfig configures NewReader.
type ReaderConfig struct {
	// JS reads the stream; required.
	JS jetstream.JetStream
	// ScanBudget is how many records one Query examines at most; zero
	// means DefaultScanBudget. Negative is rejected.
	ScanBudget int
	// Now returns the current time; nil means time.Now.
	Now func() time.Time
}

// Validate checks c.
func (c ReaderConfig) Validate() error {
	switch {
	case c.JS == nil:
		return invalid("nil JetStream")
	case c.ScanBudget < 0:
		return invalid("negative scan budget %d", c.ScanBudget)
	}
	return nil
}

// Reader queries and tails the audit stream. It is safe for concurrent
// use.
type Reader struct {
	js     jetstream.JetStream
	budget int
	now    func() time.Time
}

// NewReader validates cfg and returns a Reader. It does no I/O.
func NewReader(cfg ReaderConfig) (*Reader, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.ScanBudget == 0 {
		cfg.ScanBudget = DefaultScanBudget
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Reader{js: cfg.JS, budget: cfg.ScanBudget, now: cfg.Now}, nil
}

// Filter selects records. Every zero field matches anything; the others
// must all match exactly.
type Filter struct {
	// Since selects records with Time at or after it.
	Since time.Time
	// Until selects records with Time before it.
	Until time.Time
	// Cluster selects one cluster's records; NoCluster selects the records
	// that name none.
	Cluster string
	// Identity selects one caller's records. The gateway sets it to the
	// caller for viewers.
	Identity string
	// Outcome selects one outcome.
	Outcome Outcome
	// Event selects one event.
	Event Event
	// CommandID selects one command's records.
	CommandID string
	// FanoutID selects the records of one fleet fan-out.
	FanoutID string
}

// Validate checks f.
func (f Filter) Validate() error {
	switch {
	case !f.Since.IsZero() && !f.Until.IsZero() && !f.Until.After(f.Since):
		return invalid("until %v is not after since %v", f.Until, f.Since)
	case f.Outcome != "" && !f.Outcome.Known():
		return invalid("unknown outcome %q", clip(string(f.Outcome), 64))
	case len(f.Identity) > MaxFieldLen:
		return invalid("identity is %d bytes: want at most %d", len(f.Identity), MaxFieldLen)
	case f.CommandID != "" && !contracts.IsID(f.CommandID):
		return invalid("command id %q: want 1-%d characters of [A-Za-z0-9_-]", clip(f.CommandID, 80), MaxIDLen)
	case f.FanoutID != "" && !contracts.IsID(f.FanoutID):
		return invalid("fanout id %q: want 1-%d characters of [A-Za-z0-9_-]", clip(f.FanoutID, 80), MaxIDLen)
	}
	_, err := FilterSubject(f.Event, f.Cluster)
	return err
}

// Match reports whether r passes f.
func (f Filter) Match(r *Record) bool {
	cluster := r.Cluster
	if cluster == "" {
		cluster = NoCluster
	}
	return (f.Since.IsZero() || !r.Time.Before(f.Since)) &&
		(f.Until.IsZero() || r.Time.Before(f.Until)) &&
		(f.Cluster == "" || f.Cluster == cluster) &&
		(f.Identity == "" || f.Identity == r.Identity) &&
		(f.Outcome == "" || f.Outcome == r.Outcome) &&
		(f.Event == "" || f.Event == r.Event) &&
		(f.CommandID == "" || f.CommandID == r.CommandID) &&
		(f.FanoutID == "" || f.FanoutID == r.FanoutID)
}

// bySubject reports whether the subject filter alone decides f.
func (f Filter) bySubject() bool {
	return f.Since.IsZero() && f.Until.IsZero() && f.Identity == "" && f.Outcome == "" && f.CommandID == "" && f.FanoutID == ""
}

// Page asks for one page of a Query.
type Page struct {
	// Cursor continues a previous Query (its Result.NextCursor); empty
	// starts at the beginning (or at Filter.Since).
	Cursor string
	// Limit is the most records returned, 1 to MaxLimit; zero means
	// DefaultLimit.
	Limit int
}

// Result is one page of records, oldest first; it is also the body of
// GET /v1/audit.
type Result struct {
	// Records are the matching records, oldest first; empty (not nil)
	// if none.
	Records []Record `json:"records"`
	// NextCursor continues the query; empty when there is nothing more.
	// A page may hold fewer than Limit records, even none, and still have
	// a NextCursor: the scan budget ran out first.
	NextCursor string `json:"next_cursor"`
}

// Query returns the records matching f, oldest first, one page at a time.
// It reads the records stored when it starts, never waits for new ones,
// and examines at most the Reader's scan budget of records, so it returns
// promptly on any range. A cursor this package did not make is
// ErrBadCursor; a bad filter or limit ErrInvalid; a NATS failure, or a
// missing stream, ErrUnavailable.
func (r *Reader) Query(ctx context.Context, f Filter, p Page) (Result, error) {
	res := Result{Records: []Record{}}
	if err := f.Validate(); err != nil {
		return res, err
	}
	limit := p.Limit
	if limit == 0 {
		limit = DefaultLimit
	}
	if limit < 0 || limit > MaxLimit {
		return res, invalid("limit %d: want 1-%d", p.Limit, MaxLimit)
	}
	start, err := decodeCursor(p.Cursor)
	if err != nil {
		return res, err
	}
	subject, _ := FilterSubject(f.Event, f.Cluster)
	cc := jetstream.ConsumerConfig{
		Description:       "kubently audit query",
		AckPolicy:         jetstream.AckNonePolicy,
		FilterSubject:     subject,
		InactiveThreshold: inactiveAfter,
		MemoryStorage:     true,
		Replicas:          1,
	}
	switch {
	case start > 0:
		cc.DeliverPolicy = jetstream.DeliverByStartSequencePolicy
		cc.OptStartSeq = start
	case !f.Since.IsZero():
		t := f.Since.Add(-ClockSlack)
		cc.DeliverPolicy = jetstream.DeliverByStartTimePolicy
		cc.OptStartTime = &t
	default:
		cc.DeliverPolicy = jetstream.DeliverAllPolicy
	}
	cons, err := r.js.CreateConsumer(ctx, StreamName, cc)
	if err != nil {
		return res, natsErr("query: create consumer", err)
	}
	defer func() {
		dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), deleteTimeout)
		defer cancel()
		// Best effort: InactiveThreshold removes it anyway.
		_ = r.js.DeleteConsumer(dctx, StreamName, cons.CachedInfo().Name)
	}()

	// pending is what matched the filter subject when the consumer was
	// made: the query's end. Records stored later wait for the next page.
	pending := cons.CachedInfo().NumPending
	var (
		scanned uint64 // records examined
		last    uint64 // stream sequence of the last one
		end     bool   // nothing left to examine
		full    bool   // limit reached
	)
	until := time.Time{}
	if !f.Until.IsZero() {
		until = f.Until.Add(ClockSlack)
	}
	for !end && !full && scanned < pending && scanned < uint64(r.budget) {
		n := min(uint64(fetchBatch), pending-scanned, uint64(r.budget)-scanned)
		if f.bySubject() {
			n = min(n, uint64(limit-len(res.Records)))
		}
		fctx, cancel := context.WithTimeout(ctx, fetchTimeout)
		batch, err := cons.Fetch(int(n), jetstream.FetchContext(fctx))
		if err != nil {
			cancel()
			return Result{Records: []Record{}}, natsErr("query: fetch", err)
		}
		got, gap := 0, false
		for msg := range batch.Messages() {
			if end || full || gap {
				continue // drain what is already here
			}
			meta, err := msg.Metadata()
			if err != nil {
				gap = true
				continue
			}
			if meta.Sequence.Consumer != scanned+1 {
				// A delivery went missing: stop before it so the cursor
				// resumes there.
				gap = true
				continue
			}
			got++
			scanned++
			last = meta.Sequence.Stream
			if !until.IsZero() && meta.Timestamp.After(until) {
				end = true
				continue
			}
			if meta.NumPending == 0 {
				end = true
			}
			var rec Record
			if json.Unmarshal(msg.Data(), &rec) != nil || rec.Type != RecordType {
				continue // not ours; skip it
			}
			if f.Match(&rec) {
				res.Records = append(res.Records, rec)
				full = len(res.Records) == limit
			}
		}
		ferr := batch.Error()
		cancel()
		if ctx.Err() != nil {
			return Result{Records: []Record{}}, fmt.Errorf("%w: audit: query: %w", ErrUnavailable, ctx.Err())
		}
		if ferr != nil && !errors.Is(ferr, context.DeadlineExceeded) {
			return Result{Records: []Record{}}, natsErr("query: fetch", ferr)
		}
		if gap {
			break
		}
		if got == 0 {
			// The server had nothing although records were pending: they
			// aged out while we read. Nothing more will come.
			end = true
		}
	}
	if !end && scanned < pending {
		if scanned == 0 {
			// A delivery went missing before the first record: no
			// progress to point a cursor at.
			return Result{Records: []Record{}}, fmt.Errorf("%w: audit: query: lost the first delivery; retry", ErrUnavailable)
		}
		res.NextCursor = encodeCursor(last + 1)
	}
	return res, nil
}

// Follow calls fn with each record matching f as it is stored, from the
// time of the call (or from f.Since, if set, including older records),
// until ctx ends, when it returns nil. With f.Until set it returns nil
// once the stream passes Until. An error from fn stops Follow and is
// returned as is; a NATS failure that the ordered consumer cannot recover
// from is ErrUnavailable. fn runs on Follow's goroutine, one record at a
// time.
func (r *Reader) Follow(ctx context.Context, f Filter, fn func(Record) error) error {
	if fn == nil {
		return invalid("nil callback")
	}
	if err := f.Validate(); err != nil {
		return err
	}
	subject, _ := FilterSubject(f.Event, f.Cluster)
	start := r.now()
	if !f.Since.IsZero() {
		start = f.Since.Add(-ClockSlack)
	}
	cons, err := r.js.OrderedConsumer(ctx, StreamName, jetstream.OrderedConsumerConfig{
		FilterSubjects: []string{subject},
		DeliverPolicy:  jetstream.DeliverByStartTimePolicy,
		OptStartTime:   &start,
	})
	if err != nil {
		return natsErr("follow: create consumer", err)
	}
	it, err := cons.Messages()
	if err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return natsErr("follow: subscribe", err)
	}
	defer it.Stop()
	until := time.Time{}
	if !f.Until.IsZero() {
		until = f.Until.Add(ClockSlack)
	}
	for {
		msg, err := it.Next(jetstream.NextContext(ctx))
		if ctx.Err() != nil {
			return nil
		}
		if err != nil {
			return natsErr("follow: next", err)
		}
		meta, err := msg.Metadata()
		if err == nil && !until.IsZero() && meta.Timestamp.After(until) {
			return nil
		}
		var rec Record
		if json.Unmarshal(msg.Data(), &rec) != nil || rec.Type != RecordType {
			continue
		}
		if !f.Match(&rec) {
			continue
		}
		if err := fn(rec); err != nil {
			return err
		}
	}
}
