package natsutil

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/micro"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"kubently.io/libs/contracts"
	"kubently.io/libs/telemetry"
)

// Request sends req to the endpoint ep and decodes the reply's Data. The
// correlation id in ctx travels as a header, and so does its trace
// context: Request runs under a client span "nats.request <subject>"
// whose context the responder's span (see Concurrent) continues. A
// missing responder is CodeUnavailable; ctx's deadline is CodeTimeout.
func Request[Req, Resp any](ctx context.Context, nc *nats.Conn, ep contracts.Endpoint[Req, Resp], req Req) (resp Resp, err error) {
	body, err := json.Marshal(req)
	if err != nil {
		return resp, fmt.Errorf("natsutil: marshal %s: %w", ep.ReqType, err)
	}
	subject := ep.Subject
	ctx, span := tracer().Start(ctx, telemetry.SpanNATSRequest+" "+subject,
		trace.WithSpanKind(trace.SpanKindClient), trace.WithAttributes(natsAttrs(subject)...))
	defer func() { endSpan(span, err) }()
	msg := nats.NewMsg(subject)
	msg.Data = body
	msg.Header.Set(contracts.NATSHeaderType, ep.ReqType)
	if id := contracts.CorrelationIDFrom(ctx); id != "" {
		msg.Header.Set(contracts.NATSHeaderCorrelationID, id)
		span.SetAttributes(telemetry.AttrCorrelationID.String(id))
	}
	InjectTrace(ctx, msg)
	reply, err := nc.RequestMsgWithContext(ctx, msg)
	if err != nil {
		return resp, MapError(err, subject)
	}
	err = contracts.Decode(reply.Data, ep.RespType, &resp)
	return resp, err
}

// MapError turns a NATS request error into a contracts error.
func MapError(err error, subject string) error {
	switch {
	case errors.Is(err, nats.ErrNoResponders):
		return contracts.Errorf(contracts.CodeUnavailable, "no service is answering on %s", subject)
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, nats.ErrTimeout):
		return contracts.Errorf(contracts.CodeTimeout, "no reply on %s before the deadline", subject)
	case errors.Is(err, context.Canceled):
		return contracts.Errorf(contracts.CodeUnavailable, "request on %s canceled", subject)
	case errors.Is(err, nats.ErrConnectionClosed), errors.Is(err, nats.ErrConnectionDraining), errors.Is(err, nats.ErrDisconnected), errors.Is(err, nats.ErrConnectionReconnecting):
		return contracts.Errorf(contracts.CodeUnavailable, "NATS connection unavailable: %v", err)
	default:
		return contracts.Errorf(contracts.CodeUnavailable, "request on %s failed: %v", subject, err)
	}
}

// Reply answers a micro request with v wrapped in a Response of type typ.
func Reply(req micro.Request, typ string, v any) error {
	_, err := ReplyEncoded(req, typ, v)
	return err
}

// ReplyEncoded is Reply that also returns the bytes it sent (nil if it
// answered with an error instead), for a service that keeps its replies.
func ReplyEncoded(req micro.Request, typ string, v any) ([]byte, error) {
	resp, err := contracts.NewResponse(typ, v)
	if err != nil {
		return nil, ReplyError(req, err)
	}
	b, err := json.Marshal(resp)
	if err != nil {
		return nil, ReplyError(req, err)
	}
	return b, req.Respond(b)
}

// ReplyError answers a micro request with err as an error Response. The
// micro error headers carry the HTTP status so $SRV.STATS counts errors.
func ReplyError(req micro.Request, err error) error {
	e := contracts.AsError(err)
	if d, ok := req.(*detached); ok && d.span != nil {
		d.span.SetAttributes(telemetry.AttrErrorCode.String(string(e.Code)))
		d.span.SetStatus(codes.Error, string(e.Code))
	}
	b, mErr := json.Marshal(contracts.Response{Error: e})
	if mErr != nil {
		return mErr
	}
	return req.Error(strconv.Itoa(e.Code.Status()), string(e.Code), b)
}

// DecodeRequest unmarshals a request body into v, strictly: unknown fields
// and trailing data are bad requests.
func DecodeRequest(req micro.Request, v any) error {
	dec := json.NewDecoder(bytes.NewReader(req.Data()))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return contracts.Errorf(contracts.CodeInvalidJSON, "malformed request: %v", err)
	}
	if dec.More() {
		return contracts.Errorf(contracts.CodeInvalidJSON, "malformed request: trailing data")
	}
	return nil
}

// RequestContext returns ctx carrying the request's correlation id. For a
// request that did not come through Concurrent (whose server span ctx
// already carries), it also adds the requester's trace context from the
// headers, so spans the handler starts join the caller's trace.
func RequestContext(ctx context.Context, req micro.Request) context.Context {
	if _, ok := req.(*detached); !ok {
		ctx = telemetry.ExtractHeaders(ctx, req.Headers())
	}
	if id := req.Headers().Get(contracts.NATSHeaderCorrelationID); id != "" {
		trace.SpanFromContext(ctx).SetAttributes(telemetry.AttrCorrelationID.String(id))
		return contracts.WithCorrelationID(ctx, id)
	}
	return ctx
}

// ServiceVersion turns a build version ("v1.2.3", "dev", a git describe)
// into the semantic version micro.AddService requires.
func ServiceVersion(v string) string {
	if len(v) > 1 && v[0] == 'v' && v[1] >= '0' && v[1] <= '9' {
		v = v[1:]
	}
	if v != "" && v[0] >= '0' && v[0] <= '9' && strings.Count(v, ".") >= 2 {
		return v
	}
	b := []byte(v)
	for i, c := range b {
		if (c < 'a' || c > 'z') && (c < 'A' || c > 'Z') && (c < '0' || c > '9') && c != '-' {
			b[i] = '-'
		}
	}
	if len(b) == 0 {
		return "0.0.0-dev"
	}
	return "0.0.0-" + string(b)
}

// Concurrent wraps a context handler so each request runs in its own
// goroutine, at most max at once (micro otherwise runs one endpoint's
// requests one after another). A request over the limit is answered at once
// with CodeUnavailable instead of queueing without bound.
//
// The goroutine gets a detached copy of the request that replies through nc
// directly: micro reads its own request's state after the handler returns,
// so the original must not be answered from another goroutine. A
// consequence is that $SRV.STATS counts these requests but not their
// errors; the services' Prometheus metrics do.
//
// Each request runs under a server span "nats.serve <subject>", a child of
// the requester's span when its headers carry a trace context; h gets a
// ctx holding that span, and ReplyError marks it failed. A request refused
// as busy gets a failed span too.
func Concurrent(ctx context.Context, nc *nats.Conn, max int, h func(context.Context, micro.Request)) micro.Handler {
	if max <= 0 {
		max = 1
	}
	sem := make(chan struct{}, max)
	return micro.HandlerFunc(func(req micro.Request) {
		d := &detached{nc: nc, subject: req.Subject(), reply: req.Reply(), data: req.Data(), headers: req.Headers()}
		sctx, span := startServe(ctx, d)
		d.span = span
		select {
		case sem <- struct{}{}:
		default:
			_ = ReplyError(d, contracts.Errorf(contracts.CodeUnavailable, "service busy: %d requests in flight", max))
			span.End()
			return
		}
		go func() {
			defer func() { <-sem }()
			defer span.End()
			h(sctx, d)
		}()
	})
}

// detached is a micro.Request that answers through a connection, safe to
// use after micro's handler returned.
type detached struct {
	nc             *nats.Conn
	subject, reply string
	data           []byte
	headers        micro.Headers
	// span is the request's server span; ReplyError marks it failed.
	span trace.Span
}

func (d *detached) respond(m *nats.Msg, opts []micro.RespondOpt) error {
	for _, o := range opts {
		o(m)
	}
	if d.reply == "" {
		return nil // nobody asked for an answer
	}
	if err := d.nc.PublishMsg(m); err != nil {
		return fmt.Errorf("%w: %w", micro.ErrRespond, err)
	}
	return nil
}

// Respond sends data to the requester.
func (d *detached) Respond(data []byte, opts ...micro.RespondOpt) error {
	m := nats.NewMsg(d.reply)
	m.Data = data
	return d.respond(m, opts)
}

// RespondJSON sends v as JSON to the requester.
func (d *detached) RespondJSON(v any, opts ...micro.RespondOpt) error {
	b, err := json.Marshal(v)
	if err != nil {
		return micro.ErrMarshalResponse
	}
	return d.Respond(b, opts...)
}

// Error sends an error reply with micro's error headers.
func (d *detached) Error(code, description string, data []byte, opts ...micro.RespondOpt) error {
	if code == "" || description == "" {
		return fmt.Errorf("%w: code and description", micro.ErrArgRequired)
	}
	m := nats.NewMsg(d.reply)
	m.Header.Set(micro.ErrorHeader, description)
	m.Header.Set(micro.ErrorCodeHeader, code)
	m.Data = data
	return d.respond(m, opts)
}

// Data returns the request payload.
func (d *detached) Data() []byte { return d.data }

// Headers returns the request headers.
func (d *detached) Headers() micro.Headers { return d.headers }

// Subject returns the subject the request arrived on.
func (d *detached) Subject() string { return d.subject }

// Reply returns the reply subject.
func (d *detached) Reply() string { return d.reply }

// ConnectedCheck is a readiness check that passes while nc is connected.
func ConnectedCheck(nc *nats.Conn) func(context.Context) error {
	return func(context.Context) error {
		if !nc.IsConnected() {
			return fmt.Errorf("nats: %s", nc.Status())
		}
		return nil
	}
}
