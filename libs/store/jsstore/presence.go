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
	var v seen
	found := false
	e, err := s.presence.Get(ctx, seenKey(cluster))
	switch {
	case err == nil:
		if err := json.Unmarshal(e.Value(), &v); err != nil {
			return time.Time{}, fmt.Errorf("jsstore: decode last seen of %s: %w", cluster, err)
		}
		found = true
	case !errors.Is(err, jetstream.ErrKeyNotFound):
		return time.Time{}, fail("last seen", err)
	}
	// A stream joined under a lease was last seen at the lease's latest
	// renewal (or its record's expiry, if earlier).
	recs, err := s.records(ctx, cluster)
	if err != nil {
		return time.Time{}, fail("last seen", err)
	}
	ls := leases{s: s}
	for _, p := range recs {
		if p.Lease == "" {
			continue
		}
		l, err := ls.get(ctx, p.Lease)
		if err != nil {
			return time.Time{}, fail("last seen", err)
		}
		if l == nil {
			continue
		}
		at := l.RenewedAt
		if p.ExpiresAt.Before(at) {
			at = p.ExpiresAt
		}
		if !found || at.After(v.Seen) {
			v.Seen, found = at.UTC(), true
		}
	}
	if !found {
		return time.Time{}, fmt.Errorf("%w: no stream of cluster %s seen", store.ErrNotFound, cluster)
	}
	return v.Seen, nil
}

// presence is the value of a presence key.
type presence struct {
	Info      contracts.ExecutorInfo `json:"info"`
	ExpiresAt time.Time              `json:"expires_at"`
	// Lease is the lease the stream was joined under (Join); empty for
	// Refresh.
	Lease string `json:"lease,omitempty"`
}

// leaseKey is the presence key of a lease; like seenKey it never matches
// "<cluster>.*".
func leaseKey(id string) string { return "_lease." + id }

// leaseState is the value of a lease key.
type leaseState struct {
	ExpiresAt time.Time `json:"expires_at"`
	RenewedAt time.Time `json:"renewed_at"`
}

// Refresh implements store.Presence.
func (s *Store) Refresh(ctx context.Context, info contracts.ExecutorInfo, ttl time.Duration) error {
	if err := check.Info(info, ttl); err != nil {
		return err
	}
	return s.write(ctx, "refresh", info, "", ttl)
}

// Join implements store.Presence.
func (s *Store) Join(ctx context.Context, lease string, info contracts.ExecutorInfo, ttl time.Duration) error {
	if err := check.Info(info, ttl); err != nil {
		return err
	}
	if err := check.Token("lease", lease); err != nil {
		return err
	}
	return s.write(ctx, "join", info, lease, ttl)
}

// write stores the stream's record for ttl and its cluster's last seen.
func (s *Store) write(ctx context.Context, op string, info contracts.ExecutorInfo, lease string, ttl time.Duration) error {
	if err := s.ready(); err != nil {
		return err
	}
	now := time.Now()
	b, err := json.Marshal(presence{Info: info, ExpiresAt: now.Add(ttl).UTC(), Lease: lease})
	if err != nil {
		return fmt.Errorf("jsstore: encode executor info: %w", err)
	}
	if err := s.put(ctx, s.presence, info.Cluster+"."+info.ConnID, b, seconds(ttl)); err != nil {
		return fail(op, err)
	}
	if err := s.touchSeen(ctx, info.Cluster, now); err != nil {
		return fail(op, err)
	}
	return nil
}

// RenewLease implements store.Presence: a read and a write of the lease's
// key, which is kept for SeenRetention (LastSeen reads its renewal).
func (s *Store) RenewLease(ctx context.Context, lease string, ttl time.Duration) (bool, error) {
	if err := check.Token("lease", lease); err != nil {
		return false, err
	}
	if err := check.TTL(ttl); err != nil {
		return false, err
	}
	if err := s.ready(); err != nil {
		return false, err
	}
	now := time.Now()
	lapsed := true
	e, err := s.presence.Get(ctx, leaseKey(lease))
	switch {
	case err == nil:
		var old leaseState
		if json.Unmarshal(e.Value(), &old) == nil && now.Before(old.ExpiresAt) {
			lapsed = false
		}
	case !errors.Is(err, jetstream.ErrKeyNotFound):
		return false, fail("renew lease", err)
	}
	b, err := json.Marshal(leaseState{ExpiresAt: now.Add(ttl).UTC(), RenewedAt: now.UTC()})
	if err != nil {
		return false, fmt.Errorf("jsstore: encode lease: %w", err)
	}
	if err := s.put(ctx, s.presence, leaseKey(lease), b, store.SeenRetention); err != nil {
		return false, fail("renew lease", err)
	}
	return lapsed, nil
}

// leases reads lease states by id, each once per call (a gateway replica
// has one lease; a cluster's streams are held by a few).
type leases struct {
	s     *Store
	known map[string]*leaseState // nil: no such lease
}

func (l *leases) get(ctx context.Context, id string) (*leaseState, error) {
	if v, ok := l.known[id]; ok {
		return v, nil
	}
	if l.known == nil {
		l.known = map[string]*leaseState{}
	}
	e, err := l.s.presence.Get(ctx, leaseKey(id))
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		l.known[id] = nil
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var v leaseState
	if err := json.Unmarshal(e.Value(), &v); err != nil {
		return nil, fmt.Errorf("jsstore: decode lease %s: %w", id, err)
	}
	l.known[id] = &v
	return &v, nil
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

// records returns the presence records of a cluster's streams, expired
// ones included until their key's TTL removes them.
func (s *Store) records(ctx context.Context, cluster string) ([]presence, error) {
	// One stream info request filtered to the cluster's keys lists them
	// (a key lister would create and delete a consumer per call). A key
	// deleted since holds a delete marker, which Get reports as not found.
	prefix := kvSubject(s.presence, "")
	si, err := s.presenceStream.Info(ctx, jetstream.WithSubjectFilter(prefix+cluster+".*"))
	if err != nil {
		return nil, err
	}
	out := make([]presence, 0, len(si.State.Subjects))
	for subj := range si.State.Subjects {
		k := strings.TrimPrefix(subj, prefix)
		e, err := s.presence.Get(ctx, k)
		if errors.Is(err, jetstream.ErrKeyNotFound) {
			continue // left or expired since listed
		}
		if err != nil {
			return nil, err
		}
		var p presence
		if err := json.Unmarshal(e.Value(), &p); err != nil {
			return nil, fmt.Errorf("jsstore: decode executor info %s: %w", k, err)
		}
		out = append(out, p)
	}
	return out, nil
}

// Connected implements store.Presence.
func (s *Store) Connected(ctx context.Context, cluster string) ([]contracts.ExecutorInfo, error) {
	if err := check.Cluster(cluster); err != nil {
		return nil, err
	}
	if err := s.ready(); err != nil {
		return nil, err
	}
	recs, err := s.records(ctx, cluster)
	if err != nil {
		return nil, fail("connected", err)
	}
	now := time.Now()
	ls := leases{s: s}
	out := make([]contracts.ExecutorInfo, 0, len(recs))
	for _, p := range recs {
		if !now.Before(p.ExpiresAt) {
			continue
		}
		if p.Lease != "" {
			l, err := ls.get(ctx, p.Lease)
			if err != nil {
				return nil, fail("connected", err)
			}
			if l == nil || !now.Before(l.ExpiresAt) {
				continue // its gateway stopped renewing the lease
			}
			if l.RenewedAt.After(p.Info.LastSeen) {
				p.Info.LastSeen = l.RenewedAt
			}
		}
		out = append(out, p.Info)
	}
	slices.SortFunc(out, func(a, b contracts.ExecutorInfo) int {
		if c := a.ConnectedAt.Compare(b.ConnectedAt); c != 0 {
			return c
		}
		return strings.Compare(a.ConnID, b.ConnID)
	})
	return out, nil
}
