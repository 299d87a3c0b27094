package telemetry

import (
	"context"
	"net/http"
	"net/textproto"

	"go.opentelemetry.io/otel/propagation"

	"kubently.io/libs/contracts"
)

// W3C Trace Context field names, as they travel in NATS headers and in
// contracts.Command.
const (
	// HeaderTraceParent carries the trace and parent span ids.
	HeaderTraceParent = "traceparent"
	// HeaderTraceState carries vendor-specific trace state.
	HeaderTraceState = "tracestate"
)

// propagator is the W3C Trace Context format. It is used for every carrier
// whether or not tracing is enabled here (see the package doc); it holds
// no state.
var propagator propagation.TextMapPropagator = propagation.TraceContext{}

// Propagator returns the propagator the carriers use: W3C Trace Context.
func Propagator() propagation.TextMapPropagator { return propagator }

// HeaderMapCarrier adapts a case-sensitive header map — nats.Header and
// micro.Headers have this shape — to a propagation.TextMapCarrier. Keys
// are written in lower case as the W3C spec names them ("traceparent");
// reads fall back to the canonical MIME form ("Traceparent") that
// HTTP-minded clients may have used.
//
// (propagation.HeaderCarrier does not fit: it canonicalises keys, and
// NATS header lookups are exact.)
type HeaderMapCarrier map[string][]string

// Get returns the first value of key.
func (c HeaderMapCarrier) Get(key string) string {
	if v := c[key]; len(v) > 0 {
		return v[0]
	}
	if v := c[textproto.CanonicalMIMEHeaderKey(key)]; len(v) > 0 {
		return v[0]
	}
	return ""
}

// Set replaces the values of key.
func (c HeaderMapCarrier) Set(key, value string) { c[key] = []string{value} }

// Keys lists the keys present.
func (c HeaderMapCarrier) Keys() []string {
	keys := make([]string, 0, len(c))
	for k := range c {
		keys = append(keys, k)
	}
	return keys
}

// InjectHeaders writes ctx's span context into h (a nats.Header or
// micro.Headers converted to map[string][]string). h must not be nil. It
// writes nothing when ctx carries no valid span context.
func InjectHeaders(ctx context.Context, h map[string][]string) {
	propagator.Inject(ctx, HeaderMapCarrier(h))
}

// ExtractHeaders returns ctx with the remote span context found in h, or
// ctx unchanged when h carries none (or a malformed one). h may be nil.
func ExtractHeaders(ctx context.Context, h map[string][]string) context.Context {
	if len(h) == 0 {
		return ctx
	}
	return propagator.Extract(ctx, HeaderMapCarrier(h))
}

// InjectHTTP writes ctx's span context into the headers of an outgoing
// HTTP request.
func InjectHTTP(ctx context.Context, h http.Header) {
	propagator.Inject(ctx, propagation.HeaderCarrier(h))
}

// ExtractHTTP returns ctx with the remote span context found in the
// headers of an incoming HTTP request.
func ExtractHTTP(ctx context.Context, h http.Header) context.Context {
	return propagator.Extract(ctx, propagation.HeaderCarrier(h))
}

// InjectCommand records ctx's span context in cmd.TraceParent and
// cmd.TraceState, so that it travels with the command through the bridge
// queue and the SSE stream to the executor. Without a valid span context
// in ctx both fields are cleared.
func InjectCommand(ctx context.Context, cmd *contracts.Command) {
	m := propagation.MapCarrier{}
	propagator.Inject(ctx, m)
	cmd.TraceParent, cmd.TraceState = m[HeaderTraceParent], m[HeaderTraceState]
}

// ContextFromCommand returns ctx with the remote span context carried in
// cmd, or ctx unchanged when cmd carries none (or a malformed one).
func ContextFromCommand(ctx context.Context, cmd contracts.Command) context.Context {
	if cmd.TraceParent == "" {
		return ctx
	}
	m := propagation.MapCarrier{HeaderTraceParent: cmd.TraceParent}
	if cmd.TraceState != "" {
		m[HeaderTraceState] = cmd.TraceState
	}
	return propagator.Extract(ctx, m)
}
