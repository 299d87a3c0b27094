package redisstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"kubently.io/libs/contracts"
	"kubently.io/libs/store"
	"kubently.io/libs/store/internal/check"
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

	createScript, casScript, enqueueScript, claimScript, ackScript, heartbeatScript, leaveScript, connectedScript, answerScript, ownerScript, fenceScript, claimableScript *redis.Script
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
		createScript:    redis.NewScript(createSrc),
		casScript:       redis.NewScript(casSrc),
		enqueueScript:   redis.NewScript(enqueueSrc),
		claimScript:     redis.NewScript(claimSrc),
		ackScript:       redis.NewScript(ackSrc),
		heartbeatScript: redis.NewScript(heartbeatSrc),
		leaveScript:     redis.NewScript(leaveSrc),
		answerScript:    redis.NewScript(answerSrc),
		ownerScript:     redis.NewScript(ownerSrc),
		fenceScript:     redis.NewScript(fenceSrc),
		connectedScript: redis.NewScript(connectedSrc),
		claimableScript: redis.NewScript(claimableSrc),
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
func (s *Store) seenKey(cluster string) string {
	return s.prefix + ":presence:seen:{" + cluster + "}"
}
func (s *Store) presenceKey(cluster string) string {
	return s.prefix + ":presence:{" + cluster + "}"
}
func (s *Store) presenceInfoKey(cluster string) string {
	return s.prefix + ":presence:info:{" + cluster + "}"
}

// Lua sources. Each script touches only keys of one hash tag.
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

	// KEYS stream, entry ids; ARGV max length, json, command id, deadline
	// ms, entry ids expiry ms. Appends the command and records its entry
	// id; the id hash lives as long as its latest command (and its grace).
	enqueueSrc = `
local id = redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[1], '*', 'c', ARGV[2], 'i', ARGV[3], 'd', ARGV[4])
redis.call('HSET', KEYS[2], ARGV[3], id)
if redis.call('PTTL', KEYS[2]) == -1 then
  redis.call('PEXPIREAT', KEYS[2], ARGV[5])
else
  redis.call('PEXPIREAT', KEYS[2], ARGV[5], 'GT')
end
return id`

	// KEYS stream, entry ids; ARGV group, consumer, count, lease ms, now
	// ms. Leases up to count entries to the consumer: first entries whose
	// lease ran out (XAUTOCLAIM, oldest first), then new ones
	// (XREADGROUP). Entries past their deadline (field d) are acknowledged
	// and deleted instead. Returns {entries read, payload...}.
	claimSrc = `
local want = tonumber(ARGV[3])
local now = tonumber(ARGV[5])
local out = {0}
local function take(e)
  out[1] = out[1] + 1
  local f = e[2]
  if not f then return end
  local c, i, d
  for k = 1, #f, 2 do
    if f[k] == 'c' then c = f[k+1] elseif f[k] == 'i' then i = f[k+1] elseif f[k] == 'd' then d = tonumber(f[k+1]) end
  end
  if c == nil or (d ~= nil and d <= now) then
    redis.call('XACK', KEYS[1], ARGV[1], e[1])
    redis.call('XDEL', KEYS[1], e[1])
    if i then redis.call('HDEL', KEYS[2], i) end
    return
  end
  out[#out+1] = c
end
local cursor = '0-0'
for _ = 1, 100 do
  local ac = redis.pcall('XAUTOCLAIM', KEYS[1], ARGV[1], ARGV[2], ARGV[4], cursor, 'COUNT', want - out[1])
  if type(ac) == 'table' and ac.err then
    if string.sub(ac.err, 1, 7) ~= 'NOGROUP' then return redis.error_reply(ac.err) end
    redis.call('XGROUP', 'CREATE', KEYS[1], ARGV[1], '0', 'MKSTREAM')
    break
  end
  for _, e in ipairs(ac[2]) do take(e) end
  cursor = ac[1]
  if cursor == '0-0' or out[1] >= want then break end
end
if out[1] < want then
  local r = redis.call('XREADGROUP', 'GROUP', ARGV[1], ARGV[2], 'COUNT', want - out[1], 'STREAMS', KEYS[1], '>')
  if r then
    for _, e in ipairs(r[1][2]) do take(e) end
  end
end
return out`

	// KEYS stream; ARGV group, lease ms. 1 if Claim would lease an entry
	// now: one the group never delivered (its id is above the group's
	// last-delivered-id, or there is no group yet), or a pending one idle
	// for at least the lease; else 0. Reads only.
	claimableSrc = `
local top = redis.call('XREVRANGE', KEYS[1], '+', '-', 'COUNT', 1)
if #top == 0 then return 0 end
local last
for _, g in ipairs(redis.call('XINFO', 'GROUPS', KEYS[1])) do
  local name, ld
  for k = 1, #g, 2 do
    if g[k] == 'name' then name = g[k+1] elseif g[k] == 'last-delivered-id' then ld = g[k+1] end
  end
  if name == ARGV[1] then last = ld end
end
if last == nil then return 1 end
local tm, ts = string.match(top[1][1], '^(%d+)-(%d+)$')
local lm, ls = string.match(last, '^(%d+)-(%d+)$')
tm, ts, lm, ls = tonumber(tm), tonumber(ts), tonumber(lm), tonumber(ls)
if tm > lm or (tm == lm and ts > ls) then return 1 end
if #redis.call('XPENDING', KEYS[1], ARGV[1], 'IDLE', ARGV[2], '-', '+', 1) > 0 then return 1 end
return 0`

	// KEYS stream, entry ids; ARGV group, command ids... Acknowledges and
	// deletes the entries of the commands; returns how many it deleted.
	ackSrc = `
local n = 0
for k = 2, #ARGV do
  local eid = redis.call('HGET', KEYS[2], ARGV[k])
  if eid then
    redis.pcall('XACK', KEYS[1], ARGV[1], eid)
    n = n + redis.call('XDEL', KEYS[1], eid)
    redis.call('HDEL', KEYS[2], ARGV[k])
  end
end
return n`

	// KEYS owner, answered; ARGV executor id. Records the executor as the
	// command's answerer unless one is recorded, for as long as the owner
	// key lives. Returns {1, id} first, {0, earlier id} after, nil if the
	// owner is gone.
	answerSrc = `
local ttl = redis.call('PTTL', KEYS[1])
if ttl <= 0 or redis.call('GET', KEYS[1]) == ARGV[2] then return false end
if redis.call('SET', KEYS[2], ARGV[1], 'NX', 'PX', ttl) then return {1, ARGV[1]} end
return {0, redis.call('GET', KEYS[2])}`

	// KEYS owner; ARGV cluster, until ms, fence marker. Records the owner
	// unless the id is fenced or another cluster's: 1 recorded (or already
	// this cluster's), 0 conflict.
	ownerSrc = `
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PXAT', ARGV[2]) then return 1 end
if redis.call('GET', KEYS[1]) == ARGV[1] then return 1 end
return 0`

	// KEYS owner, answered; ARGV fence marker, until ms. Fences an id no
	// Enqueue recorded: {0, ''}; for a recorded one, {1, answering
	// executor or ''}.
	fenceSrc = `
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PXAT', ARGV[2]) then return {0, ''} end
if redis.call('GET', KEYS[1]) == ARGV[1] then return {0, ''} end
return {1, redis.call('GET', KEYS[2]) or ''}`

	// seenLua raises the last-seen key (KEYS[3]) to ARGV[4] ms (never
	// lowers it) and keeps it ARGV[5] ms.
	seenLua = `
local seen = tonumber(redis.call('GET', KEYS[3]) or '0') or 0
redis.call('SET', KEYS[3], tostring(math.max(seen, tonumber(ARGV[4]))), 'PX', ARGV[5])
`

	// KEYS zset, hash, seen; ARGV connID, expiry ms, json, now ms,
	// retention ms.
	heartbeatSrc = `
redis.call('ZADD', KEYS[1], ARGV[2], ARGV[1])
redis.call('HSET', KEYS[2], ARGV[1], ARGV[3])
local top = redis.call('ZRANGE', KEYS[1], -1, -1, 'WITHSCORES')
local at = string.format('%.0f', tonumber(top[2]))
redis.call('PEXPIREAT', KEYS[1], at)
redis.call('PEXPIREAT', KEYS[2], at)` + seenLua + `
return 1`

	// KEYS zset, hash, seen; ARGV connID, unused, unused, now ms,
	// retention ms.
	leaveSrc = `
redis.call('ZREM', KEYS[1], ARGV[1])
redis.call('HDEL', KEYS[2], ARGV[1])` + seenLua + `
return 1`

	// KEYS zset, hash; ARGV now ms. Prunes expired members, returns the
	// JSON of the live ones.
	connectedSrc = `
local dead = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])
if #dead > 0 then
  redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])
  redis.call('HDEL', KEYS[2], unpack(dead))
end
local live = redis.call('ZRANGE', KEYS[1], 0, -1)
if #live == 0 then return {} end
return redis.call('HMGET', KEYS[2], unpack(live))`
)

// Sessions.

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

// Bridge.

// Enqueue implements store.Bridge.
func (s *Store) Enqueue(ctx context.Context, cmd contracts.Command) error {
	if err := check.Command(cmd); err != nil {
		return err
	}
	b, err := json.Marshal(cmd)
	if err != nil {
		return fmt.Errorf("redisstore: encode command: %w", err)
	}
	until := cmd.Deadline.Add(s.grace)
	// The owner first: a command an executor can claim must be
	// attributable when its result comes back.
	if until.After(time.Now()) {
		ok, err := s.ownerScript.Run(ctx, s.rdb, []string{s.ownerKey(cmd.ID)}, cmd.Cluster, until.UnixMilli(), fenced).Int()
		if err != nil {
			return fail("enqueue", err)
		}
		if ok != 1 {
			return fmt.Errorf("%w: command id %s is fenced or was issued to another cluster", store.ErrConflict, cmd.ID)
		}
	}
	keys := []string{s.queueKey(cmd.Cluster), s.entryKey(cmd.Cluster)}
	if err := s.enqueueScript.Run(ctx, s.rdb, keys, s.maxLen, b, cmd.ID, cmd.Deadline.UnixMilli(), until.UnixMilli()).Err(); err != nil {
		return fail("enqueue", err)
	}
	return nil
}

// Claim implements store.Bridge: one script per batch, reclaiming expired
// leases (XAUTOCLAIM with the visibility timeout as min-idle) before
// reading new entries (XREADGROUP).
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
	keys := []string{s.queueKey(cluster), s.entryKey(cluster)}
	out := make([]contracts.Command, 0, min(max, 64))
	for len(out) < max {
		want := max - len(out)
		now := time.Now()
		res, err := s.claimScript.Run(ctx, s.rdb, keys, group, consumer, want, millis(s.lease), now.UnixMilli()).Slice()
		if err != nil {
			return out, fail("claim", err)
		}
		for _, v := range res[1:] {
			str, _ := v.(string)
			var cmd contracts.Command
			if err := json.Unmarshal([]byte(str), &cmd); err != nil || cmd.Expired(now) {
				continue // leased but not returned: dropped by the next claim
			}
			out = append(out, cmd)
		}
		if n, _ := res[0].(int64); int(n) < want {
			break // nothing more is claimable
		}
	}
	return out, nil
}

// Ack implements store.Bridge.
func (s *Store) Ack(ctx context.Context, cluster string, commandIDs []string) (int, error) {
	if err := check.Cluster(cluster); err != nil {
		return 0, err
	}
	if err := check.CommandIDs(commandIDs); err != nil {
		return 0, err
	}
	if len(commandIDs) == 0 {
		return 0, nil
	}
	args := make([]any, 0, len(commandIDs)+1)
	args = append(args, group)
	for _, id := range commandIDs {
		args = append(args, id)
	}
	n, err := s.ackScript.Run(ctx, s.rdb, []string{s.queueKey(cluster), s.entryKey(cluster)}, args...).Int()
	if err != nil {
		return 0, fail("ack", err)
	}
	return n, nil
}

// Depth implements store.Bridge: the length of the cluster's stream (XLEN,
// O(1)). Ack and Claim's expiry check delete the entries they finish, so
// the stream holds exactly the commands not acknowledged yet, leased or
// not, including any past their deadline that Claim has not dropped yet.
func (s *Store) Depth(ctx context.Context, cluster string) (int, error) {
	if err := check.Cluster(cluster); err != nil {
		return 0, err
	}
	n, err := s.rdb.XLen(ctx, s.queueKey(cluster)).Result()
	if err != nil {
		return 0, fail("depth", err)
	}
	return int(n), nil
}

// queuesBatch bounds the commands Queues sends in one pipeline.
const queuesBatch = 1000

// Queues implements store.Bridge in two pipelined passes: XLEN (O(1), the
// Depth) of every cluster's stream, then, only for the streams that hold
// entries, a read-only script that tells entries Claim would lease now
// from entries leased and still within their lease. An idle replica thus
// costs Redis one XLEN per cluster per call, in len(clusters)/1000 round
// trips. Entries past their deadline that no Claim has dropped yet count
// as claimable (the next Claim drops them).
func (s *Store) Queues(ctx context.Context, clusters []string) ([]store.QueueState, error) {
	for _, c := range clusters {
		if err := check.Cluster(c); err != nil {
			return nil, err
		}
	}
	var out []store.QueueState
	for chunk := range slices.Chunk(clusters, queuesBatch) {
		pipe := s.rdb.Pipeline()
		lens := make([]*redis.IntCmd, len(chunk))
		for i, c := range chunk {
			lens[i] = pipe.XLen(ctx, s.queueKey(c))
		}
		if _, err := pipe.Exec(ctx); err != nil {
			return nil, fail("queues", err)
		}
		for i, c := range chunk {
			if n := lens[i].Val(); n > 0 {
				out = append(out, store.QueueState{Cluster: c, Depth: int(n)})
			}
		}
	}
	for chunk := range slices.Chunk(out, queuesBatch) {
		err := s.claimable(ctx, chunk)
		if redis.HasErrorPrefix(err, "NOSCRIPT") {
			// First use on this server, or its script cache was flushed.
			if err = s.claimableScript.Load(ctx, s.rdb).Err(); err == nil {
				err = s.claimable(ctx, chunk)
			}
		}
		if err != nil {
			return nil, fail("queues", err)
		}
	}
	return out, nil
}

// claimable runs claimableSrc (by its SHA) for each queue in one
// pipeline and sets its Claimable.
func (s *Store) claimable(ctx context.Context, queues []store.QueueState) error {
	pipe := s.rdb.Pipeline()
	cmds := make([]*redis.Cmd, len(queues))
	for i, q := range queues {
		cmds[i] = s.claimableScript.EvalSha(ctx, pipe, []string{s.queueKey(q.Cluster)}, group, millis(s.lease))
	}
	_, _ = pipe.Exec(ctx) // each command carries its own error
	for i, cmd := range cmds {
		n, err := cmd.Int()
		if err != nil {
			return err
		}
		queues[i].Claimable = n == 1
	}
	return nil
}

// Owner implements store.Bridge.
func (s *Store) Owner(ctx context.Context, commandID string) (string, error) {
	if err := check.CommandID(commandID); err != nil {
		return "", err
	}
	cluster, err := s.rdb.Get(ctx, s.ownerKey(commandID)).Result()
	if errors.Is(err, redis.Nil) || cluster == fenced {
		return "", fmt.Errorf("%w: command %s", store.ErrNotFound, commandID)
	}
	if err != nil {
		return "", fail("owner", err)
	}
	return cluster, nil
}

// MarkAnswered implements store.Bridge: one script that sets the answered
// key (SET NX) with the owner key's remaining TTL.
func (s *Store) MarkAnswered(ctx context.Context, commandID, executorID string) (bool, string, error) {
	if err := check.CommandID(commandID); err != nil {
		return false, "", err
	}
	if err := check.ExecutorID(executorID); err != nil {
		return false, "", err
	}
	res, err := s.answerScript.Run(ctx, s.rdb, []string{s.ownerKey(commandID), s.answerKey(commandID)}, executorID, fenced).Slice()
	if errors.Is(err, redis.Nil) {
		return false, "", fmt.Errorf("%w: command %s", store.ErrNotFound, commandID)
	}
	if err != nil {
		return false, "", fail("mark answered", err)
	}
	first, _ := res[0].(int64)
	prev, _ := res[1].(string)
	return first == 1, prev, nil
}

// fenced is the owner key's value for a fenced id; no cluster id can be it.
const fenced = "!fenced"

// Fence implements store.Bridge: one script that sets the owner key to the
// fence marker unless an Enqueue recorded it.
func (s *Store) Fence(ctx context.Context, commandID string, until time.Time) (store.CommandState, error) {
	if err := check.CommandID(commandID); err != nil {
		return store.CommandState{}, err
	}
	if !until.After(time.Now()) {
		return store.CommandState{}, fmt.Errorf("%w: fence until %s is not in the future", store.ErrInvalid, until.Format(time.RFC3339))
	}
	res, err := s.fenceScript.Run(ctx, s.rdb, []string{s.ownerKey(commandID), s.answerKey(commandID)}, fenced, until.UnixMilli()).Slice()
	if err != nil {
		return store.CommandState{}, fail("fence", err)
	}
	queued, _ := res[0].(int64)
	by, _ := res[1].(string)
	return store.CommandState{Queued: queued == 1, AnsweredBy: by}, nil
}

// Presence.

// Heartbeat implements store.Presence.
func (s *Store) Heartbeat(ctx context.Context, info contracts.ExecutorInfo, ttl time.Duration) error {
	if err := check.Info(info, ttl); err != nil {
		return err
	}
	b, err := json.Marshal(info)
	if err != nil {
		return fmt.Errorf("redisstore: encode executor info: %w", err)
	}
	now := time.Now()
	keys := []string{s.presenceKey(info.Cluster), s.presenceInfoKey(info.Cluster), s.seenKey(info.Cluster)}
	if err := s.heartbeatScript.Run(ctx, s.rdb, keys, info.ConnID, now.Add(ttl).UnixMilli(), b,
		now.UnixMilli(), store.SeenRetention.Milliseconds()).Err(); err != nil {
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
	keys := []string{s.presenceKey(cluster), s.presenceInfoKey(cluster), s.seenKey(cluster)}
	if err := s.leaveScript.Run(ctx, s.rdb, keys, connID, 0, "",
		time.Now().UnixMilli(), store.SeenRetention.Milliseconds()).Err(); err != nil {
		return fail("leave", err)
	}
	return nil
}

// LastSeen implements store.Presence: one GET of the cluster's last-seen
// key, which Heartbeat and Leave raise (never lower) in their scripts.
func (s *Store) LastSeen(ctx context.Context, cluster string) (time.Time, error) {
	if err := check.Cluster(cluster); err != nil {
		return time.Time{}, err
	}
	ms, err := s.rdb.Get(ctx, s.seenKey(cluster)).Int64()
	if errors.Is(err, redis.Nil) {
		return time.Time{}, fmt.Errorf("%w: no stream of cluster %s seen", store.ErrNotFound, cluster)
	}
	if err != nil {
		return time.Time{}, fail("last seen", err)
	}
	return time.UnixMilli(ms).UTC(), nil
}

// Connected implements store.Presence.
func (s *Store) Connected(ctx context.Context, cluster string) ([]contracts.ExecutorInfo, error) {
	if err := check.Cluster(cluster); err != nil {
		return nil, err
	}
	keys := []string{s.presenceKey(cluster), s.presenceInfoKey(cluster)}
	vals, err := s.connectedScript.Run(ctx, s.rdb, keys, time.Now().UnixMilli()).Slice()
	if err != nil {
		return nil, fail("connected", err)
	}
	out := make([]contracts.ExecutorInfo, 0, len(vals))
	for _, v := range vals {
		str, ok := v.(string)
		if !ok {
			continue // raced a Leave
		}
		var info contracts.ExecutorInfo
		if err := json.Unmarshal([]byte(str), &info); err != nil {
			return nil, fmt.Errorf("redisstore: decode executor info: %w", err)
		}
		out = append(out, info)
	}
	sortInfos(out)
	return out, nil
}

func sortInfos(infos []contracts.ExecutorInfo) {
	slices.SortFunc(infos, func(a, b contracts.ExecutorInfo) int {
		if c := a.ConnectedAt.Compare(b.ConnectedAt); c != 0 {
			return c
		}
		return strings.Compare(a.ConnID, b.ConnID)
	})
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
