package redisstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
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

// Refresh implements store.Presence.
func (s *Store) Refresh(ctx context.Context, info contracts.ExecutorInfo, ttl time.Duration) error {
	if err := check.Info(info, ttl); err != nil {
		return err
	}
	b, err := json.Marshal(info)
	if err != nil {
		return fmt.Errorf("redisstore: encode executor info: %w", err)
	}
	now := time.Now()
	keys := []string{s.presenceKey(info.Cluster), s.presenceInfoKey(info.Cluster), s.seenKey(info.Cluster)}
	if err := s.refreshScript.Run(ctx, s.rdb, keys, info.ConnID, now.Add(ttl).UnixMilli(), b,
		now.UnixMilli(), store.SeenRetention.Milliseconds()).Err(); err != nil {
		return fail("refresh", err)
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
// key, which Refresh and Leave raise (never lower) in their scripts.
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
