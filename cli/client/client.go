// Package client is a small Go client for the gateway's HTTP API, used by
// the kubently CLI (and usable by scripts and tests).
//
// # Concurrency
//
// A Client is safe for concurrent use.
package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"kubently.io/libs/contracts"
)

// ErrConfig reports a client configuration problem (no URL, no key).
var ErrConfig = errors.New("client: configuration")

// APIError is an error answer from the gateway: its status, the wire error
// and, on 429 and 503, how long the gateway asked the client to wait.
// errors.As finds the *contracts.Error inside it.
type APIError struct {
	// Status is the HTTP status code.
	Status int
	// RetryAfter is the Retry-After header as a duration; zero if absent
	// or not a number of seconds.
	RetryAfter time.Duration
	// Err is the decoded error body; never nil.
	Err *contracts.Error
}

// Error implements error.
func (e *APIError) Error() string {
	if e.RetryAfter > 0 {
		return fmt.Sprintf("%s (retry after %s)", e.Err.Error(), e.RetryAfter)
	}
	return e.Err.Error()
}

// Unwrap returns the wire error.
func (e *APIError) Unwrap() error { return e.Err }

func newAPIError(resp *http.Response, e *contracts.Error) *APIError {
	return &APIError{Status: resp.StatusCode, RetryAfter: retryAfter(resp.Header.Get("Retry-After")), Err: e}
}

// retryAfter parses a Retry-After header given in seconds (the gateway
// never sends the HTTP-date form); "" or garbage is 0.
func retryAfter(v string) time.Duration {
	n, err := strconv.Atoi(strings.TrimSpace(v))
	if err != nil || n <= 0 {
		return 0
	}
	return time.Duration(min(n, 24*3600)) * time.Second
}

// Client calls one gateway with one API key.
type Client struct {
	base *url.URL
	key  string
	http *http.Client
}

// New returns a client for the gateway at apiURL.
func New(apiURL, apiKey string, hc *http.Client) (*Client, error) {
	if apiURL == "" {
		return nil, fmt.Errorf("%w: no API URL: pass --api-url, set KUBENTLY_API_URL or api_url in ~/.kubently/config", ErrConfig)
	}
	u, err := url.Parse(strings.TrimRight(apiURL, "/"))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("%w: API URL %q is not an http(s) URL", ErrConfig, apiURL)
	}
	if apiKey == "" {
		return nil, fmt.Errorf("%w: no API key: pass --api-key, set KUBENTLY_API_KEY or api_key in ~/.kubently/config", ErrConfig)
	}
	if hc == nil {
		hc = &http.Client{}
	}
	return &Client{base: u, key: apiKey, http: hc}, nil
}

// do sends a JSON request and decodes a JSON answer into out. An error body
// comes back as *contracts.Error. For execute, a non-2xx answer that carries
// a CommandResult is decoded into out and not treated as an error.
func (c *Client) do(ctx context.Context, method, path string, in, out any, resultOK bool) (int, error) {
	return c.send(ctx, method, path, nil, in, out, resultOK)
}

// send is do with extra request headers (nil: none).
func (c *Client) send(ctx context.Context, method, path string, hdr http.Header, in, out any, resultOK bool) (int, error) {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return 0, err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base.String()+path, body)
	if err != nil {
		return 0, err
	}
	req.Header.Set(contracts.HeaderAPIKey, c.key)
	for k, v := range hdr {
		req.Header[k] = v
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return 0, fmt.Errorf("cannot reach the gateway at %s: %w", c.base.Redacted(), err)
	}
	defer func() { _ = resp.Body.Close() }()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return resp.StatusCode, fmt.Errorf("reading the gateway's answer: %w", err)
	}
	if resp.StatusCode >= 300 {
		var e contracts.Error
		if json.Unmarshal(raw, &e) == nil && e.Code != "" {
			return resp.StatusCode, newAPIError(resp, &e)
		}
		if resultOK && out != nil && json.Unmarshal(raw, out) == nil {
			return resp.StatusCode, nil
		}
		return resp.StatusCode, fmt.Errorf("gateway answered %s: %s", resp.Status, snippet(raw))
	}
	if out != nil && resp.StatusCode != http.StatusNoContent {
		if err := json.Unmarshal(raw, out); err != nil {
			return resp.StatusCode, fmt.Errorf("malformed answer from the gateway: %w", err)
		}
	}
	return resp.StatusCode, nil
}

func snippet(b []byte) string {
	s := strings.TrimSpace(string(b))
	if len(s) > 300 {
		s = s[:300] + "…"
	}
	return s
}

// Execute runs one command. A command that ran (whatever its outcome,
// including timeout and executor-side denial) returns its result and no
// error; rejected requests return *contracts.Error.
func (c *Client) Execute(ctx context.Context, req contracts.ExecuteBody) (contracts.CommandResult, error) {
	var res contracts.CommandResult
	// Give the HTTP call a little longer than the command itself.
	t := contracts.DefaultTimeout
	if req.TimeoutSeconds > 0 {
		t = time.Duration(req.TimeoutSeconds) * time.Second
	}
	ctx, cancel := context.WithTimeout(ctx, t+15*time.Second)
	defer cancel()
	var hdr http.Header
	if req.Tool != "" {
		hdr = http.Header{http.CanonicalHeaderKey(contracts.HeaderTool): {req.Tool}}
	}
	for attempt := 0; ; attempt++ {
		_, err := c.send(ctx, http.MethodPost, contracts.PathExecute, hdr, req, &res, true)
		var ae *APIError
		if attempt >= len(notDispatchedBackoff) || !errors.As(err, &ae) || ae.Err.Reason != contracts.ReasonNotDispatched {
			return res, err
		}
		// Lost in a NATS disruption before it was queued, and fenced:
		// it did not run and never will, so sending it again is safe.
		select {
		case <-ctx.Done():
			return res, err
		case <-time.After(notDispatchedBackoff[attempt]):
		}
	}
}

// notDispatchedBackoff is the wait before each retry of a command the
// gateway answered not_dispatched.
var notDispatchedBackoff = []time.Duration{250 * time.Millisecond, time.Second}

// Clusters lists the registered clusters.
func (c *Client) Clusters(ctx context.Context) ([]contracts.ClusterInfo, error) {
	var out contracts.ClusterList
	_, err := c.do(ctx, http.MethodGet, contracts.PathClusters, nil, &out, false)
	return out.Clusters, err
}

// CreateSession opens a session on a cluster; ttl 0 means the default.
func (c *Client) CreateSession(ctx context.Context, cluster string, ttl time.Duration) (contracts.Session, error) {
	var s contracts.Session
	_, err := c.do(ctx, http.MethodPost, contracts.PathSessions, contracts.CreateSessionBody{Cluster: cluster, TTLSeconds: int(ttl / time.Second)}, &s, false)
	return s, err
}

// GetSession reads a session.
func (c *Client) GetSession(ctx context.Context, id string) (contracts.Session, error) {
	var s contracts.Session
	_, err := c.do(ctx, http.MethodGet, contracts.SessionPath(id), nil, &s, false)
	return s, err
}

// EndSession ends a session.
func (c *Client) EndSession(ctx context.Context, id string) (contracts.Session, error) {
	var s contracts.Session
	_, err := c.do(ctx, http.MethodDelete, contracts.SessionPath(id), nil, &s, false)
	return s, err
}

// KeepaliveSession extends a session; ttl 0 keeps its own TTL.
func (c *Client) KeepaliveSession(ctx context.Context, id string, ttl time.Duration) (contracts.Session, error) {
	var s contracts.Session
	_, err := c.do(ctx, http.MethodPost, contracts.SessionKeepalivePath(id), contracts.KeepaliveBody{TTLSeconds: int(ttl / time.Second)}, &s, false)
	return s, err
}

// ListSessions lists the caller's active sessions on a cluster.
func (c *Client) ListSessions(ctx context.Context, cluster string) ([]contracts.Session, error) {
	var out contracts.SessionList
	_, err := c.do(ctx, http.MethodGet, contracts.PathSessions+"?cluster_id="+url.QueryEscape(cluster), nil, &out, false)
	return out.Sessions, err
}

// CreateToken registers a new cluster with a fresh executor token (admin).
func (c *Client) CreateToken(ctx context.Context, cluster string) (contracts.ClusterToken, error) {
	var t contracts.ClusterToken
	_, err := c.do(ctx, http.MethodPost, contracts.ClusterTokenPath(cluster), nil, &t, false)
	return t, err
}

// RotateToken gives a cluster a new executor token; the old one stops
// working at once (admin).
func (c *Client) RotateToken(ctx context.Context, cluster string) (contracts.ClusterToken, error) {
	var t contracts.ClusterToken
	_, err := c.do(ctx, http.MethodPost, contracts.ClusterTokenRotatePath(cluster), nil, &t, false)
	return t, err
}

// RevokeToken revokes a cluster's executor token; the cluster stays
// registered with no working token (admin).
func (c *Client) RevokeToken(ctx context.Context, cluster string) (contracts.TokenRevocation, error) {
	var r contracts.TokenRevocation
	_, err := c.do(ctx, http.MethodDelete, contracts.ClusterTokenPath(cluster), nil, &r, false)
	return r, err
}

// Diagnose asks the gateway to diagnose namespaces of a cluster (or, with
// AllNamespaces, the whole cluster) and returns the report: findings
// grouped by root cause, most severe first. The timeout is per namespace;
// the HTTP call is given one per namespace plus a margin.
func (c *Client) Diagnose(ctx context.Context, req contracts.DiagnoseRequest) (contracts.DiagnoseReport, error) {
	var rep contracts.DiagnoseReport
	t := time.Duration(contracts.DefaultDiagnoseTimeoutSeconds) * time.Second
	if req.TimeoutSeconds > 0 {
		t = time.Duration(req.TimeoutSeconds) * time.Second
	}
	n := max(len(req.Namespaces), 1)
	ctx, cancel := context.WithTimeout(ctx, time.Duration(n)*t+15*time.Second)
	defer cancel()
	_, err := c.do(ctx, http.MethodPost, contracts.PathDiagnose, req, &rep, false)
	return rep, err
}
