package link

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"kubently.io/libs/contracts"
	"kubently.io/libs/testkit"
)

func TestMetrics(t *testing.T) {
	release := make(chan struct{})
	srv, conns := sseServer(t, func(w http.ResponseWriter, r *http.Request, n int) {
		write(w, "event: connected\ndata: {\"heartbeat_interval_ms\":60000}\n\n")
		if n == 1 {
			<-release // then end the stream: the client reconnects
			return
		}
		<-r.Context().Done()
	})
	reg := prometheus.NewPedanticRegistry()
	c := newClient(t, srv.URL, func(c *Config) { c.Registerer = reg })
	wantMetrics := func(connected, reconnects float64) {
		t.Helper()
		testkit.CheckFor(t, 5*time.Second, 5*time.Millisecond, func() error {
			up, re := testutil.ToFloat64(c.upGauge), testutil.ToFloat64(c.reconnects)
			if up != connected || re != reconnects {
				return fmt.Errorf("connected, reconnects_total = %v, %v; want %v, %v", up, re, connected, reconnects)
			}
			return nil
		})
	}
	if n, err := testutil.GatherAndCount(reg, "kubently_executor_connected", "kubently_executor_reconnects_total"); err != nil || n != 2 {
		t.Fatalf("GatherAndCount() = %d, %v; want 2, nil", n, err)
	}
	wantMetrics(0, 0)

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx, func(contracts.Command) {}) }()
	wantMetrics(1, 0)
	close(release)
	testkit.CheckFor(t, 5*time.Second, 5*time.Millisecond, func() error {
		if n := conns.Load(); n < 2 {
			return fmt.Errorf("%d connections; want a reconnect", n)
		}
		return nil
	})
	wantMetrics(1, 1)
	cancel()
	if err := <-done; err != nil && !errors.Is(err, context.Canceled) {
		t.Fatalf("Run: %v", err)
	}
	wantMetrics(0, 1)
}

func TestMetricsRegisterConflict(t *testing.T) {
	reg := prometheus.NewRegistry()
	mod := func(c *Config) { c.Registerer = reg }
	newClient(t, "http://127.0.0.1:1", mod)
	cfg := newClient(t, "http://127.0.0.1:1", nil).cfg
	cfg.Registerer = reg
	if _, err := New(cfg); err == nil {
		t.Fatal("second New() on the same registry = nil error; want a registration error")
	}
}
