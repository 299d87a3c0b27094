package httpapi

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"kubently.io/libs/contracts"
	"kubently.io/libs/natsutil/natstest"
	"kubently.io/libs/store"
	"kubently.io/libs/testkit"
	"kubently.io/libs/testkit/promtest"
	"kubently.io/services/gateway/internal/settle"
)

// swallow is a dispatcher that takes execute requests and, depending on
// act, queues them, marks them answered, replies later, or does nothing —
// the shapes a NATS disruption leaves behind.
type swallow struct {
	mu   sync.Mutex
	reqs []contracts.ExecuteRequest
	act  func(m *nats.Msg, req contracts.ExecuteRequest)
}

func (d *swallow) handle(m *nats.Msg) {
	var req contracts.ExecuteRequest
	_ = json.Unmarshal(m.Data, &req)
	d.mu.Lock()
	d.reqs = append(d.reqs, req)
	act := d.act
	d.mu.Unlock()
	if act != nil {
		go act(m, req)
	}
}

func (d *swallow) last(t *testing.T) contracts.ExecuteRequest {
	t.Helper()
	return lastRequest(t, &d.mu, &d.reqs)
}

type outcome struct {
	r    resp
	took time.Duration
}

// executeAsync sends one 30 s command and returns its outcome later.
func (e *env) executeAsync(t *testing.T) <-chan outcome {
	t.Helper()
	ch := make(chan outcome, 1)
	start := time.Now()
	go func() {
		r := e.do(t, http.MethodPost, "/v1/execute", operatorKey, map[string]any{
			"cluster_id": "dev-1", "argv": []string{"get", "pods"}, "timeout_seconds": 30})
		ch <- outcome{r, time.Since(start)}
	}()
	return ch
}

func waitOutcome(t *testing.T, ch <-chan outcome, within time.Duration) outcome {
	t.Helper()
	select {
	case o := <-ch:
		return o
	case <-time.After(within):
		t.Fatalf("request still waiting after %v", within)
		return outcome{}
	}
}

// waitRequest waits until the dispatcher has the request.
func (d *swallow) wait(t *testing.T) contracts.ExecuteRequest {
	t.Helper()
	testkit.CheckFor(t, 5*time.Second, 10*time.Millisecond, func() error {
		d.mu.Lock()
		defer d.mu.Unlock()
		if len(d.reqs) == 0 {
			return errors.New("no request yet")
		}
		return nil
	})
	return d.last(t)
}

// The settler's logic is tested in package settle; these tests prove the
// execute path through it over a real NATS disruption.

// TestSettleNotDispatched: a request that no dispatcher queued (lost in
// the gap) fails soon after the gateway's own reconnect with 503
// not_dispatched, and its id is fenced so that the lost request can never
// run later.
func TestSettleNotDispatched(t *testing.T) {
	d := &swallow{}
	e := newEnv(t, envOpts{dispatcher: d.handle})
	ch := e.executeAsync(t)
	req := d.wait(t)
	if err := contracts.ValidateCommandID(req.CommandID); err != nil {
		t.Fatalf("the gateway sent no valid command id: %v", err)
	}
	// The server drops the gateway's connection, as a dying node would;
	// the client reconnects with the request still pending
	// (ForceReconnect would fail it at once instead).
	id, err := e.nc.GetClientID()
	if err != nil {
		t.Fatal(err)
	}
	if err := e.ns.DisconnectClientByID(id); err != nil {
		t.Fatal(err)
	}
	o := waitOutcome(t, ch, 10*time.Second)
	if o.r.status != http.StatusServiceUnavailable {
		t.Fatalf("got %d %s; want 503", o.r.status, o.r.body)
	}
	if ae := o.r.apiError(t); ae.Code != contracts.CodeUnavailable || ae.Reason != settle.ReasonNotDispatched {
		t.Errorf("error %s/%s %s; want unavailable/%s", ae.Code, ae.Reason, ae.Message, settle.ReasonNotDispatched)
	}
	if o.took > 5*time.Second {
		t.Errorf("failed after %v; want within a few seconds of the disruption", o.took)
	}
	// The lost request, delivered late, cannot be queued.
	cmd := contracts.Command{ID: req.CommandID, Cluster: "dev-1", Argv: req.Argv, Deadline: time.Now().Add(time.Minute), IssuedAt: time.Now()}
	if err := e.st.Enqueue(t.Context(), cmd); !errors.Is(err, store.ErrConflict) {
		t.Errorf("Enqueue of the settled command = %v; want ErrConflict (fenced)", err)
	}
	if got := promtest.Sum(t, e.reg, "kubently_gateway_requests_settled_total", "outcome", settle.ReasonNotDispatched); got != 1 {
		t.Errorf("settled{not_dispatched} = %v; want 1", got)
	}
}

// TestSettleReplyLostAcceptLost reproduces the window of issue 11 over a
// real NATS disconnect: the dispatcher took the executor's result, but
// the "accepted" the gateway waited for was lost, so the answer record
// says the result was never handed over (answerPending), and the
// dispatcher's reply to the execute request is published while the
// gateway's connection is down, so it is dropped for want of interest.
// The settler must still ask the dispatchers for the reply after the
// reconnect and end the wait with it, not leave the caller to its
// deadline.
func TestSettleReplyLostAcceptLost(t *testing.T) {
	d := &swallow{}
	e := newEnv(t, envOpts{dispatcher: d.handle})
	msgs := make(chan *nats.Msg, 1)
	d.act = func(m *nats.Msg, req contracts.ExecuteRequest) {
		cmd := contracts.Command{ID: req.CommandID, Cluster: req.Cluster, Argv: req.Argv, Deadline: time.Now().Add(30 * time.Second), IssuedAt: time.Now()}
		if err := e.st.Enqueue(t.Context(), cmd); err != nil {
			t.Error(err)
		}
		if _, _, err := e.st.MarkAnswered(t.Context(), cmd.ID, answerPending); err != nil {
			t.Error(err)
		}
		msgs <- m
	}
	// The dispatcher's own connection: it keeps the reply and answers a
	// replay with it, as dispatch's replay cache does.
	dc := natstest.Connect(t, e.ns)
	var reply []byte
	var mu sync.Mutex
	replays := 0
	sub, err := dc.Subscribe(contracts.DispatchReplaySubject, func(m *nats.Msg) {
		mu.Lock()
		defer mu.Unlock()
		if reply != nil {
			replays++
			_ = m.Respond(reply)
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = sub.Unsubscribe() }()
	if err := dc.Flush(); err != nil {
		t.Fatal(err)
	}

	ch := e.executeAsync(t)
	var m *nats.Msg
	select {
	case m = <-msgs:
	case <-time.After(10 * time.Second):
		t.Fatal("no execute request reached the dispatcher")
	}
	req := d.last(t)
	r, _ := contracts.NewResponse(contracts.TypeCommandResult, contracts.CommandResult{CommandID: req.CommandID, Cluster: req.Cluster, Outcome: contracts.Outcome{Status: contracts.StatusSuccess, Output: "ran before the drop"}})
	b, _ := json.Marshal(r)
	mu.Lock()
	reply = b
	mu.Unlock()

	// Drop the gateway's connection server-side (the client reconnects
	// after its 2 s reconnect wait, the request still pending) and wait
	// until the server has forgotten it.
	clients := e.ns.NumClients()
	id, err := e.nc.GetClientID()
	if err != nil {
		t.Fatal(err)
	}
	if err := e.ns.DisconnectClientByID(id); err != nil {
		t.Fatal(err)
	}
	testkit.CheckFor(t, 5*time.Second, 5*time.Millisecond, func() error {
		if n := e.ns.NumClients(); n >= clients {
			return fmt.Errorf("server still has %d clients", n)
		}
		return nil
	})
	// Nobody listens on the gateway's reply inbox now: the reply is lost.
	if _, err := dc.Request(m.Reply, []byte("probe"), time.Second); !errors.Is(err, nats.ErrNoResponders) {
		t.Fatalf("probe of the reply inbox during the drop: %v; want no responders (the inbox must be gone)", err)
	}
	if err := dc.Publish(m.Reply, b); err != nil {
		t.Fatal(err)
	}
	if err := dc.Flush(); err != nil {
		t.Fatal(err)
	}

	o := waitOutcome(t, ch, 15*time.Second)
	if o.r.status != http.StatusOK || !strings.Contains(string(o.r.body), "ran before the drop") {
		t.Fatalf("got %d %s; want the replayed result", o.r.status, o.r.body)
	}
	if got := promtest.Sum(t, e.reg, "kubently_gateway_requests_settled_total", "outcome", "replayed"); got != 1 {
		t.Errorf("settled{replayed} = %v; want 1", got)
	}
	mu.Lock()
	defer mu.Unlock()
	if replays == 0 {
		t.Errorf("the dispatchers were never asked for the lost reply")
	}
}
