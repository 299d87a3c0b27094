package storetest

import (
	"errors"
	"sync"
	"testing"
	"time"

	"kubently.io/libs/contracts"
	"kubently.io/libs/store"
)

var fenceTests = []test{
	{"NeverEnqueued", testFenceNeverEnqueued},
	{"Queued", testFenceQueued},
	{"Answered", testFenceAnswered},
	{"RaceWithEnqueue", testFenceRace},
	{"EnqueueRetryAndOtherCluster", testEnqueueConflict},
	{"BadInput", testFenceBadInput},
	{"Reserve", testReserve},
}

// testFenceNeverEnqueued: a fenced id is not queued, can never be
// enqueued afterwards (through any client), is unknown to Owner and
// MarkAnswered, and fencing it again says the same.
func testFenceNeverEnqueued(t *testing.T, newStore func(t *testing.T) store.Store) {
	st, other := newStore(t), newStore(t)
	cluster := newCluster()
	cmd := newCommand(cluster, time.Now().Add(time.Minute))
	got, err := st.Fence(ctx(t), cmd.ID, time.Now().Add(time.Minute))
	if err != nil || got != (store.CommandState{}) {
		t.Fatalf("Fence(new id) = %+v, %v; want {Queued:false}, nil", got, err)
	}
	if err := other.Enqueue(ctx(t), cmd); !errors.Is(err, store.ErrConflict) {
		t.Errorf("Enqueue(fenced id) = %v; want ErrConflict", err)
	}
	if got, err := other.Claim(ctx(t), cluster, "conn-1", 10); err != nil || len(got) != 0 {
		t.Errorf("Claim after a refused Enqueue = %d commands, %v; want 0, nil", len(got), err)
	}
	if _, err := st.Owner(ctx(t), cmd.ID); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Owner(fenced id) = %v; want ErrNotFound", err)
	}
	if _, _, err := st.MarkAnswered(ctx(t), cmd.ID, "exec-a"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("MarkAnswered(fenced id) = %v; want ErrNotFound", err)
	}
	if got, err := other.Fence(ctx(t), cmd.ID, time.Now().Add(time.Minute)); err != nil || got.Queued {
		t.Errorf("Fence(fenced id) = %+v, %v; want {Queued:false}, nil", got, err)
	}
}

// testFenceQueued: an enqueued id is reported queued and left alone: it is
// still claimable and its owner unchanged.
func testFenceQueued(t *testing.T, newStore func(t *testing.T) store.Store) {
	st := newStore(t)
	cluster := newCluster()
	cmd := enqueueN(t, st, cluster, 1, time.Minute)[0]
	got, err := newStore(t).Fence(ctx(t), cmd.ID, time.Now().Add(time.Minute))
	if err != nil || got != (store.CommandState{Queued: true}) {
		t.Fatalf("Fence(queued id) = %+v, %v; want {Queued:true}, nil", got, err)
	}
	if owner, err := st.Owner(ctx(t), cmd.ID); err != nil || owner != cluster {
		t.Errorf("Owner after Fence = %q, %v; want %q, nil", owner, err, cluster)
	}
	claimed, err := st.Claim(ctx(t), cluster, "conn-1", 10)
	if err != nil || len(claimed) != 1 || claimed[0].ID != cmd.ID {
		t.Errorf("Claim after Fence = %v, %v; want the command", ids(claimed, commandID), err)
	}
}

// testFenceAnswered: Fence reports who answered a queued command.
func testFenceAnswered(t *testing.T, newStore func(t *testing.T) store.Store) {
	st := newStore(t)
	cmd := enqueueN(t, st, newCluster(), 1, time.Minute)[0]
	if _, _, err := st.MarkAnswered(ctx(t), cmd.ID, "exec-a.pod-1"); err != nil {
		t.Fatalf("MarkAnswered = %v", err)
	}
	got, err := newStore(t).Fence(ctx(t), cmd.ID, time.Now().Add(time.Minute))
	if want := (store.CommandState{Queued: true, AnsweredBy: "exec-a.pod-1"}); err != nil || got != want {
		t.Errorf("Fence(answered id) = %+v, %v; want %+v, nil", got, err, want)
	}
}

// testFenceRace: Fence and Enqueue of one id racing through separate
// clients agree: either the fence won (Queued false, Enqueue refused, the
// command never claimable) or the enqueue did (Queued true, claimable).
func testFenceRace(t *testing.T, newStore func(t *testing.T) store.Store) {
	const rounds = 20
	a, b := newStore(t), newStore(t)
	cluster := newCluster()
	fenced, queued := 0, 0
	for i := range rounds {
		cmd := newCommand(cluster, time.Now().Add(time.Minute))
		var (
			wg     sync.WaitGroup
			st     store.CommandState
			ferr   error
			encErr error
		)
		wg.Go(func() { st, ferr = a.Fence(ctx(t), cmd.ID, time.Now().Add(time.Minute)) })
		wg.Go(func() { encErr = b.Enqueue(ctx(t), cmd) })
		wg.Wait()
		if ferr != nil || (encErr != nil && !errors.Is(encErr, store.ErrConflict)) {
			t.Fatalf("round %d: Fence = %v, Enqueue = %v", i, ferr, encErr)
		}
		claimed, err := a.Claim(ctx(t), cluster, "conn-1", 10)
		if err != nil {
			t.Fatalf("round %d: Claim = %v", i, err)
		}
		if _, err := a.Ack(ctx(t), cluster, ids(claimed, commandID)); err != nil {
			t.Fatalf("round %d: Ack = %v", i, err)
		}
		switch {
		case st.Queued && encErr == nil && len(claimed) == 1:
			queued++
		case !st.Queued && errors.Is(encErr, store.ErrConflict) && len(claimed) == 0:
			fenced++
		default:
			t.Errorf("round %d: Fence queued=%v, Enqueue err=%v, claimed %d: they disagree", i, st.Queued, encErr, len(claimed))
		}
	}
	t.Logf("fence won %d, enqueue won %d of %d", fenced, queued, rounds)
}

// testEnqueueConflict: enqueueing the same command again is a retry, not
// an error; the same id for another cluster is refused.
func testEnqueueConflict(t *testing.T, newStore func(t *testing.T) store.Store) {
	st := newStore(t)
	cmd := enqueueN(t, st, newCluster(), 1, time.Minute)[0]
	if err := newStore(t).Enqueue(ctx(t), cmd); err != nil {
		t.Errorf("Enqueue(same command again) = %v; want nil", err)
	}
	moved := cmd
	moved.Cluster = newCluster()
	if err := st.Enqueue(ctx(t), moved); !errors.Is(err, store.ErrConflict) {
		t.Errorf("Enqueue(same id, other cluster) = %v; want ErrConflict", err)
	}
	if got, err := st.Claim(ctx(t), moved.Cluster, "conn-1", 10); err != nil || len(got) != 0 {
		t.Errorf("Claim(other cluster) = %v, %v; want nothing", ids(got, commandID), err)
	}
}

func testFenceBadInput(t *testing.T, newStore func(t *testing.T) store.Store) {
	st := newStore(t)
	for _, tt := range []struct {
		id    string
		until time.Time
	}{
		{"", time.Now().Add(time.Minute)},
		{"../x", time.Now().Add(time.Minute)},
		{contracts.NewID(), time.Now().Add(-time.Second)},
		{contracts.NewID(), time.Time{}},
	} {
		if _, err := st.Fence(ctx(t), tt.id, tt.until); !errors.Is(err, store.ErrInvalid) {
			t.Errorf("Fence(%q, %v) = %v; want ErrInvalid", tt.id, tt.until, err)
		}
	}
}

// testReserve: a store whose Enqueue is two steps (store.Reserver)
// records the owner on Reserve, without making the command claimable, and
// queues it on Append; a fenced id cannot be reserved.
func testReserve(t *testing.T, newStore func(t *testing.T) store.Store) {
	st := newStore(t)
	r, ok := st.(store.Reserver)
	if !ok {
		t.Skip("the store enqueues in one step")
	}
	cluster := newCluster()
	cmd := newCommand(cluster, time.Now().Add(time.Minute))
	if err := r.Reserve(ctx(t), cmd); err != nil {
		t.Fatalf("Reserve = %v", err)
	}
	if owner, err := st.Owner(ctx(t), cmd.ID); err != nil || owner != cluster {
		t.Errorf("Owner after Reserve = %q, %v; want %q, nil", owner, err, cluster)
	}
	if got, err := st.Claim(ctx(t), cluster, "conn-1", 10); err != nil || len(got) != 0 {
		t.Errorf("Claim after Reserve = %d commands, %v; want 0, nil", len(got), err)
	}
	if got, err := newStore(t).Fence(ctx(t), cmd.ID, time.Now().Add(time.Minute)); err != nil || !got.Queued {
		t.Errorf("Fence(reserved id) = %+v, %v; want {Queued:true}, nil", got, err)
	}
	if err := r.Append(ctx(t), cmd); err != nil {
		t.Fatalf("Append = %v", err)
	}
	claimed, err := st.Claim(ctx(t), cluster, "conn-1", 10)
	if err != nil || len(claimed) != 1 || claimed[0].ID != cmd.ID {
		t.Errorf("Claim after Append = %v, %v; want the command", ids(claimed, commandID), err)
	}
	fenced := newCommand(cluster, time.Now().Add(time.Minute))
	if _, err := st.Fence(ctx(t), fenced.ID, time.Now().Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	if err := r.Reserve(ctx(t), fenced); !errors.Is(err, store.ErrConflict) {
		t.Errorf("Reserve(fenced id) = %v; want ErrConflict", err)
	}
}
