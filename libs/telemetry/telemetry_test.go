package telemetry_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"go.opentelemetry.io/otel"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	"google.golang.org/protobuf/proto"

	"kubently.io/libs/contracts"
	"kubently.io/libs/logging"
	"kubently.io/libs/telemetry"
	"kubently.io/libs/telemetry/telemetrytest"
)

// remoteParent is a sampled span context with trace state, as an upstream
// service would send it.
func remoteParent(t *testing.T) trace.SpanContext {
	t.Helper()
	tid, _ := trace.TraceIDFromHex("4bf92f3577b34da6a3ce929d0e0e4736")
	sid, _ := trace.SpanIDFromHex("00f067aa0ba902b7")
	ts, err := trace.ParseTraceState("kubently=t61rcWkgMzE")
	if err != nil {
		t.Fatal(err)
	}
	return trace.NewSpanContext(trace.SpanContextConfig{TraceID: tid, SpanID: sid, TraceFlags: trace.FlagsSampled, TraceState: ts})
}

func TestRoundTrips(t *testing.T) {
	sc := remoteParent(t)
	ctx := trace.ContextWithSpanContext(context.Background(), sc)
	tests := []struct {
		name string
		trip func(context.Context) context.Context
	}{
		{"http", func(ctx context.Context) context.Context {
			h := http.Header{}
			telemetry.InjectHTTP(ctx, h)
			return telemetry.ExtractHTTP(context.Background(), h)
		}},
		{"nats headers", func(ctx context.Context) context.Context {
			h := map[string][]string{}
			telemetry.InjectHeaders(ctx, h)
			if _, ok := h["traceparent"]; !ok {
				t.Errorf("headers = %v; want an exact lower-case traceparent key", h)
			}
			return telemetry.ExtractHeaders(context.Background(), h)
		}},
		{"nats headers, canonical keys", func(ctx context.Context) context.Context {
			h := map[string][]string{}
			telemetry.InjectHeaders(ctx, h)
			canon := map[string][]string{"Traceparent": h["traceparent"], "Tracestate": h["tracestate"]}
			return telemetry.ExtractHeaders(context.Background(), canon)
		}},
		{"command", func(ctx context.Context) context.Context {
			var cmd contracts.Command
			telemetry.InjectCommand(ctx, &cmd)
			if cmd.TraceParent != "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01" {
				t.Errorf("TraceParent = %q; want the W3C form", cmd.TraceParent)
			}
			return telemetry.ContextFromCommand(context.Background(), cmd)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := trace.SpanContextFromContext(tt.trip(ctx))
			if !got.IsRemote() || got.TraceID() != sc.TraceID() || got.SpanID() != sc.SpanID() || !got.IsSampled() {
				t.Errorf("extracted %+v; want remote copy of %+v", got, sc)
			}
			if got.TraceState().String() != sc.TraceState().String() {
				t.Errorf("trace state = %q; want %q", got.TraceState(), sc.TraceState())
			}
		})
	}
}

func TestNoSpanContextInjectsNothing(t *testing.T) {
	ctx := context.Background()
	h := http.Header{}
	telemetry.InjectHTTP(ctx, h)
	m := map[string][]string{}
	telemetry.InjectHeaders(ctx, m)
	cmd := contracts.Command{TraceParent: "stale", TraceState: "stale"}
	telemetry.InjectCommand(ctx, &cmd)
	if len(h) != 0 || len(m) != 0 || cmd.TraceParent != "" || cmd.TraceState != "" {
		t.Errorf("injected %v, %v, %q/%q; want nothing", h, m, cmd.TraceParent, cmd.TraceState)
	}
	for _, bad := range []contracts.Command{{}, {TraceParent: "garbage"}, {TraceParent: "00-00000000000000000000000000000000-00f067aa0ba902b7-01"}} {
		if sc := trace.SpanContextFromContext(telemetry.ContextFromCommand(ctx, bad)); sc.IsValid() {
			t.Errorf("ContextFromCommand(%q) = %+v; want no span context", bad.TraceParent, sc)
		}
	}
	if got := telemetry.ExtractHeaders(ctx, nil); got != ctx {
		t.Errorf("ExtractHeaders(nil) changed ctx")
	}
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name string
		cfg  telemetry.Config
		ok   bool
	}{
		{"zero", telemetry.Config{}, true},
		{"enabled, sdk env endpoint", telemetry.Config{Enabled: true, SampleRatio: 0.5}, true},
		{"endpoint", telemetry.Config{Enabled: true, Endpoint: "https://collector:4318"}, true},
		{"ratio above 1", telemetry.Config{SampleRatio: 1.5}, false},
		{"negative ratio", telemetry.Config{SampleRatio: -0.1}, false},
		{"endpoint without scheme", telemetry.Config{Endpoint: "collector:4318"}, false},
		{"grpc scheme", telemetry.Config{Endpoint: "grpc://collector:4317"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.cfg.Validate()
			if (err == nil) != tt.ok {
				t.Fatalf("Validate = %v; want ok=%v", err, tt.ok)
			}
			if err != nil && !errors.Is(err, telemetry.ErrInvalidConfig) {
				t.Errorf("Validate = %v; want ErrInvalidConfig", err)
			}
		})
	}
}

func TestTracesURL(t *testing.T) {
	tests := map[string]string{
		"":                                   "",
		"http://c:4318":                      "http://c:4318/v1/traces",
		"http://c:4318/":                     "http://c:4318/v1/traces",
		"https://c/otlp":                     "https://c/otlp/v1/traces",
		"http://c:4318/v1/traces":            "http://c:4318/v1/traces",
		"https://c.example/prefix/v1/traces": "https://c.example/prefix/v1/traces",
	}
	for in, want := range tests {
		if got := (telemetry.Config{Endpoint: in}).TracesURL(); got != want {
			t.Errorf("TracesURL(%q) = %q; want %q", in, got, want)
		}
	}
}

func TestVerb(t *testing.T) {
	tests := []struct {
		argv []string
		want string
	}{
		{nil, ""},
		{[]string{"get", "secret", "s3cr3t-name"}, "get"},
		{[]string{"api-resources"}, "api-resources"},
		{[]string{"Bearer abc"}, "other"},
		{[]string{"--token=x", "get"}, "other"},
		{[]string{"averyveryveryveryverylongverbthatgoesonforever"}, "other"},
	}
	for _, tt := range tests {
		if got := telemetry.Verb(tt.argv); got != tt.want {
			t.Errorf("Verb(%q) = %q; want %q", tt.argv, got, tt.want)
		}
	}
}

// restoreGlobals puts back the global tracer provider and propagator
// Setup replaces.
func restoreGlobals(t *testing.T) {
	t.Helper()
	tp, prop := otel.GetTracerProvider(), otel.GetTextMapPropagator()
	t.Cleanup(func() {
		otel.SetTracerProvider(tp)
		otel.SetTextMapPropagator(prop)
	})
}

func TestSetupDisabledInstallsNothing(t *testing.T) {
	restoreGlobals(t)
	before := otel.GetTracerProvider()
	shutdown, err := telemetry.Setup(context.Background(), telemetry.Config{Endpoint: "http://127.0.0.1:1"})
	if err != nil {
		t.Fatal(err)
	}
	if otel.GetTracerProvider() != before {
		t.Errorf("disabled Setup replaced the global tracer provider")
	}
	if _, sdk := otel.GetTracerProvider().(*sdktrace.TracerProvider); sdk {
		t.Errorf("global provider is an SDK provider; want the no-op default")
	}
	_, span := otel.Tracer("t").Start(context.Background(), "x")
	if span.IsRecording() || span.SpanContext().IsValid() {
		t.Errorf("span with tracing off records (%v) or has an id (%v); want a no-op", span.IsRecording(), span.SpanContext())
	}
	span.End()
	if err := shutdown(context.Background()); err != nil {
		t.Errorf("shutdown = %v", err)
	}
	if _, err := telemetry.Setup(context.Background(), telemetry.Config{SampleRatio: 2}); !errors.Is(err, telemetry.ErrInvalidConfig) {
		t.Errorf("Setup(invalid) = %v; want ErrInvalidConfig", err)
	}
}

func TestSetupExportsOverOTLPHTTP(t *testing.T) {
	restoreGlobals(t)
	t.Setenv("OTEL_SERVICE_NAME", "")
	t.Setenv("OTEL_RESOURCE_ATTRIBUTES", "")
	got := make(chan *coltracepb.ExportTraceServiceRequest, 4)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost || r.URL.Path != "/v1/traces" || r.Header.Get("Content-Type") != "application/x-protobuf" {
			t.Errorf("collector got %s %s (%s); want POST /v1/traces protobuf", r.Method, r.URL.Path, r.Header.Get("Content-Type"))
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		body, _ := io.ReadAll(r.Body)
		var req coltracepb.ExportTraceServiceRequest
		if err := proto.Unmarshal(body, &req); err != nil {
			t.Errorf("collector: bad protobuf: %v", err)
		}
		got <- &req
		w.Header().Set("Content-Type", "application/x-protobuf")
		w.WriteHeader(http.StatusOK)
	}))
	defer srv.Close()

	ctx := logging.NewContext(context.Background(), logging.Discard())
	shutdown, err := telemetry.Setup(ctx, telemetry.Config{
		Enabled: true, Endpoint: srv.URL, ServiceName: "executor", ServiceVersion: "1.2.3",
	})
	if err != nil {
		t.Fatal(err)
	}
	_, span := otel.Tracer(telemetry.ScopeName).Start(ctx, telemetry.SpanExecutorRun)
	if !span.IsRecording() {
		t.Errorf("span not recording with tracing on and ratio 0 (= 1)")
	}
	span.End()
	sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := shutdown(sctx); err != nil {
		t.Fatalf("shutdown = %v", err)
	}
	select {
	case req := <-got:
		rs := req.GetResourceSpans()
		if len(rs) != 1 || len(rs[0].GetScopeSpans()) != 1 || len(rs[0].GetScopeSpans()[0].GetSpans()) != 1 {
			t.Fatalf("export = %v; want one span", req)
		}
		if name := rs[0].GetScopeSpans()[0].GetSpans()[0].GetName(); name != telemetry.SpanExecutorRun {
			t.Errorf("span name = %q; want %q", name, telemetry.SpanExecutorRun)
		}
		attrs := map[string]string{}
		for _, kv := range rs[0].GetResource().GetAttributes() {
			attrs[kv.GetKey()] = kv.GetValue().GetStringValue()
		}
		if attrs["service.name"] != "executor" || attrs["service.version"] != "1.2.3" {
			t.Errorf("resource = %v; want service.name executor, service.version 1.2.3", attrs)
		}
	default:
		t.Fatal("no export arrived at the collector by the time shutdown returned")
	}
}

func TestRecord(t *testing.T) {
	rec := telemetrytest.Record(t)
	ctx, parent := otel.Tracer("t").Start(context.Background(), "parent")
	_, child := otel.Tracer("t").Start(ctx, "child")
	child.End()
	parent.End()
	spans := telemetrytest.Find(rec, "child")
	if len(spans) != 1 || spans[0].Parent().SpanID() != parent.SpanContext().SpanID() {
		t.Fatalf("child spans = %v; want one, child of parent", spans)
	}
}
