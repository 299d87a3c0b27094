package telemetry_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"kubently.io/libs/telemetry"
	"kubently.io/libs/telemetry/telemetrytest"
)

func TestHTTPServerSpan(t *testing.T) {
	rec := telemetrytest.Record(t)
	ctx, client := otel.Tracer("t").Start(context.Background(), telemetry.SpanExecutorPostResult)
	req := httptest.NewRequest(http.MethodPost, "/v1/executor/results", nil)
	telemetry.InjectHTTP(ctx, req.Header)
	client.End()

	sctx, span := telemetry.StartHTTPServer(req, "/v1/executor/results")
	if trace.SpanFromContext(sctx) != span {
		t.Errorf("returned ctx does not hold the server span")
	}
	telemetry.EndHTTPServer(span, http.StatusBadGateway)

	got := telemetrytest.Find(rec, "gateway.http POST /v1/executor/results")
	if len(got) != 1 {
		t.Fatalf("spans = %v; want one gateway.http span", rec.Ended())
	}
	s := got[0]
	if s.Parent().SpanID() != client.SpanContext().SpanID() || !s.Parent().IsRemote() || s.SpanKind() != trace.SpanKindServer {
		t.Errorf("parent %v remote %v kind %v; want the remote client span, server kind", s.Parent().SpanID(), s.Parent().IsRemote(), s.SpanKind())
	}
	if s.Status().Code != codes.Error {
		t.Errorf("status = %v; want error for a 502", s.Status())
	}
	attrs := map[string]string{}
	for _, kv := range s.Attributes() {
		attrs[string(kv.Key)] = kv.Value.String()
	}
	if attrs["http.request.method"] != "POST" || attrs["http.route"] != "/v1/executor/results" || attrs["http.response.status_code"] != "502" {
		t.Errorf("attributes = %v", attrs)
	}
}
