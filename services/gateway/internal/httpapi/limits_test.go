package httpapi

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"kubently.io/libs/contracts"
	"kubently.io/libs/testkit"
	"kubently.io/libs/testkit/promtest"
	"kubently.io/services/gateway/internal/backoff"
)

// generous bounds an outcome that must come "soon" on a busy machine.
const generous = 60 * time.Second

// rawResponse sends raw on a new connection to e and reads until the
// server closes it (or generous passes, which fails the test). trickle, if
// set, keeps writing one byte every interval after raw until a write fails.
func rawResponse(t *testing.T, e *env, raw string, trickle time.Duration) string {
	t.Helper()
	conn, err := net.Dial("tcp", strings.TrimPrefix(e.http.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := io.WriteString(conn, raw); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	defer close(done)
	if trickle > 0 {
		go func() {
			tk := time.NewTicker(trickle)
			defer tk.Stop()
			for {
				select {
				case <-done:
					return
				case <-tk.C:
					if _, err := conn.Write([]byte(" ")); err != nil {
						return
					}
				}
			}
		}()
	}
	_ = conn.SetReadDeadline(time.Now().Add(generous))
	b, err := io.ReadAll(conn)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		t.Fatalf("connection still open after %s; got so far %q", generous, b)
	}
	return string(b)
}

// jsonBody returns the JSON error of a raw HTTP response.
func jsonBody(t *testing.T, raw string) contracts.Error {
	t.Helper()
	res, err := http.ReadResponse(bufio.NewReader(strings.NewReader(raw)), nil)
	if err != nil {
		t.Fatalf("not an HTTP response: %q", raw)
	}
	defer res.Body.Close()
	var e contracts.Error
	if err := json.NewDecoder(res.Body).Decode(&e); err != nil || e.Code == "" || !strings.HasPrefix(res.Header.Get("Content-Type"), "application/json") {
		t.Fatalf("want a JSON error; got %q", raw)
	}
	return e
}

// TestSlowBodyCut: a body trickled a byte at a time is cut at the read
// timeout: with credentials by a 408 request_timeout JSON error, without
// by the connection closing. Either way the connection ends.
func TestSlowBodyCut(t *testing.T) {
	e := newEnv(t, envOpts{realServer: true, mod: func(c *Config) { c.Limits.ReadTimeout = time.Second }})
	head := "POST /v1/execute HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n"
	t.Run("authenticated", func(t *testing.T) {
		raw := rawResponse(t, e, head+contracts.HeaderAPIKey+": "+adminKey+"\r\n\r\n{", 200*time.Millisecond)
		if got := jsonBody(t, raw); got.Code != contracts.CodeRequestTimeout || !strings.HasPrefix(raw, "HTTP/1.1 408") {
			t.Errorf("answer = %q; want 408 request_timeout", raw)
		}
	})
	t.Run("unauthenticated", func(t *testing.T) {
		raw := rawResponse(t, e, head+"\r\n{", 200*time.Millisecond)
		if raw != "" && !strings.HasPrefix(raw, "HTTP/1.1 401") {
			t.Errorf("answer = %q; want a 401 or nothing before the close", raw)
		}
	})
	t.Run("trickled headers", func(t *testing.T) {
		rawResponse(t, e, "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: a", 200*time.Millisecond)
	})
}

// TestIdleKeepAliveCloses: a keep-alive connection left idle after a
// request is closed by the server.
func TestIdleKeepAliveCloses(t *testing.T) {
	e := newEnv(t, envOpts{realServer: true, mod: func(c *Config) { c.Limits.IdleTimeout = time.Second }})
	raw := rawResponse(t, e, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n", 0)
	if !strings.HasPrefix(raw, "HTTP/1.1 200") || strings.Count(raw, "HTTP/1.1") != 1 {
		t.Errorf("answer = %q; want one 200, then the close", raw)
	}
}

// TestHeadersTooLarge: oversized headers get a 431 JSON error both just
// over the limit (the gateway's check) and far over it (net/http's own
// refusal, rewritten by Listener).
func TestHeadersTooLarge(t *testing.T) {
	e := newEnv(t, envOpts{realServer: true, mod: func(c *Config) { c.Limits.MaxHeaderBytes = 8 << 10 }})
	for _, size := range []int{9 << 10, 64 << 10} {
		t.Run(fmt.Sprint(size), func(t *testing.T) {
			r := e.do(t, http.MethodGet, "/v1/clusters", adminKey, nil, "X-Big", strings.Repeat("a", size))
			if r.status != http.StatusRequestHeaderFieldsTooLarge {
				t.Fatalf("status = %d %s; want 431", r.status, r.body)
			}
			if got := r.apiError(t); got.Code != contracts.CodeHeadersTooLarge {
				t.Errorf("code = %s; want %s", got.Code, contracts.CodeHeadersTooLarge)
			}
		})
	}
	t.Run("malformed request", func(t *testing.T) {
		raw := rawResponse(t, e, "GET /healthz HTTP/1.1\r\nHost: x\r\nBad Header: y\r\n\r\n", 0)
		if got := jsonBody(t, raw); got.Code != contracts.CodeBadRequest || !strings.HasPrefix(raw, "HTTP/1.1 400") {
			t.Errorf("answer = %q; want 400 bad_request JSON", raw)
		}
	})
	if r := e.do(t, http.MethodGet, "/v1/clusters", adminKey, nil, "X-Small", strings.Repeat("a", 4<<10)); r.status != http.StatusOK {
		t.Errorf("headers under the limit: %d %s; want 200", r.status, r.body)
	}
}

// TestAuthBackoff: after 3 failed authentications an address is refused
// with 429 auth_backoff, valid key or not, for API keys and executor
// tokens alike; other addresses are not; a success does not reset a count.
func TestAuthBackoff(t *testing.T) {
	e := newEnv(t, envOpts{mod: func(c *Config) {
		c.Limits.AuthBackoff = backoff.Config{Failures: 3, Base: time.Hour, Max: time.Hour}
		c.Limits.TrustForwardedFor = true // the test's addresses come in X-Forwarded-For from a loopback proxy
	}})
	from := func(ip string) []string { return []string{"X-Forwarded-For", ip} }
	a, b, c := "203.0.113.1", "203.0.113.2", "203.0.113.3"
	for range 2 {
		if r := e.do(t, "GET", "/v1/clusters", "wrong-key-0123456789", nil, from(a)...); r.status != http.StatusUnauthorized {
			t.Fatalf("bad key = %d; want 401", r.status)
		}
	}
	if r := e.do(t, "GET", "/v1/clusters", adminKey, nil, from(a)...); r.status != http.StatusOK {
		t.Fatalf("good key after 2 failures = %d; want 200", r.status)
	}
	if r := e.do(t, "GET", "/v1/clusters", "", nil, from(a)...); r.status != http.StatusUnauthorized {
		t.Fatalf("third failure = %d; want 401", r.status)
	}
	r := e.do(t, "GET", "/v1/clusters", adminKey, nil, from(a)...)
	if r.status != http.StatusTooManyRequests || r.header.Get("Retry-After") == "" {
		t.Fatalf("good key in back-off = %d (Retry-After %q); want 429 with Retry-After", r.status, r.header.Get("Retry-After"))
	}
	if got := r.apiError(t); got.Code != contracts.CodeRateLimited || got.Reason != contracts.ReasonAuthBackoff {
		t.Errorf("error = %+v; want rate_limited/auth_backoff", got)
	}
	if r := e.do(t, "GET", "/v1/clusters", adminKey, nil, from(b)...); r.status != http.StatusOK {
		t.Errorf("another address = %d; want 200", r.status)
	}
	// Executor tokens: the same.
	for range 3 {
		r := e.do(t, "POST", "/v1/executor/ack", "", `{"command_ids":[]}`, append(from(c), "Authorization", "Bearer wrong-token-0123456789", contracts.HeaderClusterID, "dev-1")...)
		if r.status != http.StatusUnauthorized {
			t.Fatalf("bad executor token = %d %s; want 401", r.status, r.body)
		}
	}
	r = e.do(t, "GET", "/v1/executor/stream", "", nil, append(from(c), "Authorization", "Bearer dev-1-token-0123456789", contracts.HeaderClusterID, "dev-1")...)
	if r.status != http.StatusTooManyRequests || r.apiError(t).Reason != contracts.ReasonAuthBackoff {
		t.Errorf("executor in back-off = %d %s; want 429 auth_backoff", r.status, r.body)
	}
	if n := promtest.Sum(t, e.reg, "kubently_gateway_edge_refusals_total", "reason", "auth_backoff"); n != 2 {
		t.Errorf("auth_backoff refusals = %v; want 2", n)
	}
}

// TestAuthBackoffIgnoresForwardedFor: without TrustForwardedFor a caller
// cannot pick its address to escape the back-off.
func TestAuthBackoffIgnoresForwardedFor(t *testing.T) {
	e := newEnv(t, envOpts{mod: func(c *Config) {
		c.Limits.AuthBackoff = backoff.Config{Failures: 2, Base: time.Hour, Max: time.Hour}
	}})
	for i := range 2 {
		e.do(t, "GET", "/v1/clusters", "wrong-key-0123456789", nil, "X-Forwarded-For", fmt.Sprintf("198.51.100.%d", i))
	}
	if r := e.do(t, "GET", "/v1/clusters", adminKey, nil, "X-Forwarded-For", "198.51.100.99"); r.status != http.StatusTooManyRequests {
		t.Errorf("a made-up X-Forwarded-For = %d; want 429 (the connection's address is in back-off)", r.status)
	}
}

// TestStreamCaps: one more stream than the cap is refused with 429
// stream_limit JSON, per identity (audit) and per cluster (executor);
// other identities are not affected, and a closed stream frees its slot.
func TestStreamCaps(t *testing.T) {
	e := newEnv(t, envOpts{mod: func(c *Config) {
		c.Limits.AuditStreamsPerIdentity = 2
		c.Limits.ExecutorStreamsPerCluster = 1
	}})
	open := func(key string) (int, func()) {
		ctx, cancel := context.WithCancel(context.Background())
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, e.http.URL+"/v1/audit/stream", nil)
		req.Header.Set(contracts.HeaderAPIKey, key)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			cancel()
			t.Fatal(err)
		}
		if res.StatusCode != http.StatusOK {
			var apiErr contracts.Error
			_ = json.NewDecoder(res.Body).Decode(&apiErr)
			res.Body.Close()
			cancel()
			if apiErr.Reason != contracts.ReasonStreamLimit || res.Header.Get("Retry-After") == "" {
				t.Errorf("refused stream: %d %+v; want reason stream_limit with Retry-After", res.StatusCode, apiErr)
			}
			return res.StatusCode, func() {}
		}
		stop := func() { cancel(); res.Body.Close() }
		t.Cleanup(stop)
		return res.StatusCode, stop
	}
	_, stop1 := open(adminKey)
	if code, _ := open(adminKey); code != http.StatusOK {
		t.Fatalf("second audit stream = %d; want 200", code)
	}
	if code, _ := open(adminKey); code != http.StatusTooManyRequests {
		t.Fatalf("third audit stream = %d; want 429", code)
	}
	if code, _ := open(operatorKey); code != http.StatusOK {
		t.Errorf("another identity's stream = %d; want 200", code)
	}
	stop1()
	testkit.CheckFor(t, generous, 50*time.Millisecond, func() error {
		code, _ := open(adminKey)
		if code != http.StatusOK {
			return fmt.Errorf("audit stream after closing one = %d", code)
		}
		return nil
	})

	events, _ := openStream(t, e, "dev-1")
	awaitConnected(t, events)
	r := e.do(t, "GET", "/v1/executor/stream", "", nil, "Authorization", "Bearer dev-1-token-0123456789", contracts.HeaderClusterID, "dev-1")
	if r.status != http.StatusTooManyRequests || r.apiError(t).Reason != contracts.ReasonStreamLimit {
		t.Errorf("second executor stream of dev-1 = %d %s; want 429 stream_limit", r.status, r.body)
	}
	events2, _ := openStream(t, e, "prod-1")
	awaitConnected(t, events2)
}

// TestStreamsOutliveReadTimeout: SSE streams (audit and executor) keep
// delivering events well past the read timeout that cuts slow bodies.
func TestStreamsOutliveReadTimeout(t *testing.T) {
	const readTimeout = time.Second
	e := newEnv(t, envOpts{realServer: true, auditPing: 100 * time.Millisecond, mod: func(c *Config) {
		c.Limits.ReadTimeout = readTimeout
		c.Heartbeat = 100 * time.Millisecond
	}})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, e.http.URL+"/v1/audit/stream", nil)
	req.Header.Set(contracts.HeaderAPIKey, adminKey)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	events, _ := openStream(t, e, "dev-1")
	opened := time.Now()
	sc := bufio.NewScanner(res.Body)
	// Read pings until 3 × the read timeout have passed: the stream must
	// still be delivering then (a busy machine only makes this longer).
	for time.Since(opened) < 3*readTimeout {
		if !sc.Scan() {
			t.Fatalf("audit stream ended after %s (read timeout %s): %v", time.Since(opened), readTimeout, sc.Err())
		}
	}
	for range len(events) {
		<-events
	}
	select {
	case ev, ok := <-events:
		if !ok {
			t.Fatalf("executor stream ended after %s (read timeout %s)", time.Since(opened), readTimeout)
		}
		if ev != "heartbeat" && !strings.HasPrefix(ev, "connected") {
			t.Logf("event %q", ev)
		}
	case <-time.After(generous):
		t.Fatal("executor stream silent")
	}
}

// TestMetricsBoundedUnderFlood floods the gateway with made-up methods,
// paths and cluster ids, unauthenticated and authenticated, then with
// four times as many more: the series count does not move, and every
// method and route label is from the closed set.
func TestMetricsBoundedUnderFlood(t *testing.T) {
	e := newEnv(t, envOpts{})
	flood := func(from, n int) {
		for i := from; i < from+n; i++ {
			cluster := fmt.Sprintf("made-up-%d", i)
			switch i % 5 {
			case 0:
				e.do(t, fmt.Sprintf("M%dX", i), "/v1/clusters", "", nil)
			case 1:
				e.do(t, fmt.Sprintf("PROPFIND%d", i), fmt.Sprintf("/v1/nothing/%d", i), adminKey, nil)
			case 2:
				e.do(t, "GET", "/v1/sessions?cluster_id="+cluster, adminKey, nil)
			case 3:
				e.do(t, "POST", "/v1/execute", adminKey, map[string]any{"cluster_id": cluster, "argv": []string{"frob" + fmt.Sprint(i)}})
			default:
				e.do(t, "GET", "/v1/executor/stream", "", nil, "Authorization", "Bearer made-up-token-0123456789", contracts.HeaderClusterID, cluster)
			}
		}
	}
	flood(0, 50)
	first := promtest.Series(t, e.reg, "kubently_")
	flood(50, 200)
	if got := promtest.Series(t, e.reg, "kubently_"); got != first {
		t.Errorf("series after 200 more made-up requests = %d; want %d as after the first 50", got, first)
	}
	routes := map[string]bool{"unmatched": true}
	for _, r := range e.srv.e.Routes() {
		routes[r.Path] = true
	}
	mfs, _ := e.reg.Gather()
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				switch l.GetName() {
				case "method":
					if v := l.GetValue(); !httpMethods[v] && v != "OTHER" {
						t.Errorf("%s has method label %q", mf.GetName(), v)
					}
				case "route":
					if !routes[l.GetValue()] {
						t.Errorf("%s has route label %q, not a route template", mf.GetName(), l.GetValue())
					}
				case "cluster":
					t.Errorf("%s has cluster label %q after requests for made-up clusters only", mf.GetName(), l.GetValue())
				}
			}
		}
	}
	// /metrics is not on the client port by default.
	if r := e.do(t, "GET", "/metrics", "", nil); r.status != http.StatusNotFound {
		t.Errorf("GET /metrics on the client port = %d; want 404", r.status)
	}
}

// TestMetricsOnClientPort: when asked for, /metrics is on the client port,
// behind the bearer token when one is set.
func TestMetricsOnClientPort(t *testing.T) {
	const token = "metrics-token-0123456789"
	e := newEnv(t, envOpts{mod: func(c *Config) { c.MetricsOnClientPort, c.MetricsToken = true, token }})
	if r := e.do(t, "GET", "/metrics", "", nil); r.status != http.StatusUnauthorized || strings.Contains(string(r.body), token) {
		t.Errorf("GET /metrics without the token = %d %s; want 401 without the token", r.status, r.body)
	}
	r := e.do(t, "GET", "/metrics", "", nil, "Authorization", "Bearer "+token)
	if r.status != http.StatusOK || !strings.Contains(string(r.body), "kubently_gateway_http_request_duration_seconds") {
		t.Errorf("GET /metrics with the token = %d; want 200 with the gateway's metrics", r.status)
	}
}
