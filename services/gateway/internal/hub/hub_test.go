package hub

import (
	"testing"
	"time"

	"kubently.io/libs/contracts"
	"kubently.io/libs/natsutil/natstest"
)

func TestNotifyWakesOnlyThatCluster(t *testing.T) {
	h := New()
	a, doneA := h.Register("a")
	b, doneB := h.Register("b")
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
	w, done := h.Register("prod-1")
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
