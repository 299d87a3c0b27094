package telemetry

import (
	"context"
	"net/http"
	"strconv"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
)

// StartHTTPServer starts the server span of one incoming HTTP request,
// "gateway.http <METHOD> <route>", continuing the trace in r's traceparent
// header when there is one. route is the route template
// ("/v1/sessions/:id"), not the raw path. Replace the request's context
// with the returned one and end the span with EndHTTPServer.
func StartHTTPServer(r *http.Request, route string) (context.Context, trace.Span) {
	ctx := ExtractHTTP(r.Context(), r.Header)
	return otel.Tracer(ScopeName).Start(ctx, SpanGatewayHTTP+" "+r.Method+" "+route,
		trace.WithSpanKind(trace.SpanKindServer),
		trace.WithAttributes(AttrHTTPMethod.String(r.Method), AttrHTTPRoute.String(route)))
}

// EndHTTPServer records the response status on span and ends it; a 5xx
// marks the span failed (a 4xx is the client's error, not the server's).
func EndHTTPServer(span trace.Span, status int) {
	span.SetAttributes(AttrHTTPStatus.Int(status))
	if status >= 500 {
		span.SetStatus(codes.Error, strconv.Itoa(status))
	}
	span.End()
}
