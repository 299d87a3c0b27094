package telemetry

import (
	"go.opentelemetry.io/otel/attribute"

	"kubently.io/libs/contracts"
)

// ScopeName is the instrumentation scope of the spans Kubently creates.
const ScopeName = "kubently.io"

// Span names. NATS spans append the subject: "nats.request
// kubently.dispatch.execute".
const (
	// SpanNATSRequest is the client span of natsutil.Request (kind client).
	SpanNATSRequest = "nats.request"
	// SpanNATSServe is the server span around a natsutil.Concurrent
	// handler (kind server), a child of the requester's SpanNATSRequest.
	SpanNATSServe = "nats.serve"
	// SpanGatewayHTTP is the gateway's span for one HTTP request (kind
	// server; see StartHTTPServer); method and route template follow:
	// "gateway.http POST /v1/execute". On POST /v1/executor/results it is
	// the child of the executor's SpanExecutorPostResult.
	SpanGatewayHTTP = "gateway.http"
	// SpanDispatchExecute is the dispatcher's span for one execute
	// request, from policy check to result (kind internal).
	SpanDispatchExecute = "dispatch.execute"
	// SpanGatewayDeliver is the gateway's span for sending one command
	// over an executor's SSE stream (kind producer).
	SpanGatewayDeliver = "gateway.deliver"
	// SpanExecutorRun is the executor's span for one command: policy
	// re-check, run and result delivery (kind consumer). Its parent is the
	// context carried in contracts.Command.TraceParent.
	SpanExecutorRun = "executor.run"
	// SpanExecutorPostResult is the executor's result POST, all retries
	// included (kind client). Its context travels in the POST's
	// traceparent header.
	SpanExecutorPostResult = "executor.post_result"
)

// Attribute keys. Values are ids and enums, never argv beyond the verb,
// tokens or command output.
const (
	// AttrCluster is the target cluster id.
	AttrCluster = attribute.Key("kubently.cluster")
	// AttrCommandID is the command id.
	AttrCommandID = attribute.Key("kubently.command_id")
	// AttrVerb is the command's verb (argv[0]), or "other" when it is not
	// a plain lower-case word.
	AttrVerb = attribute.Key("kubently.verb")
	// AttrCorrelationID is the request's correlation id.
	AttrCorrelationID = attribute.Key("kubently.correlation_id")
	// AttrSessionID is the session id, when the command has one.
	AttrSessionID = attribute.Key("kubently.session_id")
	// AttrStatus is a command's outcome (contracts.Status).
	AttrStatus = attribute.Key("kubently.status")
	// AttrErrorCode is the contracts error code of a failed request.
	AttrErrorCode = attribute.Key("kubently.error_code")
	// AttrReason is a policy decision's reason code.
	AttrReason = attribute.Key("kubently.reason")
	// AttrExitCode is a command's exit code.
	AttrExitCode = attribute.Key("kubently.exit_code")
	// AttrAttempts is how many POSTs a result delivery took.
	AttrAttempts = attribute.Key("kubently.attempts")
	// AttrHTTPMethod is the OpenTelemetry http.request.method key.
	AttrHTTPMethod = attribute.Key("http.request.method")
	// AttrHTTPRoute is the OpenTelemetry http.route key: the route
	// template, never the raw path (ids stay out of span names).
	AttrHTTPRoute = attribute.Key("http.route")
	// AttrHTTPStatus is the OpenTelemetry http.response.status_code key.
	AttrHTTPStatus = attribute.Key("http.response.status_code")
	// AttrMessagingSystem is the OpenTelemetry messaging.system key;
	// NATS spans set it to "nats".
	AttrMessagingSystem = attribute.Key("messaging.system")
	// AttrMessagingDestination is the OpenTelemetry
	// messaging.destination.name key: the NATS subject.
	AttrMessagingDestination = attribute.Key("messaging.destination.name")
)

// CommandAttributes returns the attributes that describe cmd: cluster,
// command id, verb, and the correlation and session ids when set.
func CommandAttributes(cmd contracts.Command) []attribute.KeyValue {
	attrs := []attribute.KeyValue{
		AttrCluster.String(cmd.Cluster),
		AttrCommandID.String(cmd.ID),
		AttrVerb.String(Verb(cmd.Argv)),
	}
	if cmd.CorrelationID != "" {
		attrs = append(attrs, AttrCorrelationID.String(cmd.CorrelationID))
	}
	if cmd.SessionID != "" {
		attrs = append(attrs, AttrSessionID.String(cmd.SessionID))
	}
	return attrs
}

// Verb returns argv[0] when it is a plain verb (lower-case letters and
// dashes, at most 32 bytes), "other" otherwise and "" for an empty argv.
// Nothing else of argv is ever recorded.
func Verb(argv []string) string {
	if len(argv) == 0 {
		return ""
	}
	v := argv[0]
	if v == "" || len(v) > 32 {
		return "other"
	}
	for i := 0; i < len(v); i++ {
		if c := v[i]; (c < 'a' || c > 'z') && c != '-' {
			return "other"
		}
	}
	return v
}
