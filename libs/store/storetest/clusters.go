package storetest

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"kubently.io/libs/store"
)

var clusterTests = []test{
	{"PutGetListDelete", testClusterCRUD},
	{"BadInput", testClusterBadInput},
	{"CreateOnce", testClusterCreate},
	{"SwapCompareAndSet", testClusterSwap},
	{"SwapRace", testClusterSwapRace},
}

func hashOf(s string) string {
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:])
}

func testClusterCRUD(t *testing.T, newStore func(t *testing.T) store.Store) {
	st := newStore(t)
	c := ctx(t)
	now := time.Now().UTC().Truncate(time.Millisecond)
	a := store.ClusterRecord{ID: newCluster(), TokenHash: hashOf("a"), CreatedAt: now, UpdatedAt: now}
	b := store.ClusterRecord{ID: newCluster(), TokenHash: hashOf("b"), CreatedAt: now, UpdatedAt: now}
	if _, err := st.GetCluster(c, a.ID); !errIs(err, store.ErrNotFound) {
		t.Fatalf("GetCluster(unknown) = %v; want ErrNotFound", err)
	}
	for _, r := range []store.ClusterRecord{a, b} {
		if err := st.PutCluster(c, r); err != nil {
			t.Fatalf("PutCluster: %v", err)
		}
	}
	got, err := newStore(t).GetCluster(c, a.ID)
	if err != nil {
		t.Fatalf("GetCluster from another client: %v", err)
	}
	if d := cmp.Diff(a, got); d != "" {
		t.Errorf("GetCluster mismatch (-want +got):\n%s", d)
	}
	a.TokenHash, a.UpdatedAt = hashOf("a2"), now.Add(time.Second)
	if err := st.PutCluster(c, a); err != nil {
		t.Fatal(err)
	}
	if got, _ := st.GetCluster(c, a.ID); got.TokenHash != a.TokenHash {
		t.Errorf("PutCluster did not replace the token hash")
	}
	list, err := st.ListClusters(c)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for i, r := range list {
		seen[r.ID] = true
		if i > 0 && list[i-1].ID >= r.ID {
			t.Errorf("ListClusters not sorted by id: %v", ids(list, func(r store.ClusterRecord) string { return r.ID }))
		}
	}
	if !seen[a.ID] || !seen[b.ID] {
		t.Errorf("ListClusters lacks %s or %s", a.ID, b.ID)
	}
	if err := st.DeleteCluster(c, a.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := st.GetCluster(c, a.ID); !errIs(err, store.ErrNotFound) {
		t.Errorf("GetCluster after delete = %v; want ErrNotFound", err)
	}
	if err := st.DeleteCluster(c, a.ID); !errIs(err, store.ErrNotFound) {
		t.Errorf("DeleteCluster twice = %v; want ErrNotFound", err)
	}
}

func testClusterBadInput(t *testing.T, newStore func(t *testing.T) store.Store) {
	st := newStore(t)
	c := ctx(t)
	for _, r := range []store.ClusterRecord{
		{ID: "", TokenHash: hashOf("x")},
		{ID: "Bad_ID", TokenHash: hashOf("x")},
		{ID: newCluster(), TokenHash: "short"},
	} {
		if err := st.PutCluster(c, r); !errIs(err, store.ErrInvalid) {
			t.Errorf("PutCluster(%+v) = %v; want ErrInvalid", r, err)
		}
	}
	revoked := time.Now().UTC()
	for _, r := range []store.ClusterRecord{
		{ID: newCluster(), TokenHash: hashOf("x"), RevokedAt: &revoked}, // revoked keeps no hash
		{ID: newCluster(), TokenHash: strings.Repeat("z", 64)},          // not hex
		{ID: newCluster()}, // no hash, not revoked
	} {
		if err := st.CreateCluster(c, r); !errIs(err, store.ErrInvalid) {
			t.Errorf("CreateCluster(%+v) = %v; want ErrInvalid", r, err)
		}
		if err := st.SwapCluster(c, hashOf("x"), r); !errIs(err, store.ErrInvalid) {
			t.Errorf("SwapCluster(%+v) = %v; want ErrInvalid", r, err)
		}
	}
	good := store.ClusterRecord{ID: newCluster(), TokenHash: hashOf("x")}
	if err := st.SwapCluster(c, "not-a-hash", good); !errIs(err, store.ErrInvalid) {
		t.Errorf("SwapCluster(bad old hash) = %v; want ErrInvalid", err)
	}
	if _, err := st.GetCluster(c, "a.b"); !errIs(err, store.ErrInvalid) {
		t.Errorf("GetCluster(a.b) = %v; want ErrInvalid", err)
	}
}

func testClusterCreate(t *testing.T, newStore func(t *testing.T) store.Store) {
	st := newStore(t)
	c := ctx(t)
	now := time.Now().UTC().Truncate(time.Millisecond)
	a := store.ClusterRecord{ID: newCluster(), TokenHash: hashOf("a"), CreatedAt: now, UpdatedAt: now}
	if err := st.CreateCluster(c, a); err != nil {
		t.Fatalf("CreateCluster: %v", err)
	}
	other := a
	other.TokenHash = hashOf("other")
	if err := newStore(t).CreateCluster(c, other); !errIs(err, store.ErrExists) {
		t.Errorf("CreateCluster(registered) = %v; want ErrExists", err)
	}
	if got, _ := st.GetCluster(c, a.ID); got.TokenHash != a.TokenHash {
		t.Errorf("a refused CreateCluster replaced the token hash")
	}
	// A revoked cluster is still registered: Create refuses it too.
	rev := a
	rev.TokenHash, rev.RevokedAt = "", &now
	if err := st.SwapCluster(c, a.TokenHash, rev); err != nil {
		t.Fatalf("SwapCluster(revoke): %v", err)
	}
	if err := st.CreateCluster(c, other); !errIs(err, store.ErrExists) {
		t.Errorf("CreateCluster(revoked) = %v; want ErrExists", err)
	}
	got, err := st.GetCluster(c, a.ID)
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(rev, got); d != "" || !got.Revoked() {
		t.Errorf("revoked record mismatch (-want +got):\n%s", d)
	}
	// After a delete the id is free again.
	if err := st.DeleteCluster(c, a.ID); err != nil {
		t.Fatal(err)
	}
	if err := st.CreateCluster(c, other); err != nil {
		t.Errorf("CreateCluster after delete: %v", err)
	}
}

func testClusterSwap(t *testing.T, newStore func(t *testing.T) store.Store) {
	st := newStore(t)
	c := ctx(t)
	now := time.Now().UTC().Truncate(time.Millisecond)
	a := store.ClusterRecord{ID: newCluster(), TokenHash: hashOf("a"), CreatedAt: now, UpdatedAt: now}
	b := a
	b.TokenHash, b.UpdatedAt = hashOf("b"), now.Add(time.Second)
	if err := st.SwapCluster(c, a.TokenHash, b); !errIs(err, store.ErrNotFound) {
		t.Errorf("SwapCluster(unregistered) = %v; want ErrNotFound", err)
	}
	if err := st.PutCluster(c, a); err != nil {
		t.Fatal(err)
	}
	if err := st.SwapCluster(c, hashOf("stale"), b); !errIs(err, store.ErrConflict) {
		t.Errorf("SwapCluster(stale hash) = %v; want ErrConflict", err)
	}
	if got, _ := st.GetCluster(c, a.ID); got.TokenHash != a.TokenHash {
		t.Errorf("a conflicting SwapCluster wrote")
	}
	if err := newStore(t).SwapCluster(c, a.TokenHash, b); err != nil {
		t.Fatalf("SwapCluster: %v", err)
	}
	got, err := st.GetCluster(c, a.ID)
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(b, got); d != "" {
		t.Errorf("after swap (-want +got):\n%s", d)
	}
	// Revoke, then issue a new token from the revoked state ("").
	rev := b
	rev.TokenHash, rev.RevokedAt = "", &now
	if err := st.SwapCluster(c, b.TokenHash, rev); err != nil {
		t.Fatalf("SwapCluster(revoke): %v", err)
	}
	if err := st.SwapCluster(c, b.TokenHash, b); !errIs(err, store.ErrConflict) {
		t.Errorf("SwapCluster(old hash after revoke) = %v; want ErrConflict", err)
	}
	d := b
	d.TokenHash = hashOf("d")
	if err := st.SwapCluster(c, "", d); err != nil {
		t.Fatalf("SwapCluster(from revoked): %v", err)
	}
	if got, _ := st.GetCluster(c, a.ID); got.TokenHash != d.TokenHash || got.Revoked() {
		t.Errorf("after re-issue: got %+v; want hash %s, not revoked", got, d.TokenHash)
	}
	if list, _ := st.ListClusters(c); !slices.ContainsFunc(list, func(r store.ClusterRecord) bool { return r.ID == a.ID }) {
		t.Errorf("ListClusters lacks %s after swaps", a.ID)
	}
}

// testClusterSwapRace has many clients swap from the same hash at once:
// exactly one wins, the rest get ErrConflict.
func testClusterSwapRace(t *testing.T, newStore func(t *testing.T) store.Store) {
	st := newStore(t)
	c := ctx(t)
	now := time.Now().UTC()
	a := store.ClusterRecord{ID: newCluster(), TokenHash: hashOf("a"), CreatedAt: now, UpdatedAt: now}
	if err := st.PutCluster(c, a); err != nil {
		t.Fatal(err)
	}
	const n = 8
	clients := make([]store.Store, n)
	for i := range clients {
		clients[i] = newStore(t)
	}
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		won  []string
		errs []error
	)
	for i, cl := range clients {
		wg.Go(func() {
			r := a
			r.TokenHash = hashOf(fmt.Sprint("racer", i))
			err := cl.SwapCluster(c, a.TokenHash, r)
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				won = append(won, r.TokenHash)
			case !errIs(err, store.ErrConflict):
				errs = append(errs, err)
			}
		})
	}
	wg.Wait()
	if len(errs) > 0 {
		t.Fatalf("SwapCluster errors other than ErrConflict: %v", errs)
	}
	if len(won) != 1 {
		t.Fatalf("%d swaps won; want exactly 1", len(won))
	}
	if got, _ := st.GetCluster(c, a.ID); got.TokenHash != won[0] {
		t.Errorf("stored hash %s; want the winner's %s", got.TokenHash, won[0])
	}
}
