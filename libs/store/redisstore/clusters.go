package redisstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"

	"github.com/redis/go-redis/v9"

	"kubently.io/libs/store"
	"kubently.io/libs/store/internal/check"
)

// The cluster registry is one hash, field = cluster id, value = JSON record:
// small (one entry per cluster), read on every executor request and listed
// whole by GET /v1/clusters.
func (s *Store) clustersKey() string { return s.prefix + ":clusters" }

// PutCluster registers a cluster or replaces its record.
func (s *Store) PutCluster(ctx context.Context, c store.ClusterRecord) error {
	if err := check.ClusterRecord(c); err != nil {
		return err
	}
	b, err := json.Marshal(c)
	if err != nil {
		return err
	}
	if err := s.rdb.HSet(ctx, s.clustersKey(), c.ID, b).Err(); err != nil {
		return fail("put cluster", err)
	}
	return nil
}

// GetCluster returns a registered cluster.
func (s *Store) GetCluster(ctx context.Context, id string) (store.ClusterRecord, error) {
	var c store.ClusterRecord
	if err := check.Cluster(id); err != nil {
		return c, err
	}
	raw, err := s.rdb.HGet(ctx, s.clustersKey(), id).Result()
	if errors.Is(err, redis.Nil) {
		return c, fmt.Errorf("%w: cluster %s", store.ErrNotFound, id)
	}
	if err != nil {
		return c, fail("get cluster", err)
	}
	if err := json.Unmarshal([]byte(raw), &c); err != nil {
		return c, fmt.Errorf("redisstore: cluster %s: corrupt record: %w", id, err)
	}
	return c, nil
}

// ListClusters returns every registered cluster sorted by id.
func (s *Store) ListClusters(ctx context.Context) ([]store.ClusterRecord, error) {
	all, err := s.rdb.HGetAll(ctx, s.clustersKey()).Result()
	if err != nil {
		return nil, fail("list clusters", err)
	}
	out := make([]store.ClusterRecord, 0, len(all))
	for id, raw := range all {
		var c store.ClusterRecord
		if err := json.Unmarshal([]byte(raw), &c); err != nil {
			return nil, fmt.Errorf("redisstore: cluster %s: corrupt record: %w", id, err)
		}
		out = append(out, c)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out, nil
}

// DeleteCluster unregisters a cluster.
func (s *Store) DeleteCluster(ctx context.Context, id string) error {
	if err := check.Cluster(id); err != nil {
		return err
	}
	n, err := s.rdb.HDel(ctx, s.clustersKey(), id).Result()
	if err != nil {
		return fail("delete cluster", err)
	}
	if n == 0 {
		return fmt.Errorf("%w: cluster %s", store.ErrNotFound, id)
	}
	if err := s.rdb.HDel(ctx, s.labelsKey(), id).Err(); err != nil {
		return fail("delete cluster labels", err)
	}
	return nil
}

// CreateCluster registers a cluster that is not registered yet (HSETNX).
func (s *Store) CreateCluster(ctx context.Context, c store.ClusterRecord) error {
	if err := check.ClusterRecord(c); err != nil {
		return err
	}
	b, err := json.Marshal(c)
	if err != nil {
		return err
	}
	ok, err := s.rdb.HSetNX(ctx, s.clustersKey(), c.ID, b).Result()
	if err != nil {
		return fail("create cluster", err)
	}
	if !ok {
		return fmt.Errorf("%w: cluster %s", store.ErrExists, c.ID)
	}
	return nil
}

// swapClusterScript replaces one field of the registry hash if the
// record's token_hash is still ARGV[2]: 1 swapped, 0 changed meanwhile,
// -1 not registered, -2 corrupt record. Immutable once built.
var swapClusterScript = redis.NewScript(`
local cur = redis.call('HGET', KEYS[1], ARGV[1])
if not cur then return -1 end
local ok, rec = pcall(cjson.decode, cur)
if not ok or type(rec) ~= 'table' then return -2 end
local h = rec['token_hash']
if type(h) ~= 'string' then h = '' end
if h ~= ARGV[2] then return 0 end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[3])
return 1
`)

// SwapCluster replaces a cluster's record if its token hash is still
// oldTokenHash, atomically (one Lua script).
func (s *Store) SwapCluster(ctx context.Context, oldTokenHash string, c store.ClusterRecord) error {
	if err := check.ClusterRecord(c); err != nil {
		return err
	}
	if oldTokenHash != "" {
		if err := check.TokenHash(oldTokenHash); err != nil {
			return err
		}
	}
	b, err := json.Marshal(c)
	if err != nil {
		return err
	}
	n, err := swapClusterScript.Run(ctx, s.rdb, []string{s.clustersKey()}, c.ID, oldTokenHash, b).Int()
	if err != nil {
		return fail("swap cluster", err)
	}
	switch n {
	case 1:
		return nil
	case 0:
		return fmt.Errorf("%w: cluster %s: token changed meanwhile", store.ErrConflict, c.ID)
	case -1:
		return fmt.Errorf("%w: cluster %s", store.ErrNotFound, c.ID)
	default:
		return fmt.Errorf("redisstore: cluster %s: corrupt record", c.ID)
	}
}
