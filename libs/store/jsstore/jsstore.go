package jsstore

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"kubently.io/libs/store"
	"kubently.io/libs/store/internal/check"
)

// Defaults applied to zero Config fields.
const (
	// DefaultPrefix starts every bucket and stream name.
	DefaultPrefix = "KUBENTLY"
	// DefaultMaxQueueLen caps each cluster's queue.
	DefaultMaxQueueLen = 10000
)

const (
	// markerTTL is how long the marker of an expired or purged key stays.
	markerTTL = time.Second
	// casAttempts bounds the optimistic retries of TouchSession and
	// EndSession.
	casAttempts = 64
	// claimRetries bounds Claim's retries (1ms, 2ms, 4ms, ... 511ms in all)
	// while the consumer catches up with the stream: on a loaded machine
	// it can lag a freshly stored message by more than 100ms. Retries
	// happen only while the stream holds commands no one was handed.
	claimRetries = 9
	// setupAttempts bounds New's retries when another process creates the
	// same stream at the same moment.
	setupAttempts = 5
)

var prefixRE = regexp.MustCompile(`^[A-Za-z0-9_-]{1,32}$`)

// Config configures New.
type Config struct {
	// Conn is the NATS connection to use; required. The caller keeps
	// owning it.
	Conn *nats.Conn
	// Replicas is the replication factor of every bucket and stream (1-5);
	// zero means 1.
	Replicas int
	// Storage is where the server keeps the data; the zero value is
	// jetstream.FileStorage.
	Storage jetstream.StorageType
	// Prefix starts every bucket and stream name ([A-Za-z0-9_-], at most
	// 32 characters) and, lower-cased, the bridge subjects; empty means
	// DefaultPrefix.
	Prefix string
	// OwnerGrace is how long Owner still knows a command after its
	// deadline; zero means store.OwnerGrace. Negative is rejected.
	OwnerGrace time.Duration
	// MaxQueueLen caps each cluster's queue (the oldest commands are
	// dropped first); zero means DefaultMaxQueueLen. Negative is rejected.
	MaxQueueLen int64
	// Visibility is how long a claimed command stays leased to its
	// consumer without an Ack before Claim hands it out again (the
	// cluster consumer's AckWait); zero means store.Visibility. Negative
	// is rejected.
	Visibility time.Duration
}

// Validate checks c without connecting.
func (c Config) Validate() error {
	switch {
	case c.Conn == nil:
		return fmt.Errorf("%w: jsstore: nil connection", store.ErrInvalid)
	case c.Replicas < 0 || c.Replicas > 5:
		return fmt.Errorf("%w: jsstore: replicas %d: want 1-5", store.ErrInvalid, c.Replicas)
	case c.Storage != jetstream.FileStorage && c.Storage != jetstream.MemoryStorage:
		return fmt.Errorf("%w: jsstore: unknown storage type %d", store.ErrInvalid, c.Storage)
	case c.Prefix != "" && !prefixRE.MatchString(c.Prefix):
		return fmt.Errorf("%w: jsstore: prefix %q: want 1-32 characters of [A-Za-z0-9_-]", store.ErrInvalid, c.Prefix)
	case c.OwnerGrace < 0:
		return fmt.Errorf("%w: jsstore: negative owner grace %v", store.ErrInvalid, c.OwnerGrace)
	case c.MaxQueueLen < 0:
		return fmt.Errorf("%w: jsstore: negative max queue length %d", store.ErrInvalid, c.MaxQueueLen)
	case c.Visibility < 0:
		return fmt.Errorf("%w: jsstore: negative visibility timeout %v", store.ErrInvalid, c.Visibility)
	}
	return nil
}

// Store is a store.Store on JetStream.
type Store struct {
	nc         *nats.Conn
	js         jetstream.JetStream
	grace      time.Duration
	visibility time.Duration
	sessions   jetstream.KeyValue
	owners     jetstream.KeyValue
	presence   jetstream.KeyValue
	// presenceStream is the presence bucket's stream, whose subject
	// counts list a cluster's keys in one request (no consumer).
	presenceStream jetstream.Stream
	clusters       jetstream.KeyValue
	discovery      jetstream.KeyValue
	bridge         string // stream name
	stream         jetstream.Stream
	subject        string // bridge subject prefix, without the trailing dot

	mu        sync.Mutex
	consumers map[string]jetstream.Consumer // by cluster
}

var _ store.Store = (*Store)(nil)

// New validates cfg and creates (or updates) the store's buckets and
// stream. A server that does not answer is store.ErrUnavailable.
func New(ctx context.Context, cfg Config) (*Store, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.Replicas == 0 {
		cfg.Replicas = 1
	}
	if cfg.Prefix == "" {
		cfg.Prefix = DefaultPrefix
	}
	if cfg.OwnerGrace == 0 {
		cfg.OwnerGrace = store.OwnerGrace
	}
	if cfg.MaxQueueLen == 0 {
		cfg.MaxQueueLen = DefaultMaxQueueLen
	}
	if cfg.Visibility == 0 {
		cfg.Visibility = store.Visibility
	}
	js, err := jetstream.New(cfg.Conn)
	if err != nil {
		return nil, fmt.Errorf("jsstore: %w", err)
	}
	s := &Store{
		nc:         cfg.Conn,
		js:         js,
		grace:      cfg.OwnerGrace,
		visibility: cfg.Visibility,
		bridge:     cfg.Prefix + "_BRIDGE",
		subject:    strings.ToLower(cfg.Prefix) + ".bridgeq",
		consumers:  map[string]jetstream.Consumer{},
	}
	if err := s.ready(); err != nil {
		return nil, err
	}
	kv := func(name, desc string) (jetstream.KeyValue, error) {
		return ensureKV(ctx, js, jetstream.KeyValueConfig{
			Bucket:         cfg.Prefix + "_" + name,
			Description:    desc,
			History:        1,
			Storage:        cfg.Storage,
			Replicas:       cfg.Replicas,
			LimitMarkerTTL: markerTTL,
		})
	}
	if s.sessions, err = kv("SESSIONS", "Kubently sessions: live.<cluster>.<id> and rec.<id>"); err != nil {
		return nil, fail("set up sessions bucket", err)
	}
	if s.owners, err = kv("OWNERS", "Kubently command owners: <command id> -> cluster"); err != nil {
		return nil, fail("set up owners bucket", err)
	}
	if s.presence, err = kv("PRESENCE", "Kubently executor presence: <cluster>.<conn id>"); err != nil {
		return nil, fail("set up presence bucket", err)
	}
	if s.presenceStream, err = js.Stream(ctx, "KV_"+s.presence.Bucket()); err != nil {
		return nil, fail("set up presence bucket", err)
	}
	if s.clusters, err = kv("CLUSTERS", "Kubently cluster registry: <cluster> -> token hash"); err != nil {
		return nil, fail("set up clusters bucket", err)
	}
	if s.discovery, err = kv("DISCOVERY", "Kubently discovery summaries: <cluster>.summary and <cluster>.hash"); err != nil {
		return nil, fail("set up discovery bucket", err)
	}
	if s.stream, err = ensureStream(ctx, js, jetstream.StreamConfig{
		Name:              s.bridge,
		Description:       "Kubently bridge queue: one subject per cluster",
		Subjects:          []string{s.subject + ".>"},
		Retention:         jetstream.WorkQueuePolicy,
		Storage:           cfg.Storage,
		Replicas:          cfg.Replicas,
		MaxMsgsPerSubject: cfg.MaxQueueLen,
		Discard:           jetstream.DiscardOld,
		Duplicates:        2 * time.Minute,
		AllowMsgTTL:       true,
	}); err != nil {
		return nil, fail("set up bridge stream", err)
	}
	return s, nil
}

// ensureKV returns the bucket cfg names, creating it if missing and
// updating it only if a setting the store relies on differs: an update is
// a stream reconfiguration, not something every process start should do.
func ensureKV(ctx context.Context, js jetstream.JetStream, cfg jetstream.KeyValueConfig) (jetstream.KeyValue, error) {
	for range setupAttempts {
		kv, err := js.KeyValue(ctx, cfg.Bucket)
		if errors.Is(err, jetstream.ErrBucketNotFound) {
			kv, err = js.CreateKeyValue(ctx, cfg)
			if errors.Is(err, jetstream.ErrBucketExists) {
				continue // another process created it just now
			}
			return kv, err
		}
		if err != nil {
			return nil, err
		}
		st, err := kv.Status(ctx)
		if err != nil {
			return nil, err
		}
		have := st.Config()
		if have.History == cfg.History && have.Storage == cfg.Storage &&
			have.Replicas == cfg.Replicas && have.LimitMarkerTTL == cfg.LimitMarkerTTL {
			return kv, nil
		}
		return js.UpdateKeyValue(ctx, cfg)
	}
	return nil, fmt.Errorf("bucket %s: created and gone %d times", cfg.Bucket, setupAttempts)
}

// ensureStream is ensureKV for a stream.
func ensureStream(ctx context.Context, js jetstream.JetStream, cfg jetstream.StreamConfig) (jetstream.Stream, error) {
	for range setupAttempts {
		st, err := js.Stream(ctx, cfg.Name)
		if errors.Is(err, jetstream.ErrStreamNotFound) {
			st, err = js.CreateStream(ctx, cfg)
			if errors.Is(err, jetstream.ErrStreamNameAlreadyInUse) {
				continue // another process created it just now
			}
			return st, err
		}
		if err != nil {
			return nil, err
		}
		have := st.CachedInfo().Config
		if slices.Equal(have.Subjects, cfg.Subjects) && have.Retention == cfg.Retention &&
			have.Storage == cfg.Storage && have.Replicas == cfg.Replicas &&
			have.MaxMsgsPerSubject == cfg.MaxMsgsPerSubject && have.Discard == cfg.Discard &&
			have.AllowMsgTTL == cfg.AllowMsgTTL {
			return st, nil
		}
		return js.UpdateStream(ctx, cfg)
	}
	return nil, fmt.Errorf("stream %s: created and gone %d times", cfg.Name, setupAttempts)
}

// Ping checks the connection is up and JetStream answers.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.ready(); err != nil {
		return err
	}
	if _, err := s.js.AccountInfo(ctx); err != nil {
		return fail("ping", err)
	}
	return nil
}

// Close does nothing: the connection is the caller's.
func (s *Store) Close() error { return nil }

// ready fails fast while the connection is down rather than letting
// requests wait in the reconnect buffer until their deadline.
func (s *Store) ready() error {
	if s.nc.IsClosed() {
		return fmt.Errorf("jsstore: %w: %w", store.ErrUnavailable, nats.ErrConnectionClosed)
	}
	if !s.nc.IsConnected() {
		return fmt.Errorf("jsstore: %w: %w", store.ErrUnavailable, nats.ErrDisconnected)
	}
	return nil
}

// kvSubject is the subject a put to key in kv is published on.
func kvSubject(kv jetstream.KeyValue, key string) string {
	return "$KV." + kv.Bucket() + "." + key
}

// put writes key with a per-key TTL (KeyValue.Put has no TTL option).
func (s *Store) put(ctx context.Context, kv jetstream.KeyValue, key string, value []byte, ttl time.Duration) error {
	_, err := s.js.PublishMsg(ctx, &nats.Msg{Subject: kvSubject(kv, key), Data: value}, jetstream.WithMsgTTL(ttl))
	return err
}

// cas writes key with a per-key TTL if its last revision is still rev
// (KeyValue.Update would drop the TTL). A conflict satisfies conflict().
func (s *Store) cas(ctx context.Context, kv jetstream.KeyValue, key string, value []byte, rev uint64, ttl time.Duration) error {
	_, err := s.js.PublishMsg(ctx, &nats.Msg{Subject: kvSubject(kv, key), Data: value},
		jetstream.WithExpectLastSequencePerSubject(rev), jetstream.WithMsgTTL(ttl))
	return err
}

// keys lists the live keys of kv matching filter.
func (s *Store) keys(ctx context.Context, kv jetstream.KeyValue, filter string) ([]string, error) {
	lister, err := kv.ListKeysFiltered(ctx, filter)
	if err != nil {
		return nil, err
	}
	defer func() { _ = lister.Stop() }()
	var keys []string
	for k := range lister.Keys() {
		keys = append(keys, k)
	}
	// The lister closes its channel early, without an error, if ctx ends.
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return keys, nil
}

// conflict reports whether err is a failed compare-and-set.
func conflict(err error) bool {
	var apiErr *jetstream.APIError
	return errors.As(err, &apiErr) &&
		(apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequence ||
			apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequenceConstant)
}

// seconds rounds d up to whole seconds, at least one: JetStream TTLs have
// second resolution and truncate.
func seconds(d time.Duration) time.Duration {
	return time.Duration(check.Seconds(d)) * time.Second
}

// fail wraps err from an operation, marking connection-level failures
// store.ErrUnavailable.
func fail(op string, err error) error {
	if unavailable(err) {
		return fmt.Errorf("jsstore: %s: %w: %w", op, store.ErrUnavailable, err)
	}
	return fmt.Errorf("jsstore: %s: %w", op, err)
}

// unavailable reports whether err means the server could not be used
// (rather than that it refused the request).
func unavailable(err error) bool {
	if errors.Is(err, context.Canceled) {
		return false // the caller gave up
	}
	for _, target := range []error{
		context.DeadlineExceeded,
		nats.ErrTimeout,
		nats.ErrNoServers,
		nats.ErrNoResponders,
		nats.ErrConnectionClosed,
		nats.ErrConnectionDraining,
		nats.ErrConnectionReconnecting,
		nats.ErrDisconnected,
		jetstream.ErrNoStreamResponse,
		jetstream.ErrServerShutdown,
		jetstream.ErrJetStreamNotEnabled,
	} {
		if errors.Is(err, target) {
			return true
		}
	}
	var apiErr *jetstream.APIError
	return errors.As(err, &apiErr) && apiErr.Code == 503
}
