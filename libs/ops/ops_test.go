package ops

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"kubently.io/libs/logging"
)

func TestServer(t *testing.T) {
	reg := NewRegistry()
	c := prometheus.NewCounter(prometheus.CounterOpts{Name: "kubently_test_total", Help: "t"})
	reg.MustRegister(c)
	c.Inc()
	var storeErr error
	srv, err := New(Config{Addr: "127.0.0.1:0", Registry: reg, Log: logging.Discard(), Ready: map[string]Check{
		"store": func(context.Context) error { return storeErr },
	}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx) }()
	get := func(path string) (int, string) {
		resp, err := http.Get("http://" + srv.Addr() + path)
		if err != nil {
			t.Fatal(err)
		}
		defer func() { _ = resp.Body.Close() }()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, _ := get("/healthz"); code != http.StatusOK {
		t.Errorf("/healthz = %d", code)
	}
	if code, _ := get("/readyz"); code != http.StatusOK {
		t.Errorf("/readyz = %d; want 200", code)
	}
	storeErr = errors.New("redis down")
	if code, body := get("/readyz"); code != http.StatusServiceUnavailable || !strings.Contains(body, "redis down") {
		t.Errorf("/readyz = %d %s; want 503 naming the failure", code, body)
	}
	if _, body := get("/metrics"); !strings.Contains(body, "kubently_test_total 1") || !strings.Contains(body, "go_goroutines") {
		t.Errorf("/metrics lacks the registered and runtime metrics")
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Run = %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not stop")
	}
}

func TestNewErrors(t *testing.T) {
	if _, err := New(Config{}); err == nil {
		t.Error("New without a logger = nil error")
	}
	if _, err := New(Config{Addr: "256.0.0.1:99999", Log: logging.Discard()}); err == nil {
		t.Error("New with a bad address = nil error")
	}
	srv, err := New(Config{Log: logging.Discard()})
	if err != nil || srv.Addr() != "" {
		t.Fatalf("disabled server: %v %q", err, srv.Addr())
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := srv.Run(ctx); err != nil {
		t.Errorf("disabled Run = %v", err)
	}
}

func TestMetricsToken(t *testing.T) {
	const token = "metrics-token-0123456789"
	srv, err := New(Config{Addr: "127.0.0.1:0", Log: logging.Discard(), MetricsToken: token})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() { _ = srv.Run(ctx) }()
	get := func(path, authz string) (int, string) {
		t.Helper()
		req, _ := http.NewRequest(http.MethodGet, "http://"+srv.Addr()+path, nil)
		if authz != "" {
			req.Header.Set("Authorization", authz)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer func() { _ = resp.Body.Close() }()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	tests := []struct {
		name, path, authz string
		want              int
	}{
		{"no token", "/metrics", "", http.StatusUnauthorized},
		{"wrong token", "/metrics", "Bearer wrong-token-0123456789", http.StatusUnauthorized},
		{"token prefix", "/metrics", "Bearer " + token[:10], http.StatusUnauthorized},
		{"not bearer", "/metrics", "Basic " + token, http.StatusUnauthorized},
		{"right token", "/metrics", "Bearer " + token, http.StatusOK},
		{"healthz stays open", "/healthz", "", http.StatusOK},
		{"readyz stays open", "/readyz", "", http.StatusOK},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, body := get(tt.path, tt.authz)
			if code != tt.want {
				t.Fatalf("GET %s = %d; want %d", tt.path, code, tt.want)
			}
			if code == http.StatusUnauthorized && (!strings.Contains(body, `"code":"unauthorized"`) || strings.Contains(body, token)) {
				t.Errorf("401 body = %s; want a JSON error without the token", body)
			}
			if tt.path == "/metrics" && code == http.StatusOK && !strings.Contains(body, "go_goroutines") {
				t.Errorf("/metrics with the token lacks the metrics")
			}
		})
	}
}

// TestConnectionLimits: a request whose headers trickle in, and a
// keep-alive connection left idle, are both closed by the server.
func TestConnectionLimits(t *testing.T) {
	srv, err := New(Config{Addr: "127.0.0.1:0", Log: logging.Discard(), ReadTimeout: 300 * time.Millisecond, IdleTimeout: 300 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() { _ = srv.Run(ctx) }()
	closed := func(t *testing.T, conn net.Conn, send string) {
		t.Helper()
		if send != "" {
			if _, err := io.WriteString(conn, send); err != nil {
				t.Fatal(err)
			}
		}
		// The server closes the connection: reads reach EOF (or a reset)
		// long before this generous deadline.
		_ = conn.SetReadDeadline(time.Now().Add(60 * time.Second))
		_, err := io.ReadAll(conn)
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			t.Fatalf("connection still open after 60s; want it closed by the server")
		}
	}
	t.Run("trickled headers", func(t *testing.T) {
		conn, err := net.Dial("tcp", srv.Addr())
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		closed(t, conn, "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: a")
	})
	t.Run("idle keep-alive", func(t *testing.T) {
		conn, err := net.Dial("tcp", srv.Addr())
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		// One full request, then nothing: the response comes, then EOF.
		closed(t, conn, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
	})
}

// TestPProf: /debug/pprof/ is absent by default, served with PProf, and
// behind the metrics token when one is set.
func TestPProf(t *testing.T) {
	tests := []struct {
		name   string
		pprof  bool
		token  string
		auth   string
		want   int
		inBody string
	}{
		{name: "off by default", want: http.StatusNotFound},
		{name: "on", pprof: true, want: http.StatusOK, inBody: "goroutine"},
		{name: "on, token missing", pprof: true, token: "tok-0123456789", want: http.StatusUnauthorized, inBody: `"code":"unauthorized"`},
		{name: "on, token wrong", pprof: true, token: "tok-0123456789", auth: "Bearer nope", want: http.StatusUnauthorized},
		{name: "on, token right", pprof: true, token: "tok-0123456789", auth: "Bearer tok-0123456789", want: http.StatusOK, inBody: "goroutine"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv, err := New(Config{Addr: "127.0.0.1:0", Log: logging.Discard(), PProf: tt.pprof, MetricsToken: tt.token})
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan error, 1)
			go func() { done <- srv.Run(ctx) }()
			t.Cleanup(func() {
				cancel()
				if err := <-done; err != nil {
					t.Errorf("Run = %v", err)
				}
			})
			req, _ := http.NewRequest(http.MethodGet, "http://"+srv.Addr()+"/debug/pprof/", nil)
			if tt.auth != "" {
				req.Header.Set("Authorization", tt.auth)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			_ = resp.Body.Close()
			if resp.StatusCode != tt.want || !strings.Contains(string(b), tt.inBody) {
				t.Errorf("GET /debug/pprof/ = %d %.200s; want %d containing %q", resp.StatusCode, b, tt.want, tt.inBody)
			}
		})
	}
}

// TestRegister: all or none — a clash leaves nothing of the call
// registered, so it can be retried; a nil registerer is no error.
func TestRegister(t *testing.T) {
	reg := prometheus.NewRegistry()
	a := prometheus.NewCounter(prometheus.CounterOpts{Name: "kubently_a_total", Help: "a"})
	b := prometheus.NewCounter(prometheus.CounterOpts{Name: "kubently_b_total", Help: "b"})
	clash := prometheus.NewCounter(prometheus.CounterOpts{Name: "kubently_b_total", Help: "b"})
	if err := Register(reg, b); err != nil {
		t.Fatal(err)
	}
	if err := Register(reg, a, clash); err == nil {
		t.Fatal("Register of a clashing collector = nil; want an error")
	}
	if err := Register(reg, a); err != nil {
		t.Errorf("a stayed registered after the failed call: %v", err)
	}
	Unregister(reg, a, b)
	if err := Register(reg, a, clash); err != nil {
		t.Errorf("Register after Unregister = %v; want nil", err)
	}
	if err := Register(nil, a); err != nil {
		t.Errorf("Register(nil) = %v; want nil", err)
	}
	Unregister(nil, a)
}
