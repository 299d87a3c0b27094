package httpapi

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"regexp"
	"strconv"
	"sync"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/nats-io/nats.go"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"kubently.io/libs/contracts"
	"kubently.io/libs/logging"
	"kubently.io/libs/ops"
	"kubently.io/libs/store"
	"kubently.io/services/gateway/internal/auth"
	"kubently.io/services/gateway/internal/hub"
)

// Store is what the gateway needs of the state store.
type Store interface {
	store.Presence
	Claim(ctx context.Context, cluster, consumer string, max int) ([]contracts.Command, error)
	Owner(ctx context.Context, commandID string) (string, error)
	GetCluster(ctx context.Context, id string) (store.ClusterRecord, error)
	ListClusters(ctx context.Context) ([]store.ClusterRecord, error)
	Ping(ctx context.Context) error
}

// Config configures New.
type Config struct {
	// Conn is the NATS connection; required.
	Conn *nats.Conn
	// Store is the state store; required.
	Store Store
	// Keys authenticates clients; required (may be empty: then every
	// client request is 401).
	Keys *auth.Keys
	// Hub wakes local executor streams; required.
	Hub *hub.Hub
	// Log is the logger; required.
	Log *slog.Logger
	// Registry receives and serves metrics; nil means a new registry.
	Registry *prometheus.Registry
	// Name identifies this gateway replica (in presence records).
	Name string
	// Heartbeat is the SSE heartbeat interval; zero means 5s.
	Heartbeat time.Duration
	// PresenceTTL is how long a presence record lives without a refresh;
	// zero means 3 × Heartbeat.
	PresenceTTL time.Duration
	// Poll is how often a stream reads its queue without a notify (a safety
	// net for a lost notify); zero means 2s.
	Poll time.Duration
	// RequestMargin is added to a command's timeout for the NATS request to
	// the dispatcher; zero means 5s.
	RequestMargin time.Duration
	// StoreTimeout bounds each store call; zero means 5s.
	StoreTimeout time.Duration
}

// Server is the gateway's HTTP server.
type Server struct {
	cfg     Config
	log     *slog.Logger
	e       *echo.Echo
	metrics *metrics
	// closing is closed when the server shuts down, ending streams.
	closing   chan struct{}
	closeOnce sync.Once
}

type metrics struct {
	requests *prometheus.HistogramVec
	streams  prometheus.Gauge
	results  *prometheus.CounterVec
}

// New builds the server and its routes.
func New(cfg Config) (*Server, error) {
	if cfg.Conn == nil || cfg.Store == nil || cfg.Keys == nil || cfg.Hub == nil || cfg.Log == nil {
		return nil, errors.New("httpapi: Conn, Store, Keys, Hub and Log are required")
	}
	if cfg.Registry == nil {
		cfg.Registry = ops.NewRegistry()
	}
	if cfg.Name == "" {
		cfg.Name = "gateway"
	}
	if cfg.Heartbeat <= 0 {
		cfg.Heartbeat = 5 * time.Second
	}
	if cfg.PresenceTTL <= 0 {
		cfg.PresenceTTL = 3 * cfg.Heartbeat
	}
	if cfg.Poll <= 0 {
		cfg.Poll = 2 * time.Second
	}
	if cfg.RequestMargin <= 0 {
		cfg.RequestMargin = 5 * time.Second
	}
	if cfg.StoreTimeout <= 0 {
		cfg.StoreTimeout = 5 * time.Second
	}
	s := &Server{cfg: cfg, log: cfg.Log, e: echo.New(), closing: make(chan struct{})}
	s.metrics = &metrics{
		requests: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "kubently_gateway_http_request_duration_seconds",
			Help:    "HTTP request latency by route, method and status code.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 18),
		}, []string{"route", "method", "code"}),
		streams: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "kubently_gateway_executor_streams",
			Help: "Executor SSE streams held by this gateway replica.",
		}),
		results: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "kubently_gateway_executor_results_total",
			Help: "Executor result posts by outcome.",
		}, []string{"outcome"}),
	}
	for _, c := range []prometheus.Collector{s.metrics.requests, s.metrics.streams, s.metrics.results} {
		if err := cfg.Registry.Register(c); err != nil {
			return nil, err
		}
	}
	s.routes()
	return s, nil
}

// Handler returns the HTTP handler (for tests and custom listeners).
func (s *Server) Handler() http.Handler { return s.e }

func (s *Server) routes() {
	e := s.e
	e.HideBanner = true
	e.HidePort = true
	e.HTTPErrorHandler = s.errorHandler
	e.Use(s.recoverer, s.correlate, s.observe)

	e.GET("/healthz", func(c echo.Context) error { return c.JSON(http.StatusOK, map[string]string{"status": "ok"}) })
	e.GET("/readyz", s.ready)
	e.GET("/metrics", echo.WrapHandler(promhttp.HandlerFor(s.cfg.Registry, promhttp.HandlerOpts{})))

	// Middleware is attached per route, not per group: echo's Group.Use
	// registers catch-all routes that would turn 405s into 404s.
	client, executor := s.clientAuth, s.executorAuth
	e.POST("/v1/sessions", s.createSession, client)
	e.GET("/v1/sessions", s.listSessions, client)
	e.GET("/v1/sessions/:id", s.getSession, client)
	e.DELETE("/v1/sessions/:id", s.endSession, client)
	e.POST("/v1/sessions/:id/keepalive", s.keepaliveSession, client)
	e.POST("/v1/execute", s.execute, client)
	e.GET("/v1/clusters", s.clusters, client)

	e.GET("/v1/executor/stream", s.stream, executor)
	e.POST("/v1/executor/results", s.results, executor)

	e.POST("/debug/session", s.debugCreateSession, client)
	e.GET("/debug/session/:id", s.debugGetSession, client)
	e.DELETE("/debug/session/:id", s.debugEndSession, client)
	e.POST("/debug/execute", s.debugExecute, client)
	e.GET("/debug/clusters", s.debugClusters, client)
}

// Context keys set by middleware.
const (
	ctxCaller  = "kubently.caller"
	ctxCluster = "kubently.cluster"
)

var correlationRE = regexp.MustCompile(`^[A-Za-z0-9._:-]{1,128}$`)

// correlate assigns the request's correlation id (kept from the client if
// well-formed) and puts it, with a logger, into the request context.
func (s *Server) correlate(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		id := c.Request().Header.Get(contracts.HeaderCorrelationID)
		if !correlationRE.MatchString(id) {
			id = contracts.NewID()
		}
		c.Response().Header().Set(contracts.HeaderCorrelationID, id)
		ctx := contracts.WithCorrelationID(c.Request().Context(), id)
		ctx = logging.NewContext(ctx, s.log.With(logging.KeyCorrelationID, id))
		c.SetRequest(c.Request().WithContext(ctx))
		return next(c)
	}
}

func (s *Server) observe(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		start := time.Now()
		err := next(c)
		if err != nil {
			c.Error(err)
		}
		route := c.Path()
		if route == "" {
			route = "unmatched"
		}
		s.metrics.requests.WithLabelValues(route, c.Request().Method, strconv.Itoa(c.Response().Status)).Observe(time.Since(start).Seconds())
		return nil
	}
}

func (s *Server) recoverer(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) (err error) {
		defer func() {
			if r := recover(); r != nil {
				if e, ok := r.(error); ok && errors.Is(e, http.ErrAbortHandler) {
					panic(r)
				}
				s.log.Error("panic in handler", "panic", r, "path", c.Path())
				err = contracts.Errorf(contracts.CodeInternal, "internal error")
			}
		}()
		return next(c)
	}
}

func (s *Server) clientAuth(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		id, err := s.cfg.Keys.Identify(c.Request().Header.Get(contracts.HeaderAPIKey))
		if err != nil {
			msg := "missing API key: send it in the " + contracts.HeaderAPIKey + " header"
			if errors.Is(err, auth.ErrBadCredentials) {
				msg = "invalid API key"
			}
			return writeError(c, contracts.Errorf(contracts.CodeUnauthorized, "%s", msg))
		}
		c.Set(ctxCaller, id)
		ctx := logging.NewContext(c.Request().Context(), logging.FromContext(c.Request().Context()).With(logging.KeyCaller, id))
		c.SetRequest(c.Request().WithContext(ctx))
		return next(c)
	}
}

func caller(c echo.Context) string {
	id, _ := c.Get(ctxCaller).(string)
	return id
}

func (s *Server) ready(c echo.Context) error {
	failed := ops.CheckAll(c.Request().Context(), map[string]ops.Check{
		"nats": func(context.Context) error {
			if !s.cfg.Conn.IsConnected() {
				return errors.New("not connected")
			}
			return nil
		},
		"store": s.cfg.Store.Ping,
	})
	if len(failed) > 0 {
		return c.JSON(http.StatusServiceUnavailable, map[string]any{"status": "unavailable", "failed": failed})
	}
	return c.JSON(http.StatusOK, map[string]string{"status": "ready"})
}

// Serve serves on ln until ctx ends, then ends the executor streams and
// shuts down within 10 s.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	srv := &http.Server{Handler: s.e, ReadHeaderTimeout: 10 * time.Second}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		if errors.Is(err, http.ErrServerClosed) {
			return nil
		}
		return err
	case <-ctx.Done():
	}
	s.closeOnce.Do(func() { close(s.closing) })
	sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		s.log.Warn("gateway shutdown", "err", err)
	}
	return nil
}

// Close ends every executor stream this server holds (as on shutdown).
func (s *Server) Close() { s.closeOnce.Do(func() { close(s.closing) }) }
