package link

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"kubently.io/libs/contracts"
	"kubently.io/libs/logging"
	"kubently.io/libs/sse"
	"kubently.io/libs/telemetry"
)

// PostResult posts a result, retrying transient failures (network errors,
// 429 and 5xx) with backoff until it is accepted or giveUp passes. A result
// the gateway refuses for good returns ErrRejected; a 401 ErrUnauthorized.
// A post the gateway answers with acked true acknowledges the command, so
// its deferred ack (Config.AckDelay) is not sent.
//
// The POSTs carry the trace context of an "executor.post_result" span, a
// child of the span in ctx (the worker's executor.run).
func (c *Client) PostResult(ctx context.Context, res contracts.ExecutorResult, giveUp time.Time) (err error) {
	body, err := json.Marshal(res)
	if err != nil {
		return err
	}
	ctx, span := otel.Tracer(telemetry.ScopeName).Start(ctx, telemetry.SpanExecutorPostResult,
		trace.WithSpanKind(trace.SpanKindClient), trace.WithAttributes(
			telemetry.AttrCluster.String(c.cfg.Cluster), telemetry.AttrCommandID.String(res.CommandID),
			telemetry.AttrStatus.String(string(res.Status))))
	attempts := 0
	defer func() {
		span.SetAttributes(telemetry.AttrAttempts.Int(attempts))
		if err != nil {
			span.SetStatus(codes.Error, err.Error())
		}
		span.End()
	}()
	for attempt := 0; ; attempt++ {
		attempts++
		var answer contracts.ExecutorResultResponse
		err := c.post(ctx, contracts.PathExecutorResults, body, &answer)
		if err == nil && answer.Acked {
			c.resultAcked(res.CommandID)
		}
		if err == nil || errors.Is(err, ErrRejected) || errors.Is(err, ErrUnauthorized) {
			return err
		}
		delay := sse.Backoff(attempt, 100*time.Millisecond, 5*time.Second)
		if time.Now().Add(delay).After(giveUp) {
			return fmt.Errorf("link: giving up on result %s: %w", res.CommandID, err)
		}
		c.cfg.Log.Warn("result post failed; retrying", logging.KeyCommandID, res.CommandID, logging.KeyErr, err, "in", delay.Round(time.Millisecond))
		t := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
	}
}

// maxAnswerBytes bounds the 200 answer to an executor POST that is read.
const maxAnswerBytes = 64 << 10

// post sends one executor POST (results or ack) and maps its answer. With
// out set, a 200 answer is decoded into it; one that does not decode
// leaves out as it was.
func (c *Client) post(ctx context.Context, path string, body []byte, out any) error {
	resp, err := c.send(ctx, path, body)
	if err != nil {
		return err
	}
	defer func() { _ = resp.Body.Close() }()
	switch {
	case resp.StatusCode == http.StatusOK:
		if out != nil {
			_ = json.NewDecoder(io.LimitReader(resp.Body, maxAnswerBytes)).Decode(out)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		return nil
	case resp.StatusCode == http.StatusUnauthorized:
		return ErrUnauthorized
	case resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode >= 500:
		return fmt.Errorf("gateway answered %s", resp.Status)
	default:
		return fmt.Errorf("%w: gateway answered %s: %s", ErrRejected, resp.Status, readSnippet(resp.Body))
	}
}

// send sends one executor POST within ResultTimeout (or ctx's earlier
// deadline). A POST that times out closes the client's idle connections:
// the path may black-hole them, and the retry should dial a fresh one.
func (c *Client) send(ctx context.Context, path string, body []byte) (*http.Response, error) {
	ctx, cancel := context.WithTimeout(ctx, c.cfg.ResultTimeout)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.base.JoinPath(path).String(), bytes.NewReader(body))
	if err != nil {
		cancel()
		return nil, err
	}
	c.authorize(req)
	req.Header.Set("Content-Type", "application/json")
	telemetry.InjectHTTP(ctx, req.Header)
	resp, err := c.cfg.HTTP.Do(req)
	if err != nil {
		cancel()
		if errors.Is(err, context.DeadlineExceeded) {
			c.cfg.HTTP.CloseIdleConnections()
		}
		return nil, err
	}
	resp.Body = cancelOnClose{ReadCloser: resp.Body, cancel: cancel}
	return resp, nil
}

// cancelOnClose releases a request's context when its body is closed.
type cancelOnClose struct {
	io.ReadCloser
	cancel context.CancelFunc
}

func (b cancelOnClose) Close() error {
	err := b.ReadCloser.Close()
	b.cancel()
	return err
}

// PostDiscovery publishes the cluster's discovery summary (POST
// /v1/executor/discovery). A 4xx other than 401 is ErrRejected.
func (c *Client) PostDiscovery(ctx context.Context, d contracts.ExecutorDiscovery) error {
	body, err := json.Marshal(d)
	if err != nil {
		return err
	}
	return c.post(ctx, contracts.PathExecutorDiscovery, body, nil)
}
