package storetest

import (
	"crypto/sha256"
	"encoding/hex"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"kubently.io/libs/store"
)

var clusterTests = []test{
	{"PutGetListDelete", testClusterCRUD},
	{"BadInput", testClusterBadInput},
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
	if _, err := st.GetCluster(c, "a.b"); !errIs(err, store.ErrInvalid) {
		t.Errorf("GetCluster(a.b) = %v; want ErrInvalid", err)
	}
}
