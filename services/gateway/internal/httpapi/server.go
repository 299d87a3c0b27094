package httpapi

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"regexp"
	"sync"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/nats-io/nats.go"
	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel/trace"

	"kubently.io/libs/audit"
	"kubently.io/libs/authz"
	"kubently.io/libs/contracts"
	"kubently.io/libs/logging"
	"kubently.io/libs/ops"
	"kubently.io/libs/store"
	"kubently.io/libs/telemetry"
	"kubently.io/services/gateway/internal/auth"
	"kubently.io/services/gateway/internal/backoff"
	"kubently.io/services/gateway/internal/handoff"
	"kubently.io/services/gateway/internal/hub"
	"kubently.io/services/gateway/internal/liveness"
	"kubently.io/services/gateway/internal/presence"
	"kubently.io/services/gateway/internal/settle"
	"kubently.io/services/gateway/internal/sweep"
)

// Store is what the gateway needs of the state store.
type Store interface {
	store.Presence
	Claim(ctx context.Context, cluster, consumer string, max int) ([]contracts.Command, error)
	Ack(ctx context.Context, cluster string, commandIDs []string) (int, error)
	Owner(ctx context.Context, commandID string) (string, error)
	MarkAnswered(ctx context.Context, commandID, executorID string) (first bool, prevExecutor string, err error)
	Hold(ctx context.Context, cluster, commandID string, holder contracts.CommandHolder) error
	settle.Fencer
	Queues(ctx context.Context, clusters []string) ([]store.QueueState, error)
	IndexedQueues(ctx context.Context, clusters []string) ([]store.QueueState, error)
	GetCluster(ctx context.Context, id string) (store.ClusterRecord, error)
	ListClusters(ctx context.Context) ([]store.ClusterRecord, error)
	CreateCluster(ctx context.Context, c store.ClusterRecord) error
	SwapCluster(ctx context.Context, oldTokenHash string, c store.ClusterRecord) error
	store.ClusterLabels
	PutDiscovery(ctx context.Context, cluster string, d contracts.ExecutorDiscovery) error
	Ping(ctx context.Context) error
}

// Config configures New.
type Config struct {
	// Conn is the NATS connection; required.
	Conn *nats.Conn
	// Store is the state store; required.
	Store Store
	// Auth authenticates clients; required.
	Auth *auth.Authenticator
	// Limiter rate-limits client requests per identity and per cluster;
	// nil means no limits.
	Limiter *authz.Limiter
	// Audit writes the gateway's audit records (auth_denied,
	// key_changed); required.
	Audit AuditWriter
	// AuditReader serves GET /v1/audit and /v1/audit/stream; required.
	AuditReader AuditReader
	// AuditPing is the comment interval of /v1/audit/stream; zero means
	// 15s.
	AuditPing time.Duration
	// AuditTimeout bounds one audit write; zero means 5s.
	AuditTimeout time.Duration
	// Hub wakes local executor streams; required.
	Hub *hub.Hub
	// Contacts records executor contact (heartbeats, acks, results) per
	// stream this replica holds; nil means a registry only this server
	// uses, which contacts posted to other replicas cannot reach (the app
	// subscribes the one it passes here, see liveness.Registry.Subscribe).
	Contacts *liveness.Registry
	// HandOffs routes the commands dispatchers hand straight to the
	// streams this replica holds; nil means a registry only this server
	// uses, which no dispatcher reaches (the app subscribes the one it
	// passes here, see handoff.Registry.Subscribe).
	HandOffs *handoff.Registry
	// Log is the logger; required.
	Log *slog.Logger
	// Registry receives and serves metrics; nil means a new registry.
	Registry *prometheus.Registry
	// Name identifies this gateway replica (in presence records).
	Name string
	// Heartbeat is the SSE heartbeat interval; zero means 5s. Executors
	// that post heartbeats are asked to post them at this interval too.
	Heartbeat time.Duration
	// ContactTimeout closes a stream whose executor announced heartbeats
	// (contracts.HeaderExecutorHeartbeats) and was not heard from for this
	// long; it also bounds each write to any stream. Zero means 3 ×
	// Heartbeat.
	ContactTimeout time.Duration
	// PresenceTTL is the TTL of the replica's presence lease, which keeps
	// the presence records of all its streams (package presence): if the
	// replica stops renewing it (it renews every PresenceTTL/3), its
	// streams vanish from presence within PresenceTTL. Zero means 3 ×
	// Heartbeat.
	PresenceTTL time.Duration
	// Poll is how often the replica's sweep (package sweep) asks the store
	// which of the clusters it holds streams of have a command to hand out
	// that no notify announced (a lost notify, or a lease that ran out
	// without an ack), and wakes one stream of each; zero means 2s. Such
	// a command reaches a stream within about Poll.
	Poll time.Duration
	// RequestMargin is added to a command's timeout for the NATS request to
	// the dispatcher; zero means 5s.
	RequestMargin time.Duration
	// StoreTimeout bounds each store call; zero means 5s.
	StoreTimeout time.Duration
	// Limits bounds connections, headers, failed authentications and
	// streams (see Limits; zero values are defaults).
	Limits Limits
	// MetricsOnClientPort serves /metrics on this server too; false (the
	// default) leaves it to the ops server (package ops), off the port
	// clients reach.
	MetricsOnClientPort bool
	// MetricsToken, when set, is the bearer token /metrics on this server
	// requires (ops.MetricsHandler).
	MetricsToken string
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
	// streamsMu guards streamsOf: the executor streams this replica holds
	// per cluster, so the last one to end can drop the cluster's queue
	// depth series rather than leave a stale value behind.
	streamsMu sync.Mutex
	streamsOf map[string]int
	// settler settles execute requests in flight across NATS disruptions.
	settler *settle.Settler
	// backoff refuses addresses that failed to authenticate too often.
	backoff *backoff.Table
	// routeSet holds the registered route templates: the only route
	// labels besides "unmatched".
	routeSet map[string]bool
	// registry caches the records that verified executor tokens.
	registry *registryCache
	// presence keeps the presence records of the streams held here
	// under one lease.
	presence *presence.Keeper
}

type metrics struct {
	requests     *prometheus.HistogramVec
	streams      prometheus.Gauge
	results      *prometheus.CounterVec
	authFailures *prometheus.CounterVec
	rateLimited  *prometheus.CounterVec
	sse          *prometheus.GaugeVec
	executors    *prometheus.GaugeVec
	auditErrors  *prometheus.CounterVec
	natsErrors   *prometheus.CounterVec
	queueDepth   *prometheus.GaugeVec
	acks         *prometheus.CounterVec
	// contactTimeouts counts streams closed for want of executor contact;
	// heartbeats counts POST /v1/executor/heartbeat by outcome.
	contactTimeouts prometheus.Counter
	heartbeats      *prometheus.CounterVec
	// localHeartbeats is heartbeats{outcome="local"}, the one counted
	// thousands of times a second on a replica holding many streams.
	localHeartbeats prometheus.Counter
	// sweepWakeups counts streams the sweep woke; sweepErrors its failed
	// store calls.
	sweepWakeups prometheus.Counter
	sweepErrors  prometheus.Counter
	// refusals counts requests refused at the edge by reason.
	refusals *prometheus.CounterVec
	// leaseRenewals counts presence lease renewals by outcome.
	leaseRenewals *prometheus.CounterVec
	// handOffs counts the batches dispatchers handed to this replica.
	handOffs *prometheus.CounterVec
}

// New builds the server and its routes.
func New(cfg Config) (*Server, error) {
	if cfg.Conn == nil || cfg.Store == nil || cfg.Auth == nil || cfg.Audit == nil || cfg.AuditReader == nil || cfg.Hub == nil || cfg.Log == nil {
		return nil, errors.New("httpapi: Conn, Store, Auth, Audit, AuditReader, Hub and Log are required")
	}
	if cfg.AuditPing <= 0 {
		cfg.AuditPing = 15 * time.Second
	}
	if cfg.AuditTimeout <= 0 {
		cfg.AuditTimeout = 5 * time.Second
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
	if cfg.ContactTimeout <= 0 {
		cfg.ContactTimeout = 3 * cfg.Heartbeat
	}
	if cfg.Contacts == nil {
		cfg.Contacts = liveness.New()
	}
	if cfg.HandOffs == nil {
		cfg.HandOffs = handoff.New()
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
	cfg.Limits.defaults()
	bo, err := backoff.New(cfg.Limits.AuthBackoff)
	if err != nil {
		return nil, fmt.Errorf("httpapi: %w", err)
	}
	s := &Server{cfg: cfg, log: cfg.Log, e: echo.New(), closing: make(chan struct{}), streamsOf: map[string]int{}, backoff: bo}
	s.registry = newRegistryCache(cfg.Hub.Revocations)
	s.metrics = &metrics{
		requests: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "kubently_gateway_http_request_duration_seconds",
			Help:    "HTTP request latency by route template (unmatched for a path no route serves), method (a standard method or OTHER) and status code.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 18),
		}, []string{"route", "method", "code"}),
		streams: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "kubently_gateway_executor_streams",
			Help: "Executor SSE streams held by this gateway replica.",
		}),
		results: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "kubently_gateway_executor_results_total",
			Help: "Executor result posts by outcome: accepted (handed to the waiting dispatcher), duplicate (the same executor's result again, nobody waiting), duplicate_other (another executor answered first), late (first answer, nobody waiting any more), unknown (unknown or long expired command), cluster_mismatch, bad_request.",
		}, []string{"outcome"}),
		authFailures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "kubently_gateway_auth_failures_total",
			Help: "Refused client authentications by reason.",
		}, []string{"reason"}),
		rateLimited: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "kubently_gateway_rate_limited_total",
			Help: "Client requests refused with 429 by the bucket that was empty (identity or cluster).",
		}, []string{"kind"}),
		sse: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "kubently_gateway_sse_connections",
			Help: "Open SSE connections on this replica by stream (executor, audit).",
		}, []string{"stream"}),
		executors: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "kubently_gateway_connected_executors",
			Help: "Executor streams held by this replica, by cluster.",
		}, []string{"cluster"}),
		auditErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "kubently_gateway_audit_write_errors_total",
			Help: "Audit records the gateway failed to write, by event.",
		}, []string{"event"}),
		natsErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "kubently_gateway_nats_request_errors_total",
			Help: "Failed NATS requests (no responders, timeouts, unavailable or internal error replies) by subject prefix and error code.",
		}, []string{"subject", "code"}),
		queueDepth: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "kubently_bridge_queue_depth",
			Help: "Commands waiting in a cluster's bridge queue (store.Bridge.Depth), refreshed by each sweep (every poll interval) for the clusters this replica holds streams of; absent while it holds none.",
		}, []string{"cluster"}),
		acks: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "kubently_gateway_executor_acks_total",
			Help: "Command ids in executor acks (POST /v1/executor/ack, and results, which ack too) by outcome: acked (removed from the queue now), noop (already acked, expired or unknown), error.",
		}, []string{"outcome"}),
		contactTimeouts: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "kubently_gateway_executor_contact_timeouts_total",
			Help: "Executor streams this replica closed because their executor, which announced heartbeats, was not heard from within the contact timeout (a half-open connection).",
		}),
		heartbeats: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "kubently_gateway_executor_heartbeats_total",
			Help: "Executor heartbeats (POST /v1/executor/heartbeat) by outcome: local (this replica holds the stream), forwarded (passed to the holder over NATS), relayed (received over NATS for a stream held here), unknown_stream, unauthorized, bad_request, unavailable.",
		}, []string{"outcome"}),
		sweepWakeups: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "kubently_gateway_sweep_wakeups_total",
			Help: "Executor streams the replica's bridge sweep woke because their cluster had a command to hand out that no notify announced: a lost notify, a lease that ran out without an ack (redelivery), or a notify still on its way.",
		}),
		sweepErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "kubently_gateway_sweep_errors_total",
			Help: "Bridge sweeps whose store call (Queues) failed; the next sweep, one poll interval later, tries again.",
		}),
		refusals: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "kubently_gateway_edge_refusals_total",
			Help: "Requests refused at the edge by reason: headers_too_large, auth_backoff (the address failed to authenticate too often), audit_stream_limit, executor_stream_limit.",
		}, []string{"reason"}),
		leaseRenewals: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "kubently_gateway_presence_lease_renewals_total",
			Help: "Renewals of the replica's presence lease (one every presence TTL / 3, keeping the presence of all its executor streams) by outcome: ok, lapsed (the lease had run out: every stream is joined again), error (retried on the next renewal; after a presence TTL of errors the replica's streams drop out of presence).",
		}, []string{"outcome"}),
		handOffs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "kubently_gateway_handoffs_total",
			Help: "Batches of commands dispatchers handed straight to an executor stream of this replica, by outcome: offered (passed to the stream, which writes them), no_stream (the stream is gone or its inbox full; the dispatcher releases them to the queue).",
		}, []string{"outcome"}),
	}
	if err := ops.Register(cfg.Registry, s.metrics.requests, s.metrics.streams, s.metrics.results,
		s.metrics.authFailures, s.metrics.rateLimited, s.metrics.sse, s.metrics.executors, s.metrics.auditErrors, s.metrics.natsErrors, s.metrics.queueDepth, s.metrics.acks,
		s.metrics.contactTimeouts, s.metrics.heartbeats, s.metrics.sweepWakeups, s.metrics.sweepErrors, s.metrics.refusals, s.metrics.leaseRenewals, s.metrics.handOffs); err != nil {
		return nil, err
	}
	s.metrics.localHeartbeats = s.metrics.heartbeats.WithLabelValues("local")
	s.settler = settle.New(cfg.Store, cfg.StoreTimeout, cfg.Log)
	if err := ops.Register(cfg.Registry, s.settler.Collector()); err != nil {
		return nil, err
	}
	if err := s.settler.Watch(s.cfg.Conn, s.closing); err != nil {
		return nil, err
	}
	if err := s.startSweep(s.closing); err != nil {
		return nil, err
	}
	if err := s.startPresence(s.closing); err != nil {
		return nil, err
	}
	s.routes()
	return s, nil
}

// startSweep runs the replica's bridge sweep (package sweep) every Poll
// until done is closed.
func (s *Server) startSweep(done <-chan struct{}) error {
	sw, err := sweep.New(sweep.Config{
		Store: s.cfg.Store, Hub: s.cfg.Hub, Interval: s.cfg.Poll, Timeout: s.cfg.StoreTimeout, Log: s.log,
		OnSweep: func(held []string, queues []store.QueueState, woken int, err error) {
			s.metrics.sweepWakeups.Add(float64(woken))
			if err != nil {
				s.metrics.sweepErrors.Inc()
				return
			}
			s.observeDepths(held, queues)
		},
	})
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		<-done
		cancel()
	}()
	go sw.Run(ctx)
	return nil
}

// startPresence creates the replica's presence keeper (package presence)
// and renews its lease every PresenceTTL/3 until done is closed.
func (s *Server) startPresence(done <-chan struct{}) error {
	k, err := presence.New(presence.Config{
		Store: s.cfg.Store, TTL: s.cfg.PresenceTTL, Timeout: s.cfg.StoreTimeout, Log: s.log,
		OnRenew: func(lapsed bool, err error) {
			switch {
			case err != nil:
				s.metrics.leaseRenewals.WithLabelValues("error").Inc()
			case lapsed:
				s.metrics.leaseRenewals.WithLabelValues("lapsed").Inc()
			default:
				s.metrics.leaseRenewals.WithLabelValues("ok").Inc()
			}
		},
	})
	if err != nil {
		return err
	}
	s.presence = k
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		<-done
		cancel()
	}()
	go k.Run(ctx)
	return nil
}

// Handler returns the HTTP handler (for tests and custom listeners).
func (s *Server) Handler() http.Handler { return s.e }

func (s *Server) routes() {
	e := s.e
	e.HideBanner = true
	e.HidePort = true
	e.HTTPErrorHandler = s.errorHandler
	// The client address (audit records, the authentication back-off) is
	// the connection's unless a proxy is trusted to say it.
	e.IPExtractor = echo.ExtractIPDirect()
	if s.cfg.Limits.TrustForwardedFor {
		e.IPExtractor = echo.ExtractIPFromXFFHeader()
	}
	e.Use(s.recoverer, s.edge, s.trace, s.correlate, s.observe)

	e.GET("/healthz", func(c echo.Context) error { return c.JSON(http.StatusOK, map[string]string{"status": "ok"}) })
	e.GET("/readyz", s.ready)
	if s.cfg.MetricsOnClientPort {
		e.GET("/metrics", echo.WrapHandler(ops.MetricsHandler(s.cfg.Registry, s.cfg.MetricsToken)))
	}

	// Middleware is attached per route, not per group: echo's Group.Use
	// registers catch-all routes that would turn 405s into 404s. Every
	// authenticated route goes through the authentication back-off first.
	client := func(next echo.HandlerFunc) echo.HandlerFunc { return s.authGuard(s.clientAuth(next)) }
	e.POST(contracts.PathSessions, s.createSession, client)
	e.GET(contracts.PathSessions, s.listSessions, client)
	e.GET(contracts.PathSession, s.getSession, client)
	e.DELETE(contracts.PathSession, s.endSession, client)
	e.POST(contracts.PathSessionKeepalive, s.keepaliveSession, client)
	e.POST(contracts.PathExecute, s.execute, client)
	e.POST(contracts.PathDiagnose, s.diagnose, client)
	e.GET(contracts.PathClusters, s.clusters, client)
	e.POST(contracts.PathClusterToken, s.createToken, client)
	e.POST(contracts.PathClusterTokenRotate, s.rotateToken, client)
	e.DELETE(contracts.PathClusterToken, s.revokeToken, client)
	e.POST(contracts.PathClusterLabels, s.labelCluster, client)
	e.POST(contracts.PathFleetExecute, s.fleetExecute, client)
	e.POST(contracts.PathFleetDiagnose, s.fleetDiagnose, client)
	e.GET(contracts.PathAudit, s.auditQuery, client)
	e.GET(contracts.PathAuditStream, s.auditStream, client, s.streamCap("audit"))
	e.POST(contracts.PathMCP, s.mcpRoute(), client)
	e.GET(contracts.PathOpenAPIYAML, s.openapiYAML)
	e.GET(contracts.PathOpenAPIJSON, s.openapiJSON)

	s.executorRoutes(e)

	e.POST("/debug/session", s.debugCreateSession, client)
	e.GET("/debug/session/:id", s.debugGetSession, client)
	e.DELETE("/debug/session/:id", s.debugEndSession, client)
	e.POST("/debug/execute", s.debugExecute, client)
	e.GET("/debug/clusters", s.debugClusters, client)

	s.routeSet = map[string]bool{}
	for _, r := range e.Routes() {
		s.routeSet[r.Path] = true
	}
}

// Context keys set by middleware.
const (
	ctxIdentity = "kubently.identity"
	ctxCluster  = "kubently.cluster"
	// ctxTokenHash is the registry hash the executor's token matched.
	ctxTokenHash = "kubently.token_hash"
)

// Log keys of the caller on every log line of a request.
const (
	logKeyIdentity = "identity"
	logKeyRole     = "role"
)

var correlationRE = regexp.MustCompile(`^[A-Za-z0-9._:-]{1,128}$`)

// untraced are the routes without a per-request span: long-lived streams
// (a span would last the connection), executor heartbeats (one per stream
// every few seconds) and the ops routes.
var untraced = map[string]bool{
	contracts.PathExecutorStream: true, contracts.PathAuditStream: true, contracts.PathExecutorHeartbeat: true,
	"/healthz": true, "/readyz": true, "/metrics": true,
}

// trace runs each request under a server span, the child of the
// caller's traceparent if it sent one (an executor posting a result does).
func (s *Server) trace(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		if untraced[c.Path()] {
			return next(c)
		}
		ctx, span := telemetry.StartHTTPServer(c.Request(), c.Path())
		c.SetRequest(c.Request().WithContext(ctx))
		err := next(c)
		status := c.Response().Status
		var he *echo.HTTPError
		if errors.As(err, &he) {
			status = he.Code
		}
		telemetry.EndHTTPServer(span, status)
		return err
	}
}

// correlate assigns the request's correlation id (kept from the client if
// well-formed) and puts it, with a logger, into the request context.
func (s *Server) correlate(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		id := c.Request().Header.Get(contracts.HeaderCorrelationID)
		if !correlationRE.MatchString(id) {
			id = contracts.NewID()
		}
		c.Response().Header().Set(contracts.HeaderCorrelationID, id)
		trace.SpanFromContext(c.Request().Context()).SetAttributes(telemetry.AttrCorrelationID.String(id))
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
		if !s.routeSet[route] || c.Response().Status == http.StatusNotFound && echoNotFound(c) {
			route = "unmatched"
		}
		s.metrics.requests.WithLabelValues(route, methodLabel(c.Request().Method), statusLabel(c.Response().Status)).Observe(time.Since(start).Seconds())
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

// clientAuth authenticates a client (API key or OIDC token), answers 401
// (counted, audited) when that fails, applies the per-identity rate limit
// and puts the identity into the echo and request contexts and the logger.
func (s *Server) clientAuth(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		ctx := c.Request().Context()
		id, fail := s.cfg.Auth.Authenticate(ctx, c.Request())
		if fail != nil {
			return s.refuse(c, fail)
		}
		c.Set(ctxIdentity, id)
		log := logging.FromContext(ctx).With(logKeyIdentity, id.Principal(), logKeyRole, string(id.Role))
		c.SetRequest(c.Request().WithContext(logging.NewContext(ctx, log)))
		if err := s.limit(c, id.Principal(), ""); err != nil {
			return writeError(c, err)
		}
		return next(c)
	}
}

// refuse answers a failed authentication: 401 with challenges, a metric
// and an auth_denied audit record (never with key or token material).
func (s *Server) refuse(c echo.Context, fail *auth.Failure) error {
	ctx := c.Request().Context()
	s.metrics.authFailures.WithLabelValues(string(fail.Reason)).Inc()
	remote := c.RealIP()
	logging.FromContext(ctx).Warn("client authentication failed", "reason", string(fail.Reason), "remote", remote, "claimed", fail.Claimed)
	rec := audit.Record{
		Event: audit.EventAuthDenied, Identity: fail.Claimed, Remote: remote, Outcome: audit.OutcomeDenied,
		Reason: string(fail.Reason), Gateway: s.cfg.Name, CorrelationID: auditID(contracts.CorrelationIDFrom(ctx)),
		Message: methodLabel(c.Request().Method) + " " + c.Path(),
	}.Clamp()
	s.writeAudit(ctx, rec)
	h := c.Response().Header()
	h.Add("WWW-Authenticate", `ApiKey header="`+contracts.HeaderAPIKey+`"`)
	if s.cfg.Auth.OIDCEnabled() {
		ch := `Bearer realm="kubently"`
		if fail.Bearer {
			ch += `, error="invalid_token"`
		}
		h.Add("WWW-Authenticate", ch)
	}
	return writeError(c, &contracts.Error{Code: contracts.CodeUnauthorized, Reason: string(fail.Reason), Message: fail.Message})
}

// writeAudit writes rec within AuditTimeout, even if the request is gone;
// a failure is logged and counted, never returned to the client.
func (s *Server) writeAudit(ctx context.Context, rec audit.Record) {
	wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.cfg.AuditTimeout)
	defer cancel()
	if err := s.cfg.Audit.Write(wctx, rec); err != nil {
		s.metrics.auditErrors.WithLabelValues(string(rec.Event)).Inc()
		logging.FromContext(ctx).Error("audit write failed", "event", string(rec.Event), logging.KeyErr, err)
	}
}

// auditID returns id if it may stand in an audit record's id field, else
// "" (client correlation ids allow '.' and ':', audit ids do not).
func auditID(id string) string {
	if !contracts.IsID(id) {
		return ""
	}
	return id
}

// identity returns the authenticated caller of a client route.
func identity(c echo.Context) authz.Identity {
	id, _ := c.Get(ctxIdentity).(authz.Identity)
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

// HTTPServer returns the http.Server Serve runs: the handler under the
// connection limits of Config.Limits. Serve it on Listener(ln).
func (s *Server) HTTPServer() *http.Server {
	l := s.cfg.Limits
	// No server-wide WriteTimeout: it would end SSE streams. Responses get
	// theirs per request (edge), stream events per event.
	return &http.Server{Handler: s.e, ReadHeaderTimeout: l.ReadHeaderTimeout, ReadTimeout: l.ReadTimeout,
		IdleTimeout: l.IdleTimeout, MaxHeaderBytes: l.MaxHeaderBytes}
}

// Listener wraps ln so that the refusals net/http writes itself, in plain
// text, before any handler runs (431 and malformed requests) go out as
// the JSON error shape.
func Listener(ln net.Listener) net.Listener { return jsonErrors{ln} }

// Serve serves on ln until ctx ends, then ends the executor streams and
// shuts down within 10 s.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	srv := s.HTTPServer()
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(Listener(ln)) }()
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
