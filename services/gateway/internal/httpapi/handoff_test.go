package httpapi

import (
	"fmt"
	"testing"
	"time"

	"kubently.io/libs/contracts"
	"kubently.io/libs/testkit"
	"kubently.io/services/gateway/internal/handoff"
)

// TestHandOffToStream: a batch handed to a stream this replica holds is
// written to it in order and answered delivered; once the stream ended,
// a batch for it is answered no_stream (nothing written).
func TestHandOffToStream(t *testing.T) {
	e := newEnv(t, envOpts{})
	events, stop := openStream(t, e, "dev-1")
	awaitConnected(t, events)
	conns, err := e.st.Connected(t.Context(), "dev-1")
	if err != nil || len(conns) != 1 {
		t.Fatalf("Connected() = %v, %v; want one stream", conns, err)
	}
	connID := conns[0].ConnID
	answers := make(chan string, 4)
	reply := func(status string) { answers <- status }
	cmds := []contracts.Command{
		{ID: contracts.NewID(), Cluster: "dev-1", Argv: []string{"get", "pods"}, Deadline: time.Now().Add(time.Minute)},
		{ID: contracts.NewID(), Cluster: "dev-1", Argv: []string{"get", "nodes"}, Deadline: time.Now().Add(time.Minute)},
	}
	// One past its deadline is not written.
	expired := contracts.Command{ID: contracts.NewID(), Cluster: "dev-1", Argv: []string{"get", "pods"}, Deadline: time.Now().Add(-time.Second)}
	batch := []contracts.Command{cmds[0], expired, cmds[1]}
	if !e.srv.cfg.HandOffs.Offer("dev-1", connID, handoff.NewDelivery(batch, reply)) {
		t.Fatal("Offer to an open stream = false; want true")
	}
	for i, want := range cmds {
		if got := nextCommand(t, events); got != want.ID {
			t.Errorf("command #%d on the stream = %s; want %s", i, got, want.ID)
		}
	}
	if got := <-answers; got != contracts.HandOffDelivered {
		t.Errorf("answer = %q; want %q", got, contracts.HandOffDelivered)
	}

	stop()
	testkit.CheckFor(t, 30*time.Second, 10*time.Millisecond, func() error {
		if n := e.srv.cfg.HandOffs.Len(); n != 0 {
			return fmt.Errorf("%d streams still take hand-offs", n)
		}
		return nil
	})
	if e.srv.cfg.HandOffs.Offer("dev-1", connID, handoff.NewDelivery(cmds, reply)) {
		t.Error("Offer to an ended stream = true; want false")
	}
	if got := <-answers; got != contracts.HandOffNoStream {
		t.Errorf("answer after the stream ended = %q; want %q", got, contracts.HandOffNoStream)
	}
}
