package jsstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"kubently.io/libs/contracts"
	"kubently.io/libs/store"
	"kubently.io/libs/store/internal/check"
)

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
