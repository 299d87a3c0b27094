package hub

import (
	"context"
	"fmt"
	"testing"
	"time"

	"kubently.io/libs/contracts"
	"kubently.io/libs/natsutil/natstest"
)

func TestNotifyWakesOnlyThatCluster(t *testing.T) {
	h := New()
	a, doneA := h.Register("a", nil)
	b, doneB := h.Register("b", nil)
	defer doneB()
	h.Notify("a")
	h.Notify("a") // collapses into one wake-up
	select {
	case <-a.C():
	default:
		t.Fatal("stream a not woken")
	}
	select {
	case <-a.C():
		t.Fatal("stream a woken twice; want bursts collapsed")
	default:
	}
	select {
	case <-b.C():
		t.Fatal("stream b woken by a's notify")
	default:
	}
	doneA()
	if got := h.Streams(); got != 1 {
		t.Errorf("Streams() = %d; want 1", got)
	}
}

func TestSubscribe(t *testing.T) {
	s := natstest.RunServer(t)
	nc := natstest.Connect(t, s)
	h := New()
	w, done := h.Register("prod-1", nil)
	defer done()
	if _, err := h.Subscribe(nc); err != nil {
		t.Fatal(err)
	}
	subj, err := contracts.BridgeNotifySubject("prod-1")
	if err != nil {
		t.Fatal(err)
	}
	if err := nc.Publish(subj, []byte("x")); err != nil {
		t.Fatal(err)
	}
	select {
	case <-w.C():
	case <-time.After(5 * time.Second):
		t.Fatal("not woken by a NATS notify")
	}
}

func TestRevokeEndsOnlyThatCluster(t *testing.T) {
	h := New()
	ctxA1, stopA1 := context.WithCancel(context.Background())
	ctxA2, stopA2 := context.WithCancel(context.Background())
	ctxB, stopB := context.WithCancel(context.Background())
	defer stopB()
	_, doneA1 := h.Register("a", stopA1)
	defer doneA1()
	_, doneA2 := h.Register("a", stopA2)
	defer doneA2()
	_, doneB := h.Register("b", stopB)
	defer doneB()
	if got := h.Revoke("a"); got != 2 {
		t.Errorf("Revoke(a) = %d; want 2", got)
	}
	if ctxA1.Err() == nil || ctxA2.Err() == nil {
		t.Error("a stream of a not stopped")
	}
	if ctxB.Err() != nil {
		t.Error("stream of b stopped by a's revocation")
	}
	if got := h.Revoke("unknown"); got != 0 {
		t.Errorf("Revoke(unknown) = %d; want 0", got)
	}
}

func TestSubscribeRevocations(t *testing.T) {
	s := natstest.RunServer(t)
	nc := natstest.Connect(t, s)
	h := New()
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	_, done := h.Register("prod-1", stop)
	defer done()
	got := make(chan string, 1)
	if _, err := h.SubscribeRevocations(nc, func(cluster string, n int) { got <- fmt.Sprintf("%s:%d", cluster, n) }); err != nil {
		t.Fatal(err)
	}
	subj, err := contracts.BridgeRevokeSubject("prod-1")
	if err != nil {
		t.Fatal(err)
	}
	if err := nc.Publish(subj, nil); err != nil {
		t.Fatal(err)
	}
	select {
	case <-ctx.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("stream not stopped by a NATS revocation")
	}
	if g := <-got; g != "prod-1:1" {
		t.Errorf("onRevoke got %q; want prod-1:1", g)
	}
}

func TestWakeOneAndClusters(t *testing.T) {
	h := New()
	a1, doneA1 := h.Register("a", nil)
	a2, doneA2 := h.Register("a", nil)
	b, doneB := h.Register("b", nil)
	if got := h.Clusters(nil); !sameSet(got, []string{"a", "b"}) {
		t.Errorf("Clusters() = %v; want [a b] in any order", got)
	}
	if !h.WakeOne("a") {
		t.Fatal("WakeOne(a) = false; want true")
	}
	woken := 0
	for _, w := range []*Waker{a1, a2} {
		select {
		case <-w.C():
			woken++
		default:
		}
	}
	if woken != 1 {
		t.Errorf("WakeOne(a) woke %d streams of a; want 1", woken)
	}
	select {
	case <-b.C():
		t.Error("stream b woken by WakeOne(a)")
	default:
	}
	if h.WakeOne("c") {
		t.Error("WakeOne(c) with no stream of c = true; want false")
	}
	doneA1()
	doneA2()
	if got := h.Clusters(make([]string, 5)); !sameSet(got, []string{"b"}) {
		t.Errorf("Clusters() after a's streams ended = %v; want [b]", got)
	}
	doneB()
	if got := h.Clusters(nil); len(got) != 0 {
		t.Errorf("Clusters() with no streams = %v; want none", got)
	}
}

func sameSet(got, want []string) bool {
	if len(got) != len(want) {
		return false
	}
	seen := map[string]bool{}
	for _, g := range got {
		seen[g] = true
	}
	for _, w := range want {
		if !seen[w] {
			return false
		}
	}
	return true
}
