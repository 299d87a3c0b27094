package storetest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"kubently.io/libs/contracts"
	"kubently.io/libs/store"
	"kubently.io/libs/testkit"
)

var bridgeTests = []test{
	{"FIFO", testFIFO},
	{"ClaimMax", testClaimMax},
	{"ClusterIsolation", testClusterIsolation},
	{"ClaimRightAfterEnqueue", testClaimRightAfterEnqueue},
	{"ConcurrentClaimers", testConcurrentClaimers},
	{"ExpiredDropped", testExpiredDropped},
	{"Owner", testOwner},
	{"Depth", testDepth},
	{"BadInput", testBridgeBadInput},
	{"LeaseRedelivered", testLeaseRedelivered},
	{"AckedNotRedelivered", testAckedNotRedelivered},
	{"AckOtherCluster", testAckOtherCluster},
	{"LeaseNotPastDeadline", testLeaseNotPastDeadline},
	{"Queues", withQueues(testQueues, byQueues)},
	{"QueuesLeaseRanOut", withQueues(testQueuesLeaseRanOut, byQueues)},
	{"IndexedQueues", withQueues(testQueues, byIndex)},
	{"IndexedQueuesLeaseRanOut", withQueues(testQueuesLeaseRanOut, byIndex)},
}

// queuesMethod picks Queues or IndexedQueues of a store: both answer
// alike (IndexedQueues may leave out a queue whose index entry was lost,
// which no conformance test provokes).
type queuesMethod func(st store.Store) func(context.Context, []string) ([]store.QueueState, error)

func byQueues(st store.Store) func(context.Context, []string) ([]store.QueueState, error) {
	return st.Queues
}

func byIndex(st store.Store) func(context.Context, []string) ([]store.QueueState, error) {
	return st.IndexedQueues
}

// withQueues runs a Queues test with the method m.
func withQueues(f func(*testing.T, func(*testing.T) store.Store, queuesMethod), m queuesMethod) func(*testing.T, func(*testing.T) store.Store) {
	return func(t *testing.T, newStore func(*testing.T) store.Store) { f(t, newStore, m) }
}

// ack acknowledges cmds and checks all were removed.
func ack(t *testing.T, st store.Store, cluster string, cmds []contracts.Command) {
	t.Helper()
	got, err := st.Ack(ctx(t), cluster, ids(cmds, commandID))
	if err != nil || got != len(cmds) {
		t.Fatalf("Ack(%d) = %d, %v; want %d, nil", len(cmds), got, err, len(cmds))
	}
}

// claimAck claims up to max commands and acknowledges them at once.
func claimAck(t *testing.T, st store.Store, cluster string, max int) []contracts.Command {
	t.Helper()
	got := claim(t, st, cluster, max)
	ack(t, st, cluster, got)
	return got
}

// claimAs is Claim by a given consumer.
func claimAs(t *testing.T, st store.Store, cluster, consumer string, max int) []contracts.Command {
	t.Helper()
	got, err := st.Claim(ctx(t), cluster, consumer, max)
	if err != nil {
		t.Fatalf("Claim(%s, %d) = %v; want nil", consumer, max, err)
	}
	return got
}

// testLeaseRedelivered: a claimed command is invisible to other consumers
// for the visibility timeout, then handed to another consumer (on another
// client) in its original order; once that one acknowledges it, it is gone.
func testLeaseRedelivered(t *testing.T, newStore func(t *testing.T) store.Store) {
	first, second := newStore(t), newStore(t)
	cluster := newCluster()
	cmds := enqueueN(t, first, cluster, 3, time.Minute)
	leased := time.Now()
	if diff := cmp.Diff(cmds, claimAs(t, first, cluster, "exec-1", 10)); diff != "" {
		t.Fatalf("Claim() mismatch (-want +got):\n%s", diff)
	}
	if got := claimAs(t, second, cluster, "exec-2", 10); len(got) != 0 {
		t.Errorf("Claim() by another consumer while leased = %v; want none", ids(got, commandID))
	}
	var got []contracts.Command
	testkit.CheckFor(t, Visibility+5*time.Second, 100*time.Millisecond, func() error {
		got = append(got, claimAs(t, second, cluster, "exec-2", 10)...)
		if len(got) < len(cmds) {
			return fmt.Errorf("redelivered %d of %d", len(got), len(cmds))
		}
		return nil
	})
	if since := time.Since(leased); since < Visibility {
		t.Errorf("redelivered after %v; want not before the visibility timeout %v", since, Visibility)
	}
	if diff := cmp.Diff(cmds, got); diff != "" {
		t.Errorf("redelivered mismatch (-want +got):\n%s", diff)
	}
	ack(t, second, cluster, got)
	waitUntil(t, time.Now().Add(Visibility+200*time.Millisecond))
	if got := claimAs(t, first, cluster, "exec-1", 10); len(got) != 0 {
		t.Errorf("Claim() after Ack = %v; want none", ids(got, commandID))
	}
}

// testAckedNotRedelivered: an acknowledged command never comes back, a
// repeated Ack is a no-op, and Depth counts only what is not acknowledged.
func testAckedNotRedelivered(t *testing.T, newStore func(t *testing.T) store.Store) {
	st, other := newStore(t), newStore(t)
	cluster := newCluster()
	cmds := enqueueN(t, st, cluster, 4, time.Minute)
	got := claim(t, st, cluster, 10)
	if len(got) != len(cmds) {
		t.Fatalf("Claim() = %d commands; want %d", len(got), len(cmds))
	}
	// Acknowledged through another client, as by another gateway replica.
	ack(t, other, cluster, got[:3])
	if n, err := st.Depth(ctx(t), cluster); n != 1 || err != nil {
		t.Errorf("Depth() after acking 3 of 4 = %d, %v; want 1, nil", n, err)
	}
	if n, err := st.Ack(ctx(t), cluster, ids(got[:3], commandID)); n != 0 || err != nil {
		t.Errorf("Ack() again = %d, %v; want 0, nil", n, err)
	}
	waitUntil(t, time.Now().Add(Visibility+200*time.Millisecond))
	var again []contracts.Command
	testkit.CheckFor(t, 5*time.Second, 100*time.Millisecond, func() error {
		again = append(again, claimAs(t, other, cluster, "exec-2", 10)...)
		if len(again) == 0 {
			return errors.New("the unacknowledged command was not redelivered")
		}
		return nil
	})
	if diff := cmp.Diff(cmds[3:], again); diff != "" {
		t.Errorf("redelivered mismatch (-want +got):\n%s", diff)
	}
}

// testAckOtherCluster: Ack names the cluster, and acknowledges nothing of
// another cluster's queue.
func testAckOtherCluster(t *testing.T, newStore func(t *testing.T) store.Store) {
	st := newStore(t)
	a, b := newCluster(), newCluster()
	enqueueN(t, st, a, 1, time.Minute)
	got := claim(t, st, a, 10)
	if n, err := st.Ack(ctx(t), b, ids(got, commandID)); n != 0 || err != nil {
		t.Errorf("Ack(other cluster) = %d, %v; want 0, nil", n, err)
	}
	if n, err := st.Ack(ctx(t), a, []string{contracts.NewID()}); n != 0 || err != nil {
		t.Errorf("Ack(unknown id) = %d, %v; want 0, nil", n, err)
	}
	if n, err := st.Depth(ctx(t), a); n != 1 || err != nil {
		t.Errorf("Depth() = %d, %v; want 1, nil", n, err)
	}
	ack(t, st, a, got)
}

// testLeaseNotPastDeadline: a leased command whose deadline passes before
// its lease runs out is never handed out again.
func testLeaseNotPastDeadline(t *testing.T, newStore func(t *testing.T) store.Store) {
	st := newStore(t)
	cluster := newCluster()
	cmd := newCommand(cluster, time.Now().Add(Visibility/2))
	if err := st.Enqueue(ctx(t), cmd); err != nil {
		t.Fatalf("Enqueue() = %v; want nil", err)
	}
	if got := claim(t, st, cluster, 10); len(got) != 1 {
		t.Fatalf("Claim() = %v; want [%s]", ids(got, commandID), cmd.ID)
	}
	stop := time.Now().Add(Visibility + 2*time.Second)
	for time.Now().Before(stop) {
		if got := claimAs(t, st, cluster, "exec-2", 10); len(got) != 0 {
			t.Fatalf("Claim() at %v past the deadline = %v; want none", time.Since(cmd.Deadline).Round(time.Millisecond), ids(got, commandID))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func claim(t *testing.T, st store.Store, cluster string, max int) []contracts.Command {
	t.Helper()
	got, err := st.Claim(ctx(t), cluster, "exec-1", max)
	if err != nil {
		t.Fatalf("Claim(%d) = %v; want nil", max, err)
	}
	return got
}

func testFIFO(t *testing.T, newStore func(t *testing.T) store.Store) {
	st := newStore(t)
	cluster := newCluster()
	if got := claim(t, st, cluster, 10); len(got) != 0 {
		t.Errorf("Claim(empty queue) = %v; want none", ids(got, commandID))
	}
	want := enqueueN(t, st, cluster, 5, time.Minute)
	if diff := cmp.Diff(want, claim(t, st, cluster, 10)); diff != "" {
		t.Errorf("Claim() mismatch (-want +got):\n%s", diff)
	}
	if got := claim(t, st, cluster, 10); len(got) != 0 {
		t.Errorf("Claim() after the queue was emptied = %v; want none", ids(got, commandID))
	}
	// A second consumer, and a second client, find it empty too.
	got, err := newStore(t).Claim(ctx(t), cluster, "exec-2", 10)
	if err != nil || len(got) != 0 {
		t.Errorf("Claim() by another consumer = %v, %v; want none, nil", ids(got, commandID), err)
	}
}

func testClaimMax(t *testing.T, newStore func(t *testing.T) store.Store) {
	st := newStore(t)
	cluster := newCluster()
	cmds := enqueueN(t, st, cluster, 5, time.Minute)
	tests := []struct {
		max  int
		want []contracts.Command
	}{
		{max: 2, want: cmds[0:2]},
		{max: 1, want: cmds[2:3]},
		{max: 10, want: cmds[3:5]},
		{max: 10, want: []contracts.Command{}},
	}
	for i, tt := range tests {
		if diff := cmp.Diff(ids(tt.want, commandID), ids(claim(t, st, cluster, tt.max), commandID)); diff != "" {
			t.Errorf("claim #%d Claim(%d) mismatch (-want +got):\n%s", i, tt.max, diff)
		}
	}
}

func testClusterIsolation(t *testing.T, newStore func(t *testing.T) store.Store) {
	st := newStore(t)
	a, b := newCluster(), newCluster()
	wantA := enqueueN(t, st, a, 2, time.Minute)
	wantB := enqueueN(t, st, b, 1, time.Minute)
	wantA = append(wantA, enqueueN(t, st, a, 1, time.Minute)...)
	if diff := cmp.Diff(wantB, claim(t, st, b, 10)); diff != "" {
		t.Errorf("Claim(b) mismatch (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(wantA, claim(t, st, a, 10)); diff != "" {
		t.Errorf("Claim(a) mismatch (-want +got):\n%s", diff)
	}
}

// testClaimRightAfterEnqueue: a command is claimable as soon as Enqueue
// returns, from another client.
func testClaimRightAfterEnqueue(t *testing.T, newStore func(t *testing.T) store.Store) {
	producer, consumer := newStore(t), newStore(t)
	c := ctx(t)
	cluster := newCluster()
	for i := range 50 {
		cmd := newCommand(cluster, time.Now().Add(time.Minute))
		if err := producer.Enqueue(c, cmd); err != nil {
			t.Fatalf("Enqueue(%d) = %v; want nil", i, err)
		}
		got, err := consumer.Claim(c, cluster, "exec-1", 10)
		if err != nil {
			t.Fatalf("Claim(%d) = %v; want nil", i, err)
		}
		if diff := cmp.Diff([]contracts.Command{cmd}, got); diff != "" {
			t.Fatalf("Claim(%d) right after Enqueue mismatch (-want +got):\n%s", i, diff)
		}
	}
}

// testConcurrentClaimers: claimers on separate clients, racing each other
// and a producer, never get the same command twice and lose none.
func testConcurrentClaimers(t *testing.T, newStore func(t *testing.T) store.Store) {
	const (
		total    = 200
		claimers = 4
	)
	c := ctx(t)
	cluster := newCluster()
	producer := newStore(t)
	var (
		mu      sync.Mutex
		seen    = map[string]int{}
		claimed int
		errs    []error
	)
	fns := []func(){func() {
		for i := range total {
			if err := producer.Enqueue(c, newCommand(cluster, time.Now().Add(time.Minute))); err != nil {
				mu.Lock()
				errs = append(errs, fmt.Errorf("Enqueue(%d): %w", i, err))
				mu.Unlock()
				return
			}
		}
	}}
	for i := range claimers {
		st := newStore(t)
		consumer := fmt.Sprintf("exec-%d", i)
		fns = append(fns, func() {
			deadline := time.Now().Add(20 * time.Second)
			for time.Now().Before(deadline) {
				got, err := st.Claim(c, cluster, consumer, 7)
				if err == nil && len(got) > 0 {
					_, err = st.Ack(c, cluster, ids(got, commandID))
				}
				mu.Lock()
				if err != nil {
					errs = append(errs, fmt.Errorf("Claim(%s): %w", consumer, err))
					mu.Unlock()
					return
				}
				for _, cmd := range got {
					seen[cmd.ID]++
				}
				claimed += len(got)
				done := claimed >= total || len(errs) > 0
				mu.Unlock()
				if done {
					return
				}
				if len(got) == 0 {
					time.Sleep(5 * time.Millisecond)
				}
			}
		})
	}
	parallel(fns...)
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	dups := 0
	for _, n := range seen {
		dups += n - 1
	}
	if lost := total - len(seen); dups != 0 || lost != 0 {
		t.Errorf("%d commands, %d claimers: got %d duplicates, %d lost; want 0, 0", total, claimers, dups, lost)
	}
}

func testExpiredDropped(t *testing.T, newStore func(t *testing.T) store.Store) {
	st := newStore(t)
	c := ctx(t)
	cluster := newCluster()
	past := time.Now().Add(-time.Second)
	expired1 := newCommand(cluster, past)
	live1 := newCommand(cluster, time.Now().Add(time.Minute))
	expired2 := newCommand(cluster, past)
	expired3 := newCommand(cluster, past)
	live2 := newCommand(cluster, time.Now().Add(time.Minute))
	for _, cmd := range []contracts.Command{expired1, expired2, live1, expired3, live2} {
		if err := st.Enqueue(c, cmd); err != nil {
			t.Fatalf("Enqueue() = %v; want nil", err)
		}
	}
	// Claim skips the expired ones, even when asked for just one.
	if diff := cmp.Diff([]contracts.Command{live1}, claim(t, st, cluster, 1)); diff != "" {
		t.Errorf("Claim(1) mismatch (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]contracts.Command{live2}, claim(t, st, cluster, 10)); diff != "" {
		t.Errorf("Claim(10) mismatch (-want +got):\n%s", diff)
	}
	// A command whose deadline passes while it waits is dropped too.
	soon := newCommand(cluster, time.Now().Add(time.Second))
	if err := st.Enqueue(c, soon); err != nil {
		t.Fatalf("Enqueue() = %v; want nil", err)
	}
	waitUntil(t, soon.Deadline)
	if got := claim(t, st, cluster, 10); len(got) != 0 {
		t.Errorf("Claim() after the deadline = %v; want none", ids(got, commandID))
	}
}

func testOwner(t *testing.T, newStore func(t *testing.T) store.Store) {
	st := newStore(t)
	c := ctx(t)
	cluster := newCluster()
	if _, err := st.Owner(c, contracts.NewID()); !errIs(err, store.ErrNotFound) {
		t.Errorf("Owner(unknown) = %v; want %v", err, store.ErrNotFound)
	}
	cmd := newCommand(cluster, time.Now().Add(time.Second))
	late := newCommand(cluster, time.Now().Add(-200*time.Millisecond)) // deadline passed, grace not (by a margin a loaded machine keeps)
	gone := newCommand(cluster, time.Now().Add(-2*OwnerGrace))         // grace passed too
	for _, x := range []contracts.Command{cmd, late, gone} {
		if err := st.Enqueue(c, x); err != nil {
			t.Fatalf("Enqueue() = %v; want nil", err)
		}
	}
	tests := []struct {
		name    string
		id      string
		want    string
		wantErr error
	}{
		{name: "queued", id: cmd.ID, want: cluster},
		{name: "within grace", id: late.ID, want: cluster},
		{name: "past grace", id: gone.ID, wantErr: store.ErrNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := st.Owner(c, tt.id)
			if got != tt.want || !errors.Is(err, tt.wantErr) {
				t.Errorf("Owner() = %q, %v; want %q, %v", got, err, tt.want, tt.wantErr)
			}
		})
	}
	// Claiming does not forget the owner; the deadline plus grace does.
	if got := claim(t, st, cluster, 10); len(got) != 1 || got[0].ID != cmd.ID {
		t.Fatalf("Claim() = %v; want [%s]", ids(got, commandID), cmd.ID)
	}
	if got, err := newStore(t).Owner(c, cmd.ID); got != cluster || err != nil {
		t.Errorf("Owner() after claim = %q, %v; want %q, nil", got, err, cluster)
	}
	waitUntil(t, cmd.Deadline)
	if got, err := st.Owner(c, cmd.ID); got != cluster || err != nil {
		t.Errorf("Owner() just after the deadline = %q, %v; want %q, nil", got, err, cluster)
	}
	waitUntil(t, cmd.Deadline.Add(OwnerGrace))
	testkit.CheckFor(t, 5*time.Second, 50*time.Millisecond, func() error {
		if _, err := st.Owner(c, cmd.ID); !errIs(err, store.ErrNotFound) {
			return fmt.Errorf("Owner() after deadline+grace = %w; want %w", err, store.ErrNotFound)
		}
		return nil
	})
}

// testDepth: Depth counts what is queued and not acknowledged, per
// cluster, as every client sees it.
func testDepth(t *testing.T, newStore func(t *testing.T) store.Store) {
	st, other := newStore(t), newStore(t)
	a, b := newCluster(), newCluster()
	depth := func(st store.Store, cluster string) int {
		t.Helper()
		n, err := st.Depth(ctx(t), cluster)
		if err != nil {
			t.Fatalf("Depth(%s) = %v; want nil", cluster, err)
		}
		return n
	}
	var leasedA []contracts.Command
	steps := []struct {
		name  string
		do    func()
		wantA int
		wantB int
	}{
		{name: "empty", do: func() {}, wantA: 0, wantB: 0},
		{name: "enqueued 5 on a", do: func() { enqueueN(t, st, a, 5, time.Minute) }, wantA: 5, wantB: 0},
		{name: "enqueued 2 on b", do: func() { enqueueN(t, st, b, 2, time.Minute) }, wantA: 5, wantB: 2},
		{name: "claimed 2 of a", do: func() { leasedA = claim(t, st, a, 2) }, wantA: 5, wantB: 2},
		{name: "acked 2 of a", do: func() { ack(t, st, a, leasedA) }, wantA: 3, wantB: 2},
		{name: "claimed and acked all of b", do: func() { claimAck(t, st, b, 10) }, wantA: 3, wantB: 0},
		{name: "claimed and acked the rest of a", do: func() { claimAck(t, st, a, 10) }, wantA: 0, wantB: 0},
		{name: "expired command dropped by claim", do: func() {
			if err := st.Enqueue(ctx(t), newCommand(a, time.Now().Add(-time.Second))); err != nil {
				t.Fatalf("Enqueue() = %v; want nil", err)
			}
			if got := claim(t, st, a, 10); len(got) != 0 {
				t.Fatalf("Claim() = %v; want none", ids(got, commandID))
			}
		}, wantA: 0, wantB: 0},
	}
	for _, step := range steps {
		step.do()
		for _, c := range []store.Store{st, other} {
			if got := depth(c, a); got != step.wantA {
				t.Errorf("after %s: Depth(a) = %d; want %d", step.name, got, step.wantA)
			}
			if got := depth(c, b); got != step.wantB {
				t.Errorf("after %s: Depth(b) = %d; want %d", step.name, got, step.wantB)
			}
		}
	}
}

func testBridgeBadInput(t *testing.T, newStore func(t *testing.T) store.Store) {
	st := newStore(t)
	cluster := newCluster()
	good := newCommand(cluster, time.Now().Add(time.Minute))
	with := func(f func(*contracts.Command)) contracts.Command { c := good; f(&c); return c }
	tests := []struct {
		name string
		call func() error
	}{
		{"enqueue empty id", func() error { return st.Enqueue(ctx(t), with(func(c *contracts.Command) { c.ID = "" })) }},
		{"enqueue id with dot", func() error { return st.Enqueue(ctx(t), with(func(c *contracts.Command) { c.ID = "a.b" })) }},
		{"enqueue empty cluster", func() error { return st.Enqueue(ctx(t), with(func(c *contracts.Command) { c.Cluster = "" })) }},
		{"enqueue wildcard cluster", func() error { return st.Enqueue(ctx(t), with(func(c *contracts.Command) { c.Cluster = ">" })) }},
		{"enqueue zero deadline", func() error {
			return st.Enqueue(ctx(t), with(func(c *contracts.Command) { c.Deadline = time.Time{} }))
		}},
		{"claim empty cluster", func() error { _, err := st.Claim(ctx(t), "", "exec-1", 1); return err }},
		{"claim empty consumer", func() error { _, err := st.Claim(ctx(t), cluster, "", 1); return err }},
		{"claim consumer with dot", func() error { _, err := st.Claim(ctx(t), cluster, "a.b", 1); return err }},
		{"claim zero max", func() error { _, err := st.Claim(ctx(t), cluster, "exec-1", 0); return err }},
		{"claim negative max", func() error { _, err := st.Claim(ctx(t), cluster, "exec-1", -1); return err }},
		{"owner empty id", func() error { _, err := st.Owner(ctx(t), ""); return err }},
		{"owner bad id", func() error { _, err := st.Owner(ctx(t), "a b"); return err }},
		{"depth empty cluster", func() error { _, err := st.Depth(ctx(t), ""); return err }},
		{"ack empty cluster", func() error { _, err := st.Ack(ctx(t), "", []string{good.ID}); return err }},
		{"ack bad id", func() error { _, err := st.Ack(ctx(t), cluster, []string{"a b"}); return err }},
		{"ack too many", func() error { _, err := st.Ack(ctx(t), cluster, make([]string, 1001)); return err }},
		{"depth wildcard cluster", func() error { _, err := st.Depth(ctx(t), "*"); return err }},
		{"queues wildcard cluster", func() error { _, err := st.Queues(ctx(t), []string{cluster, "*"}); return err }},
		{"queues empty cluster", func() error { _, err := st.Queues(ctx(t), []string{""}); return err }},
		{"indexed queues wildcard cluster", func() error { _, err := st.IndexedQueues(ctx(t), []string{cluster, "*"}); return err }},
		{"indexed queues empty cluster", func() error { _, err := st.IndexedQueues(ctx(t), []string{""}); return err }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.call(); !errIs(err, store.ErrInvalid) {
				t.Errorf("got %v; want %v", err, store.ErrInvalid)
			}
		})
	}
	// Nothing was queued.
	if got := claim(t, st, cluster, 10); len(got) != 0 {
		t.Errorf("Claim() after bad input = %v; want none", ids(got, commandID))
	}
}

// queues is m(clusters) on st, failing the test on an error.
func queues(t *testing.T, m queuesMethod, st store.Store, clusters ...string) []store.QueueState {
	t.Helper()
	got, err := m(st)(ctx(t), clusters)
	if err != nil {
		t.Fatalf("Queues(%d clusters) = %v; want nil", len(clusters), err)
	}
	return got
}

// testQueues: Queues reports, in the order asked, the depth of every
// queue that is not empty and whether Claim would hand out a command, as
// every client sees it; never a queue that is empty, unknown or fully
// acknowledged. (Whether a queue whose commands are all leased is
// claimable is up to the store.)
func testQueues(t *testing.T, newStore func(t *testing.T) store.Store, m queuesMethod) {
	st, other := newStore(t), newStore(t)
	a, b, unused := newCluster(), newCluster(), newCluster()
	q := func(cluster string, depth int) store.QueueState {
		return store.QueueState{Cluster: cluster, Depth: depth, Claimable: true}
	}
	var leasedA []contracts.Command
	steps := []struct {
		name string
		do   func()
		want []store.QueueState
	}{
		{name: "nothing queued", do: func() {}, want: nil},
		{name: "enqueued 2 on a", do: func() { enqueueN(t, st, a, 2, time.Minute) }, want: []store.QueueState{q(a, 2)}},
		{name: "enqueued 1 on b", do: func() { enqueueN(t, st, b, 1, time.Minute) }, want: []store.QueueState{q(a, 2), q(b, 1)}},
		{name: "claimed 1 of a", do: func() { leasedA = claim(t, st, a, 1) }, want: []store.QueueState{q(a, 2), q(b, 1)}},
		{name: "acked it", do: func() { ack(t, other, a, leasedA) }, want: []store.QueueState{q(a, 1), q(b, 1)}},
		{name: "claimed and acked the rest of a", do: func() { claimAck(t, st, a, 10) }, want: []store.QueueState{q(b, 1)}},
		{name: "claimed and acked all of b", do: func() { claimAck(t, st, b, 10) }, want: nil},
	}
	for _, step := range steps {
		step.do()
		for _, c := range []store.Store{st, other} {
			if diff := cmp.Diff(step.want, queues(t, m, c, a, unused, b), cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("after %s: Queues(a, unused, b) mismatch (-want +got):\n%s", step.name, diff)
			}
		}
	}
	enqueueN(t, st, a, 1, time.Minute)
	enqueueN(t, st, b, 1, time.Minute)
	if diff := cmp.Diff([]store.QueueState{q(b, 1), q(a, 1)}, queues(t, m, st, b, a)); diff != "" {
		t.Errorf("Queues(b, a) mismatch (-want +got):\n%s", diff)
	}
	// A leased command still counts in the depth; b stays claimable,
	// whatever the store says of a.
	claim(t, st, a, 10)
	got := queues(t, m, other, a, b)
	if len(got) != 2 || got[0].Cluster != a || got[0].Depth != 1 || got[1] != q(b, 1) {
		t.Errorf("Queues(a, b) with a leased and b queued = %+v; want a with depth 1, then %+v", got, q(b, 1))
	}
	if got := queues(t, m, st); len(got) != 0 {
		t.Errorf("Queues() = %v; want none", got)
	}
}

// testQueuesLeaseRanOut: a leased command whose lease ran out without an
// Ack makes its queue claimable again, for every client.
func testQueuesLeaseRanOut(t *testing.T, newStore func(t *testing.T) store.Store, m queuesMethod) {
	st, other := newStore(t), newStore(t)
	cluster := newCluster()
	cmds := enqueueN(t, st, cluster, 1, time.Minute)
	if got := claim(t, st, cluster, 10); len(got) != 1 {
		t.Fatalf("Claim() = %d commands; want 1", len(got))
	}
	waitUntil(t, time.Now().Add(Visibility))
	want := []store.QueueState{{Cluster: cluster, Depth: 1, Claimable: true}}
	testkit.CheckFor(t, 5*time.Second, 50*time.Millisecond, func() error {
		if diff := cmp.Diff(want, queues(t, m, other, cluster)); diff != "" {
			return fmt.Errorf("Queues() after the lease ran out mismatch (-want +got):\n%s", diff)
		}
		return nil
	})
	var got []contracts.Command
	testkit.CheckFor(t, 5*time.Second, 50*time.Millisecond, func() error {
		got = append(got, claimAs(t, other, cluster, "exec-2", 10)...)
		if len(got) == 0 {
			return errors.New("not redelivered")
		}
		return nil
	})
	if diff := cmp.Diff(cmds, got); diff != "" {
		t.Errorf("redelivered mismatch (-want +got):\n%s", diff)
	}
	ack(t, other, cluster, got)
	if got := queues(t, m, st, cluster); len(got) != 0 {
		t.Errorf("Queues() after Ack = %+v; want none", got)
	}
}
