package storetest

import (
	"fmt"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"kubently.io/libs/contracts"
	"kubently.io/libs/store"
	"kubently.io/libs/testkit"
)

// handOffTests run against stores that implement store.HandOff; the
// others skip them.
var handOffTests = []test{
	{"AppendLeased", testAppendLeased},
	{"AppendLeasedOlderFirst", testAppendLeasedOlderFirst},
	{"AppendLeasedSkipsLeased", testAppendLeasedSkipsLeased},
	{"Release", testRelease},
	{"HandOffBadInput", testHandOffBadInput},
}

// handOff returns st as a store.HandOff, or skips the test.
func handOff(t *testing.T, st store.Store) store.HandOff {
	t.Helper()
	h, ok := st.(store.HandOff)
	if !ok {
		t.Skip("the store does not implement store.HandOff")
	}
	return h
}

// appendLeased reserves cmd and appends it leased to consumer.
func appendLeased(t *testing.T, h store.HandOff, cmd contracts.Command, consumer string, max int) []contracts.Command {
	t.Helper()
	if err := h.Reserve(ctx(t), cmd); err != nil {
		t.Fatalf("Reserve() = %v; want nil", err)
	}
	got, err := h.AppendLeased(ctx(t), cmd, consumer, max)
	if err != nil {
		t.Fatalf("AppendLeased(%s) = %v; want nil", consumer, err)
	}
	return got
}

// testAppendLeased: the appended command comes back leased to the
// consumer: no other consumer gets it while the lease runs, it counts in
// Depth and Owner knows it; once the lease runs out another consumer
// claims it (the queue is the record), and after its Ack it is gone.
func testAppendLeased(t *testing.T, newStore func(t *testing.T) store.Store) {
	st, other := newStore(t), newStore(t)
	h := handOff(t, st)
	cluster := newCluster()
	cmd := newCommand(cluster, time.Now().Add(time.Minute))
	leased := time.Now()
	if diff := cmp.Diff([]contracts.Command{cmd}, appendLeased(t, h, cmd, "exec-1", 16)); diff != "" {
		t.Fatalf("AppendLeased() mismatch (-want +got):\n%s", diff)
	}
	if got := claimAs(t, other, cluster, "exec-2", 10); len(got) != 0 {
		t.Errorf("Claim() by another consumer while leased = %v; want none", ids(got, commandID))
	}
	if got := claimAs(t, other, cluster, "exec-1", 10); len(got) != 0 {
		t.Errorf("Claim() by the same consumer while leased = %v; want none", ids(got, commandID))
	}
	if n, err := other.Depth(ctx(t), cluster); n != 1 || err != nil {
		t.Errorf("Depth() = %d, %v; want 1, nil", n, err)
	}
	if owner, err := other.Owner(ctx(t), cmd.ID); owner != cluster || err != nil {
		t.Errorf("Owner() = %q, %v; want %q, nil", owner, err, cluster)
	}
	var got []contracts.Command
	testkit.CheckFor(t, Visibility+5*time.Second, 100*time.Millisecond, func() error {
		if got = claimAs(t, other, cluster, "exec-2", 10); len(got) == 0 {
			return fmt.Errorf("not redelivered yet")
		}
		return nil
	})
	if since := time.Since(leased); since < Visibility {
		t.Errorf("redelivered after %v; want not before the visibility timeout %v", since, Visibility)
	}
	if diff := cmp.Diff([]contracts.Command{cmd}, got); diff != "" {
		t.Errorf("redelivered mismatch (-want +got):\n%s", diff)
	}
	ack(t, other, cluster, got)
	if n, err := st.Depth(ctx(t), cluster); n != 0 || err != nil {
		t.Errorf("Depth() after Ack = %d, %v; want 0, nil", n, err)
	}
}

// testAppendLeasedOlderFirst: commands waiting before the appended one
// are leased with it, oldest first, up to max; what max leaves out stays
// queued for a Claim, in order.
func testAppendLeasedOlderFirst(t *testing.T, newStore func(t *testing.T) store.Store) {
	st := newStore(t)
	h := handOff(t, st)
	cluster := newCluster()
	older := enqueueN(t, st, cluster, 2, time.Minute)
	cmd := newCommand(cluster, time.Now().Add(time.Minute))
	want := append(append([]contracts.Command{}, older...), cmd)
	if diff := cmp.Diff(want, appendLeased(t, h, cmd, "exec-1", 16)); diff != "" {
		t.Errorf("AppendLeased() mismatch (-want +got):\n%s", diff)
	}
	if got := claimAs(t, st, cluster, "exec-2", 10); len(got) != 0 {
		t.Errorf("Claim() after AppendLeased = %v; want none", ids(got, commandID))
	}

	// max bounds the lease: the appended command stays queued.
	cluster = newCluster()
	older = enqueueN(t, st, cluster, 2, time.Minute)
	cmd = newCommand(cluster, time.Now().Add(time.Minute))
	if diff := cmp.Diff(older, appendLeased(t, h, cmd, "exec-1", 2)); diff != "" {
		t.Errorf("AppendLeased(max 2) mismatch (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]contracts.Command{cmd}, claimAs(t, st, cluster, "exec-2", 10)); diff != "" {
		t.Errorf("Claim() after AppendLeased(max 2) mismatch (-want +got):\n%s", diff)
	}
}

// testAppendLeasedSkipsLeased: a command leased to another consumer is not
// leased again by AppendLeased.
func testAppendLeasedSkipsLeased(t *testing.T, newStore func(t *testing.T) store.Store) {
	st := newStore(t)
	h := handOff(t, st)
	cluster := newCluster()
	first := enqueueN(t, st, cluster, 1, time.Minute)
	if diff := cmp.Diff(first, claimAs(t, st, cluster, "exec-1", 10)); diff != "" {
		t.Fatalf("Claim() mismatch (-want +got):\n%s", diff)
	}
	cmd := newCommand(cluster, time.Now().Add(time.Minute))
	if diff := cmp.Diff([]contracts.Command{cmd}, appendLeased(t, h, cmd, "exec-2", 16)); diff != "" {
		t.Errorf("AppendLeased() mismatch (-want +got):\n%s", diff)
	}
}

// testRelease: Release by the consumer holding the lease makes the
// command claimable at once, by any consumer, which then holds a full
// lease of its own; Release by anyone else, or of an acknowledged
// command, changes nothing.
func testRelease(t *testing.T, newStore func(t *testing.T) store.Store) {
	st, other := newStore(t), newStore(t)
	h := handOff(t, st)
	cluster := newCluster()
	cmd := newCommand(cluster, time.Now().Add(time.Minute))
	appendLeased(t, h, cmd, "exec-1", 16)
	if n, err := handOff(t, other).Release(ctx(t), cluster, "exec-2", []string{cmd.ID}); n != 0 || err != nil {
		t.Errorf("Release() by another consumer = %d, %v; want 0, nil", n, err)
	}
	if got := claimAs(t, other, cluster, "exec-2", 10); len(got) != 0 {
		t.Fatalf("Claim() after another consumer's Release = %v; want none", ids(got, commandID))
	}
	if n, err := handOff(t, other).Release(ctx(t), cluster, "exec-1", []string{cmd.ID, contracts.NewID()}); n != 1 || err != nil {
		t.Errorf("Release() = %d, %v; want 1, nil", n, err)
	}
	// Both ways a sweep asks find it: the index names a queue handed off.
	for name, m := range map[string]queuesMethod{"Queues": byQueues, "IndexedQueues": byIndex} {
		if q := queues(t, m, other, cluster); len(q) != 1 || !q[0].Claimable {
			t.Errorf("%s() after Release = %+v; want one claimable queue", name, q)
		}
	}
	if diff := cmp.Diff([]contracts.Command{cmd}, claimAs(t, other, cluster, "exec-2", 10)); diff != "" {
		t.Fatalf("Claim() right after Release mismatch (-want +got):\n%s", diff)
	}
	// The new lease is a whole one.
	if got := claimAs(t, st, cluster, "exec-3", 10); len(got) != 0 {
		t.Errorf("Claim() while the new lease runs = %v; want none", ids(got, commandID))
	}
	ack(t, other, cluster, []contracts.Command{cmd})
	if n, err := h.Release(ctx(t), cluster, "exec-2", []string{cmd.ID}); n != 0 || err != nil {
		t.Errorf("Release() after Ack = %d, %v; want 0, nil", n, err)
	}
	if n, err := h.Release(ctx(t), cluster, "exec-2", nil); n != 0 || err != nil {
		t.Errorf("Release(no ids) = %d, %v; want 0, nil", n, err)
	}
}

// testHandOffBadInput: malformed arguments are ErrInvalid.
func testHandOffBadInput(t *testing.T, newStore func(t *testing.T) store.Store) {
	st := newStore(t)
	h := handOff(t, st)
	cluster := newCluster()
	cmd := newCommand(cluster, time.Now().Add(time.Minute))
	tests := []struct {
		name string
		call func() error
	}{
		{"AppendLeased empty consumer", func() error { _, err := h.AppendLeased(ctx(t), cmd, "", 1); return err }},
		{"AppendLeased zero max", func() error { _, err := h.AppendLeased(ctx(t), cmd, "exec-1", 0); return err }},
		{"AppendLeased bad command", func() error { _, err := h.AppendLeased(ctx(t), contracts.Command{}, "exec-1", 1); return err }},
		{"Release bad cluster", func() error { _, err := h.Release(ctx(t), "bad cluster", "exec-1", []string{cmd.ID}); return err }},
		{"Release empty consumer", func() error { _, err := h.Release(ctx(t), cluster, "", []string{cmd.ID}); return err }},
		{"Release bad id", func() error { _, err := h.Release(ctx(t), cluster, "exec-1", []string{"bad id"}); return err }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.call(); !errIs(err, store.ErrInvalid) {
				t.Errorf("%s = %v; want ErrInvalid", tt.name, err)
			}
		})
	}
	if n, err := st.Depth(ctx(t), cluster); n != 0 || err != nil {
		t.Errorf("Depth() after bad calls = %d, %v; want 0, nil", n, err)
	}
}
