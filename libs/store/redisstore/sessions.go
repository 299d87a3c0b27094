package redisstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"kubently.io/libs/contracts"
	"kubently.io/libs/store"
	"kubently.io/libs/store/internal/check"
)

const (
	// KEYS live, rec; ARGV json, live ttl ms, rec ttl ms. 1 created, 0 exists.
	createSrc = `
if redis.call('EXISTS', KEYS[1], KEYS[2]) > 0 then return 0 end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
redis.call('SET', KEYS[2], ARGV[1], 'PX', ARGV[3])
return 1`

	// KEYS live, rec; ARGV expected live json, new live json ('' deletes
	// the live key), live ttl ms, rec json, rec ttl ms. 1 done, 0 the live
	// key changed (or is gone) since it was read.
	casSrc = `
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
if ARGV[2] == '' then
  redis.call('DEL', KEYS[1])
else
  redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
end
redis.call('SET', KEYS[2], ARGV[4], 'PX', ARGV[5])
return 1`
)

// CreateSession implements store.Sessions.
func (s *Store) CreateSession(ctx context.Context, sess contracts.Session, ttl time.Duration) error {
	if err := check.Session(sess, ttl); err != nil {
		return err
	}
	sess.State = contracts.SessionActive
	sess.EndedAt = nil
	b, err := json.Marshal(sess)
	if err != nil {
		return fmt.Errorf("redisstore: encode session: %w", err)
	}
	// The index is a superset of the active sessions (List checks each
	// one), so it is written first and outside the script, which keeps the
	// script to the keys of one hash tag.
	expiry := time.Now().Add(ttl).UnixMilli()
	pipe := s.rdb.Pipeline()
	pipe.ZAddGT(ctx, s.indexKey(sess.Cluster), redis.Z{Score: float64(expiry), Member: sess.ID})
	created := s.createScript.Eval(ctx, pipe, []string{s.liveKey(sess.ID), s.recKey(sess.ID)},
		b, millis(ttl), millis(ttl+store.SessionTombstone))
	if _, err := pipe.Exec(ctx); err != nil {
		return fail("create session", err)
	}
	if n, _ := created.Int(); n == 0 {
		return fmt.Errorf("%w: session %s", store.ErrExists, sess.ID)
	}
	return nil
}

// GetSession implements store.Sessions.
func (s *Store) GetSession(ctx context.Context, id string) (contracts.Session, error) {
	if err := check.SessionID(id); err != nil {
		return contracts.Session{}, err
	}
	live, rec, err := s.readSession(ctx, id)
	if err != nil {
		return contracts.Session{}, err
	}
	return resolve(id, live, rec)
}

// TouchSession implements store.Sessions.
func (s *Store) TouchSession(ctx context.Context, id string, ttl time.Duration) (contracts.Session, error) {
	if err := check.SessionID(id); err != nil {
		return contracts.Session{}, err
	}
	if err := check.TTL(ttl); err != nil {
		return contracts.Session{}, err
	}
	for range casAttempts {
		live, rec, err := s.readSession(ctx, id)
		if err != nil {
			return contracts.Session{}, err
		}
		sess, err := resolve(id, live, rec)
		if err != nil || sess.State != contracts.SessionActive {
			return sess, err
		}
		now := time.Now()
		sess.ExpiresAt = now.Add(ttl).UTC()
		sess.TTLSeconds = check.Seconds(ttl)
		b, err := json.Marshal(sess)
		if err != nil {
			return contracts.Session{}, fmt.Errorf("redisstore: encode session: %w", err)
		}
		pipe := s.rdb.Pipeline()
		done := s.casScript.Eval(ctx, pipe, []string{s.liveKey(id), s.recKey(id)},
			*live, b, millis(ttl), b, millis(ttl+store.SessionTombstone))
		// GT: a lost race only ever leaves a later expiry, which List
		// tolerates (it checks the live key).
		pipe.ZAddGT(ctx, s.indexKey(sess.Cluster), redis.Z{Score: float64(sess.ExpiresAt.UnixMilli()), Member: id})
		if _, err := pipe.Exec(ctx); err != nil {
			return contracts.Session{}, fail("touch session", err)
		}
		if n, _ := done.Int(); n == 1 {
			return sess, nil
		}
	}
	return contracts.Session{}, fmt.Errorf("redisstore: touch session %s: too much contention", id)
}

// EndSession implements store.Sessions.
func (s *Store) EndSession(ctx context.Context, id string) (contracts.Session, error) {
	if err := check.SessionID(id); err != nil {
		return contracts.Session{}, err
	}
	for range casAttempts {
		live, rec, err := s.readSession(ctx, id)
		if err != nil {
			return contracts.Session{}, err
		}
		sess, err := resolve(id, live, rec)
		if err != nil || sess.State != contracts.SessionActive {
			return sess, err
		}
		now := time.Now().UTC()
		sess.State = contracts.SessionEnded
		sess.EndedAt = &now
		b, err := json.Marshal(sess)
		if err != nil {
			return contracts.Session{}, fmt.Errorf("redisstore: encode session: %w", err)
		}
		n, err := s.casScript.Run(ctx, s.rdb, []string{s.liveKey(id), s.recKey(id)},
			*live, "", 0, b, store.SessionTombstone.Milliseconds()).Int()
		if err != nil {
			return contracts.Session{}, fail("end session", err)
		}
		if n == 1 {
			return sess, nil
		}
	}
	return contracts.Session{}, fmt.Errorf("redisstore: end session %s: too much contention", id)
}

// ListSessions implements store.Sessions.
func (s *Store) ListSessions(ctx context.Context, cluster string) ([]contracts.Session, error) {
	if err := check.Cluster(cluster); err != nil {
		return nil, err
	}
	idx := s.indexKey(cluster)
	pipe := s.rdb.Pipeline()
	pipe.ZRemRangeByScore(ctx, idx, "-inf", strconv.FormatInt(time.Now().UnixMilli(), 10))
	members := pipe.ZRange(ctx, idx, 0, -1)
	if _, err := pipe.Exec(ctx); err != nil {
		return nil, fail("list sessions", err)
	}
	ids := members.Val()
	out := make([]contracts.Session, 0, len(ids))
	if len(ids) == 0 {
		return out, nil
	}
	pipe = s.rdb.Pipeline()
	gets := make([]*redis.StringCmd, len(ids))
	for i, id := range ids {
		gets[i] = pipe.Get(ctx, s.liveKey(id))
	}
	if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
		return nil, fail("list sessions", err)
	}
	var gone []any
	for i, g := range gets {
		b, err := g.Bytes()
		var sess contracts.Session
		if err == nil {
			err = json.Unmarshal(b, &sess)
		}
		if err != nil || sess.Cluster != cluster {
			gone = append(gone, ids[i])
			continue
		}
		sess.State = contracts.SessionActive
		out = append(out, sess)
	}
	if len(gone) > 0 {
		// Ended (or undecodable) sessions; best effort, the next list
		// retries.
		_ = s.rdb.ZRem(ctx, idx, gone...).Err()
	}
	sortSessions(out)
	return out, nil
}

// readSession reads a session's live key and record in one MGET (one hash
// tag); nil means missing.
func (s *Store) readSession(ctx context.Context, id string) (live, rec *string, err error) {
	vals, err := s.rdb.MGet(ctx, s.liveKey(id), s.recKey(id)).Result()
	if err != nil {
		return nil, nil, fail("read session", err)
	}
	str := func(v any) *string {
		if s, ok := v.(string); ok {
			return &s
		}
		return nil
	}
	return str(vals[0]), str(vals[1]), nil
}

// resolve computes a session's state from its live key and record.
func resolve(id string, live, rec *string) (contracts.Session, error) {
	var sess contracts.Session
	switch {
	case live != nil:
		if err := json.Unmarshal([]byte(*live), &sess); err != nil {
			return sess, fmt.Errorf("redisstore: decode session %s: %w", id, err)
		}
		sess.State = contracts.SessionActive
	case rec != nil:
		if err := json.Unmarshal([]byte(*rec), &sess); err != nil {
			return sess, fmt.Errorf("redisstore: decode session %s: %w", id, err)
		}
		if sess.State != contracts.SessionEnded {
			sess.State = contracts.SessionExpired
		}
	default:
		return sess, fmt.Errorf("%w: session %s", store.ErrNotFound, id)
	}
	return sess, nil
}

func sortSessions(ss []contracts.Session) {
	slices.SortFunc(ss, func(a, b contracts.Session) int {
		if c := a.CreatedAt.Compare(b.CreatedAt); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
}
