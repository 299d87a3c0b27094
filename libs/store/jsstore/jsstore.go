package jsstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"kubently.io/libs/contracts"
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
	// claimRetries bounds Claim's retries (1ms, 2ms, 4ms, ... 63ms in all)
	// while the consumer catches up with the stream.
	claimRetries = 6
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
	clusters   jetstream.KeyValue
	bridge     string // stream name
	stream     jetstream.Stream
	subject    string // bridge subject prefix, without the trailing dot

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
	if s.clusters, err = kv("CLUSTERS", "Kubently cluster registry: <cluster> -> token hash"); err != nil {
		return nil, fail("set up clusters bucket", err)
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

// Sessions.

func liveKey(cluster, id string) string { return "live." + cluster + "." + id }
func recKey(id string) string           { return "rec." + id }

// CreateSession implements store.Sessions.
func (s *Store) CreateSession(ctx context.Context, sess contracts.Session, ttl time.Duration) error {
	if err := check.Session(sess, ttl); err != nil {
		return err
	}
	if err := s.ready(); err != nil {
		return err
	}
	sess.State = contracts.SessionActive
	sess.EndedAt = nil
	b, err := json.Marshal(sess)
	if err != nil {
		return fmt.Errorf("jsstore: encode session: %w", err)
	}
	// The record decides whether the id is taken (it outlives the live key).
	if _, err := s.sessions.Create(ctx, recKey(sess.ID), b, jetstream.KeyTTL(seconds(ttl+store.SessionTombstone))); err != nil {
		if errors.Is(err, jetstream.ErrKeyExists) {
			return fmt.Errorf("%w: session %s", store.ErrExists, sess.ID)
		}
		return fail("create session", err)
	}
	if _, err := s.sessions.Create(ctx, liveKey(sess.Cluster, sess.ID), b, jetstream.KeyTTL(seconds(ttl))); err != nil {
		// Free the id again; if that fails too the session reads as
		// expired, which is what a caller seeing an error must assume.
		_ = s.sessions.Purge(context.WithoutCancel(ctx), recKey(sess.ID), jetstream.PurgeTTL(markerTTL))
		return fail("create session", err)
	}
	return nil
}

// GetSession implements store.Sessions.
func (s *Store) GetSession(ctx context.Context, id string) (contracts.Session, error) {
	if err := check.SessionID(id); err != nil {
		return contracts.Session{}, err
	}
	if err := s.ready(); err != nil {
		return contracts.Session{}, err
	}
	v, err := s.readSession(ctx, id)
	return v.sess, err
}

// sessionView is a session as read, with the revisions to compare-and-set
// against.
type sessionView struct {
	sess    contracts.Session // State computed
	rec     uint64            // revision of the record
	live    uint64            // revision of the live key; 0 if none
	liveKey string
}

// readSession reads the record, then (unless it says ended) the live key.
func (s *Store) readSession(ctx context.Context, id string) (sessionView, error) {
	var v sessionView
	rec, err := s.sessions.Get(ctx, recKey(id))
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return v, fmt.Errorf("%w: session %s", store.ErrNotFound, id)
	}
	if err != nil {
		return v, fail("get session", err)
	}
	if err := json.Unmarshal(rec.Value(), &v.sess); err != nil {
		return v, fmt.Errorf("jsstore: decode session %s: %w", id, err)
	}
	v.rec = rec.Revision()
	if v.sess.State == contracts.SessionEnded {
		return v, nil
	}
	v.liveKey = liveKey(v.sess.Cluster, id)
	live, err := s.sessions.Get(ctx, v.liveKey)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		v.sess.State = contracts.SessionExpired
		return v, nil
	}
	if err != nil {
		return v, fail("get session", err)
	}
	if err := json.Unmarshal(live.Value(), &v.sess); err != nil {
		return v, fmt.Errorf("jsstore: decode session %s: %w", id, err)
	}
	v.sess.State = contracts.SessionActive
	v.live = live.Revision()
	return v, nil
}

// TouchSession implements store.Sessions.
func (s *Store) TouchSession(ctx context.Context, id string, ttl time.Duration) (contracts.Session, error) {
	if err := check.SessionID(id); err != nil {
		return contracts.Session{}, err
	}
	if err := check.TTL(ttl); err != nil {
		return contracts.Session{}, err
	}
	if err := s.ready(); err != nil {
		return contracts.Session{}, err
	}
	for range casAttempts {
		v, err := s.readSession(ctx, id)
		if err != nil || v.sess.State != contracts.SessionActive {
			return v.sess, err
		}
		sess := v.sess
		sess.ExpiresAt = time.Now().Add(ttl).UTC()
		sess.TTLSeconds = check.Seconds(ttl)
		b, err := json.Marshal(sess)
		if err != nil {
			return contracts.Session{}, fmt.Errorf("jsstore: encode session: %w", err)
		}
		// Live key first: if it expired or was purged since we read it, the
		// write fails and the next read says so.
		if err := s.cas(ctx, s.sessions, v.liveKey, b, v.live, seconds(ttl)); err != nil {
			if conflict(err) {
				continue
			}
			return contracts.Session{}, fail("touch session", err)
		}
		if err := s.cas(ctx, s.sessions, recKey(id), b, v.rec, seconds(ttl+store.SessionTombstone)); err != nil {
			if conflict(err) {
				continue // ended meanwhile (then we say so), or another touch
			}
			return contracts.Session{}, fail("touch session", err)
		}
		return sess, nil
	}
	return contracts.Session{}, fmt.Errorf("jsstore: touch session %s: too much contention", id)
}

// EndSession implements store.Sessions.
func (s *Store) EndSession(ctx context.Context, id string) (contracts.Session, error) {
	if err := check.SessionID(id); err != nil {
		return contracts.Session{}, err
	}
	if err := s.ready(); err != nil {
		return contracts.Session{}, err
	}
	for range casAttempts {
		v, err := s.readSession(ctx, id)
		if err != nil || v.sess.State != contracts.SessionActive {
			return v.sess, err
		}
		sess := v.sess
		now := time.Now().UTC()
		sess.State = contracts.SessionEnded
		sess.EndedAt = &now
		b, err := json.Marshal(sess)
		if err != nil {
			return contracts.Session{}, fmt.Errorf("jsstore: encode session: %w", err)
		}
		// The record decides: once it says ended, the session is ended
		// whatever the live key does.
		if err := s.cas(ctx, s.sessions, recKey(id), b, v.rec, seconds(store.SessionTombstone)); err != nil {
			if conflict(err) {
				continue
			}
			return contracts.Session{}, fail("end session", err)
		}
		// Best effort: a leftover live key only lingers until its TTL.
		_ = s.sessions.Purge(ctx, v.liveKey, jetstream.PurgeTTL(markerTTL))
		return sess, nil
	}
	return contracts.Session{}, fmt.Errorf("jsstore: end session %s: too much contention", id)
}

// ListSessions implements store.Sessions.
func (s *Store) ListSessions(ctx context.Context, cluster string) ([]contracts.Session, error) {
	if err := check.Cluster(cluster); err != nil {
		return nil, err
	}
	if err := s.ready(); err != nil {
		return nil, err
	}
	keys, err := s.keys(ctx, s.sessions, liveKey(cluster, "*"))
	if err != nil {
		return nil, fail("list sessions", err)
	}
	out := make([]contracts.Session, 0, len(keys))
	for _, k := range keys {
		id := k[strings.LastIndexByte(k, '.')+1:]
		v, err := s.readSession(ctx, id)
		if errors.Is(err, store.ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, err
		}
		if v.sess.State == contracts.SessionActive && v.sess.Cluster == cluster {
			out = append(out, v.sess)
		}
	}
	slices.SortFunc(out, func(a, b contracts.Session) int {
		if c := a.CreatedAt.Compare(b.CreatedAt); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
	return out, nil
}

// Bridge.

// owner is the value of an owners key.
type owner struct {
	Cluster string    `json:"cluster_id"`
	Until   time.Time `json:"until"`
	// Lease is the ack subject of the command's latest delivery by Claim;
	// empty before the first claim and after Ack.
	Lease string `json:"lease,omitempty"`
	// Fenced marks an id Fence claimed before any Enqueue (no cluster).
	Fenced bool `json:"fenced,omitempty"`
}

// createOwner records o for id unless a live record exists, which it
// returns instead (created false).
func (s *Store) createOwner(ctx context.Context, id string, o owner) (cur owner, created bool, err error) {
	b, err := json.Marshal(o)
	if err != nil {
		return owner{}, false, fmt.Errorf("encode owner: %w", err)
	}
	ttl := seconds(time.Until(o.Until))
	for range 3 {
		_, err := s.owners.Create(ctx, id, b, jetstream.KeyTTL(ttl))
		if err == nil {
			return o, true, nil
		}
		if !errors.Is(err, jetstream.ErrKeyExists) {
			return owner{}, false, err
		}
		e, err := s.owners.Get(ctx, id)
		if errors.Is(err, jetstream.ErrKeyNotFound) {
			continue // it expired meanwhile
		}
		if err != nil {
			return owner{}, false, err
		}
		if err := json.Unmarshal(e.Value(), &cur); err != nil {
			return owner{}, false, fmt.Errorf("decode owner of %s: %w", id, err)
		}
		if time.Now().Before(cur.Until) {
			return cur, false, nil
		}
		// Past its exact time, not yet past its whole-second TTL.
		if err := s.cas(ctx, s.owners, id, b, e.Revision(), ttl); err == nil {
			return o, true, nil
		} else if !conflict(err) {
			return owner{}, false, err
		}
	}
	return owner{}, false, fmt.Errorf("owner of %s kept changing", id)
}

// putOwner writes o under a command id until o.Until.
func (s *Store) putOwner(ctx context.Context, id string, o owner) error {
	b, err := json.Marshal(o)
	if err != nil {
		return fmt.Errorf("encode owner: %w", err)
	}
	return s.put(ctx, s.owners, id, b, seconds(time.Until(o.Until)))
}

// getOwner reads a command's owner record.
func (s *Store) getOwner(ctx context.Context, id string) (owner, error) {
	var o owner
	e, err := s.owners.Get(ctx, id)
	if err != nil {
		return o, err
	}
	if err := json.Unmarshal(e.Value(), &o); err != nil {
		return o, fmt.Errorf("decode owner of %s: %w", id, err)
	}
	return o, nil
}

// Enqueue implements store.Bridge.
func (s *Store) Enqueue(ctx context.Context, cmd contracts.Command) error {
	if err := check.Command(cmd); err != nil {
		return err
	}
	if err := s.ready(); err != nil {
		return err
	}
	b, err := json.Marshal(cmd)
	if err != nil {
		return fmt.Errorf("jsstore: encode command: %w", err)
	}
	now := time.Now()
	// The owner first: a command an executor can claim must be
	// attributable when its result comes back.
	if until := cmd.Deadline.Add(s.grace); until.After(now) {
		cur, created, err := s.createOwner(ctx, cmd.ID, owner{Cluster: cmd.Cluster, Until: until.UTC()})
		if err != nil {
			return fail("enqueue", err)
		}
		if !created && (cur.Fenced || cur.Cluster != cmd.Cluster) {
			return fmt.Errorf("%w: command id %s is fenced or was issued to another cluster", store.ErrConflict, cmd.ID)
		}
	}
	msg := &nats.Msg{Subject: s.subject + "." + cmd.Cluster, Data: b}
	// The message ID makes a retried Enqueue of the same command a no-op
	// (within the stream's 2m duplicate window).
	if _, err := s.js.PublishMsg(ctx, msg, jetstream.WithMsgID(cmd.ID), jetstream.WithMsgTTL(seconds(cmd.Deadline.Sub(now)))); err != nil {
		return fail("enqueue", err)
	}
	return nil
}

// consumer returns the cluster's durable pull consumer, creating it on
// first use.
func (s *Store) consumer(ctx context.Context, cluster string) (jetstream.Consumer, error) {
	s.mu.Lock()
	c, ok := s.consumers[cluster]
	s.mu.Unlock()
	if ok {
		return c, nil
	}
	c, err := s.js.CreateOrUpdateConsumer(ctx, s.bridge, jetstream.ConsumerConfig{
		Durable:       cluster,
		Description:   "Kubently executors of cluster " + cluster,
		FilterSubject: s.subject + "." + cluster,
		DeliverPolicy: jetstream.DeliverAllPolicy,
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       s.visibility,
	})
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	s.consumers[cluster] = c
	s.mu.Unlock()
	return c, nil
}

func (s *Store) forgetConsumer(cluster string) {
	s.mu.Lock()
	delete(s.consumers, cluster)
	s.mu.Unlock()
}

// Claim implements store.Bridge. All claimers of a cluster share its one
// durable consumer; consumer is only checked.
func (s *Store) Claim(ctx context.Context, cluster, consumer string, max int) ([]contracts.Command, error) {
	if err := check.Cluster(cluster); err != nil {
		return nil, err
	}
	if err := check.Token("consumer", consumer); err != nil {
		return nil, err
	}
	if err := check.Max(max); err != nil {
		return nil, err
	}
	if err := s.ready(); err != nil {
		return nil, err
	}
	out := make([]contracts.Command, 0, min(max, 64))
	recreated, retries := false, 0
	// backoff waits before a retry; false when retries or ctx ran out.
	backoff := func() bool {
		if retries >= claimRetries {
			return false
		}
		retries++
		select {
		case <-ctx.Done():
			return false
		case <-time.After(time.Millisecond << (retries - 1)):
			return true
		}
	}
	for len(out) < max {
		want := max - len(out)
		n, cmds, err := s.fetch(ctx, cluster, want)
		out = append(out, cmds...)
		switch {
		case err == nil:
		case !recreated && (errors.Is(err, jetstream.ErrConsumerNotFound) || errors.Is(err, jetstream.ErrConsumerDeleted)):
			// Deleted behind our back (or the stream was recreated).
			s.forgetConsumer(cluster)
			recreated = true
			continue
		case errors.Is(err, nats.ErrNoResponders) && backoff():
			// The consumer was just created by another process and is not
			// listening yet.
			continue
		case len(out) > 0:
			// What was acknowledged is ours; the rest stays queued.
			return out, nil
		default:
			return out, fail("claim", err)
		}
		if n == want {
			continue
		}
		// A short batch. The consumer learns of new messages
		// asynchronously, so a command enqueued a moment ago may not be
		// fetchable yet: retry briefly while the stream holds commands
		// that no one has been handed.
		more, err := s.undelivered(ctx, cluster)
		if err != nil {
			if len(out) > 0 {
				return out, nil
			}
			return out, fail("claim", err)
		}
		if !more || !backoff() {
			break
		}
	}
	return out, nil
}

// undelivered reports whether the cluster's queue holds commands that
// have not been handed to any claimer.
func (s *Store) undelivered(ctx context.Context, cluster string) (bool, error) {
	subj := s.subject + "." + cluster
	si, err := s.stream.Info(ctx, jetstream.WithSubjectFilter(subj))
	if err != nil {
		return false, fmt.Errorf("stream info: %w", err)
	}
	queued := si.State.Subjects[subj]
	if queued == 0 {
		return false, nil
	}
	cons, err := s.consumer(ctx, cluster)
	if err != nil {
		return false, fmt.Errorf("consumer: %w", err)
	}
	ci, err := cons.Info(ctx)
	if err != nil {
		return false, fmt.Errorf("consumer info: %w", err)
	}
	return queued > uint64(ci.NumAckPending), nil
}

// fetch takes up to want messages without waiting and leases them: each
// stays unacknowledged (redelivered after the consumer's AckWait) and its
// ack subject is recorded with its owner, so Ack, on any process, can
// acknowledge it. n counts every message received, returned or dropped.
func (s *Store) fetch(ctx context.Context, cluster string, want int) (n int, out []contracts.Command, err error) {
	cons, err := s.consumer(ctx, cluster)
	if err != nil {
		return 0, nil, fmt.Errorf("consumer: %w", err)
	}
	batch, err := cons.FetchNoWait(want)
	if err != nil {
		return 0, nil, fmt.Errorf("fetch: %w", err)
	}
	var leaseErr error
	for {
		var msg jetstream.Msg
		var ok bool
		select {
		case msg, ok = <-batch.Messages():
		case <-ctx.Done():
			// Unreturned messages are delivered again after AckWait.
			return n, out, ctx.Err()
		}
		if !ok {
			break
		}
		n++
		var cmd contracts.Command
		if err := json.Unmarshal(msg.Data(), &cmd); err != nil || cmd.Expired(time.Now()) {
			_ = msg.Ack() // dropped: remove it, no need to wait
			continue
		}
		if err := s.lease(ctx, cmd, msg.Reply()); err != nil {
			// Not returned: an executor could not acknowledge it. Hand it
			// out again at once.
			_ = msg.Nak()
			leaseErr = fmt.Errorf("lease: %w", err)
			continue
		}
		out = append(out, cmd)
	}
	if err := batch.Error(); err != nil {
		return n, out, fmt.Errorf("fetch: %w", err)
	}
	return n, out, leaseErr
}

// lease records the ack subject of cmd's delivery with its owner.
func (s *Store) lease(ctx context.Context, cmd contracts.Command, reply string) error {
	if reply == "" {
		return errors.New("message has no ack subject")
	}
	return s.putOwner(ctx, cmd.ID, owner{Cluster: cmd.Cluster, Until: cmd.Deadline.Add(s.grace).UTC(), Lease: reply})
}

// Ack implements store.Bridge: each command's latest delivery is
// acknowledged (a double ack, confirmed by the server) through the ack
// subject Claim recorded, and the record is cleared so a repeated Ack is
// a no-op. A command not claimed yet is ignored.
func (s *Store) Ack(ctx context.Context, cluster string, commandIDs []string) (int, error) {
	if err := check.Cluster(cluster); err != nil {
		return 0, err
	}
	if err := check.CommandIDs(commandIDs); err != nil {
		return 0, err
	}
	if err := s.ready(); err != nil {
		return 0, err
	}
	n := 0
	for _, id := range commandIDs {
		o, err := s.getOwner(ctx, id)
		if errors.Is(err, jetstream.ErrKeyNotFound) {
			continue
		}
		if err != nil {
			return n, fail("ack", err)
		}
		if o.Cluster != cluster || o.Lease == "" || !time.Now().Before(o.Until) {
			continue
		}
		if _, err := s.nc.RequestWithContext(ctx, o.Lease, []byte("+ACK")); err != nil {
			return n, fail("ack", err)
		}
		o.Lease = ""
		if err := s.putOwner(ctx, id, o); err != nil {
			return n, fail("ack", err)
		}
		n++
	}
	return n, nil
}

// Depth implements store.Bridge: the number of messages the bridge stream
// holds on the cluster's subject (one stream info request filtered to that
// literal subject). The stream is a work queue, so a claimed (acknowledged)
// command is gone from it; one handed to a claimer whose acknowledgement
// failed stays, and is counted, until it is delivered again and claimed.
// Commands past their deadline leave with their message TTL. It reads the
// stream, not the cluster's consumer, so it creates no consumer and counts
// commands queued before any executor connected.
func (s *Store) Depth(ctx context.Context, cluster string) (int, error) {
	if err := check.Cluster(cluster); err != nil {
		return 0, err
	}
	if err := s.ready(); err != nil {
		return 0, err
	}
	subj := s.subject + "." + cluster
	si, err := s.stream.Info(ctx, jetstream.WithSubjectFilter(subj))
	if err != nil {
		return 0, fail("depth", err)
	}
	return int(si.State.Subjects[subj]), nil
}

// Queues implements store.Bridge with one stream info request filtered
// to every cluster's subject (paged by the server for many subjects), so
// its cost follows the clusters whose queue holds commands, not
// len(clusters). Depth is as Depth counts it. Every queue that is not
// empty is Claimable: the consumer does not tell a lease that ran out
// from one that runs, so a queue whose commands are all leased is too
// (its Claim returns nothing until a lease runs out or the executor
// acks).
func (s *Store) Queues(ctx context.Context, clusters []string) ([]store.QueueState, error) {
	for _, c := range clusters {
		if err := check.Cluster(c); err != nil {
			return nil, err
		}
	}
	if len(clusters) == 0 {
		return nil, nil
	}
	if err := s.ready(); err != nil {
		return nil, err
	}
	si, err := s.stream.Info(ctx, jetstream.WithSubjectFilter(s.subject+".>"))
	if err != nil {
		return nil, fail("queues", err)
	}
	var out []store.QueueState
	for _, c := range clusters {
		if n := si.State.Subjects[s.subject+"."+c]; n > 0 {
			out = append(out, store.QueueState{Cluster: c, Depth: int(n), Claimable: true})
		}
	}
	return out, nil
}

// Owner implements store.Bridge.
func (s *Store) Owner(ctx context.Context, commandID string) (string, error) {
	if err := check.CommandID(commandID); err != nil {
		return "", err
	}
	if err := s.ready(); err != nil {
		return "", err
	}
	o, err := s.getOwner(ctx, commandID)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return "", fmt.Errorf("%w: command %s", store.ErrNotFound, commandID)
	}
	if err != nil {
		return "", fail("owner", err)
	}
	// The key's TTL has whole-second resolution; the recorded time is exact.
	if !time.Now().Before(o.Until) || o.Fenced {
		return "", fmt.Errorf("%w: command %s", store.ErrNotFound, commandID)
	}
	return o.Cluster, nil
}

// answer is the value of an answers key (ans.<command id>).
type answer struct {
	Executor string    `json:"executor_id"`
	Until    time.Time `json:"until"`
}

// MarkAnswered implements store.Bridge: a KV Create (atomic
// create-if-absent) of ans.<command id> that lives as long as the owner.
func (s *Store) MarkAnswered(ctx context.Context, commandID, executorID string) (bool, string, error) {
	if err := check.CommandID(commandID); err != nil {
		return false, "", err
	}
	if err := check.ExecutorID(executorID); err != nil {
		return false, "", err
	}
	if err := s.ready(); err != nil {
		return false, "", err
	}
	o, err := s.getOwner(ctx, commandID)
	if errors.Is(err, jetstream.ErrKeyNotFound) || (err == nil && (!time.Now().Before(o.Until) || o.Fenced)) {
		return false, "", fmt.Errorf("%w: command %s", store.ErrNotFound, commandID)
	}
	if err != nil {
		return false, "", fail("mark answered", err)
	}
	b, err := json.Marshal(answer{Executor: executorID, Until: o.Until})
	if err != nil {
		return false, "", fmt.Errorf("jsstore: encode answer: %w", err)
	}
	key := "ans." + commandID
	_, err = s.owners.Create(ctx, key, b, jetstream.KeyTTL(seconds(time.Until(o.Until))))
	if err == nil {
		return true, executorID, nil
	}
	if !errors.Is(err, jetstream.ErrKeyExists) {
		return false, "", fail("mark answered", err)
	}
	e, err := s.owners.Get(ctx, key)
	if err != nil {
		return false, "", fail("mark answered", err)
	}
	var a answer
	if err := json.Unmarshal(e.Value(), &a); err != nil {
		return false, "", fmt.Errorf("jsstore: decode answer of %s: %w", commandID, err)
	}
	return false, a.Executor, nil
}

// Fence implements store.Bridge: a create-if-absent of the owner record
// with the fence flag; an existing record is reported with the answer.
func (s *Store) Fence(ctx context.Context, commandID string, until time.Time) (store.CommandState, error) {
	if err := check.CommandID(commandID); err != nil {
		return store.CommandState{}, err
	}
	if !until.After(time.Now()) {
		return store.CommandState{}, fmt.Errorf("%w: fence until %s is not in the future", store.ErrInvalid, until.Format(time.RFC3339))
	}
	if err := s.ready(); err != nil {
		return store.CommandState{}, err
	}
	cur, created, err := s.createOwner(ctx, commandID, owner{Fenced: true, Until: until.UTC()})
	if err != nil {
		return store.CommandState{}, fail("fence", err)
	}
	if created || cur.Fenced {
		return store.CommandState{}, nil
	}
	st := store.CommandState{Queued: true}
	e, err := s.owners.Get(ctx, "ans."+commandID)
	switch {
	case errors.Is(err, jetstream.ErrKeyNotFound):
		return st, nil
	case err != nil:
		return store.CommandState{}, fail("fence", err)
	}
	var a answer
	if err := json.Unmarshal(e.Value(), &a); err != nil {
		return store.CommandState{}, fmt.Errorf("jsstore: decode answer of %s: %w", commandID, err)
	}
	st.AnsweredBy = a.Executor
	return st, nil
}

// Presence.

// seenKey is the presence key of a cluster's last-seen record; no
// cluster id starts with "_", so it never matches "<cluster>.*".
func seenKey(cluster string) string { return "_seen." + cluster }

// seen is the value of a last-seen key.
type seen struct {
	Seen time.Time `json:"seen"`
}

// touchSeen writes the cluster's last-seen record (last writer wins).
func (s *Store) touchSeen(ctx context.Context, cluster string, at time.Time) error {
	b, err := json.Marshal(seen{Seen: at.UTC()})
	if err != nil {
		return fmt.Errorf("encode last seen: %w", err)
	}
	return s.put(ctx, s.presence, seenKey(cluster), b, store.SeenRetention)
}

// LastSeen implements store.Presence.
func (s *Store) LastSeen(ctx context.Context, cluster string) (time.Time, error) {
	if err := check.Cluster(cluster); err != nil {
		return time.Time{}, err
	}
	if err := s.ready(); err != nil {
		return time.Time{}, err
	}
	e, err := s.presence.Get(ctx, seenKey(cluster))
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return time.Time{}, fmt.Errorf("%w: no stream of cluster %s seen", store.ErrNotFound, cluster)
	}
	if err != nil {
		return time.Time{}, fail("last seen", err)
	}
	var v seen
	if err := json.Unmarshal(e.Value(), &v); err != nil {
		return time.Time{}, fmt.Errorf("jsstore: decode last seen of %s: %w", cluster, err)
	}
	return v.Seen, nil
}

// presence is the value of a presence key.
type presence struct {
	Info      contracts.ExecutorInfo `json:"info"`
	ExpiresAt time.Time              `json:"expires_at"`
}

// Heartbeat implements store.Presence.
func (s *Store) Heartbeat(ctx context.Context, info contracts.ExecutorInfo, ttl time.Duration) error {
	if err := check.Info(info, ttl); err != nil {
		return err
	}
	if err := s.ready(); err != nil {
		return err
	}
	now := time.Now()
	b, err := json.Marshal(presence{Info: info, ExpiresAt: now.Add(ttl).UTC()})
	if err != nil {
		return fmt.Errorf("jsstore: encode executor info: %w", err)
	}
	if err := s.put(ctx, s.presence, info.Cluster+"."+info.ConnID, b, seconds(ttl)); err != nil {
		return fail("heartbeat", err)
	}
	if err := s.touchSeen(ctx, info.Cluster, now); err != nil {
		return fail("heartbeat", err)
	}
	return nil
}

// Leave implements store.Presence.
func (s *Store) Leave(ctx context.Context, cluster, connID string) error {
	if err := check.Cluster(cluster); err != nil {
		return err
	}
	if err := check.Token("connection id", connID); err != nil {
		return err
	}
	if err := s.ready(); err != nil {
		return err
	}
	if err := s.presence.Purge(ctx, cluster+"."+connID, jetstream.PurgeTTL(markerTTL)); err != nil {
		return fail("leave", err)
	}
	if err := s.touchSeen(ctx, cluster, time.Now()); err != nil {
		return fail("leave", err)
	}
	return nil
}

// Connected implements store.Presence.
func (s *Store) Connected(ctx context.Context, cluster string) ([]contracts.ExecutorInfo, error) {
	if err := check.Cluster(cluster); err != nil {
		return nil, err
	}
	if err := s.ready(); err != nil {
		return nil, err
	}
	keys, err := s.keys(ctx, s.presence, cluster+".*")
	if err != nil {
		return nil, fail("connected", err)
	}
	now := time.Now()
	out := make([]contracts.ExecutorInfo, 0, len(keys))
	for _, k := range keys {
		e, err := s.presence.Get(ctx, k)
		if errors.Is(err, jetstream.ErrKeyNotFound) {
			continue // left or expired since listed
		}
		if err != nil {
			return nil, fail("connected", err)
		}
		var p presence
		if err := json.Unmarshal(e.Value(), &p); err != nil {
			return nil, fmt.Errorf("jsstore: decode executor info %s: %w", k, err)
		}
		if now.Before(p.ExpiresAt) {
			out = append(out, p.Info)
		}
	}
	slices.SortFunc(out, func(a, b contracts.ExecutorInfo) int {
		if c := a.ConnectedAt.Compare(b.ConnectedAt); c != 0 {
			return c
		}
		return strings.Compare(a.ConnID, b.ConnID)
	})
	return out, nil
}

// Helpers.

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
