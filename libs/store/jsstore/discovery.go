package jsstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/nats-io/nats.go/jetstream"

	"kubently.io/libs/contracts"
	"kubently.io/libs/store"
	"kubently.io/libs/store/internal/check"
)

// A cluster's discovery summary is two keys of the discovery bucket:
// <cluster>.summary (the JSON, with its hash inside) and <cluster>.hash,
// written in that order, so that a reader that sees a new hash finds the
// summary it names (or a newer one).

// PutDiscovery stores d as cluster's discovery summary.
func (s *Store) PutDiscovery(ctx context.Context, cluster string, d contracts.ExecutorDiscovery) error {
	if err := check.Cluster(cluster); err != nil {
		return err
	}
	if err := check.Discovery(d); err != nil {
		return err
	}
	if err := s.ready(); err != nil {
		return err
	}
	b, err := json.Marshal(d)
	if err != nil {
		return err
	}
	if _, err := s.discovery.Put(ctx, cluster+".summary", b); err != nil {
		return fail("put discovery", err)
	}
	if _, err := s.discovery.Put(ctx, cluster+".hash", []byte(d.Hash)); err != nil {
		return fail("put discovery hash", err)
	}
	return nil
}

// DiscoveryHash returns the hash of cluster's stored summary.
func (s *Store) DiscoveryHash(ctx context.Context, cluster string) (string, error) {
	if err := check.Cluster(cluster); err != nil {
		return "", err
	}
	if err := s.ready(); err != nil {
		return "", err
	}
	e, err := s.discovery.Get(ctx, cluster+".hash")
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return "", fmt.Errorf("%w: discovery of cluster %s", store.ErrNotFound, cluster)
	}
	if err != nil {
		return "", fail("get discovery hash", err)
	}
	return string(e.Value()), nil
}

// GetDiscovery returns cluster's stored summary.
func (s *Store) GetDiscovery(ctx context.Context, cluster string) (contracts.ExecutorDiscovery, error) {
	var d contracts.ExecutorDiscovery
	if err := check.Cluster(cluster); err != nil {
		return d, err
	}
	if err := s.ready(); err != nil {
		return d, err
	}
	e, err := s.discovery.Get(ctx, cluster+".summary")
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return d, fmt.Errorf("%w: discovery of cluster %s", store.ErrNotFound, cluster)
	}
	if err != nil {
		return d, fail("get discovery", err)
	}
	if err := json.Unmarshal(e.Value(), &d); err != nil {
		return d, fmt.Errorf("jsstore: discovery of cluster %s: corrupt record: %w", cluster, err)
	}
	return d, nil
}
