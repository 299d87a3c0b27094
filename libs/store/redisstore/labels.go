package redisstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/redis/go-redis/v9"

	"kubently.io/libs/store"
	"kubently.io/libs/store/internal/check"
)

// Cluster labels are one hash beside the registry, field = cluster id,
// value = JSON object of its labels; a cluster without labels has no
// field. It is read whole (one HGETALL) to select a fleet fan-out.
func (s *Store) labelsKey() string { return s.prefix + ":cluster-labels" }

// labelAttempts bounds the optimistic transactions of LabelCluster when
// other writers keep changing the keys it watches.
const labelAttempts = 16

// LabelCluster applies set and remove to a registered cluster's labels in
// one optimistic transaction (WATCH on the registry and the labels).
func (s *Store) LabelCluster(ctx context.Context, id string, set map[string]string, remove []string) (map[string]string, error) {
	if err := check.LabelEdit(id, set, remove); err != nil {
		return nil, err
	}
	var out map[string]string
	txf := func(tx *redis.Tx) error {
		ok, err := tx.HExists(ctx, s.clustersKey(), id).Result()
		if err != nil {
			return err
		}
		if !ok {
			return fmt.Errorf("%w: cluster %s", store.ErrNotFound, id)
		}
		cur, err := s.labelsOf(ctx, tx, id)
		if err != nil {
			return err
		}
		next, err := check.ApplyLabels(cur, set, remove)
		if err != nil {
			return err
		}
		b, err := json.Marshal(next)
		if err != nil {
			return err
		}
		_, err = tx.TxPipelined(ctx, func(p redis.Pipeliner) error {
			if len(next) == 0 {
				p.HDel(ctx, s.labelsKey(), id)
			} else {
				p.HSet(ctx, s.labelsKey(), id, b)
			}
			return nil
		})
		out = next
		return err
	}
	for range labelAttempts {
		err := s.rdb.Watch(ctx, txf, s.clustersKey(), s.labelsKey())
		if errors.Is(err, redis.TxFailedErr) {
			continue
		}
		if errors.Is(err, store.ErrNotFound) || errors.Is(err, store.ErrInvalid) {
			return nil, err
		}
		if err != nil {
			return nil, fail("label cluster", err)
		}
		return out, nil
	}
	return nil, fmt.Errorf("%w: cluster %s: labels changed meanwhile %d times", store.ErrConflict, id, labelAttempts)
}

// labelsOf reads one cluster's labels through c (the client or a
// transaction).
func (s *Store) labelsOf(ctx context.Context, c redis.Cmdable, id string) (map[string]string, error) {
	raw, err := c.HGet(ctx, s.labelsKey(), id).Result()
	if errors.Is(err, redis.Nil) {
		return map[string]string{}, nil
	}
	if err != nil {
		return nil, err
	}
	out := map[string]string{}
	if err := json.Unmarshal([]byte(raw), &out); err != nil {
		return nil, fmt.Errorf("redisstore: cluster %s: corrupt labels: %w", id, err)
	}
	return out, nil
}

// ClusterLabels returns a cluster's labels.
func (s *Store) ClusterLabels(ctx context.Context, id string) (map[string]string, error) {
	if err := check.Cluster(id); err != nil {
		return nil, err
	}
	out, err := s.labelsOf(ctx, s.rdb, id)
	if err != nil {
		return nil, fail("get cluster labels", err)
	}
	return out, nil
}

// ListClusterLabels returns every cluster's labels (one HGETALL).
func (s *Store) ListClusterLabels(ctx context.Context) (map[string]map[string]string, error) {
	all, err := s.rdb.HGetAll(ctx, s.labelsKey()).Result()
	if err != nil {
		return nil, fail("list cluster labels", err)
	}
	out := make(map[string]map[string]string, len(all))
	for id, raw := range all {
		l := map[string]string{}
		if err := json.Unmarshal([]byte(raw), &l); err != nil {
			return nil, fmt.Errorf("redisstore: cluster %s: corrupt labels: %w", id, err)
		}
		out[id] = l
	}
	return out, nil
}
