package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"kubently.io/libs/contracts"
)

// postResult posts a successful result for commandID as an executor of
// cluster named executor ("" sends no X-Executor-ID).
func postResult(t *testing.T, e *env, cluster, executor, commandID string) resp {
	t.Helper()
	hdr := []string{"Authorization", "Bearer " + cluster + "-token-0123456789", contracts.HeaderClusterID, cluster, "Content-Type", "application/json"}
	if executor != "" {
		hdr = append(hdr, contracts.HeaderExecutorID, executor)
	}
	return e.do(t, http.MethodPost, "/v1/executor/results", "", contracts.ExecutorResult{CommandID: commandID, Outcome: contracts.Outcome{Status: contracts.StatusSuccess, Output: "ok"}}, hdr...)
}

// awaitResult stands in for the dispatcher waiting for cmd's result: it
// takes one result and stops listening, as dispatch.await does. The
// returned channel receives the result it took.
func awaitResult(t *testing.T, e *env, cmd contracts.Command) <-chan contracts.ExecutorResult {
	t.Helper()
	subj, err := contracts.ResultSubject(cmd.Cluster, cmd.ID)
	if err != nil {
		t.Fatal(err)
	}
	got := make(chan contracts.ExecutorResult, 1)
	sub, err := e.nc.Subscribe(subj, func(m *nats.Msg) {
		var r contracts.ExecutorResult
		_ = json.Unmarshal(m.Data, &r)
		got <- r
		_ = m.Respond([]byte(`{"accepted":true}`))
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := sub.AutoUnsubscribe(1); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sub.Unsubscribe() })
	if err := e.nc.Flush(); err != nil {
		t.Fatal(err)
	}
	return got
}

// TestExecutorResults: a result post is idempotent. The same executor
// posting again is told "duplicate" (200); another executor's result for
// an answered command, and a first result nobody waits for any more, are
// 409 result_not_awaited with distinct reasons; the cluster binding is
// checked before anything else.
func TestExecutorResults(t *testing.T) {
	e := newEnv(t, envOpts{})
	answered := enqueue(t, e, "dev-1", time.Minute)
	late := enqueue(t, e, "dev-1", time.Minute)
	awaitResult(t, e, answered)

	tests := []struct {
		name       string
		cluster    string
		executor   string
		cmd        string
		wantCode   int
		wantStatus string // body "status" of a 200
		wantErr    contracts.ErrorCode
		wantReason string
		wantMetric string
	}{
		{name: "first answer, awaited", cluster: "dev-1", executor: "exec-a", cmd: answered.ID, wantCode: 200, wantStatus: "accepted", wantMetric: "accepted"},
		{name: "same executor again", cluster: "dev-1", executor: "exec-a", cmd: answered.ID, wantCode: 200, wantStatus: "duplicate", wantMetric: "duplicate"},
		{name: "same executor a third time", cluster: "dev-1", executor: "exec-a", cmd: answered.ID, wantCode: 200, wantStatus: "duplicate", wantMetric: "duplicate"},
		{name: "another executor", cluster: "dev-1", executor: "exec-b", cmd: answered.ID, wantCode: 409,
			wantErr: contracts.CodeResultNotAwaited, wantReason: reasonAnsweredByOther, wantMetric: "duplicate_other"},
		{name: "unnamed executor", cluster: "dev-1", executor: "", cmd: answered.ID, wantCode: 409,
			wantErr: contracts.CodeResultNotAwaited, wantReason: reasonAnsweredByOther, wantMetric: "duplicate_other"},
		{name: "another cluster, answered command", cluster: "prod-1", executor: "exec-a", cmd: answered.ID, wantCode: 403,
			wantErr: contracts.CodeResultClusterDenied, wantMetric: "cluster_mismatch"},
		{name: "first answer, nobody waiting", cluster: "dev-1", executor: "exec-a", cmd: late.ID, wantCode: 409,
			wantErr: contracts.CodeResultNotAwaited, wantReason: reasonLate, wantMetric: "late"},
		{name: "unknown command", cluster: "dev-1", executor: "exec-a", cmd: contracts.NewID(), wantCode: 404,
			wantErr: contracts.CodeUnknownCommand, wantMetric: "unknown"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			counter := e.srv.metrics.results.WithLabelValues(tt.wantMetric)
			before := testutil.ToFloat64(counter)
			r := postResult(t, e, tt.cluster, tt.executor, tt.cmd)
			if r.status != tt.wantCode {
				t.Fatalf("POST /v1/executor/results = %d %s; want %d", r.status, r.body, tt.wantCode)
			}
			if tt.wantCode == 200 {
				var body contracts.ExecutorResultResponse
				if err := json.Unmarshal(r.body, &body); err != nil {
					t.Fatal(err)
				}
				// The post acknowledged the command: the executor sends no
				// separate ack.
				if body.Status != tt.wantStatus || body.CommandID != tt.cmd || !body.Acked {
					t.Errorf("body = %+v; want status %q, command_id %q, acked", body, tt.wantStatus, tt.cmd)
				}
			} else {
				got := r.apiError(t)
				if got.Code != tt.wantErr || got.Reason != tt.wantReason {
					t.Errorf("error = %s (%s); want %s (%s)", got.Code, got.Reason, tt.wantErr, tt.wantReason)
				}
				if tt.wantReason == reasonAnsweredByOther && !strings.Contains(got.Message, "exec-a") {
					t.Errorf("message %q does not name the executor that answered (exec-a)", got.Message)
				}
			}
			if got := testutil.ToFloat64(counter) - before; got != 1 {
				t.Errorf("kubently_gateway_executor_results_total{outcome=%q} rose by %v; want 1", tt.wantMetric, got)
			}
		})
	}
}

// TestRepeatedResultDelivered: an answer whose first post was recorded
// but never reached the dispatcher (the gateway died after marking it, or
// the NATS request failed) is delivered by the executor's retry rather
// than swallowed as a duplicate.
func TestRepeatedResultDelivered(t *testing.T) {
	e := newEnv(t, envOpts{})
	cmd := enqueue(t, e, "dev-1", time.Minute)
	if first, _, err := e.st.MarkAnswered(t.Context(), cmd.ID, "exec-a"); err != nil || !first {
		t.Fatalf("MarkAnswered() = %v, %v; want true, nil", first, err)
	}
	got := awaitResult(t, e, cmd)
	r := postResult(t, e, "dev-1", "exec-a", cmd.ID)
	if r.status != 200 || !strings.Contains(string(r.body), `"accepted"`) {
		t.Fatalf("POST /v1/executor/results (retry) = %d %s; want 200 accepted", r.status, r.body)
	}
	select {
	case res := <-got:
		if res.CommandID != cmd.ID || res.Output != "ok" {
			t.Errorf("dispatcher got %+v; want command %s with output ok", res, cmd.ID)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the dispatcher got no result")
	}
	if r := postResult(t, e, "dev-1", "exec-a", cmd.ID); r.status != 200 || !strings.Contains(string(r.body), `"duplicate"`) {
		t.Errorf("POST /v1/executor/results (again) = %d %s; want 200 duplicate", r.status, r.body)
	}
}

// A result for a command still within its deadline whose dispatcher is out
// of reach (nobody answers on the result subject, as during a NATS
// restart) is refused with a retryable 503, and delivered by the retry
// once the dispatcher listens again.
func TestResultWhileDispatcherUnreachable(t *testing.T) {
	e := newEnv(t, envOpts{})
	cmd := enqueue(t, e, "dev-1", time.Minute)
	post := func() resp {
		hdr := []string{"Authorization", "Bearer dev-1-token-0123456789", contracts.HeaderClusterID, "dev-1", "Content-Type", "application/json", contracts.HeaderExecutorID, "exec-a"}
		return e.do(t, http.MethodPost, "/v1/executor/results", "", contracts.ExecutorResult{
			CommandID: cmd.ID, Outcome: contracts.Outcome{Status: contracts.StatusSuccess, Output: "ok"}, Deadline: cmd.Deadline}, hdr...)
	}
	for i := range 2 { // a second miss stays retryable
		if r := post(); r.status != http.StatusServiceUnavailable || !strings.Contains(string(r.body), "unreachable") {
			t.Fatalf("post %d with nobody waiting, deadline ahead: got %d %s; want 503 unreachable", i, r.status, r.body)
		}
	}
	got := awaitResult(t, e, cmd)
	if r := post(); r.status != http.StatusOK || !strings.Contains(string(r.body), `"accepted"`) {
		t.Fatalf("retry once the dispatcher listens: got %d %s; want 200 accepted", r.status, r.body)
	}
	select {
	case res := <-got:
		if res.CommandID != cmd.ID {
			t.Errorf("dispatcher got %+v", res)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the dispatcher got no result")
	}
	// A repeat after delivery never reaches the dispatcher twice. (After
	// an undelivered attempt the answer record cannot tell a lost 200
	// from a lost result, so within the deadline it stays retryable.)
	if r := post(); strings.Contains(string(r.body), `"accepted"`) {
		t.Errorf("after delivery: got %d %s; want it not accepted again", r.status, r.body)
	}
	select {
	case res := <-got:
		t.Errorf("the dispatcher got the result twice: %+v", res)
	case <-time.After(200 * time.Millisecond):
	}
	if got := testutil.ToFloat64(e.srv.metrics.results.WithLabelValues("dispatcher_unreachable")); got < 2 {
		t.Errorf("dispatcher_unreachable count %v; want at least 2", got)
	}
}

// failingAck is a store whose Ack fails.
type failingAck struct{ Store }

func (failingAck) Ack(context.Context, string, []string) (int, error) {
	return 0, errors.New("store down")
}

// TestResultAckNotRecorded: a result handed over while the store could not
// record its ack is accepted without acked, so the executor acks the
// command itself instead of leaving it to be redelivered.
func TestResultAckNotRecorded(t *testing.T) {
	e := newEnv(t, envOpts{wrapStore: func(s Store) Store { return failingAck{s} }})
	cmd := enqueue(t, e, "dev-1", time.Minute)
	awaitResult(t, e, cmd)
	r := postResult(t, e, "dev-1", "exec-a", cmd.ID)
	var body contracts.ExecutorResultResponse
	if err := json.Unmarshal(r.body, &body); r.status != http.StatusOK || err != nil {
		t.Fatalf("POST /v1/executor/results = %d %s; want 200", r.status, r.body)
	}
	if body.Status != "accepted" || body.Acked {
		t.Errorf("body = %+v; want accepted, not acked", body)
	}
}

// ownerCounting counts the owner reads a Server makes.
type ownerCounting struct {
	Store
	owners *atomic.Int64
}

func (s ownerCounting) Owner(ctx context.Context, commandID string) (string, error) {
	s.owners.Add(1)
	return s.Store.Owner(ctx, commandID)
}

// TestAcceptedResultReadsNoOwner: a result the waiting dispatcher takes
// costs no owner read (the result subject already binds it to the
// poster's cluster); one nobody takes is checked against its owner.
func TestAcceptedResultReadsNoOwner(t *testing.T) {
	var owners atomic.Int64
	e := newEnv(t, envOpts{wrapStore: func(s Store) Store { return ownerCounting{s, &owners} }})
	cmd := enqueue(t, e, "dev-1", time.Minute)
	awaitResult(t, e, cmd)
	if r := postResult(t, e, "dev-1", "exec-a", cmd.ID); r.status != http.StatusOK {
		t.Fatalf("POST /v1/executor/results = %d %s; want 200", r.status, r.body)
	}
	if n := owners.Load(); n != 0 {
		t.Errorf("%d owner reads for an accepted result; want 0", n)
	}
	if r := postResult(t, e, "prod-1", "exec-a", cmd.ID); r.status != http.StatusForbidden {
		t.Fatalf("POST /v1/executor/results from another cluster = %d %s; want 403", r.status, r.body)
	}
	if n := owners.Load(); n != 1 {
		t.Errorf("%d owner reads after a result nobody took; want 1", n)
	}
}
