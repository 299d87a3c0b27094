package redisstore

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"time"

	"github.com/redis/go-redis/v9"

	"kubently.io/libs/store"
)

// Defaults applied to zero Config fields.
const (
	// DefaultPrefix starts every key.
	DefaultPrefix = "kubently"
	// DefaultMaxQueueLen caps each cluster's bridge stream (approximately).
	DefaultMaxQueueLen = 10000
)

// group is the consumer group every executor stream reads a cluster's
// bridge stream through.
const group = "executors"

// casAttempts bounds the optimistic retries of TouchSession and EndSession.
const casAttempts = 64

var prefixRE = regexp.MustCompile(`^[A-Za-z0-9_.:-]{1,64}$`)

// Config configures New and NewFromClient.
type Config struct {
	// URL is the Redis URL, redis://[user:password@]host:port/db or
	// rediss:// for TLS. Required by New; must be empty for NewFromClient.
	URL string
	// Prefix starts every key ([A-Za-z0-9_.:-], at most 64 characters);
	// empty means DefaultPrefix.
	Prefix string
	// OwnerGrace is how long Owner still knows a command after its
	// deadline; zero means store.OwnerGrace. Negative is rejected.
	OwnerGrace time.Duration
	// MaxQueueLen caps each cluster's queue (approximately; the oldest
	// commands are trimmed first); zero means DefaultMaxQueueLen. Negative
	// is rejected.
	MaxQueueLen int64
	// Visibility is how long a claimed command stays leased to its
	// consumer without an Ack before Claim hands it out again; zero means
	// store.Visibility. Negative is rejected.
	Visibility time.Duration
}

// Validate checks c without connecting. It does not require URL.
func (c Config) Validate() error {
	if c.Prefix != "" && !prefixRE.MatchString(c.Prefix) {
		return fmt.Errorf("%w: redisstore: prefix %q: want 1-64 characters of [A-Za-z0-9_.:-]", store.ErrInvalid, c.Prefix)
	}
	if c.OwnerGrace < 0 {
		return fmt.Errorf("%w: redisstore: negative owner grace %v", store.ErrInvalid, c.OwnerGrace)
	}
	if c.MaxQueueLen < 0 {
		return fmt.Errorf("%w: redisstore: negative max queue length %d", store.ErrInvalid, c.MaxQueueLen)
	}
	if c.Visibility < 0 {
		return fmt.Errorf("%w: redisstore: negative visibility timeout %v", store.ErrInvalid, c.Visibility)
	}
	if c.URL != "" {
		if _, err := redis.ParseURL(c.URL); err != nil {
			return fmt.Errorf("%w: redisstore: url: %w", store.ErrInvalid, err)
		}
	}
	return nil
}

// Store is a store.Store on Redis.
type Store struct {
	rdb    redis.UniversalClient
	owned  bool
	prefix string
	grace  time.Duration
	maxLen int64
	lease  time.Duration

	createScript, casScript, enqueueScript, claimScript, ackScript, refreshScript, leaveScript, connectedScript, answerScript, holdScript, ownerScript, fenceScript, claimableScript, appendLeasedScript, releaseScript *redis.Script
}

var _ store.Store = (*Store)(nil)

// New validates cfg, connects to cfg.URL and pings the server. A server
// that does not answer is store.ErrUnavailable.
func New(ctx context.Context, cfg Config) (*Store, error) {
	if cfg.URL == "" {
		return nil, fmt.Errorf("%w: redisstore: empty url", store.ErrInvalid)
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	opts, _ := redis.ParseURL(cfg.URL) // checked by Validate
	rdb := redis.NewClient(opts)
	s := newStore(rdb, true, cfg)
	if err := s.Ping(ctx); err != nil {
		_ = rdb.Close()
		return nil, err
	}
	return s, nil
}

// NewFromClient wraps rdb, which the caller keeps owning (Close leaves it
// open), and pings the server. cfg.URL must be empty.
func NewFromClient(ctx context.Context, rdb redis.UniversalClient, cfg Config) (*Store, error) {
	if rdb == nil {
		return nil, fmt.Errorf("%w: redisstore: nil client", store.ErrInvalid)
	}
	if cfg.URL != "" {
		return nil, fmt.Errorf("%w: redisstore: url set with a client", store.ErrInvalid)
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	s := newStore(rdb, false, cfg)
	if err := s.Ping(ctx); err != nil {
		return nil, err
	}
	return s, nil
}

func newStore(rdb redis.UniversalClient, owned bool, cfg Config) *Store {
	s := &Store{
		rdb: rdb, owned: owned, prefix: cfg.Prefix, grace: cfg.OwnerGrace, maxLen: cfg.MaxQueueLen, lease: cfg.Visibility,
		createScript:       redis.NewScript(createSrc),
		casScript:          redis.NewScript(casSrc),
		enqueueScript:      redis.NewScript(enqueueSrc),
		claimScript:        redis.NewScript(claimSrc),
		ackScript:          redis.NewScript(ackSrc),
		refreshScript:      redis.NewScript(refreshSrc),
		leaveScript:        redis.NewScript(leaveSrc),
		answerScript:       redis.NewScript(answerSrc),
		holdScript:         redis.NewScript(holdSrc),
		ownerScript:        redis.NewScript(ownerSrc),
		fenceScript:        redis.NewScript(fenceSrc),
		connectedScript:    redis.NewScript(connectedSrc),
		claimableScript:    redis.NewScript(claimableSrc),
		appendLeasedScript: redis.NewScript(appendLeasedSrc),
		releaseScript:      redis.NewScript(releaseSrc),
	}
	if s.prefix == "" {
		s.prefix = DefaultPrefix
	}
	if s.grace == 0 {
		s.grace = store.OwnerGrace
	}
	if s.maxLen == 0 {
		s.maxLen = DefaultMaxQueueLen
	}
	if s.lease == 0 {
		s.lease = store.Visibility
	}
	return s
}

// Ping checks the server answers.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.rdb.Ping(ctx).Err(); err != nil {
		return fail("ping", err)
	}
	return nil
}

// Close closes the client if New opened it.
func (s *Store) Close() error {
	if !s.owned {
		return nil
	}
	return s.rdb.Close()
}

// Keys.

func (s *Store) liveKey(id string) string       { return s.prefix + ":session:{" + id + "}" }
func (s *Store) recKey(id string) string        { return s.prefix + ":session:rec:{" + id + "}" }
func (s *Store) indexKey(cluster string) string { return s.prefix + ":sessions:{" + cluster + "}" }
func (s *Store) queueKey(cluster string) string { return s.prefix + ":bridge:{" + cluster + "}" }
func (s *Store) entryKey(cluster string) string { return s.prefix + ":bridge:ids:{" + cluster + "}" }
func (s *Store) ownerKey(id string) string      { return s.prefix + ":cmd:" + id }

// answerKey is in the owner key's slot: its hash tag is the whole owner
// key, which has no braces of its own.
func (s *Store) answerKey(id string) string { return "{" + s.ownerKey(id) + "}:answered" }

// holderKey is in the owner key's slot too.
func (s *Store) holderKey(id string) string { return "{" + s.ownerKey(id) + "}:holder" }
func (s *Store) seenKey(cluster string) string {
	return s.prefix + ":presence:seen:{" + cluster + "}"
}
func (s *Store) presenceKey(cluster string) string {
	return s.prefix + ":presence:{" + cluster + "}"
}
func (s *Store) presenceInfoKey(cluster string) string {
	return s.prefix + ":presence:info:{" + cluster + "}"
}

// millis is d in whole milliseconds, at least 1 (PX 0 is an error).
func millis(d time.Duration) int64 { return max(d.Milliseconds(), 1) }

// fail wraps err from an operation, marking connection-level failures
// store.ErrUnavailable.
func fail(op string, err error) error {
	if unavailable(err) {
		return fmt.Errorf("redisstore: %s: %w: %w", op, store.ErrUnavailable, err)
	}
	return fmt.Errorf("redisstore: %s: %w", op, err)
}

// unavailable reports whether err means the server could not be used
// (rather than that it refused the request).
func unavailable(err error) bool {
	if errors.Is(err, context.Canceled) {
		return false // the caller gave up
	}
	var rerr redis.Error
	if errors.As(err, &rerr) {
		return redis.IsLoadingError(err) || redis.IsReadOnlyError(err) ||
			redis.IsClusterDownError(err) || redis.IsTryAgainError(err) ||
			redis.IsMasterDownError(err) || redis.IsMaxClientsError(err)
	}
	// Dial and I/O errors, timeouts, a closed client or pool.
	return true
}
