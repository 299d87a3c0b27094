package presence

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"kubently.io/libs/contracts"
	"kubently.io/libs/logging"
	"kubently.io/libs/natsutil/natstest"
	"kubently.io/libs/store"
	"kubently.io/libs/store/backend"
	"kubently.io/libs/testkit"
)

// newStore returns a JetStream store on an embedded NATS server.
func newStore(t *testing.T) store.Store {
	t.Helper()
	ns := natstest.RunServer(t)
	st, err := backend.Open(t.Context(), backend.Config{Conn: natstest.Connect(t, ns)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	return st
}

// failing is a store whose RenewLease fails while fail is set.
type failing struct {
	store.Store
	fail    atomic.Bool
	renewed atomic.Int64
}

func (f *failing) RenewLease(ctx context.Context, lease string, ttl time.Duration) (bool, error) {
	if f.fail.Load() {
		return false, fmt.Errorf("renew: %w", store.ErrUnavailable)
	}
	f.renewed.Add(1)
	return f.Store.RenewLease(ctx, lease, ttl)
}

func newKeeper(t *testing.T, st Store, ttl, recordTTL time.Duration) *Keeper {
	t.Helper()
	k, err := New(Config{Store: st, TTL: ttl, RecordTTL: recordTTL, Log: logging.New(logging.Config{Level: "error"})})
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func newInfo(cluster string) contracts.ExecutorInfo {
	now := time.Now().UTC()
	return contracts.ExecutorInfo{Cluster: cluster, ConnID: contracts.NewID(), ExecutorID: "exec-" + cluster,
		Gateway: "gw-test", ConnectedAt: now, LastSeen: now}
}

func connIDs(t *testing.T, st store.Store, cluster string) []string {
	t.Helper()
	got, err := st.Connected(t.Context(), cluster)
	if err != nil {
		t.Fatalf("Connected(%s) = %v", cluster, err)
	}
	ids := make([]string, len(got))
	for i, g := range got {
		ids[i] = g.ConnID
	}
	return ids
}

// TestJoinLeave: a joined stream is connected at once (its Join renews
// the lease first), stays so through renewals with no store call of its
// own, and is gone at once when it leaves.
func TestJoinLeave(t *testing.T) {
	st := newStore(t)
	k := newKeeper(t, st, time.Hour, 0)
	a, b := newInfo("dev-1"), newInfo("dev-1")
	leaveA, err := k.Join(t.Context(), a)
	if err != nil {
		t.Fatalf("Join() = %v", err)
	}
	if _, err := k.Join(t.Context(), b); err != nil {
		t.Fatalf("Join() = %v", err)
	}
	if got := connIDs(t, st, "dev-1"); len(got) != 2 {
		t.Fatalf("Connected() = %v; want both streams", got)
	}
	if err := k.Renew(t.Context()); err != nil {
		t.Fatalf("Renew() = %v", err)
	}
	if err := leaveA(t.Context()); err != nil {
		t.Fatalf("leave() = %v", err)
	}
	if got := connIDs(t, st, "dev-1"); len(got) != 1 || got[0] != b.ConnID {
		t.Errorf("Connected() after one left = %v; want [%s]", got, b.ConnID)
	}
}

// TestReplicaDies: when the keeper stops renewing (its replica died),
// its streams vanish from presence once the lease's TTL ran out, however
// long their records' own TTL; another replica's stay.
func TestReplicaDies(t *testing.T) {
	st := newStore(t)
	dead, live := newKeeper(t, st, time.Second, time.Hour), newKeeper(t, st, time.Hour, time.Hour)
	ctx, stop := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() { defer close(done); dead.Run(ctx) }()
	d, l := newInfo("dev-1"), newInfo("dev-1")
	if _, err := dead.Join(t.Context(), d); err != nil {
		t.Fatal(err)
	}
	if _, err := live.Join(t.Context(), l); err != nil {
		t.Fatal(err)
	}
	stop()
	<-done
	testkit.CheckFor(t, 10*time.Second, 50*time.Millisecond, func() error {
		if got := connIDs(t, st, "dev-1"); len(got) != 1 || got[0] != l.ConnID {
			return fmt.Errorf("Connected() = %v; want only [%s]", got, l.ConnID)
		}
		return nil
	})
}

// TestLapsedRejoins: after the renewals failed for longer than the TTL,
// the next renewal finds the lease lapsed and joins every held stream
// again, so records dropped meanwhile come back; a stream that left
// meanwhile is not joined again.
func TestLapsedRejoins(t *testing.T) {
	base := newStore(t)
	st := &failing{Store: base}
	k := newKeeper(t, st, time.Second, time.Hour)
	a, b := newInfo("dev-1"), newInfo("prod-1")
	if _, err := k.Join(t.Context(), a); err != nil {
		t.Fatal(err)
	}
	leaveB, err := k.Join(t.Context(), b)
	if err != nil {
		t.Fatal(err)
	}
	st.fail.Store(true)
	if err := k.Renew(t.Context()); !errors.Is(err, store.ErrUnavailable) {
		t.Fatalf("Renew() with the store failing = %v; want %v", err, store.ErrUnavailable)
	}
	testkit.CheckFor(t, 10*time.Second, 50*time.Millisecond, func() error {
		if got := connIDs(t, base, "dev-1"); len(got) != 0 {
			return fmt.Errorf("Connected() = %v; want none once the lease ran out", got)
		}
		return nil
	})
	// The store lost the records meanwhile (a store may drop the
	// records of a lapsed lease), and one stream ended.
	if err := base.Leave(t.Context(), "dev-1", a.ConnID); err != nil {
		t.Fatal(err)
	}
	if err := leaveB(t.Context()); err != nil {
		t.Fatal(err)
	}
	st.fail.Store(false)
	if err := k.Renew(t.Context()); err != nil {
		t.Fatalf("Renew() = %v", err)
	}
	if got := connIDs(t, base, "dev-1"); len(got) != 1 || got[0] != a.ConnID {
		t.Errorf("Connected(dev-1) after the lapsed lease was renewed = %v; want [%s]", got, a.ConnID)
	}
	if got := connIDs(t, base, "prod-1"); len(got) != 0 {
		t.Errorf("Connected(prod-1) = %v; want none (the stream left)", got)
	}
}

// TestRecordRejoined: a stream whose record is half way through its own
// TTL is joined again on the next renewal, so a long-lived stream never
// drops out of presence.
func TestRecordRejoined(t *testing.T) {
	st := newStore(t)
	const recordTTL = 2 * time.Second
	k := newKeeper(t, st, time.Hour, recordTTL)
	a := newInfo("dev-1")
	if _, err := k.Join(t.Context(), a); err != nil {
		t.Fatal(err)
	}
	// Half the record's TTL passes; the store drops the record (as if it
	// had expired), and the next renewal writes it again.
	time.Sleep(recordTTL/2 + 100*time.Millisecond)
	if err := st.Leave(t.Context(), "dev-1", a.ConnID); err != nil {
		t.Fatal(err)
	}
	rejoined := time.Now()
	if err := k.Renew(t.Context()); err != nil {
		t.Fatalf("Renew() = %v", err)
	}
	if got := connIDs(t, st, "dev-1"); len(got) != 1 {
		t.Errorf("Connected() after the renewal = %v; want [%s]", got, a.ConnID)
	}
	// A record not yet half way is not written again.
	if err := st.Leave(t.Context(), "dev-1", a.ConnID); err != nil {
		t.Fatal(err)
	}
	if err := k.Renew(t.Context()); err != nil {
		t.Fatalf("Renew() = %v", err)
	}
	if time.Since(rejoined) >= recordTTL/2 {
		t.Skip("the machine took half the record TTL between two renewals; the rest proves nothing")
	}
	if got := connIDs(t, st, "dev-1"); len(got) != 0 {
		t.Errorf("Connected() after a renewal with the record fresh = %v; want none", got)
	}
}

// TestJoinStoreDown: a Join the store refuses returns the error and
// records nothing.
func TestJoinStoreDown(t *testing.T) {
	st := &failing{Store: newStore(t)}
	st.fail.Store(true)
	k := newKeeper(t, st, time.Hour, 0)
	leave, err := k.Join(t.Context(), newInfo("dev-1"))
	if !errors.Is(err, store.ErrUnavailable) || leave != nil {
		t.Errorf("Join() with the store down = %v (leave set: %v); want %v", err, leave != nil, store.ErrUnavailable)
	}
	if got := connIDs(t, st, "dev-1"); len(got) != 0 {
		t.Errorf("Connected() = %v; want none", got)
	}
}

// TestJoinFindsLapse: a Join that renews the lapsed lease itself (no
// renewal ran for longer than the TTL) leaves the streams already held to
// be joined again by the next renewal, though that one finds the lease
// live.
func TestJoinFindsLapse(t *testing.T) {
	st := newStore(t)
	k := newKeeper(t, st, time.Second, time.Hour)
	a, b := newInfo("dev-1"), newInfo("prod-1")
	if _, err := k.Join(t.Context(), a); err != nil {
		t.Fatal(err)
	}
	testkit.CheckFor(t, 10*time.Second, 50*time.Millisecond, func() error {
		if got := connIDs(t, st, "dev-1"); len(got) != 0 {
			return fmt.Errorf("Connected() = %v; want none once the lease ran out", got)
		}
		return nil
	})
	// The store lost a's record meanwhile.
	if err := st.Leave(t.Context(), "dev-1", a.ConnID); err != nil {
		t.Fatal(err)
	}
	if _, err := k.Join(t.Context(), b); err != nil {
		t.Fatal(err)
	}
	if err := k.Renew(t.Context()); err != nil {
		t.Fatalf("Renew() = %v", err)
	}
	if got := connIDs(t, st, "dev-1"); len(got) != 1 || got[0] != a.ConnID {
		t.Errorf("Connected(dev-1) = %v; want [%s] joined again", got, a.ConnID)
	}
}
