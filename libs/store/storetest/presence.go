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
	{"Join", testJoin},
	{"JoinLeave", testJoinLeave},
	{"LeaseExpiry", testLeaseExpiry},
	{"LeaseLapsed", testLeaseLapsed},
	{"JoinExpiry", testJoinExpiry},
	{"LeaseLastSeen", testLeaseLastSeen},
	{"LeaseBadInput", testLeaseBadInput},
}

func join(t *testing.T, st store.Store, lease string, info contracts.ExecutorInfo, ttl time.Duration) {
	t.Helper()
	if err := st.Join(ctx(t), lease, info, ttl); err != nil {
		t.Fatalf("Join(%s, %s) = %v; want nil", lease, info.ConnID, err)
	}
}

func renew(t *testing.T, st store.Store, lease string, ttl time.Duration) bool {
	t.Helper()
	lapsed, err := st.RenewLease(ctx(t), lease, ttl)
	if err != nil {
		t.Fatalf("RenewLease(%s) = %v; want nil", lease, err)
	}
	return lapsed
}

// sameStreams compares Connected's answer with want by everything but
// LastSeen, which a lease raises to its latest renewal: that must lie in
// [want's LastSeen, now].
func sameStreams(t *testing.T, what string, want, got []contracts.ExecutorInfo) {
	t.Helper()
	want, got = byConn(want), byConn(got)
	if len(want) == len(got) {
		now := time.Now()
		for i := range got {
			if got[i].ConnID != want[i].ConnID {
				break
			}
			if err := inWindow(got[i].LastSeen, want[i].LastSeen, now); err != nil {
				t.Errorf("%s: LastSeen of %s = %v", what, got[i].ConnID, err)
			}
			got[i].LastSeen = want[i].LastSeen
		}
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("%s mismatch (-want +got):\n%s", what, diff)
	}
}

// testJoin: streams joined under a renewed lease are connected, next to
// refreshed ones, seen from any client; a lease's renewal raises their
// LastSeen; a lease never renewed keeps its streams out.
func testJoin(t *testing.T, newStore func(t *testing.T) store.Store) {
	st, other := newStore(t), newStore(t)
	cluster := newCluster()
	lease, unrenewed := contracts.NewID(), contracts.NewID()
	if !renew(t, st, lease, time.Minute) {
		t.Errorf("RenewLease(new lease) = false; want lapsed (it was unknown)")
	}
	if renew(t, st, lease, time.Minute) {
		t.Errorf("RenewLease(live lease) = true; want not lapsed")
	}
	joined, refreshed, orphan := newInfo(cluster), newInfo(cluster), newInfo(cluster)
	join(t, st, lease, joined, time.Minute)
	refresh(t, other, refreshed, time.Minute)
	join(t, st, unrenewed, orphan, time.Minute)
	sameStreams(t, "Connected()", []contracts.ExecutorInfo{joined, refreshed}, connected(t, other, cluster))

	time.Sleep(20 * time.Millisecond) // distinct milliseconds
	before := time.Now()
	renew(t, other, lease, time.Minute)
	for _, got := range connected(t, st, cluster) {
		if got.ConnID != joined.ConnID {
			continue
		}
		if err := inWindow(got.LastSeen, before, time.Now()); err != nil {
			t.Errorf("LastSeen of a joined stream after RenewLease = %v", err)
		}
	}
	// Joining again keeps one record, with the new info.
	joined.Version = "v0.2.0"
	join(t, other, lease, joined, time.Minute)
	sameStreams(t, "Connected() after a second Join", []contracts.ExecutorInfo{joined, refreshed}, connected(t, st, cluster))
}

// testJoinLeave: Leave removes a joined stream at once, while its lease
// lives on for the other streams joined under it.
func testJoinLeave(t *testing.T, newStore func(t *testing.T) store.Store) {
	st := newStore(t)
	cluster := newCluster()
	lease := contracts.NewID()
	renew(t, st, lease, time.Minute)
	one, two := newInfo(cluster), newInfo(cluster)
	join(t, st, lease, one, time.Minute)
	join(t, st, lease, two, time.Minute)
	if err := st.Leave(ctx(t), cluster, one.ConnID); err != nil {
		t.Fatalf("Leave() = %v; want nil", err)
	}
	sameStreams(t, "Connected() after Leave", []contracts.ExecutorInfo{two}, connected(t, st, cluster))
	renew(t, st, lease, time.Minute)
	sameStreams(t, "Connected() after Leave and RenewLease", []contracts.ExecutorInfo{two}, connected(t, st, cluster))
	if err := st.Leave(ctx(t), cluster, two.ConnID); err != nil {
		t.Fatalf("Leave() = %v; want nil", err)
	}
	if got := connected(t, st, cluster); len(got) != 0 {
		t.Errorf("Connected() after both left = %v; want none", ids(got, connID))
	}
}

// testLeaseExpiry: the streams of a lease that is no longer renewed (its
// gateway died) vanish once its TTL ran out, however long their own Join
// TTL; those of a renewed lease stay.
func testLeaseExpiry(t *testing.T, newStore func(t *testing.T) store.Store) {
	st := newStore(t)
	cluster := newCluster()
	dead, live := contracts.NewID(), contracts.NewID()
	renew(t, st, dead, time.Second)
	renew(t, st, live, time.Minute)
	d1, d2, l1 := newInfo(cluster), newInfo(cluster), newInfo(cluster)
	join(t, st, dead, d1, time.Hour)
	join(t, st, dead, d2, time.Hour)
	join(t, st, live, l1, time.Hour)
	if got := connected(t, st, cluster); len(got) != 3 {
		t.Fatalf("Connected() while both leases live = %v; want 3 streams", ids(got, connID))
	}
	waitConnected(t, st, cluster, 1, "Connected() = %v; want only %s", l1.ConnID)
	sameStreams(t, "Connected() after a lease ran out", []contracts.ExecutorInfo{l1}, connected(t, st, cluster))
}

// testLeaseLapsed: renewing a lease that ran out reports it lapsed, and
// the renewal makes the streams still joined under it live again.
func testLeaseLapsed(t *testing.T, newStore func(t *testing.T) store.Store) {
	st := newStore(t)
	cluster := newCluster()
	lease := contracts.NewID()
	renew(t, st, lease, time.Second)
	info := newInfo(cluster)
	join(t, st, lease, info, time.Hour)
	waitConnected(t, st, cluster, 0, "Connected() = %v; want none once the lease ran out")
	if !renew(t, st, lease, time.Minute) {
		t.Errorf("RenewLease(lease that ran out) = false; want lapsed")
	}
	if renew(t, st, lease, time.Minute) {
		t.Errorf("RenewLease(renewed lease) = true; want not lapsed")
	}
	sameStreams(t, "Connected() after the lease was renewed", []contracts.ExecutorInfo{info}, connected(t, st, cluster))
}

// testJoinExpiry: a joined stream's own TTL bounds it even while its
// lease is renewed; joining it again extends it.
func testJoinExpiry(t *testing.T, newStore func(t *testing.T) store.Store) {
	st := newStore(t)
	cluster := newCluster()
	lease := contracts.NewID()
	renew(t, st, lease, time.Minute)
	short, rejoined := newInfo(cluster), newInfo(cluster)
	join(t, st, lease, short, time.Second)
	join(t, st, lease, rejoined, time.Second)
	join(t, st, lease, rejoined, time.Minute)
	waitConnected(t, st, cluster, 1, "Connected() = %v; want only %s", rejoined.ConnID)
	sameStreams(t, "Connected() after a Join TTL ran out", []contracts.ExecutorInfo{rejoined}, connected(t, st, cluster))
}

// testLeaseLastSeen: a Join moves the cluster's last seen, and so does a
// renewal of the lease of a stream joined under it; once the lease stops
// being renewed, last seen stays at its latest renewal.
func testLeaseLastSeen(t *testing.T, newStore func(t *testing.T) store.Store) {
	st, other := newStore(t), newStore(t)
	cluster := newCluster()
	lease := contracts.NewID()
	renew(t, st, lease, time.Second)
	before := time.Now()
	join(t, st, lease, newInfo(cluster), time.Hour)
	at, err := other.LastSeen(ctx(t), cluster)
	if err != nil {
		t.Fatalf("LastSeen() after Join = %v; want nil", err)
	}
	if err := inWindow(at, before, time.Now()); err != nil {
		t.Errorf("LastSeen() after Join = %v", err)
	}
	time.Sleep(20 * time.Millisecond) // distinct milliseconds
	before = time.Now()
	renew(t, other, lease, time.Second)
	renewed := time.Now()
	at, err = st.LastSeen(ctx(t), cluster)
	if err != nil {
		t.Fatalf("LastSeen() after RenewLease = %v; want nil", err)
	}
	if err := inWindow(at, before, renewed); err != nil {
		t.Errorf("LastSeen() after RenewLease = %v", err)
	}
	// The lease runs out: the stream is gone, its last renewal stays.
	waitConnected(t, st, cluster, 0, "Connected() = %v; want none once the lease ran out")
	at, err = st.LastSeen(ctx(t), cluster)
	if err != nil {
		t.Fatalf("LastSeen() after the lease ran out = %v; want nil", err)
	}
	if err := inWindow(at, before, renewed); err != nil {
		t.Errorf("LastSeen() after the lease ran out = %v", err)
	}
}

func testLeaseBadInput(t *testing.T, newStore func(t *testing.T) store.Store) {
	st := newStore(t)
	cluster := newCluster()
	good, lease := newInfo(cluster), contracts.NewID()
	with := func(f func(*contracts.ExecutorInfo)) contracts.ExecutorInfo { i := good; f(&i); return i }
	tests := []struct {
		name string
		call func() error
	}{
		{"join empty lease", func() error { return st.Join(ctx(t), "", good, time.Minute) }},
		{"join lease with dot", func() error { return st.Join(ctx(t), "a.b", good, time.Minute) }},
		{"join empty cluster", func() error {
			return st.Join(ctx(t), lease, with(func(i *contracts.ExecutorInfo) { i.Cluster = "" }), time.Minute)
		}},
		{"join empty conn id", func() error {
			return st.Join(ctx(t), lease, with(func(i *contracts.ExecutorInfo) { i.ConnID = "" }), time.Minute)
		}},
		{"join zero ttl", func() error { return st.Join(ctx(t), lease, good, 0) }},
		{"renew empty lease", func() error { _, err := st.RenewLease(ctx(t), "", time.Minute); return err }},
		{"renew lease with dot", func() error { _, err := st.RenewLease(ctx(t), "a.b", time.Minute); return err }},
		{"renew zero ttl", func() error { _, err := st.RenewLease(ctx(t), lease, 0); return err }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.call(); !errIs(err, store.ErrInvalid) {
				t.Errorf("got %v; want %v", err, store.ErrInvalid)
			}
		})
	}
	// Nothing was recorded by the bad calls: the lease is still unknown.
	if !renew(t, st, lease, time.Minute) {
		t.Errorf("RenewLease() after bad input = false; want lapsed (unknown lease)")
	}
	if got := connected(t, st, cluster); len(got) != 0 {
		t.Errorf("Connected() after bad input = %v; want none", ids(got, connID))
	}
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

// waitConnected waits until Connected(cluster) on st lists want streams;
// format, given the streams listed and then args, says what it waits for.
func waitConnected(t *testing.T, st store.Store, cluster string, want int, format string, args ...any) {
	t.Helper()
	testkit.CheckFor(t, 10*time.Second, 50*time.Millisecond, func() error {
		if got := connected(t, st, cluster); len(got) != want {
			return fmt.Errorf(format, append([]any{ids(got, connID)}, args...)...)
		}
		return nil
	})
}
