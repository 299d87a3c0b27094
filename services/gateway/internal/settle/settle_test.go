package settle

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/prometheus/client_golang/prometheus"

	"kubently.io/libs/contracts"
	"kubently.io/libs/logging"
	"kubently.io/libs/natsutil/natstest"
	"kubently.io/libs/store"
	"kubently.io/libs/store/backend"
	"kubently.io/libs/testkit"
	"kubently.io/libs/testkit/promtest"
)

// env is a Settler on a real NATS server and store, watching its own
// connection.
type env struct {
	ns   *server.Server
	nc   *nats.Conn
	st   store.Store
	s    *Settler
	reg  *prometheus.Registry
	logs *testkit.SyncBuffer
}

func newEnv(t *testing.T) *env {
	t.Helper()
	ns := natstest.RunServer(t)
	nc := natstest.Connect(t, ns)
	st, err := backend.Open(t.Context(), backend.Config{Conn: nc})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	logs := &testkit.SyncBuffer{}
	e := &env{ns: ns, nc: nc, st: st, reg: prometheus.NewRegistry(), logs: logs,
		s: New(st, 5*time.Second, logging.New(logging.Config{Level: "debug", Format: "json", Output: logs}))}
	if err := e.reg.Register(e.s.Collector()); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	t.Cleanup(func() { close(done) })
	if err := e.s.Watch(nc, done); err != nil {
		t.Fatal(err)
	}
	return e
}

// track registers a request in flight for a new command id and returns
// the id, the request's context, which the Settler may end, and the func
// that ends the request (its reply came).
func (e *env) track(t *testing.T) (string, context.Context, func()) {
	t.Helper()
	id := contracts.NewID()
	ctx, cancel := context.WithCancelCause(context.Background())
	untrack := sync.OnceFunc(e.s.Track(id, time.Now().Add(30*time.Second), cancel))
	t.Cleanup(func() { untrack(); cancel(nil) })
	return id, ctx, untrack
}

// queue enqueues the command id, as a dispatcher does, and records
// answeredBy as the executor that answered it (none if empty).
func (e *env) queue(t *testing.T, id, answeredBy string) {
	t.Helper()
	cmd := contracts.Command{ID: id, Cluster: "dev-1", Argv: []string{"get", "pods"}, Deadline: time.Now().Add(30 * time.Second), IssuedAt: time.Now()}
	if err := e.st.Enqueue(t.Context(), cmd); err != nil {
		t.Fatal(err)
	}
	if answeredBy == "" {
		return
	}
	if _, _, err := e.st.MarkAnswered(t.Context(), id, answeredBy); err != nil {
		t.Fatal(err)
	}
}

// announce publishes a dispatcher's reconnect announcement.
func (e *env) announce(t *testing.T) {
	t.Helper()
	b, _ := json.Marshal(contracts.BusReconnected{Type: contracts.TypeBusReconnected, Service: "dispatcher", Instance: "d-1", DisconnectedAt: time.Now()})
	if err := e.nc.Publish(contracts.BusReconnectedSubject, b); err != nil {
		t.Fatal(err)
	}
}

// replayer answers replay requests with answer and counts them.
type replayer struct {
	mu     sync.Mutex
	asked  []string
	answer func(id string) []byte
}

func (r *replayer) handle(m *nats.Msg) {
	var rr contracts.ReplayRequest
	_ = json.Unmarshal(m.Data, &rr)
	r.mu.Lock()
	r.asked = append(r.asked, rr.CommandID)
	r.mu.Unlock()
	_ = m.Respond(r.answer(rr.CommandID))
}

func (r *replayer) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.asked)
}

func (e *env) subscribe(t *testing.T, h nats.MsgHandler) {
	t.Helper()
	sub, err := e.nc.Subscribe(contracts.DispatchReplaySubject, h)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sub.Unsubscribe() })
}

// verdict waits until the Settler ends the request's wait and returns
// what the request answers.
func verdict(t *testing.T, ctx context.Context) (contracts.CommandResult, error) {
	t.Helper()
	select {
	case <-ctx.Done():
	case <-time.After(20 * time.Second):
		t.Fatal("the settler did not end the request's wait")
	}
	return Result(ctx, errors.New("request ended"))
}

// wantReason fails unless err is unavailable/reason; it returns the
// error's message.
func wantReason(t *testing.T, err error, reason string) string {
	t.Helper()
	var ce *contracts.Error
	if !errors.As(err, &ce) || ce.Code != contracts.CodeUnavailable || ce.Reason != reason {
		t.Fatalf("verdict %v; want unavailable/%s", err, reason)
	}
	return ce.Message
}

// TestNotDispatched: a request no dispatcher queued fails after a
// disruption — a dispatcher's announcement or the gateway's own reconnect
// — with not_dispatched, and its id is fenced so that the lost request can
// never be queued later. A malformed announcement is ignored.
func TestNotDispatched(t *testing.T) {
	for name, disrupt := range map[string]func(e *env, t *testing.T){
		"dispatcher announced": func(e *env, t *testing.T) {
			if err := e.nc.Publish(contracts.BusReconnectedSubject, []byte(`{"type":"nonsense"`)); err != nil {
				t.Fatal(err)
			}
			e.announce(t)
		},
		"gateway reconnected": func(e *env, t *testing.T) {
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
			e := newEnv(t)
			id, ctx, _ := e.track(t)
			disrupt(e, t)
			_, err := verdict(t, ctx)
			wantReason(t, err, ReasonNotDispatched)
			cmd := contracts.Command{ID: id, Cluster: "dev-1", Argv: []string{"get", "pods"}, Deadline: time.Now().Add(time.Minute), IssuedAt: time.Now()}
			if err := e.st.Enqueue(t.Context(), cmd); !errors.Is(err, store.ErrConflict) {
				t.Errorf("Enqueue of the settled command = %v; want ErrConflict (fenced)", err)
			}
			if got := promtest.Sum(t, e.reg, "kubently_gateway_requests_settled_total", "outcome", ReasonNotDispatched); got != 1 {
				t.Errorf("settled{not_dispatched} = %v; want 1", got)
			}
			if name == "dispatcher announced" && !strings.Contains(e.logs.String(), "malformed bus reconnect announcement ignored") {
				t.Errorf("the malformed announcement was not logged")
			}
		})
	}
}

// TestLost: a queued command whose reply no dispatcher has (none answers
// the replay) fails after settleChecks checks: result_lost, naming the
// executor, the command and the audit log, when an executor answered it;
// dispatcher_lost when none did.
func TestLost(t *testing.T) {
	for _, tt := range []struct{ answeredBy, reason string }{
		{"exec-7", ReasonResultLost},
		{"", ReasonDispatcherLost},
		{AnswerPending, ReasonDispatcherLost},
	} {
		t.Run(tt.reason+"/"+tt.answeredBy, func(t *testing.T) {
			e := newEnv(t)
			id, ctx, _ := e.track(t)
			e.queue(t, id, tt.answeredBy)
			e.announce(t)
			_, err := verdict(t, ctx)
			msg := wantReason(t, err, tt.reason)
			want := []string{id, "audit"}
			if tt.reason == ReasonResultLost {
				want = append(want, tt.answeredBy)
			}
			for _, w := range want {
				if !strings.Contains(msg, w) {
					t.Errorf("message %q does not name %q", msg, w)
				}
			}
			if got := promtest.Sum(t, e.reg, "kubently_gateway_requests_settled_total", "outcome", tt.reason); got != 1 {
				t.Errorf("settled{%s} = %v; want 1", tt.reason, got)
			}
		})
	}
}

// TestReplayed: a command whose reply was lost is recovered when a
// dispatcher still has the reply: the request answers the result (or the
// dispatcher's error answer), not result_lost. A replica without it stays
// silent.
func TestReplayed(t *testing.T) {
	for name, reply := range map[string]func(id string) any{
		"result": func(id string) any {
			return contracts.CommandResult{CommandID: id, Cluster: "dev-1", Outcome: contracts.Outcome{Status: contracts.StatusSuccess, Output: "replayed output"}}
		},
		"error answer": func(string) any {
			return &contracts.Error{Code: contracts.CodeUnavailable, Reason: "audit_unavailable", Message: "result withheld"}
		},
	} {
		t.Run(name, func(t *testing.T) {
			e := newEnv(t)
			id, ctx, _ := e.track(t)
			e.queue(t, id, "exec-7")
			r := &replayer{answer: func(id string) []byte {
				var env contracts.Response
				if ce, ok := reply(id).(*contracts.Error); ok {
					env = contracts.Response{Error: ce}
				} else {
					env, _ = contracts.NewResponse(contracts.TypeCommandResult, reply(id))
				}
				b, _ := json.Marshal(env)
				return b
			}}
			e.subscribe(t, r.handle)
			e.subscribe(t, func(*nats.Msg) {})
			e.announce(t)
			res, err := verdict(t, ctx)
			switch want := reply(id).(type) {
			case *contracts.Error:
				var ce *contracts.Error
				if !errors.As(err, &ce) || ce.Message != want.Message {
					t.Errorf("verdict %v; want the replayed error %v", err, want)
				}
			case contracts.CommandResult:
				if err != nil || res.Output != want.Output {
					t.Errorf("verdict %+v, %v; want the replayed result", res, err)
				}
			}
			if n := r.count(); n != 1 {
				t.Errorf("replay asked %d times; want once", n)
			}
			if got := promtest.Sum(t, e.reg, "kubently_gateway_requests_settled_total", "outcome", "replayed"); got != 1 {
				t.Errorf("settled{replayed} = %v; want 1", got)
			}
		})
	}
}

// TestPending: a command whose dispatcher is still busy with it (a slow
// audit write) is not declared lost however often the replay says
// pending; when its reply comes the request counts as waited.
func TestPending(t *testing.T) {
	e := newEnv(t)
	id, ctx, replied := e.track(t)
	e.queue(t, id, "exec-7")
	r := &replayer{answer: func(string) []byte { return []byte(`{"type":"` + contracts.TypeReplayPending + `"}`) }}
	e.subscribe(t, r.handle)
	e.announce(t)
	// More checks than it takes to declare a silent dispatcher lost.
	testkit.CheckFor(t, 30*time.Second, 50*time.Millisecond, func() error {
		if n := r.count(); n <= settleChecks {
			return fmt.Errorf("replay asked %d times", n)
		}
		return nil
	})
	if err := context.Cause(ctx); err != nil {
		t.Fatalf("the settler ended a pending request: %v", err)
	}
	// The reply comes: the caller stops tracking it.
	replied()
	if got := promtest.Sum(t, e.reg, "kubently_gateway_requests_settled_total", "outcome", "waited"); got != 1 {
		t.Errorf("settled{waited} = %v; want 1", got)
	}
}
