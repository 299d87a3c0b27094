package natsutil

import (
	"context"

	"github.com/nats-io/nats.go"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"kubently.io/libs/contracts"
	"kubently.io/libs/telemetry"
)

// tracer returns the global provider's tracer at call time, so a provider
// installed later (telemetry.Setup, telemetrytest.Record) takes effect.
func tracer() trace.Tracer { return otel.Tracer(telemetry.ScopeName) }

// InjectTrace writes ctx's trace context into msg's headers (creating
// them if needed), for a message published outside Request: the gateway's
// result publish, the dispatcher's bridge notify. It writes nothing when
// ctx carries no span context.
func InjectTrace(ctx context.Context, msg *nats.Msg) {
	if !trace.SpanContextFromContext(ctx).IsValid() {
		return
	}
	if msg.Header == nil {
		msg.Header = nats.Header{}
	}
	telemetry.InjectHeaders(ctx, msg.Header)
}

// ExtractTrace returns ctx with the remote trace context found in msg's
// headers, or ctx unchanged when they carry none. Start a span from the
// result to continue the sender's trace.
func ExtractTrace(ctx context.Context, msg *nats.Msg) context.Context {
	return telemetry.ExtractHeaders(ctx, msg.Header)
}

// natsAttrs are the attributes of every NATS span.
func natsAttrs(subject string) []attribute.KeyValue {
	return []attribute.KeyValue{
		telemetry.AttrMessagingSystem.String("nats"),
		telemetry.AttrMessagingDestination.String(subject),
	}
}

// startServe starts the server span of one request, continuing the trace
// in its headers.
func startServe(ctx context.Context, req *detached) (context.Context, trace.Span) {
	ctx = telemetry.ExtractHeaders(ctx, req.headers)
	attrs := natsAttrs(req.subject)
	if id := req.headers.Get(contracts.NATSHeaderCorrelationID); id != "" {
		attrs = append(attrs, telemetry.AttrCorrelationID.String(id))
	}
	return tracer().Start(ctx, telemetry.SpanNATSServe+" "+req.subject,
		trace.WithSpanKind(trace.SpanKindServer), trace.WithAttributes(attrs...))
}

// endSpan records err's contracts code on span and ends it.
func endSpan(span trace.Span, err error) {
	if err != nil {
		code := string(contracts.AsError(err).Code)
		span.SetAttributes(telemetry.AttrErrorCode.String(code))
		span.SetStatus(codes.Error, code)
	}
	span.End()
}
