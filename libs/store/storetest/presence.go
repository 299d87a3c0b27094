package storetest

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"kubently.io/libs/contracts"
	"kubently.io/libs/store"
	"kubently.io/libs/testkit"
)

var presenceTests = []test{
	{"RefreshConnected", testRefreshConnected},
	{"Refresh", testRefresh},
	{"Leave", testLeave},
	{"Expiry", testPresenceExpiry},
	{"BadInput", testPresenceBadInput},
}

func refresh(t *testing.T, st store.Store, info contracts.ExecutorInfo, ttl time.Duration) {
	t.Helper()
	if err := st.Refresh(ctx(t), info, ttl); err != nil {
		t.Fatalf("Refresh(%s) = %v; want nil", info.ConnID, err)
	}
}

func connected(t *testing.T, st store.Store, cluster string) []contracts.ExecutorInfo {
	t.Helper()
	got, err := st.Connected(ctx(t), cluster)
	if err != nil {
		t.Fatalf("Connected() = %v; want nil", err)
	}
	return got
}

// byConn sorts infos by connection id, for order-insensitive comparison.
func byConn(infos []contracts.ExecutorInfo) []contracts.ExecutorInfo {
	infos = slices.Clone(infos)
	slices.SortFunc(infos, func(a, b contracts.ExecutorInfo) int {
		if a.ConnID < b.ConnID {
			return -1
		}
		if a.ConnID > b.ConnID {
			return 1
		}
		return 0
	})
	return infos
}

func testRefreshConnected(t *testing.T, newStore func(t *testing.T) store.Store) {
	st := newStore(t)
	a, b := newCluster(), newCluster()
	a1, a2, b1 := newInfo(a), newInfo(a), newInfo(b)
	a2.ExecutorID = "executor-other"
	a2.Gateway = "gateway-1"
	refresh(t, st, a1, time.Minute)
	refresh(t, newStore(t), a2, time.Minute) // another gateway replica
	refresh(t, st, b1, time.Minute)
	tests := []struct {
		name    string
		cluster string
		want    []contracts.ExecutorInfo
	}{
		{name: "two streams", cluster: a, want: []contracts.ExecutorInfo{a1, a2}},
		{name: "one stream", cluster: b, want: []contracts.ExecutorInfo{b1}},
		{name: "none", cluster: newCluster(), want: []contracts.ExecutorInfo{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := connected(t, st, tt.cluster)
			if got == nil {
				t.Fatalf("Connected() = nil; want an empty slice")
			}
			if diff := cmp.Diff(byConn(tt.want), byConn(got)); diff != "" {
				t.Errorf("Connected() mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func testRefresh(t *testing.T, newStore func(t *testing.T) store.Store) {
	st := newStore(t)
	cluster := newCluster()
	info := newInfo(cluster)
	refresh(t, st, info, time.Minute)
	info.LastSeen = info.LastSeen.Add(5 * time.Second)
	refresh(t, st, info, time.Minute)
	if diff := cmp.Diff([]contracts.ExecutorInfo{info}, connected(t, st, cluster)); diff != "" {
		t.Errorf("Connected() after refresh mismatch (-want +got):\n%s", diff)
	}
}

func testLeave(t *testing.T, newStore func(t *testing.T) store.Store) {
	st := newStore(t)
	c := ctx(t)
	cluster := newCluster()
	one, two := newInfo(cluster), newInfo(cluster)
	refresh(t, st, one, time.Minute)
	refresh(t, st, two, time.Minute)
	tests := []struct {
		name   string
		connID string
		want   []contracts.ExecutorInfo
	}{
		{name: "one of two", connID: one.ConnID, want: []contracts.ExecutorInfo{two}},
		{name: "again", connID: one.ConnID, want: []contracts.ExecutorInfo{two}},
		{name: "unknown", connID: contracts.NewID(), want: []contracts.ExecutorInfo{two}},
		{name: "last", connID: two.ConnID, want: []contracts.ExecutorInfo{}},
	}
	for _, tt := range tests {
		if err := st.Leave(c, cluster, tt.connID); err != nil {
			t.Fatalf("%s: Leave() = %v; want nil", tt.name, err)
		}
		if diff := cmp.Diff(tt.want, connected(t, st, cluster)); diff != "" {
			t.Errorf("%s: Connected() after Leave mismatch (-want +got):\n%s", tt.name, diff)
		}
	}
	// A stream can come back after leaving.
	refresh(t, st, one, time.Minute)
	if diff := cmp.Diff([]contracts.ExecutorInfo{one}, connected(t, st, cluster)); diff != "" {
		t.Errorf("Connected() after rejoin mismatch (-want +got):\n%s", diff)
	}
}

func testPresenceExpiry(t *testing.T, newStore func(t *testing.T) store.Store) {
	st := newStore(t)
	cluster := newCluster()
	short, refreshed, long := newInfo(cluster), newInfo(cluster), newInfo(cluster)
	refresh(t, st, short, time.Second)
	refresh(t, st, refreshed, time.Second)
	refresh(t, st, long, time.Minute)
	refresh(t, st, refreshed, time.Minute) // a refresh extends the TTL
	testkit.CheckFor(t, 10*time.Second, 50*time.Millisecond, func() error {
		got := connected(t, st, cluster)
		if len(got) != 2 {
			return fmt.Errorf("Connected() = %v; want 2 streams", ids(got, connID))
		}
		return nil
	})
	if diff := cmp.Diff(byConn([]contracts.ExecutorInfo{refreshed, long}), byConn(connected(t, st, cluster))); diff != "" {
		t.Errorf("Connected() after expiry mismatch (-want +got):\n%s", diff)
	}
}

func testPresenceBadInput(t *testing.T, newStore func(t *testing.T) store.Store) {
	st := newStore(t)
	cluster := newCluster()
	good := newInfo(cluster)
	with := func(f func(*contracts.ExecutorInfo)) contracts.ExecutorInfo { i := good; f(&i); return i }
	tests := []struct {
		name string
		call func() error
	}{
		{"refresh empty cluster", func() error {
			return st.Refresh(ctx(t), with(func(i *contracts.ExecutorInfo) { i.Cluster = "" }), time.Minute)
		}},
		{"refresh empty conn id", func() error {
			return st.Refresh(ctx(t), with(func(i *contracts.ExecutorInfo) { i.ConnID = "" }), time.Minute)
		}},
		{"refresh conn id with dot", func() error {
			return st.Refresh(ctx(t), with(func(i *contracts.ExecutorInfo) { i.ConnID = "a.b" }), time.Minute)
		}},
		{"refresh zero ttl", func() error { return st.Refresh(ctx(t), good, 0) }},
		{"leave empty cluster", func() error { return st.Leave(ctx(t), "", good.ConnID) }},
		{"leave empty conn id", func() error { return st.Leave(ctx(t), cluster, "") }},
		{"connected empty cluster", func() error { _, err := st.Connected(ctx(t), ""); return err }},
		{"connected wildcard cluster", func() error { _, err := st.Connected(ctx(t), "*"); return err }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.call(); !errIs(err, store.ErrInvalid) {
				t.Errorf("got %v; want %v", err, store.ErrInvalid)
			}
		})
	}
	if got := connected(t, st, cluster); len(got) != 0 {
		t.Errorf("Connected() after bad input = %v; want none", ids(got, connID))
	}
}
