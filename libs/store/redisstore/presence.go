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
	// seenLua raises the last-seen key (KEYS[3]) to ARGV[4] ms (never
	// lowers it) and keeps it ARGV[5] ms.
	seenLua = `
local seen = tonumber(redis.call('GET', KEYS[3]) or '0') or 0
redis.call('SET', KEYS[3], tostring(math.max(seen, tonumber(ARGV[4]))), 'PX', ARGV[5])
`

	// KEYS zset, hash, seen; ARGV connID, expiry ms, json, now ms,
	// retention ms.
	refreshSrc = `
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

	// KEYS leases; ARGV lease, expiry ms, now ms, retention ms. Sets the
	// lease's "expiry:renewed" (ms), drops leases not renewed within the
	// retention (there is one per gateway process start, a handful), and
	// returns 1 if the lease was unknown or had expired (lapsed), else 0.
	renewSrc = `
local old = redis.call('HGET', KEYS[1], ARGV[1])
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2] .. ':' .. ARGV[3])
local all = redis.call('HGETALL', KEYS[1])
local oldest = tonumber(ARGV[3]) - tonumber(ARGV[4])
for i = 1, #all, 2 do
  local renewed = tonumber(string.match(all[i+1], ':(%d+)$'))
  if renewed == nil or renewed < oldest then redis.call('HDEL', KEYS[1], all[i]) end
end
if not old then return 1 end
local exp = tonumber(string.match(old, '^(%d+):'))
if exp == nil or exp <= tonumber(ARGV[3]) then return 1 end
return 0`

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

// renewScript is the lease renewal (RenewLease); a package variable, as
// it needs nothing of a Store.
var renewScript = redis.NewScript(renewSrc)

// record is a presence record as stored in the cluster's info hash: the
// executor info, and the lease it was joined under (none for Refresh).
type record struct {
	contracts.ExecutorInfo
	Lease string `json:"lease,omitempty"`
}

// lease is a lease's state as RenewLease last wrote it.
type lease struct {
	expiry, renewed int64 // ms
}

// leasesKey is the hash of every lease: lease id -> "expiry:renewed" (ms).
// It is one key outside any cluster's hash tag, read next to (pipelined
// with) a cluster's records.
func (s *Store) leasesKey() string { return s.prefix + ":presence:leases" }

// Refresh implements store.Presence.
func (s *Store) Refresh(ctx context.Context, info contracts.ExecutorInfo, ttl time.Duration) error {
	if err := check.Info(info, ttl); err != nil {
		return err
	}
	return s.write(ctx, "refresh", record{ExecutorInfo: info}, ttl)
}

// Join implements store.Presence: the refresh script, with the lease in
// the record.
func (s *Store) Join(ctx context.Context, leaseID string, info contracts.ExecutorInfo, ttl time.Duration) error {
	if err := check.Info(info, ttl); err != nil {
		return err
	}
	if err := check.Token("lease", leaseID); err != nil {
		return err
	}
	return s.write(ctx, "join", record{ExecutorInfo: info, Lease: leaseID}, ttl)
}

// RenewLease implements store.Presence: one script on the leases hash.
func (s *Store) RenewLease(ctx context.Context, leaseID string, ttl time.Duration) (bool, error) {
	if err := check.Token("lease", leaseID); err != nil {
		return false, err
	}
	if err := check.TTL(ttl); err != nil {
		return false, err
	}
	now := time.Now()
	n, err := renewScript.Run(ctx, s.rdb, []string{s.leasesKey()}, leaseID, now.Add(ttl).UnixMilli(), now.UnixMilli(),
		store.SeenRetention.Milliseconds()).Int()
	if err != nil {
		return false, fail("renew lease", err)
	}
	return n == 1, nil
}

// write stores rec for ttl from now and raises the cluster's last seen.
func (s *Store) write(ctx context.Context, op string, rec record, ttl time.Duration) error {
	info := rec.ExecutorInfo
	b, err := json.Marshal(rec)
	if err != nil {
		return fmt.Errorf("redisstore: encode executor info: %w", err)
	}
	now := time.Now()
	keys := []string{s.presenceKey(info.Cluster), s.presenceInfoKey(info.Cluster), s.seenKey(info.Cluster)}
	if err := s.refreshScript.Run(ctx, s.rdb, keys, info.ConnID, now.Add(ttl).UnixMilli(), b,
		now.UnixMilli(), store.SeenRetention.Milliseconds()).Err(); err != nil {
		return fail(op, err)
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

// LastSeen implements store.Presence: one pipeline of the cluster's
// last-seen key, which Refresh, Join and Leave raise (never lower) in
// their scripts, its records and the leases: a stream joined under a
// lease was last seen at the lease's latest renewal (or its record's
// expiry, if earlier).
func (s *Store) LastSeen(ctx context.Context, cluster string) (time.Time, error) {
	if err := check.Cluster(cluster); err != nil {
		return time.Time{}, err
	}
	pipe := s.rdb.Pipeline()
	seenCmd := pipe.Get(ctx, s.seenKey(cluster))
	scores := pipe.ZRangeWithScores(ctx, s.presenceKey(cluster), 0, -1)
	infos := pipe.HGetAll(ctx, s.presenceInfoKey(cluster))
	leasesCmd := pipe.HGetAll(ctx, s.leasesKey())
	if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
		return time.Time{}, fail("last seen", err)
	}
	var ms int64
	found := false
	if v, err := seenCmd.Int64(); err == nil {
		ms, found = v, true
	}
	leases := parseLeases(leasesCmd.Val())
	for _, z := range scores.Val() {
		connID, _ := z.Member.(string)
		var rec record
		if json.Unmarshal([]byte(infos.Val()[connID]), &rec) != nil || rec.Lease == "" {
			continue
		}
		if l, ok := leases[rec.Lease]; ok {
			ms, found = max(ms, min(l.renewed, int64(z.Score))), true
		}
	}
	if !found {
		return time.Time{}, fmt.Errorf("%w: no stream of cluster %s seen", store.ErrNotFound, cluster)
	}
	return time.UnixMilli(ms).UTC(), nil
}

// Connected implements store.Presence: the cluster's records (a script
// that prunes the expired ones) and the leases, in one pipeline.
func (s *Store) Connected(ctx context.Context, cluster string) ([]contracts.ExecutorInfo, error) {
	if err := check.Cluster(cluster); err != nil {
		return nil, err
	}
	keys := []string{s.presenceKey(cluster), s.presenceInfoKey(cluster)}
	now := time.Now()
	run := func() (*redis.Cmd, *redis.MapStringStringCmd, error) {
		pipe := s.rdb.Pipeline()
		recs := s.connectedScript.EvalSha(ctx, pipe, keys, now.UnixMilli())
		leases := pipe.HGetAll(ctx, s.leasesKey())
		_, err := pipe.Exec(ctx)
		return recs, leases, err
	}
	recs, leasesCmd, err := run()
	if redis.HasErrorPrefix(err, "NOSCRIPT") {
		// First use on this server, or its script cache was flushed.
		if err = s.connectedScript.Load(ctx, s.rdb).Err(); err == nil {
			recs, leasesCmd, err = run()
		}
	}
	if err != nil {
		return nil, fail("connected", err)
	}
	vals, err := recs.Slice()
	if err != nil {
		return nil, fail("connected", err)
	}
	var leases map[string]lease
	out := make([]contracts.ExecutorInfo, 0, len(vals))
	for _, v := range vals {
		str, ok := v.(string)
		if !ok {
			continue // raced a Leave
		}
		var rec record
		if err := json.Unmarshal([]byte(str), &rec); err != nil {
			return nil, fmt.Errorf("redisstore: decode executor info: %w", err)
		}
		info := rec.ExecutorInfo
		if rec.Lease != "" {
			if leases == nil {
				leases = parseLeases(leasesCmd.Val())
			}
			l, ok := leases[rec.Lease]
			if !ok || l.expiry <= now.UnixMilli() {
				continue // its gateway stopped renewing the lease
			}
			if r := time.UnixMilli(l.renewed).UTC(); r.After(info.LastSeen) {
				info.LastSeen = r
			}
		}
		out = append(out, info)
	}
	sortInfos(out)
	return out, nil
}

// parseLeases decodes the leases hash; malformed entries are left out.
func parseLeases(raw map[string]string) map[string]lease {
	out := make(map[string]lease, len(raw))
	for id, v := range raw {
		e, r, ok := strings.Cut(v, ":")
		if !ok {
			continue
		}
		exp, err1 := strconv.ParseInt(e, 10, 64)
		ren, err2 := strconv.ParseInt(r, 10, 64)
		if err1 == nil && err2 == nil {
			out[id] = lease{expiry: exp, renewed: ren}
		}
	}
	return out
}

func sortInfos(infos []contracts.ExecutorInfo) {
	slices.SortFunc(infos, func(a, b contracts.ExecutorInfo) int {
		if c := a.ConnectedAt.Compare(b.ConnectedAt); c != 0 {
			return c
		}
		return strings.Compare(a.ConnID, b.ConnID)
	})
}
