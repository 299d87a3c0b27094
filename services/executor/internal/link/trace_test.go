package link

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/trace"

	"kubently.io/libs/contracts"
	"kubently.io/libs/telemetry"
	"kubently.io/libs/telemetry/telemetrytest"
)

func TestCommandEventCarriesTraceContext(t *testing.T) {
	const tp = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
	srv, _ := sseServer(t, func(w http.ResponseWriter, r *http.Request, n int) {
		write(w, `id: 1`+"\n"+`event: command`+"\n"+
			`data: {"id":"c1","cluster_id":"c1","argv":["get","pods"],"traceparent":"`+tp+`","tracestate":"k=v"}`+"\n\n")
		<-r.Context().Done()
	})
	c := newClient(t, srv.URL, nil)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	got := make(chan contracts.Command, 1)
	go func() { _ = c.Run(ctx, func(cmd contracts.Command) { got <- cmd }) }()
	select {
	case cmd := <-got:
		if cmd.TraceParent != tp || cmd.TraceState != "k=v" {
			t.Fatalf("command trace fields = %q / %q; want %q / k=v", cmd.TraceParent, cmd.TraceState, tp)
		}
		sc := trace.SpanContextFromContext(telemetry.ContextFromCommand(context.Background(), cmd))
		if !sc.IsValid() || !sc.IsRemote() || sc.SpanID().String() != "00f067aa0ba902b7" {
			t.Errorf("ContextFromCommand = %+v; want the gateway's span", sc)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("command not delivered")
	}
}

func TestPostResultSendsTraceParent(t *testing.T) {
	rec := telemetrytest.Record(t)
	var mu sync.Mutex
	var headers []string
	fails := 1
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		headers = append(headers, r.Header.Get("traceparent"))
		if fails > 0 {
			fails--
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		w.WriteHeader(http.StatusOK)
	}))
	defer srv.Close()
	c := newClient(t, srv.URL, nil)

	ctx, run := otel.Tracer("test").Start(context.Background(), telemetry.SpanExecutorRun)
	err := c.PostResult(ctx, contracts.ExecutorResult{CommandID: "x", Outcome: contracts.Outcome{Status: contracts.StatusSuccess}}, time.Now().Add(time.Minute))
	run.End()
	if err != nil {
		t.Fatal(err)
	}
	posts := telemetrytest.Find(rec, telemetry.SpanExecutorPostResult)
	if len(posts) != 1 {
		t.Fatalf("%d post_result spans; want 1", len(posts))
	}
	post := posts[0]
	if post.Parent().SpanID() != run.SpanContext().SpanID() || post.SpanKind() != trace.SpanKindClient {
		t.Errorf("post_result parent %v kind %v; want child of executor.run, client", post.Parent().SpanID(), post.SpanKind())
	}
	want := "00-" + post.SpanContext().TraceID().String() + "-" + post.SpanContext().SpanID().String() + "-01"
	mu.Lock()
	defer mu.Unlock()
	if len(headers) != 2 {
		t.Fatalf("%d POSTs; want 2 (one retry)", len(headers))
	}
	for i, h := range headers {
		if h != want {
			t.Errorf("POST %d traceparent = %q; want %q", i+1, h, want)
		}
	}
	attrs := map[string]string{}
	for _, kv := range post.Attributes() {
		attrs[string(kv.Key)] = kv.Value.String()
	}
	if attrs["kubently.attempts"] != "2" || attrs["kubently.command_id"] != "x" || attrs["kubently.cluster"] != "c1" {
		t.Errorf("post_result attributes = %v", attrs)
	}
}

func TestPostResultWithoutTracing(t *testing.T) {
	// No provider installed and no span in ctx: nothing is sent.
	var got string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = r.Header.Get("traceparent")
	}))
	defer srv.Close()
	c := newClient(t, srv.URL, nil)
	if err := c.PostResult(context.Background(), contracts.ExecutorResult{CommandID: "x"}, time.Now().Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	if got != "" {
		t.Errorf("traceparent = %q with tracing off; want none", got)
	}
}
