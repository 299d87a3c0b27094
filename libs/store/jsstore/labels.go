package jsstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/nats-io/nats.go/jetstream"

	"kubently.io/libs/store"
	"kubently.io/libs/store/internal/check"
)

// Cluster labels live in the registry bucket beside the records, under
// labels.<cluster> (a JSON object); registry keys are one token, so
// ListClusters, which lists the keys matching "*", never sees them. A
// cluster without labels has no key.

const labelsPrefix = "labels."

func labelsKey(id string) string { return labelsPrefix + id }

// labelAttempts bounds the compare-and-set rounds of LabelCluster when
// other writers keep changing the labels.
const labelAttempts = 16

// LabelCluster applies set and remove to a registered cluster's labels:
// it reads the labels' entry and writes it back at that revision (create
// if none), so a write in between makes it try again.
func (s *Store) LabelCluster(ctx context.Context, id string, set map[string]string, remove []string) (map[string]string, error) {
	if err := check.LabelEdit(id, set, remove); err != nil {
		return nil, err
	}
	if _, err := s.GetCluster(ctx, id); err != nil {
		return nil, err
	}
	for range labelAttempts {
		cur, rev, err := s.labels(ctx, id)
		if err != nil {
			return nil, err
		}
		next, err := check.ApplyLabels(cur, set, remove)
		if err != nil {
			return nil, err
		}
		switch {
		case len(next) == 0 && rev == 0:
			return next, nil
		case len(next) == 0:
			err = s.clusters.Delete(ctx, labelsKey(id), jetstream.LastRevision(rev))
		default:
			b, merr := json.Marshal(next)
			if merr != nil {
				return nil, merr
			}
			if rev == 0 {
				_, err = s.clusters.Create(ctx, labelsKey(id), b)
			} else {
				_, err = s.clusters.Update(ctx, labelsKey(id), b, rev)
			}
		}
		if err == nil {
			return next, nil
		}
		if !conflict(err) && !errors.Is(err, jetstream.ErrKeyExists) {
			return nil, fail("label cluster", err)
		}
	}
	return nil, fmt.Errorf("%w: cluster %s: labels changed meanwhile %d times", store.ErrConflict, id, labelAttempts)
}

// labels reads a cluster's labels and the entry's revision (0 if none).
func (s *Store) labels(ctx context.Context, id string) (map[string]string, uint64, error) {
	if err := s.ready(); err != nil {
		return nil, 0, err
	}
	e, err := s.clusters.Get(ctx, labelsKey(id))
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return map[string]string{}, 0, nil
	}
	if err != nil {
		return nil, 0, fail("get cluster labels", err)
	}
	out := map[string]string{}
	if err := json.Unmarshal(e.Value(), &out); err != nil {
		return nil, 0, fmt.Errorf("jsstore: cluster %s: corrupt labels: %w", id, err)
	}
	return out, e.Revision(), nil
}

// ClusterLabels returns a cluster's labels.
func (s *Store) ClusterLabels(ctx context.Context, id string) (map[string]string, error) {
	if err := check.Cluster(id); err != nil {
		return nil, err
	}
	out, _, err := s.labels(ctx, id)
	return out, err
}

// ListClusterLabels returns every cluster's labels: one Get per labelled
// cluster.
func (s *Store) ListClusterLabels(ctx context.Context) (map[string]map[string]string, error) {
	if err := s.ready(); err != nil {
		return nil, err
	}
	out := map[string]map[string]string{}
	lister, err := s.clusters.ListKeysFiltered(ctx, labelsPrefix+"*")
	if errors.Is(err, jetstream.ErrNoKeysFound) {
		return out, nil
	}
	if err != nil {
		return nil, fail("list cluster labels", err)
	}
	defer func() { _ = lister.Stop() }()
	for key := range lister.Keys() {
		id := strings.TrimPrefix(key, labelsPrefix)
		l, rev, err := s.labels(ctx, id)
		if err != nil {
			return nil, err
		}
		if rev != 0 {
			out[id] = l
		}
	}
	return out, nil
}
