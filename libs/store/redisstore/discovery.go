package redisstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/redis/go-redis/v9"

	"kubently.io/libs/contracts"
	"kubently.io/libs/store"
	"kubently.io/libs/store/internal/check"
)

// A cluster's discovery summary is one hash: field hash = the summary's
// hash, field summary = its JSON, written together by one HSET.
func (s *Store) discoveryKey(cluster string) string { return s.prefix + ":discovery:{" + cluster + "}" }

// PutDiscovery stores d as cluster's discovery summary.
func (s *Store) PutDiscovery(ctx context.Context, cluster string, d contracts.ExecutorDiscovery) error {
	if err := check.Cluster(cluster); err != nil {
		return err
	}
	if err := check.Discovery(d); err != nil {
		return err
	}
	b, err := json.Marshal(d)
	if err != nil {
		return err
	}
	if err := s.rdb.HSet(ctx, s.discoveryKey(cluster), "hash", d.Hash, "summary", b).Err(); err != nil {
		return fail("put discovery", err)
	}
	return nil
}

// DiscoveryHash returns the hash of cluster's stored summary.
func (s *Store) DiscoveryHash(ctx context.Context, cluster string) (string, error) {
	if err := check.Cluster(cluster); err != nil {
		return "", err
	}
	h, err := s.rdb.HGet(ctx, s.discoveryKey(cluster), "hash").Result()
	if errors.Is(err, redis.Nil) {
		return "", fmt.Errorf("%w: discovery of cluster %s", store.ErrNotFound, cluster)
	}
	if err != nil {
		return "", fail("get discovery hash", err)
	}
	return h, nil
}

// GetDiscovery returns cluster's stored summary.
func (s *Store) GetDiscovery(ctx context.Context, cluster string) (contracts.ExecutorDiscovery, error) {
	var d contracts.ExecutorDiscovery
	if err := check.Cluster(cluster); err != nil {
		return d, err
	}
	raw, err := s.rdb.HGet(ctx, s.discoveryKey(cluster), "summary").Result()
	if errors.Is(err, redis.Nil) {
		return d, fmt.Errorf("%w: discovery of cluster %s", store.ErrNotFound, cluster)
	}
	if err != nil {
		return d, fail("get discovery", err)
	}
	if err := json.Unmarshal([]byte(raw), &d); err != nil {
		return d, fmt.Errorf("redisstore: discovery of cluster %s: corrupt record: %w", cluster, err)
	}
	return d, nil
}
