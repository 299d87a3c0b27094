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
	return nil
}
