// Package ops serves a process's operational endpoints — /healthz, /readyz
// and Prometheus /metrics — on a small net/http server, for the services
// that have no HTTP API of their own (session, dispatcher, executor).
//
// # Usage
//
//	srv := ops.New(ops.Config{Addr: ":9090", Registry: reg, Ready: checks})
//	go srv.Run(ctx)
//
// # Concurrency
//
// A Server is safe for concurrent use; readiness checks run per request.
package ops

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Check is one readiness check: nil means ready.
type Check func(ctx context.Context) error

// Config configures New.
type Config struct {
	// Addr is the listen address; empty disables the server (Run returns
	// at once when ctx ends).
	Addr string
	// Registry holds the metrics to serve; nil means a new registry with
	// the Go and process collectors.
	Registry *prometheus.Registry
	// Ready maps a dependency name to its readiness check.
	Ready map[string]Check
	// Log receives errors; required.
	Log *slog.Logger
}

// Server serves the operational endpoints.
type Server struct {
	cfg Config
	srv *http.Server
	ln  net.Listener
}

// NewRegistry returns a registry with the Go runtime and process collectors.
func NewRegistry() *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return reg
}

// New builds a Server and binds its listener, so the address is known (and
// a busy port fails) before Run.
func New(cfg Config) (*Server, error) {
	if cfg.Log == nil {
		return nil, errors.New("ops: Log is required")
	}
	if cfg.Registry == nil {
		cfg.Registry = NewRegistry()
	}
	s := &Server{cfg: cfg}
	if cfg.Addr == "" {
		return s, nil
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	mux.HandleFunc("GET /readyz", s.ready)
	mux.Handle("GET /metrics", promhttp.HandlerFor(cfg.Registry, promhttp.HandlerOpts{}))
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return nil, fmt.Errorf("ops: listen %s: %w", cfg.Addr, err)
	}
	s.ln = ln
	s.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	return s, nil
}

// Addr returns the bound address, or "" when disabled.
func (s *Server) Addr() string {
	if s.ln == nil {
		return ""
	}
	return s.ln.Addr().String()
}

// Run serves until ctx ends, then shuts down within 5 s.
func (s *Server) Run(ctx context.Context) error {
	if s.srv == nil {
		<-ctx.Done()
		return nil
	}
	errc := make(chan error, 1)
	go func() { errc <- s.srv.Serve(s.ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("ops: serve: %w", err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := s.srv.Shutdown(sctx); err != nil {
		s.cfg.Log.Warn("ops server shutdown", "err", err)
	}
	return nil
}

// CheckAll runs every readiness check and returns the failures by name.
func CheckAll(ctx context.Context, checks map[string]Check) map[string]string {
	failed := map[string]string{}
	for name, c := range checks {
		cctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		if err := c(cctx); err != nil {
			failed[name] = err.Error()
		}
		cancel()
	}
	return failed
}

func (s *Server) ready(w http.ResponseWriter, r *http.Request) {
	failed := CheckAll(r.Context(), s.cfg.Ready)
	if len(failed) > 0 {
		writeJSON(w, http.StatusServiceUnavailable, map[string]any{"status": "unavailable", "failed": failed})
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "ready"})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
