package integration

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"

	"kubently.io/libs/contracts"
	"kubently.io/libs/telemetry/telemetrytest"
	"kubently.io/libs/testkit"
)

// One command makes one trace across the gateway, NATS, the dispatcher,
// the bridge, the executor and back: every span is the child of the one
// before it, and the trace is the caller's (its traceparent header).
func TestTraceSpansAllServices(t *testing.T) {
	rec := telemetrytest.Record(t) // before the stack: services read the global provider
	s := startStack(t, false)

	const traceID = "4bf92f3577b34da6a3ce929d0e0e4736"
	r := s.do(t, http.MethodPost, "/v1/execute", aliceKey,
		map[string]any{"cluster_id": live, "argv": []string{"get", "pods", "-n", "shop"}},
		"traceparent", "00-"+traceID+"-00f067aa0ba902b7-01")
	var res contracts.CommandResult
	r.json(t, &res)
	if r.status != http.StatusOK || res.Status != contracts.StatusSuccess {
		t.Fatalf("execute: got %d %s %q", r.status, res.Status, res.Error)
	}

	chain := []string{
		"gateway.http POST /v1/execute",
		"nats.request " + contracts.DispatchExecuteSubject,
		"nats.serve " + contracts.DispatchExecuteSubject,
		"dispatch.execute",
		"gateway.deliver",
		"executor.run",
		"executor.post_result",
		"gateway.http POST /v1/executor/results",
	}
	var spans map[string]sdktrace.ReadOnlySpan
	testkit.CheckFor(t, 10*time.Second, 50*time.Millisecond, func() error {
		spans = map[string]sdktrace.ReadOnlySpan{}
		for _, sp := range rec.Ended() {
			if sp.SpanContext().TraceID().String() == traceID {
				spans[sp.Name()] = sp
			}
		}
		for _, name := range chain {
			if spans[name] == nil {
				return fmt.Errorf("span %q of trace %s not recorded yet (have %d)", name, traceID, len(spans))
			}
		}
		return nil
	})
	if got := spans[chain[0]].Parent().SpanID().String(); got != "00f067aa0ba902b7" {
		t.Errorf("%s: parent %s; want the caller's span 00f067aa0ba902b7", chain[0], got)
	}
	// Each span's parent is the previous span of the chain, except the
	// dispatcher's span, which hangs off the NATS server span.
	for i := 1; i < len(chain); i++ {
		parent := spans[chain[i]].Parent().SpanID()
		if want := spans[chain[i-1]].SpanContext().SpanID(); parent != want {
			t.Errorf("%s: parent %s (%s); want %s (%s)", chain[i], parent, nameOf(spans, parent), want, chain[i-1])
		}
	}
	// Spans carry ids and the verb, never the command's arguments.
	run := spans["executor.run"]
	attrs := map[string]string{}
	for _, kv := range run.Attributes() {
		attrs[string(kv.Key)] = kv.Value.String()
	}
	if attrs["kubently.cluster"] != live || attrs["kubently.verb"] != "get" || attrs["kubently.command_id"] != res.CommandID {
		t.Errorf("executor.run attributes: %v", attrs)
	}
	for _, sp := range spans {
		for _, kv := range sp.Attributes() {
			if strings.Contains(kv.Value.String(), "shop") || strings.Contains(kv.Value.String(), aliceKey) {
				t.Errorf("span %s attribute %s=%q carries argv or a key", sp.Name(), kv.Key, kv.Value.String())
			}
		}
	}
}

func nameOf(spans map[string]sdktrace.ReadOnlySpan, id trace.SpanID) string {
	for n, sp := range spans {
		if sp.SpanContext().SpanID() == id {
			return n
		}
	}
	return "unknown"
}
