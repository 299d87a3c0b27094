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
	"github.com/prometheus/client_golang/prometheus/testutil"

	"kubently.io/libs/contracts"
	"kubently.io/libs/natsutil/natstest"
	"kubently.io/libs/store"
	"kubently.io/libs/testkit"
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
	d.mu.Lock()
	defer d.mu.Unlock()
	if len(d.reqs) == 0 {
		t.Fatal("no execute request reached the dispatcher")
	}
	return d.reqs[len(d.reqs)-1]
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

// announce publishes a dispatcher's reconnect announcement.
func (e *env) announce(t *testing.T) {
	t.Helper()
	b, _ := json.Marshal(contracts.BusReconnected{Type: contracts.TypeBusReconnected, Service: "dispatcher", Instance: "d-1", DisconnectedAt: time.Now()})
	if err := e.nc.Publish(contracts.BusReconnectedSubject, b); err != nil {
		t.Fatal(err)
	}
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

// waitActed waits until the dispatcher's act closed acted: it queued or
// marked the command, so a disruption announced now finds the command in
// the state the test set up, however busy the machine.
func waitActed(t *testing.T, acted <-chan struct{}) {
	t.Helper()
	select {
	case <-acted:
	case <-time.After(30 * time.Second):
		t.Fatal("the dispatcher did not act on the request within 30s")
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

// TestSettleNotDispatched: a request that no dispatcher queued (lost in
// the gap) fails soon after a disruption — a dispatcher's announcement or
// the gateway's own reconnect — with 503 not_dispatched, and its id is
// fenced so that the lost request can never run later.
func TestSettleNotDispatched(t *testing.T) {
	for name, disrupt := range map[string]func(e *env, t *testing.T){
		"dispatcher announced": func(e *env, t *testing.T) { e.announce(t) },
		"gateway reconnected": func(e *env, t *testing.T) {
			// The server drops the gateway's connection, as a dying
			// node would; the client reconnects with the request still
			// pending (ForceReconnect would fail it at once instead).
			id, err := e.nc.GetClientID()
			if err != nil {
				t.Fatal(err)
			}
			if err := e.ns.DisconnectClientByID(id); err != nil {
				t.Fatal(err)
			}
		},
	} {
		t.Run(name, func(t *testing.T) {
			d := &swallow{}
			e := newEnv(t, envOpts{dispatcher: d.handle})
			ch := e.executeAsync(t)
			req := d.wait(t)
			if err := contracts.ValidateCommandID(req.CommandID); err != nil {
				t.Fatalf("the gateway sent no valid command id: %v", err)
			}
			disrupt(e, t)
			o := waitOutcome(t, ch, 25*time.Second)
			if o.r.status != http.StatusServiceUnavailable {
				t.Fatalf("got %d %s; want 503", o.r.status, o.r.body)
			}
			if ae := o.r.apiError(t); ae.Code != contracts.CodeUnavailable || ae.Reason != ReasonNotDispatched {
				t.Errorf("error %s/%s %s; want unavailable/%s", ae.Code, ae.Reason, ae.Message, ReasonNotDispatched)
			}
			// Well before the request's own 30 s deadline.
			if o.took > 20*time.Second {
				t.Errorf("failed after %v; want soon after the disruption, not at the deadline", o.took)
			}
			// The lost request, delivered late, cannot be queued.
			cmd := contracts.Command{ID: req.CommandID, Cluster: "dev-1", Argv: req.Argv, Deadline: time.Now().Add(time.Minute), IssuedAt: time.Now()}
			if err := e.st.Enqueue(t.Context(), cmd); !errors.Is(err, store.ErrConflict) {
				t.Errorf("Enqueue of the settled command = %v; want ErrConflict (fenced)", err)
			}
			if got := testutil.ToFloat64(e.srv.settler.settled.WithLabelValues(ReasonNotDispatched)); got != 1 {
				t.Errorf("settled{not_dispatched} = %v; want 1", got)
			}
		})
	}
}

// TestSettleResultLost: a command that ran and whose result reached the
// dispatcher, but whose reply never comes, fails with result_lost, naming
// the executor and the command, a few seconds after the disruption.
func TestSettleResultLost(t *testing.T) {
	d := &swallow{}
	e := newEnv(t, envOpts{dispatcher: d.handle})
	acted := make(chan struct{})
	d.act = func(_ *nats.Msg, req contracts.ExecuteRequest) {
		defer close(acted)
		cmd := contracts.Command{ID: req.CommandID, Cluster: req.Cluster, Argv: req.Argv, Deadline: time.Now().Add(30 * time.Second), IssuedAt: time.Now()}
		if err := e.st.Enqueue(t.Context(), cmd); err != nil {
			t.Error(err)
		}
		if _, _, err := e.st.MarkAnswered(t.Context(), cmd.ID, "exec-7"); err != nil {
			t.Error(err)
		}
	}
	ch := e.executeAsync(t)
	req := d.wait(t)
	waitActed(t, acted)
	e.announce(t)
	o := waitOutcome(t, ch, 25*time.Second)
	ae := o.r.apiError(t)
	if o.r.status != http.StatusServiceUnavailable || ae.Reason != ReasonResultLost {
		t.Fatalf("got %d %s; want 503 %s", o.r.status, o.r.body, ReasonResultLost)
	}
	for _, want := range []string{req.CommandID, "exec-7", "audit"} {
		if !strings.Contains(ae.Message, want) {
			t.Errorf("message %q does not name %q", ae.Message, want)
		}
	}
	// Not before the second check; well before the request's own 30 s
	// deadline.
	if o.took < settleFirst+settleEvery || o.took > 20*time.Second {
		t.Errorf("failed after %v; want between %v and 20s", o.took, settleFirst+settleEvery)
	}
}

// TestSettleKeepsWaiting: a queued command whose reply comes after the
// disruption is not failed: the reply arrives and the caller gets it.
// A malformed announcement is ignored.
func TestSettleKeepsWaiting(t *testing.T) {
	d := &swallow{}
	e := newEnv(t, envOpts{dispatcher: d.handle})
	acted := make(chan struct{})
	d.act = func(m *nats.Msg, req contracts.ExecuteRequest) {
		cmd := contracts.Command{ID: req.CommandID, Cluster: req.Cluster, Argv: req.Argv, Deadline: time.Now().Add(30 * time.Second), IssuedAt: time.Now()}
		if err := e.st.Enqueue(t.Context(), cmd); err != nil {
			t.Error(err)
		}
		close(acted)
		time.Sleep(settleFirst + 2*settleEvery) // past two checks
		r, _ := contracts.NewResponse(contracts.TypeCommandResult, contracts.CommandResult{CommandID: req.CommandID, Cluster: req.Cluster, Outcome: contracts.Outcome{Status: contracts.StatusSuccess, Output: "late but fine"}})
		b, _ := json.Marshal(r)
		_ = m.Respond(b)
	}
	ch := e.executeAsync(t)
	d.wait(t)
	waitActed(t, acted)
	if err := e.nc.Publish(contracts.BusReconnectedSubject, []byte(`{"type":"nonsense"`)); err != nil {
		t.Fatal(err)
	}
	e.announce(t)
	o := waitOutcome(t, ch, 25*time.Second)
	if o.r.status != http.StatusOK || !strings.Contains(string(o.r.body), "late but fine") {
		t.Fatalf("got %d %s; want the late reply", o.r.status, o.r.body)
	}
	if !strings.Contains(e.logs.String(), "malformed bus reconnect announcement ignored") {
		t.Errorf("the malformed announcement was not logged")
	}
	if got := testutil.ToFloat64(e.srv.settler.settled.WithLabelValues(ReasonNotDispatched)) +
		testutil.ToFloat64(e.srv.settler.settled.WithLabelValues(ReasonResultLost)); got != 0 {
		t.Errorf("settled as failed: %v; want 0", got)
	}
}

// TestSettleReplayed: a command that ran and whose reply was lost is
// recovered when a dispatcher still has the reply: the caller gets the
// result (or the dispatcher's error answer), not result_lost.
func TestSettleReplayed(t *testing.T) {
	for name, reply := range map[string]func(id string) (any, int){
		"result": func(id string) (any, int) {
			return contracts.CommandResult{CommandID: id, Cluster: "dev-1", Outcome: contracts.Outcome{Status: contracts.StatusSuccess, Output: "replayed output"}}, http.StatusOK
		},
		"error answer": func(string) (any, int) {
			return &contracts.Error{Code: contracts.CodeUnavailable, Reason: "audit_unavailable", Message: "result withheld"}, http.StatusServiceUnavailable
		},
	} {
		t.Run(name, func(t *testing.T) {
			d := &swallow{}
			e := newEnv(t, envOpts{dispatcher: d.handle})
			acted := make(chan struct{})
			d.act = func(_ *nats.Msg, req contracts.ExecuteRequest) {
				defer close(acted)
				cmd := contracts.Command{ID: req.CommandID, Cluster: req.Cluster, Argv: req.Argv, Deadline: time.Now().Add(30 * time.Second), IssuedAt: time.Now()}
				if err := e.st.Enqueue(t.Context(), cmd); err != nil {
					t.Error(err)
				}
				if _, _, err := e.st.MarkAnswered(t.Context(), cmd.ID, "exec-7"); err != nil {
					t.Error(err)
				}
			}
			// The dispatcher that kept the reply answers the replay; a
			// second replica that lacks it stays silent.
			var asked []string
			var mu sync.Mutex
			sub, err := e.nc.Subscribe(contracts.DispatchReplaySubject, func(m *nats.Msg) {
				var rr contracts.ReplayRequest
				_ = json.Unmarshal(m.Data, &rr)
				mu.Lock()
				asked = append(asked, rr.CommandID)
				mu.Unlock()
				v, _ := reply(rr.CommandID)
				var env contracts.Response
				if ce, ok := v.(*contracts.Error); ok {
					env = contracts.Response{Error: ce}
				} else {
					env, _ = contracts.NewResponse(contracts.TypeCommandResult, v)
				}
				b, _ := json.Marshal(env)
				_ = m.Respond(b)
			})
			if err != nil {
				t.Fatal(err)
			}
			defer func() { _ = sub.Unsubscribe() }()
			silent, err := e.nc.Subscribe(contracts.DispatchReplaySubject, func(*nats.Msg) {})
			if err != nil {
				t.Fatal(err)
			}
			defer func() { _ = silent.Unsubscribe() }()

			ch := e.executeAsync(t)
			req := d.wait(t)
			waitActed(t, acted)
			e.announce(t)
			o := waitOutcome(t, ch, 25*time.Second)
			_, wantStatus := reply(req.CommandID)
			if o.r.status != wantStatus {
				t.Fatalf("got %d %s; want %d", o.r.status, o.r.body, wantStatus)
			}
			want := "replayed output"
			if wantStatus != http.StatusOK {
				want = "result withheld"
			}
			if !strings.Contains(string(o.r.body), want) {
				t.Errorf("body %s; want %q", o.r.body, want)
			}
			mu.Lock()
			defer mu.Unlock()
			if len(asked) != 1 || asked[0] != req.CommandID {
				t.Errorf("replay asked for %v; want once for %s", asked, req.CommandID)
			}
			if got := testutil.ToFloat64(e.srv.settler.settled.WithLabelValues("replayed")); got != 1 {
				t.Errorf("settled{replayed} = %v; want 1", got)
			}
		})
	}
}

// TestSettlePending: a command answered by its executor whose dispatcher
// is still busy (a slow audit write) is not declared lost: the replay
// says pending, and the caller gets the reply when it comes.
func TestSettlePending(t *testing.T) {
	d := &swallow{}
	e := newEnv(t, envOpts{dispatcher: d.handle})
	acted := make(chan struct{})
	d.act = func(m *nats.Msg, req contracts.ExecuteRequest) {
		cmd := contracts.Command{ID: req.CommandID, Cluster: req.Cluster, Argv: req.Argv, Deadline: time.Now().Add(30 * time.Second), IssuedAt: time.Now()}
		if err := e.st.Enqueue(t.Context(), cmd); err != nil {
			t.Error(err)
		}
		if _, _, err := e.st.MarkAnswered(t.Context(), cmd.ID, "exec-7"); err != nil {
			t.Error(err)
		}
		close(acted)
		time.Sleep(settleFirst + 3*settleEvery) // past the point a lost reply is replayed
		r, _ := contracts.NewResponse(contracts.TypeCommandResult, contracts.CommandResult{CommandID: req.CommandID, Cluster: req.Cluster, Outcome: contracts.Outcome{Status: contracts.StatusSuccess, Output: "slow but fine"}})
		b, _ := json.Marshal(r)
		_ = m.Respond(b)
	}
	sub, err := e.nc.Subscribe(contracts.DispatchReplaySubject, func(m *nats.Msg) {
		_ = m.Respond([]byte(`{"type":"` + contracts.TypeReplayPending + `"}`))
	})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = sub.Unsubscribe() }()
	ch := e.executeAsync(t)
	d.wait(t)
	waitActed(t, acted)
	e.announce(t)
	o := waitOutcome(t, ch, 20*time.Second)
	if o.r.status != http.StatusOK || !strings.Contains(string(o.r.body), "slow but fine") {
		t.Fatalf("got %d %s; want the slow reply", o.r.status, o.r.body)
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
	if got := testutil.ToFloat64(e.srv.settler.settled.WithLabelValues("replayed")); got != 1 {
		t.Errorf("settled{replayed} = %v; want 1", got)
	}
	mu.Lock()
	defer mu.Unlock()
	if replays == 0 {
		t.Errorf("the dispatchers were never asked for the lost reply")
	}
}
