package httpapi

import (
	"context"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"kubently.io/libs/contracts"
	"kubently.io/libs/store"
	"kubently.io/services/gateway/internal/auth"
)

// registryReads counts registry reads.
type registryReads struct {
	Store
	reads atomic.Int64
}

func (s *registryReads) GetCluster(ctx context.Context, id string) (store.ClusterRecord, error) {
	s.reads.Add(1)
	return s.Store.GetCluster(ctx, id)
}

// TestRegistryCache: an executor's posts reuse the registry record that
// verified its token, a revocation heard from another replica drops it at
// once, and a token the cached record does not match is checked against
// the store, so a rotated-in token works at once.
func TestRegistryCache(t *testing.T) {
	cs := &registryReads{}
	e := newEnv(t, envOpts{wrapStore: func(s Store) Store { cs.Store = s; return cs }})
	ack := func(token string) int {
		t.Helper()
		r := e.do(t, http.MethodPost, "/v1/executor/ack", "", contracts.ExecutorAck{CommandIDs: []string{contracts.NewID()}},
			"Authorization", "Bearer "+token, contracts.HeaderClusterID, "dev-1", "Content-Type", "application/json")
		return r.status
	}
	old := "dev-1-token-0123456789"
	for range 3 {
		if status := ack(old); status != http.StatusOK {
			t.Fatalf("ack = %d; want 200", status)
		}
	}
	if n := cs.reads.Load(); n != 1 {
		t.Errorf("3 acks read the registry %d times; want 1", n)
	}

	// Another replica rotates the token: the store changes, then its
	// broadcast reaches this replica's hub.
	ctx := t.Context()
	rec, err := cs.Store.GetCluster(ctx, "dev-1")
	if err != nil {
		t.Fatal(err)
	}
	fresh := "dev-1-token-rotated-0123456789"
	next := rec
	next.TokenHash, next.UpdatedAt = auth.HashToken(fresh), time.Now()
	if err := cs.SwapCluster(ctx, rec.TokenHash, next); err != nil {
		t.Fatal(err)
	}
	// Before the broadcast arrives, the new token is accepted (checked
	// against the store, not refused by the cached record).
	if status := ack(fresh); status != http.StatusOK {
		t.Errorf("ack with the rotated-in token = %d; want 200", status)
	}
	e.srv.cfg.Hub.Revoke("dev-1")
	if status := ack(old); status != http.StatusUnauthorized {
		t.Errorf("ack with the rotated-out token after the broadcast = %d; want 401", status)
	}
	if status := ack(fresh); status != http.StatusOK {
		t.Errorf("ack with the new token = %d; want 200", status)
	}
}

func TestRegistryCacheExpires(t *testing.T) {
	var epoch atomic.Uint64
	c := newRegistryCache(epoch.Load)
	now := time.Now()
	c.now = func() time.Time { return now }
	c.put("a", store.ClusterRecord{ID: "a"}, 0)
	if _, ok := c.get("a"); !ok {
		t.Fatal("fresh record not served")
	}
	epoch.Add(1)
	if _, ok := c.get("a"); ok {
		t.Error("record served after a revocation")
	}
	c.put("a", store.ClusterRecord{ID: "a"}, epoch.Load())
	now = now.Add(registryTTL + time.Millisecond)
	if _, ok := c.get("a"); ok {
		t.Error("record served past its TTL")
	}
}
