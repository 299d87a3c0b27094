package storetest

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"kubently.io/libs/contracts"
	"kubently.io/libs/store"
)

var labelTests = []test{
	{"SetRemoveList", testLabelsCRUD},
	{"BadInput", testLabelsBadInput},
	{"Unregistered", testLabelsUnregistered},
	{"ConcurrentEdits", testLabelsConcurrent},
	{"DeleteClusterDropsLabels", testLabelsDeleteCluster},
}

func registered(t *testing.T, st store.Store) string {
	t.Helper()
	now := time.Now().UTC().Truncate(time.Millisecond)
	id := newCluster()
	if err := st.PutCluster(ctx(t), store.ClusterRecord{ID: id, TokenHash: hashOf(id), CreatedAt: now, UpdatedAt: now}); err != nil {
		t.Fatalf("PutCluster: %v", err)
	}
	return id
}

func testLabelsCRUD(t *testing.T, newStore func(t *testing.T) store.Store) {
	st := newStore(t)
	c := ctx(t)
	a, b := registered(t, st), registered(t, st)
	if got, err := st.ClusterLabels(c, a); err != nil || got == nil || len(got) != 0 {
		t.Fatalf("ClusterLabels(unlabelled) = %v, %v; want empty map", got, err)
	}
	got, err := st.LabelCluster(c, a, map[string]string{"env": "prod", "region": "eu", "example.com/team": "core"}, nil)
	if err != nil {
		t.Fatalf("LabelCluster: %v", err)
	}
	want := map[string]string{"env": "prod", "region": "eu", "example.com/team": "core"}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("LabelCluster result (-want +got):\n%s", d)
	}
	// Replace one, remove one (and one that is not there), add one.
	got, err = newStore(t).LabelCluster(c, a, map[string]string{"env": "staging", "tier": ""}, []string{"region", "absent"})
	if err != nil {
		t.Fatalf("LabelCluster from another client: %v", err)
	}
	want = map[string]string{"env": "staging", "tier": "", "example.com/team": "core"}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("LabelCluster edit (-want +got):\n%s", d)
	}
	if got, err := st.ClusterLabels(c, a); err != nil || !cmp.Equal(want, got) {
		t.Errorf("ClusterLabels = %v, %v; want %v", got, err, want)
	}
	if _, err := st.LabelCluster(c, b, map[string]string{"env": "prod"}, nil); err != nil {
		t.Fatal(err)
	}
	all, err := newStore(t).ListClusterLabels(c)
	if err != nil {
		t.Fatalf("ListClusterLabels: %v", err)
	}
	if !cmp.Equal(all[a], want) || !cmp.Equal(all[b], map[string]string{"env": "prod"}) {
		t.Errorf("ListClusterLabels: %s=%v %s=%v", a, all[a], b, all[b])
	}
	// The labels do not show in the registry listing.
	list, err := st.ListClusters(c)
	if err != nil {
		t.Fatalf("ListClusters: %v", err)
	}
	for _, r := range list {
		if contracts.ValidateID("cluster", r.ID) != nil {
			t.Errorf("ListClusters lists %q", r.ID)
		}
	}
	// Removing every label leaves none, and the cluster out of the list.
	got, err = st.LabelCluster(c, a, nil, []string{"env", "tier", "example.com/team"})
	if err != nil || len(got) != 0 {
		t.Fatalf("LabelCluster(remove all) = %v, %v; want none", got, err)
	}
	all, err = st.ListClusterLabels(c)
	if err != nil {
		t.Fatal(err)
	}
	if l, ok := all[a]; ok {
		t.Errorf("ListClusterLabels still has %s: %v", a, l)
	}
}

func testLabelsBadInput(t *testing.T, newStore func(t *testing.T) store.Store) {
	st := newStore(t)
	c := ctx(t)
	id := registered(t, st)
	tooMany := map[string]string{}
	for i := range contracts.MaxClusterLabels + 1 {
		tooMany[fmt.Sprintf("k%d", i)] = "v"
	}
	long := string(make([]byte, 64))
	for i := range len(long) {
		long = long[:i] + "a" + long[i+1:]
	}
	tests := []struct {
		name    string
		id      string
		set     map[string]string
		remove  []string
		wantErr error
	}{
		{"bad cluster id", "Bad_ID", map[string]string{"a": "b"}, nil, store.ErrInvalid},
		{"empty key", id, map[string]string{"": "b"}, nil, store.ErrInvalid},
		{"bad key", id, map[string]string{"a b": "c"}, nil, store.ErrInvalid},
		{"key name too long", id, map[string]string{long: "v"}, nil, store.ErrInvalid},
		{"bad prefix", id, map[string]string{"Bad_Prefix/a": "v"}, nil, store.ErrInvalid},
		{"bad value", id, map[string]string{"a": "-x"}, nil, store.ErrInvalid},
		{"value too long", id, map[string]string{"a": long}, nil, store.ErrInvalid},
		{"bad remove key", id, nil, []string{"a=b"}, store.ErrInvalid},
		{"too many labels", id, tooMany, nil, store.ErrInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := st.LabelCluster(c, tt.id, tt.set, tt.remove); !errIs(err, tt.wantErr) {
				t.Errorf("LabelCluster = %v; want %v", err, tt.wantErr)
			}
		})
	}
	if got, err := st.ClusterLabels(c, id); err != nil || len(got) != 0 {
		t.Errorf("after refused edits ClusterLabels = %v, %v; want none", got, err)
	}
	if _, err := st.ClusterLabels(c, "Bad_ID"); !errIs(err, store.ErrInvalid) {
		t.Errorf("ClusterLabels(bad id) = %v; want ErrInvalid", err)
	}
	// At the cap, one more label is refused and nothing changes.
	full := map[string]string{}
	for i := range contracts.MaxClusterLabels {
		full[fmt.Sprintf("k%d", i)] = "v"
	}
	if _, err := st.LabelCluster(c, id, full, nil); err != nil {
		t.Fatalf("LabelCluster(%d labels): %v", len(full), err)
	}
	if _, err := st.LabelCluster(c, id, map[string]string{"one-more": "v"}, nil); !errIs(err, store.ErrInvalid) {
		t.Errorf("LabelCluster past the cap = %v; want ErrInvalid", err)
	}
	if got, _ := st.ClusterLabels(c, id); !cmp.Equal(got, full) {
		t.Errorf("a refused edit changed the labels: %d labels", len(got))
	}
}

func testLabelsUnregistered(t *testing.T, newStore func(t *testing.T) store.Store) {
	st := newStore(t)
	if _, err := st.LabelCluster(ctx(t), newCluster(), map[string]string{"env": "prod"}, nil); !errIs(err, store.ErrNotFound) {
		t.Errorf("LabelCluster(unregistered) = %v; want ErrNotFound", err)
	}
}

func testLabelsConcurrent(t *testing.T, newStore func(t *testing.T) store.Store) {
	st := newStore(t)
	id := registered(t, st)
	const writers = 8
	var wg sync.WaitGroup
	errs := make(chan error, writers)
	for i := range writers {
		wg.Go(func() {
			_, err := newStore(t).LabelCluster(ctx(t), id, map[string]string{fmt.Sprintf("w%d", i): "x"}, nil)
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Errorf("concurrent LabelCluster: %v", err)
		}
	}
	got, err := st.ClusterLabels(ctx(t), id)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != writers {
		t.Errorf("after %d concurrent edits of different keys: %v; want every key (no lost update)", writers, got)
	}
}

func testLabelsDeleteCluster(t *testing.T, newStore func(t *testing.T) store.Store) {
	st := newStore(t)
	c := ctx(t)
	id := registered(t, st)
	if _, err := st.LabelCluster(c, id, map[string]string{"env": "prod"}, nil); err != nil {
		t.Fatal(err)
	}
	if err := st.DeleteCluster(c, id); err != nil {
		t.Fatal(err)
	}
	if got, err := st.ClusterLabels(c, id); err != nil || len(got) != 0 {
		t.Errorf("ClusterLabels after DeleteCluster = %v, %v; want none", got, err)
	}
	registered := func() string {
		now := time.Now().UTC()
		if err := st.PutCluster(c, store.ClusterRecord{ID: id, TokenHash: hashOf(id), CreatedAt: now, UpdatedAt: now}); err != nil {
			t.Fatal(err)
		}
		return id
	}
	if got, err := st.ClusterLabels(c, registered()); err != nil || len(got) != 0 {
		t.Errorf("a re-registered cluster has the old labels: %v, %v", got, err)
	}
}
