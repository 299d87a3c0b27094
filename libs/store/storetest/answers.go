package storetest

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"kubently.io/libs/contracts"
	"kubently.io/libs/store"
)

var answerTests = []test{
	{"FirstThenDuplicates", testAnswerFirst},
	{"Concurrent", testAnswerConcurrent},
	{"UnknownCommand", testAnswerUnknown},
	{"LivesAsLongAsOwner", testAnswerExpiry},
	{"BadInput", testAnswerBadInput},
}

var lastSeenTests = []test{
	{"NeverSeen", testLastSeenNever},
	{"RefreshAndLeave", testLastSeenRefreshLeave},
	{"BadInput", testLastSeenBadInput},
}

// testAnswerFirst: the first executor to answer is recorded once; every
// later call, by it, by another executor or through another client, gets
// first=false and that executor.
func testAnswerFirst(t *testing.T, newStore func(t *testing.T) store.Store) {
	st := newStore(t)
	cmd := enqueueN(t, st, newCluster(), 1, time.Minute)[0]
	tests := []struct {
		name      string
		st        store.Store
		executor  string
		wantFirst bool
	}{
		{name: "first", st: st, executor: "exec-a", wantFirst: true},
		{name: "same executor again", st: st, executor: "exec-a"},
		{name: "another executor", st: st, executor: "exec-b.pod-1"},
		{name: "another replica", st: newStore(t), executor: "exec-c"},
	}
	for _, tt := range tests {
		first, prev, err := tt.st.MarkAnswered(ctx(t), cmd.ID, tt.executor)
		if err != nil || first != tt.wantFirst || prev != "exec-a" {
			t.Errorf("%s: MarkAnswered(%s) = %v, %q, %v; want %v, %q, nil", tt.name, tt.executor, first, prev, err, tt.wantFirst, "exec-a")
		}
	}
	// Another command is independent.
	other := enqueueN(t, st, cmd.Cluster, 1, time.Minute)[0]
	if first, prev, err := st.MarkAnswered(ctx(t), other.ID, "exec-b"); err != nil || !first || prev != "exec-b" {
		t.Errorf("MarkAnswered(other command) = %v, %q, %v; want true, %q, nil", first, prev, err, "exec-b")
	}
}

// testAnswerConcurrent: of many executors answering at once through
// separate clients, exactly one is first, and all agree which.
func testAnswerConcurrent(t *testing.T, newStore func(t *testing.T) store.Store) {
	const n = 8
	cmd := enqueueN(t, newStore(t), newCluster(), 1, time.Minute)[0]
	stores := make([]store.Store, n)
	for i := range stores {
		stores[i] = newStore(t)
	}
	var (
		mu     sync.Mutex
		firsts []string
		prevs  = map[string]int{}
		fns    []func()
	)
	for i := range n {
		fns = append(fns, func() {
			exec := fmt.Sprintf("exec-%d", i)
			first, prev, err := stores[i].MarkAnswered(ctx(t), cmd.ID, exec)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				t.Errorf("MarkAnswered(%s) = %v; want nil", exec, err)
				return
			}
			if first {
				firsts = append(firsts, exec)
			}
			prevs[prev]++
		})
	}
	parallel(fns...)
	if len(firsts) != 1 {
		t.Fatalf("first = true for %v; want exactly one executor", firsts)
	}
	if prevs[firsts[0]] != n {
		t.Errorf("prevExecutor counts = %v; want all %d to be %s", prevs, n, firsts[0])
	}
}

func testAnswerUnknown(t *testing.T, newStore func(t *testing.T) store.Store) {
	st := newStore(t)
	if first, _, err := st.MarkAnswered(ctx(t), "never-enqueued", "exec-a"); !errIs(err, store.ErrNotFound) || first {
		t.Errorf("MarkAnswered(unknown) = %v, %v; want false, %v", first, err, store.ErrNotFound)
	}
}

// testAnswerExpiry: the record goes when the owner does (deadline plus
// the owner grace), and a command past that cannot be marked.
func testAnswerExpiry(t *testing.T, newStore func(t *testing.T) store.Store) {
	st := newStore(t)
	cluster := newCluster()
	deadline := time.Now().Add(time.Second)
	marked := newCommand(cluster, deadline)
	unmarked := newCommand(cluster, deadline)
	for _, cmd := range []contracts.Command{marked, unmarked} {
		if err := st.Enqueue(ctx(t), cmd); err != nil {
			t.Fatalf("Enqueue() = %v; want nil", err)
		}
	}
	if first, _, err := st.MarkAnswered(ctx(t), marked.ID, "exec-a"); err != nil || !first {
		t.Fatalf("MarkAnswered() = %v, %v; want true, nil", first, err)
	}
	// Past the deadline, within the grace: still known.
	waitUntil(t, deadline)
	if first, prev, err := st.MarkAnswered(ctx(t), marked.ID, "exec-a"); err != nil || first || prev != "exec-a" {
		t.Errorf("MarkAnswered() after the deadline = %v, %q, %v; want false, exec-a, nil", first, prev, err)
	}
	waitUntil(t, deadline.Add(OwnerGrace))
	for _, id := range []string{marked.ID, unmarked.ID} {
		if _, _, err := st.MarkAnswered(ctx(t), id, "exec-b"); !errIs(err, store.ErrNotFound) {
			t.Errorf("MarkAnswered(%s) after deadline+grace = %v; want %v", id, err, store.ErrNotFound)
		}
	}
}

func testAnswerBadInput(t *testing.T, newStore func(t *testing.T) store.Store) {
	st := newStore(t)
	cmd := enqueueN(t, st, newCluster(), 1, time.Minute)[0]
	tests := []struct {
		name, id, executor string
	}{
		{"empty command id", "", "exec-a"},
		{"command id with dot", "a.b", "exec-a"},
		{"empty executor", cmd.ID, ""},
		{"executor with space", cmd.ID, "exec a"},
		{"executor with wildcard", cmd.ID, "exec-*"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, _, err := st.MarkAnswered(ctx(t), tt.id, tt.executor); !errIs(err, store.ErrInvalid) {
				t.Errorf("MarkAnswered(%q, %q) = %v; want %v", tt.id, tt.executor, err, store.ErrInvalid)
			}
		})
	}
	// Nothing was recorded by the bad calls.
	if first, _, err := st.MarkAnswered(ctx(t), cmd.ID, "exec-a"); err != nil || !first {
		t.Errorf("MarkAnswered() after bad input = %v, %v; want true, nil", first, err)
	}
}

func testLastSeenNever(t *testing.T, newStore func(t *testing.T) store.Store) {
	st := newStore(t)
	if at, err := st.LastSeen(ctx(t), newCluster()); !errIs(err, store.ErrNotFound) {
		t.Errorf("LastSeen(never connected) = %v, %v; want %v", at, err, store.ErrNotFound)
	}
}

// inWindow checks at lies in [from, to] at the store's millisecond
// resolution.
func inWindow(at, from, to time.Time) error {
	from, to = from.Truncate(time.Millisecond), to.Add(time.Millisecond)
	if at.Before(from) || at.After(to) {
		return fmt.Errorf("%v; want within [%v, %v]", at, from, to)
	}
	return nil
}

// testLastSeenRefreshLeave: refreshes and leaves of any stream, through
// any client, move the cluster's last-seen time, which outlives the
// presence records.
func testLastSeenRefreshLeave(t *testing.T, newStore func(t *testing.T) store.Store) {
	st, other := newStore(t), newStore(t)
	cluster := newCluster()
	a, b := newInfo(cluster), newInfo(cluster)

	before := time.Now()
	refresh(t, st, a, time.Minute)
	at, err := other.LastSeen(ctx(t), cluster)
	if err != nil {
		t.Fatalf("LastSeen() after Refresh = %v; want nil", err)
	}
	if err := inWindow(at, before, time.Now()); err != nil {
		t.Errorf("LastSeen() after Refresh = %v", err)
	}

	time.Sleep(20 * time.Millisecond) // distinct milliseconds
	refresh(t, other, b, time.Minute)
	if at2, err := st.LastSeen(ctx(t), cluster); err != nil || !at2.After(at) {
		t.Errorf("LastSeen() after another stream's Refresh = %v, %v; want after %v, nil", at2, err, at)
	}

	for _, info := range []struct {
		st   store.Store
		conn string
	}{{st, a.ConnID}, {other, b.ConnID}} {
		time.Sleep(20 * time.Millisecond)
		before := time.Now()
		if err := info.st.Leave(ctx(t), cluster, info.conn); err != nil {
			t.Fatalf("Leave() = %v; want nil", err)
		}
		at, err := st.LastSeen(ctx(t), cluster)
		if err != nil {
			t.Fatalf("LastSeen() after Leave = %v; want nil", err)
		}
		if err := inWindow(at, before, time.Now()); err != nil {
			t.Errorf("LastSeen() after Leave = %v", err)
		}
	}
	if got := connected(t, st, cluster); len(got) != 0 {
		t.Fatalf("Connected() after both left = %v; want none", ids(got, connID))
	}
	if _, err := st.LastSeen(ctx(t), cluster); err != nil {
		t.Errorf("LastSeen() with no stream left = %v; want nil (it outlives presence)", err)
	}
	// Another cluster is unaffected.
	if _, err := st.LastSeen(ctx(t), newCluster()); !errIs(err, store.ErrNotFound) {
		t.Errorf("LastSeen(other cluster) = %v; want %v", err, store.ErrNotFound)
	}
}

func testLastSeenBadInput(t *testing.T, newStore func(t *testing.T) store.Store) {
	st := newStore(t)
	for _, cluster := range []string{"", "*", "a.b", "_seen"} {
		if _, err := st.LastSeen(ctx(t), cluster); !errIs(err, store.ErrInvalid) {
			t.Errorf("LastSeen(%q) = %v; want %v", cluster, err, store.ErrInvalid)
		}
	}
}
