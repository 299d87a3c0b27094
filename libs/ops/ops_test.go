package ops

import (
	"context"
	"errors"
	"io"
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
