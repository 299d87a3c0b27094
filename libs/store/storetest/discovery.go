package storetest

import (
	"testing"

	"github.com/google/go-cmp/cmp"

	"kubently.io/libs/contracts"
	"kubently.io/libs/store"
)

var discoveryTests = []test{
	{"PutGetReplace", testDiscoveryPutGet},
	{"BadInput", testDiscoveryBadInput},
}

func discoverySummary(kinds ...string) contracts.ExecutorDiscovery {
	var rs []contracts.DiscoveryResource
	for _, k := range kinds {
		rs = append(rs, contracts.DiscoveryResource{
			Group: "example.com", Version: "v1", Resource: "x" + k + "s", Kind: "X" + k,
			ShortNames: []string{"x" + k}, Categories: []string{"all"}, Verbs: []string{"get", "list"},
		})
	}
	rs = append(rs, contracts.DiscoveryResource{Version: "v1", Resource: "pods", Singular: "pod", Kind: "Pod", Namespaced: true})
	return contracts.NewExecutorDiscovery(rs)
}

// testDiscoveryPutGet: a stored summary is read back whole, by hash and
// from another client; a new one replaces it; clusters do not share.
func testDiscoveryPutGet(t *testing.T, newStore func(t *testing.T) store.Store) {
	st := newStore(t)
	c := ctx(t)
	cluster, other := newCluster(), newCluster()
	if _, err := st.GetDiscovery(c, cluster); !errIs(err, store.ErrNotFound) {
		t.Fatalf("GetDiscovery(none) = %v; want ErrNotFound", err)
	}
	if _, err := st.DiscoveryHash(c, cluster); !errIs(err, store.ErrNotFound) {
		t.Fatalf("DiscoveryHash(none) = %v; want ErrNotFound", err)
	}
	first := discoverySummary("a", "b")
	if err := st.PutDiscovery(c, cluster, first); err != nil {
		t.Fatalf("PutDiscovery: %v", err)
	}
	second := newStore(t)
	got, err := second.GetDiscovery(c, cluster)
	if err != nil {
		t.Fatalf("GetDiscovery from another client: %v", err)
	}
	if d := cmp.Diff(first, got); d != "" {
		t.Errorf("GetDiscovery mismatch (-want +got):\n%s", d)
	}
	if h, err := second.DiscoveryHash(c, cluster); err != nil || h != first.Hash {
		t.Errorf("DiscoveryHash = %q, %v; want %q", h, err, first.Hash)
	}
	next := discoverySummary("c")
	if err := st.PutDiscovery(c, cluster, next); err != nil {
		t.Fatalf("PutDiscovery(replace): %v", err)
	}
	if got, _ := st.GetDiscovery(c, cluster); got.Hash != next.Hash || len(got.Resources) != 2 {
		t.Errorf("after replace GetDiscovery = %+v; want %+v", got, next)
	}
	if h, _ := st.DiscoveryHash(c, cluster); h != next.Hash {
		t.Errorf("after replace DiscoveryHash = %q; want %q", h, next.Hash)
	}
	if _, err := st.GetDiscovery(c, other); !errIs(err, store.ErrNotFound) {
		t.Errorf("GetDiscovery(other cluster) = %v; want ErrNotFound", err)
	}
}

// testDiscoveryBadInput: bad cluster ids and summaries are ErrInvalid
// and store nothing.
func testDiscoveryBadInput(t *testing.T, newStore func(t *testing.T) store.Store) {
	st := newStore(t)
	c := ctx(t)
	cluster := newCluster()
	good := discoverySummary("a")
	badHash := good
	badHash.Hash = "0000"
	badName := contracts.NewExecutorDiscovery([]contracts.DiscoveryResource{{Version: "v1", Resource: "Pods/x", Kind: "Pod"}})
	for name, put := range map[string]func() error{
		"bad cluster": func() error { return st.PutDiscovery(c, "Bad_Cluster", good) },
		"bad hash":    func() error { return st.PutDiscovery(c, cluster, badHash) },
		"bad name":    func() error { return st.PutDiscovery(c, cluster, badName) },
	} {
		if err := put(); !errIs(err, store.ErrInvalid) {
			t.Errorf("PutDiscovery(%s) = %v; want ErrInvalid", name, err)
		}
	}
	if _, err := st.GetDiscovery(c, "Bad_Cluster"); !errIs(err, store.ErrInvalid) {
		t.Errorf("GetDiscovery(bad cluster) = %v; want ErrInvalid", err)
	}
	if _, err := st.DiscoveryHash(c, "Bad_Cluster"); !errIs(err, store.ErrInvalid) {
		t.Errorf("DiscoveryHash(bad cluster) = %v; want ErrInvalid", err)
	}
	if _, err := st.GetDiscovery(c, cluster); !errIs(err, store.ErrNotFound) {
		t.Errorf("GetDiscovery after bad puts = %v; want ErrNotFound", err)
	}
}
