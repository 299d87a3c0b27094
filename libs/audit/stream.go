package audit

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Sentinel errors. Every error from this package wraps one of them, or is
// the error a caller's callback returned.
var (
	// ErrInvalid means an argument (record, filter, page, config) is out
	// of bounds.
	ErrInvalid = errors.New("invalid audit input")
	// ErrBadCursor means a page cursor was not one this package made.
	ErrBadCursor = errors.New("bad audit cursor")
	// ErrUnavailable means NATS or the audit stream did not answer (or
	// not in time); it wraps the NATS error.
	ErrUnavailable = errors.New("audit log unavailable")
)

// Stream defaults applied to zero StreamConfig fields.
const (
	// DefaultMaxAge is how long records are kept.
	DefaultMaxAge = 90 * 24 * time.Hour
	// DefaultDuplicates is the window in which a repeated record ID is
	// recognised and dropped.
	DefaultDuplicates = 2 * time.Minute
)

// StreamConfig configures Ensure.
type StreamConfig struct {
	// MaxAge is how long records are kept; zero means DefaultMaxAge.
	// Negative is rejected.
	MaxAge time.Duration
	// Replicas is the stream's replication factor (1-5, more than 1 needs
	// a NATS cluster); zero means 1.
	Replicas int
	// Storage is where the server keeps records; the zero value is
	// jetstream.FileStorage. It cannot change once the stream exists.
	Storage jetstream.StorageType
	// Duplicates is the Nats-Msg-Id deduplication window: a Write retried
	// within it is stored once. Zero means DefaultDuplicates; it may not
	// exceed MaxAge.
	Duplicates time.Duration
	// MaxBytes caps the stream's size, dropping the oldest records first;
	// zero means no cap. Negative is rejected.
	MaxBytes int64
}

// Validate checks c.
func (c StreamConfig) Validate() error {
	switch {
	case c.MaxAge < 0:
		return invalid("negative max age %v", c.MaxAge)
	case c.Replicas < 0 || c.Replicas > 5:
		return invalid("replicas %d: want 1-5", c.Replicas)
	case c.Storage != jetstream.FileStorage && c.Storage != jetstream.MemoryStorage:
		return invalid("unknown storage type %d", c.Storage)
	case c.Duplicates < 0:
		return invalid("negative duplicates window %v", c.Duplicates)
	case c.MaxBytes < 0:
		return invalid("negative max bytes %d", c.MaxBytes)
	}
	if c.withDefaults().Duplicates > c.withDefaults().MaxAge {
		return invalid("duplicates window %v exceeds max age %v", c.Duplicates, c.withDefaults().MaxAge)
	}
	return nil
}

func (c StreamConfig) withDefaults() StreamConfig {
	if c.MaxAge == 0 {
		c.MaxAge = DefaultMaxAge
	}
	if c.Replicas == 0 {
		c.Replicas = 1
	}
	if c.Duplicates == 0 {
		c.Duplicates = DefaultDuplicates
	}
	return c
}

func (c StreamConfig) stream() jetstream.StreamConfig {
	c = c.withDefaults()
	maxBytes := c.MaxBytes
	if maxBytes == 0 {
		maxBytes = -1
	}
	return jetstream.StreamConfig{
		Name:        StreamName,
		Description: "Kubently audit log: " + SubjectT + " (event, cluster or " + NoCluster + ")",
		Subjects:    []string{SubjectWildcard},
		Retention:   jetstream.LimitsPolicy,
		Discard:     jetstream.DiscardOld,
		MaxAge:      c.MaxAge,
		MaxBytes:    maxBytes,
		MaxMsgs:     -1,
		MaxMsgSize:  -1,
		Storage:     c.Storage,
		Replicas:    c.Replicas,
		Duplicates:  c.Duplicates,
		// The log is append-only: records leave only by age (or MaxBytes).
		// The server never lets these two be turned off again.
		DenyDelete:  true,
		DenyPurge:   true,
		AllowDirect: true,
	}
}

// setupAttempts bounds Ensure's retries when another process creates the
// stream at the same moment.
const setupAttempts = 5

// Ensure creates the audit stream, or updates it when a setting differs
// from cfg, so every replica may call it at start-up. A server that does
// not answer is ErrUnavailable; a configuration the server refuses (such
// as a storage change or replicas on a single server) is ErrInvalid.
func Ensure(ctx context.Context, js jetstream.JetStream, cfg StreamConfig) error {
	if js == nil {
		return invalid("nil JetStream")
	}
	if err := cfg.Validate(); err != nil {
		return err
	}
	want := cfg.stream()
	for range setupAttempts {
		st, err := js.Stream(ctx, StreamName)
		if errors.Is(err, jetstream.ErrStreamNotFound) {
			_, err = js.CreateStream(ctx, want)
			if errors.Is(err, jetstream.ErrStreamNameAlreadyInUse) {
				continue // another process created it just now
			}
			return refused("create stream", err)
		}
		if err != nil {
			return natsErr("look up stream", err)
		}
		if same(st.CachedInfo().Config, want) {
			return nil
		}
		_, err = js.UpdateStream(ctx, want)
		return refused("update stream", err)
	}
	return fmt.Errorf("%w: audit: stream %s created and gone %d times", ErrUnavailable, StreamName, setupAttempts)
}

func same(have, want jetstream.StreamConfig) bool {
	return slices.Equal(have.Subjects, want.Subjects) && have.Retention == want.Retention &&
		have.Discard == want.Discard && have.MaxAge == want.MaxAge &&
		have.MaxBytes == want.MaxBytes && have.MaxMsgs == want.MaxMsgs &&
		have.MaxMsgSize == want.MaxMsgSize && have.Storage == want.Storage &&
		have.Replicas == want.Replicas && have.Duplicates == want.Duplicates &&
		have.DenyDelete == want.DenyDelete && have.DenyPurge == want.DenyPurge &&
		have.AllowDirect == want.AllowDirect && have.Description == want.Description
}

// natsErr wraps a NATS error from op: a request the server refused as bad
// is ErrInvalid, anything else ErrUnavailable. nil stays nil.
func natsErr(op string, err error) error {
	if err == nil {
		return nil
	}
	var apiErr *jetstream.APIError
	if errors.As(err, &apiErr) && apiErr.Code == http.StatusBadRequest {
		return fmt.Errorf("%w: audit: %s: %w", ErrInvalid, op, err)
	}
	return fmt.Errorf("%w: audit: %s: %w", ErrUnavailable, op, err)
}

// refused is natsErr for a stream create or update, where the server
// answers a configuration it cannot apply (a storage change, too many
// replicas) with an API error: that is ErrInvalid unless the server says
// it is only temporarily unavailable.
func refused(op string, err error) error {
	var apiErr *jetstream.APIError
	if errors.As(err, &apiErr) && apiErr.Code != http.StatusServiceUnavailable {
		return fmt.Errorf("%w: audit: %s: %w", ErrInvalid, op, err)
	}
	return natsErr(op, err)
}

// transient reports whether a publish that failed with err may succeed if
// retried: the server, the stream leader or the connection is briefly
// away.
func transient(err error) bool {
	var apiErr *jetstream.APIError
	if errors.As(err, &apiErr) {
		return apiErr.Code == http.StatusServiceUnavailable
	}
	return errors.Is(err, jetstream.ErrNoStreamResponse) ||
		errors.Is(err, nats.ErrNoResponders) ||
		errors.Is(err, nats.ErrTimeout) ||
		errors.Is(err, context.DeadlineExceeded) ||
		errors.Is(err, nats.ErrDisconnected) ||
		errors.Is(err, nats.ErrConnectionReconnecting)
}

// EnsureWait is Ensure, retried every half second while the server is
// unavailable (a NATS cluster still electing its JetStream leader when the
// services start with it), for at most wait. A configuration the server
// refuses is not retried.
func EnsureWait(ctx context.Context, js jetstream.JetStream, cfg StreamConfig, wait time.Duration) error {
	deadline := time.Now().Add(wait)
	for {
		err := Ensure(ctx, js, cfg)
		if err == nil || !errors.Is(err, ErrUnavailable) || time.Now().Add(ensureRetry).After(deadline) {
			return err
		}
		t := time.NewTimer(ensureRetry)
		select {
		case <-ctx.Done():
			t.Stop()
			return err
		case <-t.C:
		}
	}
}

// ensureRetry is how long EnsureWait waits between attempts.
const ensureRetry = 500 * time.Millisecond
