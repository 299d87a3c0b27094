package jsstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"

	"github.com/nats-io/nats.go/jetstream"

	"kubently.io/libs/store"
	"kubently.io/libs/store/internal/check"
)

// PutCluster registers a cluster or replaces its record.
func (s *Store) PutCluster(ctx context.Context, c store.ClusterRecord) error {
	if err := check.ClusterRecord(c); err != nil {
		return err
	}
	if err := s.ready(); err != nil {
		return err
	}
	b, err := json.Marshal(c)
	if err != nil {
		return err
	}
	if _, err := s.clusters.Put(ctx, c.ID, b); err != nil {
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
	if err := s.ready(); err != nil {
		return c, err
	}
	e, err := s.clusters.Get(ctx, id)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return c, fmt.Errorf("%w: cluster %s", store.ErrNotFound, id)
	}
	if err != nil {
		return c, fail("get cluster", err)
	}
	if err := json.Unmarshal(e.Value(), &c); err != nil {
		return c, fmt.Errorf("jsstore: cluster %s: corrupt record: %w", id, err)
	}
	return c, nil
}

// ListClusters returns every registered cluster sorted by id.
func (s *Store) ListClusters(ctx context.Context) ([]store.ClusterRecord, error) {
	if err := s.ready(); err != nil {
		return nil, err
	}
	lister, err := s.clusters.ListKeys(ctx)
	if errors.Is(err, jetstream.ErrNoKeysFound) {
		return []store.ClusterRecord{}, nil
	}
	if err != nil {
		return nil, fail("list clusters", err)
	}
	defer func() { _ = lister.Stop() }()
	out := []store.ClusterRecord{}
	for key := range lister.Keys() {
		c, err := s.GetCluster(ctx, key)
		if errors.Is(err, store.ErrNotFound) {
			continue // deleted meanwhile
		}
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out, nil
}

// DeleteCluster unregisters a cluster.
func (s *Store) DeleteCluster(ctx context.Context, id string) error {
	if _, err := s.GetCluster(ctx, id); err != nil {
		return err
	}
	if err := s.clusters.Delete(ctx, id); err != nil {
		return fail("delete cluster", err)
	}
	return nil
}
