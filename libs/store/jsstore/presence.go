package jsstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"kubently.io/libs/contracts"
	"kubently.io/libs/store"
	"kubently.io/libs/store/internal/check"
)

// seenKey is the presence key of a cluster's last-seen record; no
// cluster id starts with "_", so it never matches "<cluster>.*".
func seenKey(cluster string) string { return "_seen." + cluster }

// seen is the value of a last-seen key.
type seen struct {
	Seen time.Time `json:"seen"`
}

// touchSeen writes the cluster's last-seen record (last writer wins).
func (s *Store) touchSeen(ctx context.Context, cluster string, at time.Time) error {
	b, err := json.Marshal(seen{Seen: at.UTC()})
	if err != nil {
		return fmt.Errorf("encode last seen: %w", err)
	}
	return s.put(ctx, s.presence, seenKey(cluster), b, store.SeenRetention)
}

// LastSeen implements store.Presence.
func (s *Store) LastSeen(ctx context.Context, cluster string) (time.Time, error) {
	if err := check.Cluster(cluster); err != nil {
		return time.Time{}, err
	}
	if err := s.ready(); err != nil {
		return time.Time{}, err
	}
	e, err := s.presence.Get(ctx, seenKey(cluster))
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return time.Time{}, fmt.Errorf("%w: no stream of cluster %s seen", store.ErrNotFound, cluster)
	}
	if err != nil {
		return time.Time{}, fail("last seen", err)
	}
	var v seen
	if err := json.Unmarshal(e.Value(), &v); err != nil {
		return time.Time{}, fmt.Errorf("jsstore: decode last seen of %s: %w", cluster, err)
	}
	return v.Seen, nil
}

// presence is the value of a presence key.
type presence struct {
	Info      contracts.ExecutorInfo `json:"info"`
	ExpiresAt time.Time              `json:"expires_at"`
}

// Refresh implements store.Presence.
func (s *Store) Refresh(ctx context.Context, info contracts.ExecutorInfo, ttl time.Duration) error {
	if err := check.Info(info, ttl); err != nil {
		return err
	}
	if err := s.ready(); err != nil {
		return err
	}
	now := time.Now()
	b, err := json.Marshal(presence{Info: info, ExpiresAt: now.Add(ttl).UTC()})
	if err != nil {
		return fmt.Errorf("jsstore: encode executor info: %w", err)
	}
	if err := s.put(ctx, s.presence, info.Cluster+"."+info.ConnID, b, seconds(ttl)); err != nil {
		return fail("refresh", err)
	}
	if err := s.touchSeen(ctx, info.Cluster, now); err != nil {
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
	if err := s.ready(); err != nil {
		return err
	}
	if err := s.presence.Purge(ctx, cluster+"."+connID, jetstream.PurgeTTL(markerTTL)); err != nil {
		return fail("leave", err)
	}
	if err := s.touchSeen(ctx, cluster, time.Now()); err != nil {
		return fail("leave", err)
	}
	return nil
}

// Connected implements store.Presence.
func (s *Store) Connected(ctx context.Context, cluster string) ([]contracts.ExecutorInfo, error) {
	if err := check.Cluster(cluster); err != nil {
		return nil, err
	}
	if err := s.ready(); err != nil {
		return nil, err
	}
	// One stream info request filtered to the cluster's keys lists them
	// (a key lister would create and delete a consumer per call). A key
	// deleted since holds a delete marker, which Get reports as not found.
	prefix := kvSubject(s.presence, "")
	si, err := s.presenceStream.Info(ctx, jetstream.WithSubjectFilter(prefix+cluster+".*"))
	if err != nil {
		return nil, fail("connected", err)
	}
	keys := make([]string, 0, len(si.State.Subjects))
	for subj := range si.State.Subjects {
		keys = append(keys, strings.TrimPrefix(subj, prefix))
	}
	now := time.Now()
	out := make([]contracts.ExecutorInfo, 0, len(keys))
	for _, k := range keys {
		e, err := s.presence.Get(ctx, k)
		if errors.Is(err, jetstream.ErrKeyNotFound) {
			continue // left or expired since listed
		}
		if err != nil {
			return nil, fail("connected", err)
		}
		var p presence
		if err := json.Unmarshal(e.Value(), &p); err != nil {
			return nil, fmt.Errorf("jsstore: decode executor info %s: %w", k, err)
		}
		if now.Before(p.ExpiresAt) {
			out = append(out, p.Info)
		}
	}
	slices.SortFunc(out, func(a, b contracts.ExecutorInfo) int {
		if c := a.ConnectedAt.Compare(b.ConnectedAt); c != 0 {
			return c
		}
		return strings.Compare(a.ConnID, b.ConnID)
	})
	return out, nil
}
