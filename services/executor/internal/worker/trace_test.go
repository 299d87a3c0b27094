package worker

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"

	"kubently.io/libs/contracts"
	"kubently.io/libs/logging"
	"kubently.io/libs/policy"
	"kubently.io/libs/telemetry"
	"kubently.io/libs/telemetry/telemetrytest"
	"kubently.io/services/executor/internal/link"
)

const (
	traceID  = "4bf92f3577b34da6a3ce929d0e0e4736"
	parentID = "00f067aa0ba902b7"
	// traceParent is what the gateway's delivery span puts in a command.
	traceParent = "00-" + traceID + "-" + parentID + "-01"
)

// tracedPosts records the span context each result was posted under.
type tracedPosts struct {
	mu  sync.Mutex
	ctx map[string]trace.SpanContext
}

func (p *tracedPosts) post(ctx context.Context, r contracts.ExecutorResult, _ time.Time) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.ctx[r.CommandID] = trace.SpanContextFromContext(ctx)
	return nil
}

func (p *tracedPosts) wait(t *testing.T, id string) trace.SpanContext {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		p.mu.Lock()
		sc, ok := p.ctx[id]
		p.mu.Unlock()
		if ok {
			return sc
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatalf("no result posted for %s", id)
	return trace.SpanContext{}
}

func TestRunSpanContinuesCommandTrace(t *testing.T) {
	rec := telemetrytest.Record(t)
	p := &tracedPosts{ctx: map[string]trace.SpanContext{}}
	runner := RunnerFunc(func(ctx context.Context, c *policy.Command) Outcome {
		if c.Args[0] == "fail" {
			return Outcome{Error: "not found", ExitCode: 1}
		}
		return Outcome{Output: "ok\n"}
	})
	pool, ctx, cancel := startPool(t, Config{Runner: runner, Post: p.post, Log: logging.Discard(), Workers: 2})

	traced := cmd("t1", "get", "pods", "private-pod", "-n", "private-ns")
	traced.TraceParent, traced.CorrelationID = traceParent, "corr-1"
	denied := cmd("t2", "delete", "pod", "x")
	denied.TraceParent = traceParent
	untraced := cmd("t3", "get", "fail")
	for _, c := range []contracts.Command{traced, denied, untraced} {
		pool.Submit(ctx, c)
	}
	posted := map[string]trace.SpanContext{}
	for _, id := range []string{"t1", "t2", "t3"} {
		posted[id] = p.wait(t, id)
	}
	cancel()

	runs := map[string]sdktrace.ReadOnlySpan{}
	for _, s := range telemetrytest.Find(rec, telemetry.SpanExecutorRun) {
		for _, kv := range s.Attributes() {
			if kv.Key == telemetry.AttrCommandID {
				runs[kv.Value.AsString()] = s
			}
		}
	}
	if len(runs) != 3 {
		t.Fatalf("executor.run spans for %v; want t1, t2, t3", runs)
	}
	for _, id := range []string{"t1", "t2"} {
		s := runs[id]
		if s.Parent().TraceID().String() != traceID || s.Parent().SpanID().String() != parentID || !s.Parent().IsRemote() {
			t.Errorf("%s: executor.run parent = %v; want remote %s/%s", id, s.Parent(), traceID, parentID)
		}
		if s.SpanKind() != trace.SpanKindConsumer {
			t.Errorf("%s: kind = %v; want consumer", id, s.SpanKind())
		}
		if posted[id].SpanID() != s.SpanContext().SpanID() {
			t.Errorf("%s: result posted under span %v; want executor.run %v", id, posted[id].SpanID(), s.SpanContext().SpanID())
		}
	}
	if p := runs["t3"].Parent(); p.IsValid() {
		t.Errorf("untraced command: executor.run parent = %v; want a new root", p)
	}

	want := map[string]map[string]string{
		"t1": {"kubently.cluster": "c", "kubently.command_id": "t1", "kubently.verb": "get", "kubently.correlation_id": "corr-1", "kubently.status": "success", "kubently.exit_code": "0"},
		"t2": {"kubently.verb": "delete", "kubently.status": "denied", "kubently.reason": "verb_not_allowed"},
		"t3": {"kubently.status": "failure", "kubently.exit_code": "1"},
	}
	for id, attrs := range want {
		got := map[string]string{}
		for _, kv := range runs[id].Attributes() {
			got[string(kv.Key)] = kv.Value.String()
			if v := kv.Value.String(); strings.Contains(v, "private") || strings.Contains(v, "pods") {
				t.Errorf("%s: attribute %s = %q leaks argv beyond the verb", id, kv.Key, v)
			}
		}
		for k, v := range attrs {
			if got[k] != v {
				t.Errorf("%s: attribute %s = %q; want %q", id, k, got[k], v)
			}
		}
	}
}

func TestBusyResultContinuesCommandTrace(t *testing.T) {
	telemetrytest.Record(t)
	block := make(chan struct{})
	defer close(block)
	p := &tracedPosts{ctx: map[string]trace.SpanContext{}}
	pool, err := New(Config{Runner: RunnerFunc(func(context.Context, *policy.Command) Outcome { <-block; return Outcome{} }),
		Post: p.post, Log: logging.Discard(), Workers: 1, Queue: 1})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background() // the pool is not running: the queue fills at once
	pool.Submit(ctx, cmd("q", "get", "pods"))
	busy := cmd("b", "get", "pods")
	busy.TraceParent = traceParent
	pool.Submit(ctx, busy)
	if sc := p.wait(t, "b"); sc.TraceID().String() != traceID || sc.SpanID().String() != parentID {
		t.Errorf("busy result posted under %v; want the command's trace context", sc)
	}
}

// TestTraceFromSSEToResultPost runs the executor's half of a trace end to
// end: a command event carrying the gateway's traceparent arrives on the
// SSE stream, runs under executor.run (child of the gateway's span), and
// its result POST carries the traceparent of executor.post_result (child
// of executor.run).
func TestTraceFromSSEToResultPost(t *testing.T) {
	rec := telemetrytest.Record(t)
	posted := make(chan string, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/v1/executor/stream":
			w.Header().Set("Content-Type", "text/event-stream")
			w.WriteHeader(http.StatusOK)
			deadline := time.Now().Add(time.Minute).UTC().Format(time.RFC3339Nano)
			fmt.Fprintf(w, "id: k1\nevent: command\ndata: {\"id\":\"k1\",\"cluster_id\":\"c1\",\"argv\":[\"get\",\"pods\"],\"deadline\":%q,\"traceparent\":%q}\n\n", deadline, traceParent)
			w.(http.Flusher).Flush()
			<-r.Context().Done()
		case "/v1/executor/results":
			posted <- r.Header.Get("traceparent")
		}
	}))
	defer srv.Close()
	lc, err := link.New(link.Config{APIURL: srv.URL, Cluster: "c1", Token: "tok-0123456789abcdef", Log: logging.Discard()})
	if err != nil {
		t.Fatal(err)
	}
	pool, err := New(Config{Runner: RunnerFunc(func(context.Context, *policy.Command) Outcome { return Outcome{Output: "ok"} }),
		Post: lc.PostResult, Log: logging.Discard()})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go pool.Run(ctx)
	go func() { _ = lc.Run(ctx, func(cmd contracts.Command) { pool.Submit(ctx, cmd) }) }()

	var header string
	select {
	case header = <-posted:
	case <-time.After(10 * time.Second):
		t.Fatal("no result posted")
	}
	cancel()
	var post sdktrace.ReadOnlySpan
	deadline := time.Now().Add(5 * time.Second)
	for post == nil && time.Now().Before(deadline) {
		if spans := telemetrytest.Find(rec, telemetry.SpanExecutorPostResult); len(spans) == 1 {
			post = spans[0]
		}
		time.Sleep(5 * time.Millisecond)
	}
	runs := telemetrytest.Find(rec, telemetry.SpanExecutorRun)
	if post == nil || len(runs) != 1 {
		t.Fatalf("spans = %v; want one executor.run and one executor.post_result", rec.Ended())
	}
	run := runs[0]
	if run.Parent().SpanID().String() != parentID || run.SpanContext().TraceID().String() != traceID {
		t.Errorf("executor.run parent = %v; want the gateway's span %s in trace %s", run.Parent(), parentID, traceID)
	}
	if post.Parent().SpanID() != run.SpanContext().SpanID() {
		t.Errorf("post_result parent = %v; want executor.run", post.Parent().SpanID())
	}
	if want := "00-" + traceID + "-" + post.SpanContext().SpanID().String() + "-01"; header != want {
		t.Errorf("result POST traceparent = %q; want %q", header, want)
	}
}
