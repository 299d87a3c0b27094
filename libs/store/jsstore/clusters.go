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
	// Registry keys are cluster ids, one token; the labels beside them
	// (labels.<cluster>, see labels.go) are two.
	lister, err := s.clusters.ListKeysFiltered(ctx, "*")
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
	if err := s.clusters.Delete(ctx, labelsKey(id)); err != nil && !errors.Is(err, jetstream.ErrKeyNotFound) {
		return fail("delete cluster labels", err)
	}
	return nil
}

// CreateCluster registers a cluster that is not registered yet (KV
// Create, which fails if the key holds a value).
func (s *Store) CreateCluster(ctx context.Context, c store.ClusterRecord) error {
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
	if _, err := s.clusters.Create(ctx, c.ID, b); err != nil {
		if errors.Is(err, jetstream.ErrKeyExists) {
			return fmt.Errorf("%w: cluster %s", store.ErrExists, c.ID)
		}
		return fail("create cluster", err)
	}
	return nil
}

// SwapCluster replaces a cluster's record if its token hash is still
// oldTokenHash: it reads the entry and updates it at that revision, so a
// write in between makes the update fail.
func (s *Store) SwapCluster(ctx context.Context, oldTokenHash string, c store.ClusterRecord) error {
	if err := check.ClusterRecord(c); err != nil {
		return err
	}
	if oldTokenHash != "" {
		if err := check.TokenHash(oldTokenHash); err != nil {
			return err
		}
	}
	if err := s.ready(); err != nil {
		return err
	}
	e, err := s.clusters.Get(ctx, c.ID)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return fmt.Errorf("%w: cluster %s", store.ErrNotFound, c.ID)
	}
	if err != nil {
		return fail("swap cluster", err)
	}
	var cur store.ClusterRecord
	if err := json.Unmarshal(e.Value(), &cur); err != nil {
		return fmt.Errorf("jsstore: cluster %s: corrupt record: %w", c.ID, err)
	}
	if cur.TokenHash != oldTokenHash {
		return fmt.Errorf("%w: cluster %s: token changed meanwhile", store.ErrConflict, c.ID)
	}
	b, err := json.Marshal(c)
	if err != nil {
		return err
	}
	if _, err := s.clusters.Update(ctx, c.ID, b, e.Revision()); err != nil {
		if conflict(err) {
			return fmt.Errorf("%w: cluster %s: token changed meanwhile", store.ErrConflict, c.ID)
		}
		return fail("swap cluster", err)
	}
	return nil
}
