package storetest

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"kubently.io/libs/contracts"
	"kubently.io/libs/store"
)

var holdTests = []test{
	{"FirstWins", testHoldFirstWins},
	{"OtherClusterOrUnknown", testHoldOtherCluster},
	{"LivesAsLongAsOwner", testHoldExpiry},
	{"BadInput", testHoldBadInput},
}

func newHolder(executor string) contracts.CommandHolder {
	return contracts.CommandHolder{ExecutorID: executor, Instance: contracts.NewID(), ConnID: contracts.NewID()}
}

// testHoldFirstWins: the first instance to hold a command is recorded,
// read back through any client; later holds change nothing; a command not
// held yet has no holder.
func testHoldFirstWins(t *testing.T, newStore func(t *testing.T) store.Store) {
	st, other := newStore(t), newStore(t)
	cmds := enqueueN(t, st, newCluster(), 2, time.Minute)
	if h, err := st.Holder(ctx(t), cmds[0].ID); !errIs(err, store.ErrNotFound) {
		t.Errorf("Holder(not held) = %+v, %v; want %v", h, err, store.ErrNotFound)
	}
	first := newHolder("exec-a")
	if err := st.Hold(ctx(t), cmds[0].Cluster, cmds[0].ID, first); err != nil {
		t.Fatalf("Hold() = %v; want nil", err)
	}
	if err := other.Hold(ctx(t), cmds[0].Cluster, cmds[0].ID, newHolder("exec-b")); err != nil {
		t.Errorf("Hold() again = %v; want nil (no change)", err)
	}
	noConn := contracts.CommandHolder{ExecutorID: "exec-c.pod-1", Instance: contracts.NewID()}
	if err := st.Hold(ctx(t), cmds[1].Cluster, cmds[1].ID, noConn); err != nil {
		t.Fatalf("Hold(no conn id) = %v; want nil", err)
	}
	for _, tt := range []struct {
		id   string
		want contracts.CommandHolder
	}{{cmds[0].ID, first}, {cmds[1].ID, noConn}} {
		for _, s := range []store.Store{st, other} {
			got, err := s.Holder(ctx(t), tt.id)
			if err != nil {
				t.Fatalf("Holder(%s) = %v; want nil", tt.id, err)
			}
			if d := cmp.Diff(tt.want, got); d != "" {
				t.Errorf("Holder(%s) mismatch (-want +got):\n%s", tt.id, d)
			}
		}
	}
}

// testHoldOtherCluster: a command of another cluster, an unknown one and a
// fenced one cannot be held, and nothing is recorded.
func testHoldOtherCluster(t *testing.T, newStore func(t *testing.T) store.Store) {
	st := newStore(t)
	cmd := enqueueN(t, st, newCluster(), 1, time.Minute)[0]
	fenced := contracts.NewID()
	if _, err := st.Fence(ctx(t), fenced, time.Now().Add(time.Minute)); err != nil {
		t.Fatalf("Fence() = %v; want nil", err)
	}
	tests := []struct{ name, cluster, id string }{
		{"other cluster", newCluster(), cmd.ID},
		{"unknown command", cmd.Cluster, contracts.NewID()},
		{"fenced command", cmd.Cluster, fenced},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := st.Hold(ctx(t), tt.cluster, tt.id, newHolder("exec-a")); !errIs(err, store.ErrNotFound) {
				t.Errorf("Hold() = %v; want %v", err, store.ErrNotFound)
			}
			if h, err := st.Holder(ctx(t), tt.id); !errIs(err, store.ErrNotFound) {
				t.Errorf("Holder() = %+v, %v; want %v", h, err, store.ErrNotFound)
			}
		})
	}
}

// testHoldExpiry: the record goes when the owner does (deadline plus the
// owner grace).
func testHoldExpiry(t *testing.T, newStore func(t *testing.T) store.Store) {
	st := newStore(t)
	deadline := time.Now().Add(time.Second)
	cmd := newCommand(newCluster(), deadline)
	if err := st.Enqueue(ctx(t), cmd); err != nil {
		t.Fatalf("Enqueue() = %v; want nil", err)
	}
	if err := st.Hold(ctx(t), cmd.Cluster, cmd.ID, newHolder("exec-a")); err != nil {
		t.Fatalf("Hold() = %v; want nil", err)
	}
	waitUntil(t, deadline)
	if _, err := st.Holder(ctx(t), cmd.ID); err != nil {
		t.Errorf("Holder() after the deadline, within the grace = %v; want nil", err)
	}
	waitUntil(t, deadline.Add(OwnerGrace))
	if h, err := st.Holder(ctx(t), cmd.ID); !errIs(err, store.ErrNotFound) {
		t.Errorf("Holder() after deadline+grace = %+v, %v; want %v", h, err, store.ErrNotFound)
	}
}

func testHoldBadInput(t *testing.T, newStore func(t *testing.T) store.Store) {
	st := newStore(t)
	cmd := enqueueN(t, st, newCluster(), 1, time.Minute)[0]
	good := newHolder("exec-a")
	tests := []struct {
		name, cluster, id string
		h                 contracts.CommandHolder
	}{
		{"empty cluster", "", cmd.ID, good},
		{"bad command id", cmd.Cluster, "a.b", good},
		{"empty executor", cmd.Cluster, cmd.ID, contracts.CommandHolder{Instance: good.Instance}},
		{"empty instance", cmd.Cluster, cmd.ID, contracts.CommandHolder{ExecutorID: "exec-a"}},
		{"instance with wildcard", cmd.Cluster, cmd.ID, contracts.CommandHolder{ExecutorID: "exec-a", Instance: "i-*"}},
		{"bad conn id", cmd.Cluster, cmd.ID, contracts.CommandHolder{ExecutorID: "exec-a", Instance: good.Instance, ConnID: "a.b"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := st.Hold(ctx(t), tt.cluster, tt.id, tt.h); !errIs(err, store.ErrInvalid) {
				t.Errorf("Hold() = %v; want %v", err, store.ErrInvalid)
			}
		})
	}
	if _, err := st.Holder(ctx(t), "a.b"); !errIs(err, store.ErrInvalid) {
		t.Errorf("Holder(bad id) = %v; want %v", err, store.ErrInvalid)
	}
	if h, err := st.Holder(ctx(t), cmd.ID); !errIs(err, store.ErrNotFound) {
		t.Errorf("Holder() after bad input = %+v, %v; want %v", h, err, store.ErrNotFound)
	}
}
