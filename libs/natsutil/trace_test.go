package natsutil_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/micro"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/codes"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"

	"kubently.io/libs/contracts"
	"kubently.io/libs/natsutil"
	"kubently.io/libs/natsutil/natstest"
	"kubently.io/libs/telemetry"
	"kubently.io/libs/telemetry/telemetrytest"
	"kubently.io/libs/testkit"
)

// one returns the only ended span called name.
func one(t *testing.T, spans []sdktrace.ReadOnlySpan, name string) sdktrace.ReadOnlySpan {
	t.Helper()
	var found []sdktrace.ReadOnlySpan
	for _, s := range spans {
		if s.Name() == name {
			found = append(found, s)
		}
	}
	if len(found) != 1 {
		t.Fatalf("%d spans named %q; want 1", len(found), name)
	}
	return found[0]
}

func attr(s sdktrace.ReadOnlySpan, key string) string {
	for _, kv := range s.Attributes() {
		if string(kv.Key) == key {
			return kv.Value.String()
		}
	}
	return ""
}

func TestRequestTracing(t *testing.T) {
	rec := telemetrytest.Record(t)
	s := natstest.RunServer(t)
	nc := natstest.Connect(t, s)
	ctx := context.Background()
	svc, err := micro.AddService(nc, micro.Config{Name: "traced", Version: "1.0.0"})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = svc.Stop() }()
	err = svc.AddEndpoint("echo", natsutil.Concurrent(ctx, nc, 4, func(ctx context.Context, req micro.Request) {
		ctx = natsutil.RequestContext(ctx, req)
		_, span := otel.Tracer("test").Start(ctx, "handler")
		defer span.End()
		var in echoReq
		if err := natsutil.DecodeRequest(req, &in); err != nil {
			_ = natsutil.ReplyError(req, err)
			return
		}
		if in.Msg == "fail" {
			_ = natsutil.ReplyError(req, contracts.Errorf(contracts.CodeUnknownCluster, "no such cluster"))
			return
		}
		_ = natsutil.Reply(req, "echo.v1", in)
	}), micro.WithEndpointSubject("test.traced"))
	if err != nil {
		t.Fatal(err)
	}

	t.Run("server span is a child of the client span", func(t *testing.T) {
		rec.Reset()
		rctx, root := otel.Tracer("test").Start(contracts.WithCorrelationID(ctx, "corr-7"), "root")
		var out echoReq
		if err := request(rctx, nc, "test.traced", echoReq{Msg: "hi"}, &out); err != nil {
			t.Fatal(err)
		}
		root.End()
		// The server span ends after the reply was sent: poll for it.
		testkit.CheckFor(t, 5*time.Second, 10*time.Millisecond, func() error {
			if len(telemetrytest.Find(rec, "nats.serve test.traced")) == 0 {
				return errors.New("server span not ended")
			}
			return nil
		})
		spans := rec.Ended()
		client := one(t, spans, "nats.request test.traced")
		server := one(t, spans, "nats.serve test.traced")
		handler := one(t, spans, "handler")
		if client.SpanKind() != trace.SpanKindClient || server.SpanKind() != trace.SpanKindServer {
			t.Errorf("kinds = %v / %v; want client / server", client.SpanKind(), server.SpanKind())
		}
		if client.Parent().SpanID() != root.SpanContext().SpanID() {
			t.Errorf("client span parent = %v; want the caller's span", client.Parent().SpanID())
		}
		if !server.Parent().IsRemote() || server.Parent().SpanID() != client.SpanContext().SpanID() ||
			server.SpanContext().TraceID() != root.SpanContext().TraceID() {
			t.Errorf("server span parent = %+v; want the remote client span %v", server.Parent(), client.SpanContext().SpanID())
		}
		if handler.Parent().SpanID() != server.SpanContext().SpanID() {
			t.Errorf("handler span parent = %v; want the server span", handler.Parent().SpanID())
		}
		for _, s := range []sdktrace.ReadOnlySpan{client, server} {
			if attr(s, "kubently.correlation_id") != "corr-7" || attr(s, "messaging.destination.name") != "test.traced" || attr(s, "messaging.system") != "nats" {
				t.Errorf("%s attributes = %v", s.Name(), s.Attributes())
			}
			if s.Status().Code == codes.Error {
				t.Errorf("%s status = %v; want unset", s.Name(), s.Status())
			}
		}
	})

	t.Run("error replies mark both spans", func(t *testing.T) {
		rec.Reset()
		var out echoReq
		err := request(ctx, nc, "test.traced", echoReq{Msg: "fail"}, &out)
		if !errors.Is(err, &contracts.Error{Code: contracts.CodeUnknownCluster}) {
			t.Fatalf("got %v; want unknown_cluster", err)
		}
		testkit.CheckFor(t, 5*time.Second, 10*time.Millisecond, func() error {
			if len(telemetrytest.Find(rec, "nats.serve test.traced")) == 0 {
				return errors.New("server span not ended")
			}
			return nil
		})
		for _, name := range []string{"nats.request test.traced", "nats.serve test.traced"} {
			s := one(t, rec.Ended(), name)
			if s.Status().Code != codes.Error || attr(s, "kubently.error_code") != string(contracts.CodeUnknownCluster) {
				t.Errorf("%s status %v, attributes %v; want error unknown_cluster", name, s.Status(), s.Attributes())
			}
		}
		// Without a caller span the client span is a root, not an orphan.
		if p := one(t, rec.Ended(), "nats.request test.traced").Parent(); p.IsValid() {
			t.Errorf("client span parent = %v; want none", p)
		}
	})

	t.Run("no responders", func(t *testing.T) {
		rec.Reset()
		var out echoReq
		_ = request(ctx, nc, "test.nobody", echoReq{}, &out)
		if s := one(t, rec.Ended(), "nats.request test.nobody"); attr(s, "kubently.error_code") != string(contracts.CodeUnavailable) {
			t.Errorf("attributes = %v; want error_code unavailable", s.Attributes())
		}
	})
}

func TestRequestContextWithoutConcurrent(t *testing.T) {
	rec := telemetrytest.Record(t)
	s := natstest.RunServer(t)
	nc := natstest.Connect(t, s)
	ctx := context.Background()
	svc, err := micro.AddService(nc, micro.Config{Name: "plain", Version: "1.0.0"})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = svc.Stop() }()
	got := make(chan trace.SpanContext, 1)
	err = svc.AddEndpoint("echo", micro.HandlerFunc(func(req micro.Request) {
		got <- trace.SpanContextFromContext(natsutil.RequestContext(ctx, req))
		_ = natsutil.Reply(req, "echo.v1", echoReq{})
	}), micro.WithEndpointSubject("test.plain"))
	if err != nil {
		t.Fatal(err)
	}
	var out echoReq
	if err := request(ctx, nc, "test.plain", echoReq{}, &out); err != nil {
		t.Fatal(err)
	}
	parent := <-got
	client := one(t, rec.Ended(), "nats.request test.plain")
	if !parent.IsRemote() || parent.SpanID() != client.SpanContext().SpanID() {
		t.Errorf("handler ctx span = %+v; want the remote client span %v", parent, client.SpanContext().SpanID())
	}
}

func TestInjectExtractTrace(t *testing.T) {
	telemetrytest.Record(t)
	s := natstest.RunServer(t)
	nc := natstest.Connect(t, s)
	sub, err := nc.SubscribeSync("test.pub")
	if err != nil {
		t.Fatal(err)
	}
	ctx, span := otel.Tracer("test").Start(context.Background(), "publisher")
	defer span.End()
	msg := &nats.Msg{Subject: "test.pub", Data: []byte("x")} // no headers yet
	natsutil.InjectTrace(ctx, msg)
	if err := nc.PublishMsg(msg); err != nil {
		t.Fatal(err)
	}
	in, err := sub.NextMsg(5 * time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if in.Header.Get(telemetry.HeaderTraceParent) == "" {
		t.Errorf("headers = %v; want traceparent", in.Header)
	}
	got := trace.SpanContextFromContext(natsutil.ExtractTrace(context.Background(), in))
	if got.SpanID() != span.SpanContext().SpanID() || got.TraceID() != span.SpanContext().TraceID() {
		t.Errorf("extracted %+v; want the publisher's span", got)
	}
	bare := &nats.Msg{Subject: "x"}
	natsutil.InjectTrace(context.Background(), bare)
	if bare.Header != nil {
		t.Errorf("InjectTrace without a span added headers %v", bare.Header)
	}
}
