// Package ops serves a process's operational endpoints — /healthz, /readyz
// and Prometheus /metrics — on a small net/http server: the only HTTP
// server of the session service, dispatcher and executor, and the
// gateway's second one, kept off its client port.
//
// The server bounds every connection (header and request read timeouts,
// an idle timeout, a header size limit) and, with Config.MetricsToken,
// serves /metrics only to `Authorization: Bearer <token>` (compared in
// constant time; the token is never logged). /healthz and /readyz stay
// open for probes. With Config.PProf it also serves net/http/pprof under
// /debug/pprof/ (off by default; behind the same token when one is set).
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
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"strings"
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
	// MetricsToken, when set, is the bearer token /metrics requires
	// (401 JSON without it); empty means /metrics is open.
	MetricsToken string
	// ReadTimeout bounds reading a request (headers included); zero means
	// the ReadTimeout constant.
	ReadTimeout time.Duration
	// IdleTimeout closes a keep-alive connection idle this long; zero
	// means the IdleTimeout constant.
	IdleTimeout time.Duration
	// PProf serves the runtime profiles of net/http/pprof under
	// /debug/pprof/ (behind MetricsToken when set); off by default.
	PProf bool
}

// Connection limits of the ops server: its requests are small GETs.
const (
	// ReadHeaderTimeout bounds reading a request's headers.
	ReadHeaderTimeout = 5 * time.Second
	// ReadTimeout bounds reading a whole request, by default.
	ReadTimeout = 10 * time.Second
	// WriteTimeout bounds writing a response (a /metrics scrape).
	WriteTimeout = 30 * time.Second
	// IdleTimeout closes a keep-alive connection idle this long, by
	// default.
	IdleTimeout = 60 * time.Second
	// MaxHeaderBytes bounds a request's headers.
	MaxHeaderBytes = 16 << 10
)

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

// Register registers cs on r, all or none: when one fails it unregisters
// those it registered and returns the error. A nil r registers nothing.
// Every package registers its metrics through it.
func Register(r prometheus.Registerer, cs ...prometheus.Collector) error {
	if r == nil {
		return nil
	}
	for i, c := range cs {
		if err := r.Register(c); err != nil {
			Unregister(r, cs[:i]...)
			return err
		}
	}
	return nil
}

// Unregister removes cs from r; a nil r holds nothing.
func Unregister(r prometheus.Registerer, cs ...prometheus.Collector) {
	if r == nil {
		return
	}
	for _, c := range cs {
		r.Unregister(c)
	}
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
	if cfg.ReadTimeout <= 0 {
		cfg.ReadTimeout = ReadTimeout
	}
	if cfg.IdleTimeout <= 0 {
		cfg.IdleTimeout = IdleTimeout
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
	mux.Handle("GET /metrics", MetricsHandler(cfg.Registry, cfg.MetricsToken))
	if cfg.PProf {
		pp := http.NewServeMux()
		pp.HandleFunc("/debug/pprof/", pprof.Index)
		pp.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
		pp.HandleFunc("/debug/pprof/profile", pprof.Profile)
		pp.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
		pp.HandleFunc("/debug/pprof/trace", pprof.Trace)
		mux.Handle("/debug/pprof/", bearer(pp, cfg.MetricsToken, "/debug/pprof"))
	}
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return nil, fmt.Errorf("ops: listen %s: %w", cfg.Addr, err)
	}
	s.ln = ln
	s.srv = &http.Server{Handler: mux, ReadHeaderTimeout: min(ReadHeaderTimeout, cfg.ReadTimeout), ReadTimeout: cfg.ReadTimeout,
		WriteTimeout: WriteTimeout, IdleTimeout: cfg.IdleTimeout, MaxHeaderBytes: MaxHeaderBytes}
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

// MetricsHandler serves reg in the Prometheus format; a non-empty token
// must come as `Authorization: Bearer <token>`, else the answer is 401
// with a JSON error. The comparison takes constant time.
func MetricsHandler(reg prometheus.Gatherer, token string) http.Handler {
	return bearer(promhttp.HandlerFor(reg, promhttp.HandlerOpts{}), token, "/metrics")
}

// bearer serves h only to `Authorization: Bearer <token>` (constant-time
// compare), else 401 JSON naming what; an empty token serves everyone.
func bearer(h http.Handler, token, what string) http.Handler {
	if token == "" {
		return h
	}
	want := sha256.Sum256([]byte(token))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		sum := sha256.Sum256([]byte(got))
		if !ok || subtle.ConstantTimeCompare(sum[:], want[:]) != 1 {
			w.Header().Set("WWW-Authenticate", `Bearer realm="metrics"`)
			writeJSON(w, http.StatusUnauthorized, map[string]string{"code": "unauthorized", "message": what + " needs Authorization: Bearer <KUBENTLY_METRICS_TOKEN>"})
			return
		}
		h.ServeHTTP(w, r)
	})
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
