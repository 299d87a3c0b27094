// Package app is the gateway's composition root: Run builds the real NATS
// connection and store from Config and serves HTTP; Start wires the gateway
// onto dependencies the caller already has (used by `kubently dev` and
// tests).
package app

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"kubently.io/libs/audit"
	"kubently.io/libs/authz"
	"kubently.io/libs/config"
	"kubently.io/libs/contracts"
	"kubently.io/libs/logging"
	"kubently.io/libs/natsutil"
	"kubently.io/libs/ops"
	"kubently.io/libs/store"
	"kubently.io/libs/store/backend"
	"kubently.io/libs/telemetry"
	"kubently.io/services/gateway/internal/auth"
	"kubently.io/services/gateway/internal/backoff"
	"kubently.io/services/gateway/internal/handoff"
	"kubently.io/services/gateway/internal/httpapi"
	"kubently.io/services/gateway/internal/hub"
	"kubently.io/services/gateway/internal/liveness"
)

// Config is the gateway's configuration. Zero values of the fields with
// defaults mean those defaults, so a Config built in code (tests,
// `kubently dev`) needs only what it changes.
type Config struct {
	config.Platform
	// ConnConfig holds the NATS credentials and TLS settings
	// (KUBENTLY_NATS_CREDS_FILE, _NKEY_FILE, _USER, _PASSWORD, _TLS_*).
	natsutil.ConnConfig
	// RedisConfig holds the Redis credentials, TLS and Sentinel settings
	// (KUBENTLY_REDIS_USERNAME, _PASSWORD, _TLS_*, _SENTINEL_*).
	backend.RedisConfig
	// Config holds the tracing settings (KUBENTLY_TRACING, off by default).
	telemetry.Config
	// Addr is the HTTP listen address.
	Addr string `env:"KUBENTLY_GATEWAY_ADDR" default:":8080"`
	// APIKeys are client keys, comma- or newline-separated: `name:key`
	// (an operator on every cluster) or `name:role:key` with role admin,
	// operator or viewer. The name is the caller's identity. Empty means
	// none from the environment.
	APIKeys []string `env:"KUBENTLY_API_KEYS"`
	// APIKeysFile is a YAML key file (authz key file: names, roles,
	// sha256 hashes, scopes), merged with APIKeys and re-read every
	// APIKeysReload; a bad file keeps the last good keys. Empty means no
	// file.
	APIKeysFile string `env:"KUBENTLY_API_KEYS_FILE"`
	// APIKeysReload is how often APIKeysFile is polled for changes; zero
	// means 5s.
	APIKeysReload time.Duration `env:"KUBENTLY_API_KEYS_RELOAD_INTERVAL" default:"5s"`
	// OIDCIssuer enables OIDC bearer tokens: the issuer URL, which must
	// serve discovery at start-up (the gateway does not start otherwise).
	// Empty means OIDC is off.
	OIDCIssuer string `env:"KUBENTLY_OIDC_ISSUER"`
	// OIDCAudience is the aud tokens must carry; required with OIDCIssuer.
	OIDCAudience string `env:"KUBENTLY_OIDC_AUDIENCE"`
	// OIDCRoleClaim names the claim holding the role; empty means
	// "kubently_role".
	OIDCRoleClaim string `env:"KUBENTLY_OIDC_ROLE_CLAIM" default:"kubently_role"`
	// OIDCScopesClaim names the claim holding the scopes (a JSON list of
	// {clusters, namespaces}); empty means "kubently_scopes". A non-admin
	// token without it reaches no cluster.
	OIDCScopesClaim string `env:"KUBENTLY_OIDC_SCOPES_CLAIM" default:"kubently_scopes"`
	// OIDCUsernameClaim names the claim used as the identity; empty means
	// "sub". OIDC identities are "oidc:<username>".
	OIDCUsernameClaim string `env:"KUBENTLY_OIDC_USERNAME_CLAIM" default:"sub"`
	// OIDCDefaultRole is the role of tokens without a role claim; empty
	// means such tokens are refused.
	OIDCDefaultRole string `env:"KUBENTLY_OIDC_DEFAULT_ROLE"`
	// RateLimitPerIdentity is each identity's sustained request rate
	// (requests/second) on the client routes; zero turns it off.
	RateLimitPerIdentity float64 `env:"KUBENTLY_RATE_LIMIT_PER_IDENTITY" default:"20"`
	// RateLimitIdentityBurst is the per-identity bucket size; zero means
	// max(1, rate).
	RateLimitIdentityBurst int `env:"KUBENTLY_RATE_LIMIT_IDENTITY_BURST" default:"40"`
	// RateLimitPerCluster is each cluster's sustained request rate
	// (requests/second, all callers together); zero turns it off.
	RateLimitPerCluster float64 `env:"KUBENTLY_RATE_LIMIT_PER_CLUSTER" default:"100"`
	// RateLimitClusterBurst is the per-cluster bucket size; zero means
	// max(1, rate).
	RateLimitClusterBurst int `env:"KUBENTLY_RATE_LIMIT_CLUSTER_BURST" default:"200"`
	// AuditMaxAge is how long the audit stream keeps records; zero means
	// 2160h (90 days).
	AuditMaxAge time.Duration `env:"KUBENTLY_AUDIT_MAX_AGE" default:"2160h"`
	// AuditReplicas is the audit stream's replication factor (1-5, more
	// than 1 needs a NATS cluster); zero means 1.
	AuditReplicas int `env:"KUBENTLY_AUDIT_REPLICAS" default:"1"`
	// AgentTokens registers clusters and their executor tokens: a JSON
	// object {"cluster": "token"} or cluster:token entries. Tokens are
	// stored hashed. Only clusters absent from the registry are seeded:
	// a cluster registered earlier keeps its registry token (rotated or
	// revoked through the token API), whatever this value says.
	AgentTokens string `env:"KUBENTLY_AGENT_TOKENS"`
	// Name identifies this replica in presence records; empty means the
	// host name.
	Name string `env:"KUBENTLY_GATEWAY_NAME"`
	// Heartbeat is the SSE heartbeat interval.
	Heartbeat time.Duration `env:"KUBENTLY_SSE_HEARTBEAT" default:"5s"`
	// ExecutorContactTimeout closes the stream of an executor that posts
	// heartbeats once none arrived for this long, and bounds each write to
	// a stream; zero means 3 × Heartbeat. At least 2 × Heartbeat, at most
	// 10m.
	ExecutorContactTimeout time.Duration `env:"KUBENTLY_EXECUTOR_CONTACT_TIMEOUT"`
	// BridgeVisibility is how long a command sent to an executor stays
	// leased to it without an ack before another stream may send it again
	// (the bridge's visibility timeout), 1s-5m.
	BridgeVisibility time.Duration `env:"KUBENTLY_BRIDGE_VISIBILITY_TIMEOUT" default:"10s"`
	// OpsAddr serves /healthz, /readyz and /metrics (the gateway's
	// metrics are not on Addr unless MetricsOnClientPort); empty disables
	// it. It shadows config.Platform's field of the same variable, whose
	// default is empty: the gateway's is :9090.
	OpsAddr string `env:"KUBENTLY_OPS_ADDR" default:":9090"`
	// MetricsOnClientPort serves /metrics on Addr too (behind
	// KUBENTLY_METRICS_TOKEN when set), for setups that scrape the client
	// port; off by default, since /metrics names every cluster.
	MetricsOnClientPort bool `env:"KUBENTLY_METRICS_ON_CLIENT_PORT" default:"false"`
	// ReadHeaderTimeout bounds reading a request's headers (1s-10m).
	ReadHeaderTimeout time.Duration `env:"KUBENTLY_HTTP_READ_HEADER_TIMEOUT" default:"10s"`
	// ReadTimeout bounds reading a whole request, body included; a body
	// still arriving then is cut with 408 request_timeout. SSE streams
	// (GETs) are not affected (1s-10m).
	ReadTimeout time.Duration `env:"KUBENTLY_HTTP_READ_TIMEOUT" default:"30s"`
	// WriteTimeout bounds writing one response, from its first byte; SSE
	// streams bound each event by KUBENTLY_EXECUTOR_CONTACT_TIMEOUT
	// instead (1s-10m).
	WriteTimeout time.Duration `env:"KUBENTLY_HTTP_WRITE_TIMEOUT" default:"30s"`
	// IdleTimeout closes a keep-alive connection idle this long (1s-1h).
	IdleTimeout time.Duration `env:"KUBENTLY_HTTP_IDLE_TIMEOUT" default:"120s"`
	// MaxHeaderBytes bounds a request's line and headers; beyond, 431
	// headers_too_large (4096-1048576).
	MaxHeaderBytes int `env:"KUBENTLY_HTTP_MAX_HEADER_BYTES" default:"32768"`
	// AuditStreamsPerIdentity caps one identity's concurrent
	// /v1/audit/stream connections per replica (429 stream_limit beyond);
	// zero means 4, negative means no cap.
	AuditStreamsPerIdentity int `env:"KUBENTLY_AUDIT_STREAMS_PER_IDENTITY" default:"4"`
	// ExecutorStreamsPerCluster caps one cluster's concurrent executor
	// streams per replica (429 stream_limit beyond); zero means 16,
	// negative means no cap.
	ExecutorStreamsPerCluster int `env:"KUBENTLY_EXECUTOR_STREAMS_PER_CLUSTER" default:"16"`
	// AuthBackoffFailures is how many failed authentications (API key,
	// OIDC token or executor token) one client address may have within
	// AuthBackoffWindow before it is refused with 429 auth_backoff for 1s,
	// doubling with each further failure up to AuthBackoffMax; zero
	// means 10, negative turns the back-off off.
	AuthBackoffFailures int `env:"KUBENTLY_AUTH_BACKOFF_FAILURES" default:"10"`
	// AuthBackoffWindow is how long a failed authentication counts (1s-1h).
	AuthBackoffWindow time.Duration `env:"KUBENTLY_AUTH_BACKOFF_WINDOW" default:"1m"`
	// AuthBackoffMax bounds one refusal (1s-24h).
	AuthBackoffMax time.Duration `env:"KUBENTLY_AUTH_BACKOFF_MAX" default:"5m"`
	// TrustForwardedFor takes client addresses (audit records, the
	// authentication back-off) from X-Forwarded-For, skipping private,
	// loopback and link-local proxies: set it only behind a proxy that
	// sets the header, or any caller picks its own address.
	TrustForwardedFor bool `env:"KUBENTLY_TRUST_FORWARDED_FOR" default:"false"`
	// Version is the build version (set by ldflags, not env).
	Version string
}

// DefaultConfig is the configuration with every documented default
// applied (as config.Load gives with no environment), for callers that
// build a Config in code and want the documented behaviour, e.g. `kubently
// dev`: a zero rate limit field would turn that limit off.
func DefaultConfig() Config {
	var c Config
	_ = config.Load(&c, func(string) (string, bool) { return "", false }) // the defaults parse: TestDefaultConfig
	return c
}

// Validate checks cfg before anything connects. It does not read the key
// file or reach the OIDC issuer; Start does.
func (c Config) Validate() error {
	if err := c.Config.Validate(); err != nil {
		return err
	}
	var errs []error
	if err := errors.Join(c.Platform.Validate(), c.ConnConfig.Validate(), c.RedisConfig.Validate(c.RedisURL)); err != nil {
		errs = append(errs, err)
	}
	if _, err := authz.ParseEnvKeys(c.APIKeys); err != nil {
		errs = append(errs, err)
	}
	if _, err := ParseAgentTokens(c.AgentTokens); err != nil {
		errs = append(errs, fmt.Errorf("KUBENTLY_AGENT_TOKENS: %w", err))
	}
	if c.BridgeVisibility != 0 && (c.BridgeVisibility < time.Second || c.BridgeVisibility > 5*time.Minute) {
		errs = append(errs, fmt.Errorf("KUBENTLY_BRIDGE_VISIBILITY_TIMEOUT %s out of range [1s, 5m]", c.BridgeVisibility))
	}
	if c.Heartbeat < 100*time.Millisecond || c.Heartbeat > time.Minute {
		errs = append(errs, fmt.Errorf("KUBENTLY_SSE_HEARTBEAT %s out of range [100ms, 1m]", c.Heartbeat))
	}
	if t := c.ExecutorContactTimeout; t != 0 && (t < 2*c.Heartbeat || t > 10*time.Minute) {
		errs = append(errs, fmt.Errorf("KUBENTLY_EXECUTOR_CONTACT_TIMEOUT %s out of range [%s (2 × KUBENTLY_SSE_HEARTBEAT), 10m]", t, 2*c.Heartbeat))
	}
	if c.APIKeysReload != 0 && (c.APIKeysReload < 100*time.Millisecond || c.APIKeysReload > time.Hour) {
		errs = append(errs, fmt.Errorf("KUBENTLY_API_KEYS_RELOAD_INTERVAL %s out of range [100ms, 1h]", c.APIKeysReload))
	}
	if c.OIDCIssuer != "" {
		u, err := url.Parse(c.OIDCIssuer)
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			errs = append(errs, fmt.Errorf("KUBENTLY_OIDC_ISSUER %q: want an http(s) URL", c.OIDCIssuer))
		}
		if c.OIDCAudience == "" {
			errs = append(errs, errors.New("KUBENTLY_OIDC_AUDIENCE is required with KUBENTLY_OIDC_ISSUER"))
		}
	}
	if c.OIDCDefaultRole != "" {
		if _, err := authz.ParseRole(c.OIDCDefaultRole); err != nil {
			errs = append(errs, fmt.Errorf("KUBENTLY_OIDC_DEFAULT_ROLE: %w", err))
		}
	}
	if _, err := authz.NewLimiter(c.limits()); err != nil {
		errs = append(errs, fmt.Errorf("KUBENTLY_RATE_LIMIT_*: %w", err))
	}
	if c.AuditMaxAge < 0 || (c.AuditMaxAge > 0 && c.AuditMaxAge < time.Hour) {
		errs = append(errs, fmt.Errorf("KUBENTLY_AUDIT_MAX_AGE %s: want at least 1h", c.AuditMaxAge))
	}
	if c.AuditReplicas < 0 || c.AuditReplicas > 5 {
		errs = append(errs, fmt.Errorf("KUBENTLY_AUDIT_REPLICAS %d out of range [1, 5]", c.AuditReplicas))
	}
	errs = append(errs, c.validateLimits()...)
	return errors.Join(errs...)
}

// validateLimits checks the connection limits; zero values (a Config
// built in code) mean the defaults and pass.
func (c Config) validateLimits() []error {
	var errs []error
	durations := []struct {
		name     string
		v        time.Duration
		min, max time.Duration
	}{
		{"KUBENTLY_HTTP_READ_HEADER_TIMEOUT", c.ReadHeaderTimeout, time.Second, 10 * time.Minute},
		{"KUBENTLY_HTTP_READ_TIMEOUT", c.ReadTimeout, time.Second, 10 * time.Minute},
		{"KUBENTLY_HTTP_WRITE_TIMEOUT", c.WriteTimeout, time.Second, 10 * time.Minute},
		{"KUBENTLY_HTTP_IDLE_TIMEOUT", c.IdleTimeout, time.Second, time.Hour},
		{"KUBENTLY_AUTH_BACKOFF_WINDOW", c.AuthBackoffWindow, time.Second, time.Hour},
		{"KUBENTLY_AUTH_BACKOFF_MAX", c.AuthBackoffMax, time.Second, 24 * time.Hour},
	}
	for _, d := range durations {
		if d.v != 0 && (d.v < d.min || d.v > d.max) {
			errs = append(errs, fmt.Errorf("%s %s out of range [%s, %s]", d.name, d.v, d.min, d.max))
		}
	}
	if n := c.MaxHeaderBytes; n != 0 && (n < 4096 || n > 1<<20) {
		errs = append(errs, fmt.Errorf("KUBENTLY_HTTP_MAX_HEADER_BYTES %d out of range [4096, 1048576]", n))
	}
	return errs
}

// httpLimits are the HTTP server's limits from the configuration.
func (c Config) httpLimits() httpapi.Limits {
	return httpapi.Limits{
		ReadHeaderTimeout: c.ReadHeaderTimeout, ReadTimeout: c.ReadTimeout, WriteTimeout: c.WriteTimeout,
		IdleTimeout: c.IdleTimeout, MaxHeaderBytes: c.MaxHeaderBytes,
		AuditStreamsPerIdentity: c.AuditStreamsPerIdentity, ExecutorStreamsPerCluster: c.ExecutorStreamsPerCluster,
		AuthBackoff:       backoff.Config{Failures: c.AuthBackoffFailures, Window: c.AuthBackoffWindow, Max: c.AuthBackoffMax},
		TrustForwardedFor: c.TrustForwardedFor,
	}
}

// limits is the rate limit configuration; a burst without a rate (the
// default burst of a limit turned off) is dropped.
func (c Config) limits() authz.LimitConfig {
	var l authz.LimitConfig
	if c.RateLimitPerIdentity != 0 {
		l.PerIdentity = authz.Bucket{Rate: c.RateLimitPerIdentity, Burst: c.RateLimitIdentityBurst}
	}
	if c.RateLimitPerCluster != 0 {
		l.PerCluster = authz.Bucket{Rate: c.RateLimitPerCluster, Burst: c.RateLimitClusterBurst}
	}
	return l
}

// ErrBadTokens reports a malformed KUBENTLY_AGENT_TOKENS value.
var ErrBadTokens = errors.New("malformed agent tokens")

// ParseAgentTokens reads {"cluster":"token"} JSON or cluster:token entries.
func ParseAgentTokens(raw string) (map[string]string, error) {
	raw = strings.TrimSpace(raw)
	out := map[string]string{}
	if raw == "" {
		return out, nil
	}
	if strings.HasPrefix(raw, "{") {
		if err := json.Unmarshal([]byte(raw), &out); err != nil {
			return nil, fmt.Errorf("%w: not a JSON object of cluster to token", ErrBadTokens)
		}
	} else {
		for i, e := range config.SplitList(raw) {
			c, t, ok := strings.Cut(e, ":")
			if !ok {
				return nil, fmt.Errorf("%w: entry %d: want cluster:token", ErrBadTokens, i+1)
			}
			out[strings.TrimSpace(c)] = strings.TrimSpace(t)
		}
	}
	for c, t := range out {
		if err := contracts.ValidateID("cluster", c); err != nil {
			return nil, fmt.Errorf("%w: %w", ErrBadTokens, err)
		}
		if len(t) < auth.MinKeyLen {
			return nil, fmt.Errorf("%w: token of cluster %q shorter than %d characters", ErrBadTokens, c, auth.MinKeyLen)
		}
	}
	return out, nil
}

// Deps are the dependencies Start wires the gateway onto.
type Deps struct {
	// Conn is the NATS connection; required. It must reach JetStream
	// (the audit log).
	Conn *nats.Conn
	// Store is the state store; required.
	Store store.Store
	// Log is the logger; required.
	Log *slog.Logger
	// Registry receives and serves metrics; nil means a new one.
	Registry *prometheus.Registry
	// HTTPClient reaches the OIDC issuer; nil means http.DefaultClient.
	HTTPClient *http.Client
}

// App is a gateway wired onto its dependencies, ready to Serve.
type App struct {
	srv   *httpapi.Server
	sub   *nats.Subscription
	rsub  *nats.Subscription
	csub  *nats.Subscription
	hsub  *nats.Subscription
	keys  *keyWatch
	audit *audit.Writer
	log   *slog.Logger
}

// oidcTimeout bounds the OIDC discovery request at start-up.
const oidcTimeout = 10 * time.Second

// Start seeds the cluster registry from cfg.AgentTokens, loads the API
// keys, reaches the OIDC issuer (if any), ensures the audit stream,
// subscribes to bridge notifies and builds the HTTP server.
func Start(ctx context.Context, cfg Config, deps Deps) (*App, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("gateway: invalid config: %w", err)
	}
	if deps.Conn == nil || deps.Store == nil || deps.Log == nil {
		return nil, errors.New("gateway: Deps.Conn, Store and Log are required")
	}
	if deps.Registry == nil {
		deps.Registry = ops.NewRegistry()
	}
	tokens, _ := ParseAgentTokens(cfg.AgentTokens)
	if err := seedClusters(ctx, deps.Store, tokens, deps.Log); err != nil {
		return nil, err
	}
	name := cfg.Name
	if name == "" {
		name, _ = os.Hostname()
	}
	if err := contracts.ValidateGatewayName(name); err != nil {
		return nil, fmt.Errorf("gateway: KUBENTLY_GATEWAY_NAME (default: the host name) must name a NATS subject: %w", err)
	}

	js, err := jetstream.New(deps.Conn)
	if err != nil {
		return nil, fmt.Errorf("gateway: jetstream: %w", err)
	}
	if err := audit.EnsureWait(ctx, js, audit.StreamConfig{MaxAge: cfg.AuditMaxAge, Replicas: cfg.AuditReplicas}, time.Minute); err != nil {
		return nil, fmt.Errorf("gateway: audit stream: %w", err)
	}
	aw, err := audit.NewWriter(audit.WriterConfig{JS: js, Source: "gateway", Replica: name})
	if err != nil {
		return nil, fmt.Errorf("gateway: audit writer: %w", err)
	}
	ar, err := audit.NewReader(audit.ReaderConfig{JS: js})
	if err != nil {
		return nil, fmt.Errorf("gateway: audit reader: %w", err)
	}

	envKeys, _ := authz.ParseEnvKeys(cfg.APIKeys)
	kw, err := newKeyWatch(cfg, envKeys, deps.Log)
	if err != nil {
		return nil, fmt.Errorf("gateway: API keys: %w", err)
	}
	var verifier auth.TokenVerifier
	if cfg.OIDCIssuer != "" {
		octx, cancel := context.WithTimeout(ctx, oidcTimeout)
		v, err := authz.NewOIDCVerifier(octx, authz.OIDCConfig{
			Issuer: cfg.OIDCIssuer, Audience: cfg.OIDCAudience, RoleClaim: cfg.OIDCRoleClaim,
			ScopesClaim: cfg.OIDCScopesClaim, UsernameClaim: cfg.OIDCUsernameClaim,
			DefaultRole: authz.Role(strings.ToLower(strings.TrimSpace(cfg.OIDCDefaultRole))), HTTPClient: deps.HTTPClient,
		})
		cancel()
		if err != nil {
			return nil, fmt.Errorf("gateway: OIDC issuer %s unreachable or invalid (KUBENTLY_OIDC_ISSUER): %w", cfg.OIDCIssuer, err)
		}
		verifier = v
	}
	authn, err := auth.New(auth.Config{Keys: kw.lookup(), OIDC: verifier, UsernameClaim: cfg.OIDCUsernameClaim})
	if err != nil {
		return nil, err
	}
	limiter, err := authz.NewLimiter(cfg.limits())
	if err != nil {
		return nil, fmt.Errorf("gateway: rate limits: %w", err)
	}

	h := hub.New()
	contacts := liveness.New()
	handOffs := handoff.New()
	srv, err := httpapi.New(httpapi.Config{
		Conn: deps.Conn, Store: deps.Store, Auth: authn, Limiter: limiter, Audit: aw, AuditReader: ar,
		Hub: h, Log: deps.Log, Registry: deps.Registry, Name: name, Heartbeat: cfg.Heartbeat,
		Contacts: contacts, ContactTimeout: cfg.ExecutorContactTimeout, HandOffs: handOffs,
		Limits: cfg.httpLimits(), MetricsOnClientPort: cfg.MetricsOnClientPort, MetricsToken: cfg.MetricsToken,
	})
	if err != nil {
		return nil, err
	}
	kw.onChange = srv.KeysChanged
	sub, err := h.Subscribe(deps.Conn)
	if err != nil {
		return nil, fmt.Errorf("gateway: subscribe notifies: %w", err)
	}
	rlog := deps.Log
	rsub, err := h.SubscribeRevocations(deps.Conn, func(cluster string, n int) {
		rlog.Info("executor token revoked: streams closed", logging.KeyCluster, cluster, "streams", n)
	})
	if err != nil {
		_ = sub.Unsubscribe()
		return nil, fmt.Errorf("gateway: subscribe revocations: %w", err)
	}
	csub, err := contacts.Subscribe(deps.Conn, name, srv.CountRelayedContact)
	if err != nil {
		_, _ = sub.Unsubscribe(), rsub.Unsubscribe()
		return nil, fmt.Errorf("gateway: subscribe executor contacts: %w", err)
	}
	hsub, err := handOffs.Subscribe(deps.Conn, name, srv.CountHandOff)
	if err != nil {
		_, _, _ = sub.Unsubscribe(), rsub.Unsubscribe(), csub.Unsubscribe()
		return nil, fmt.Errorf("gateway: subscribe command hand-offs: %w", err)
	}
	nkeys := kw.count()
	if nkeys == 0 && verifier == nil {
		deps.Log.Warn("no API keys (KUBENTLY_API_KEYS, KUBENTLY_API_KEYS_FILE) and no OIDC issuer: every client request will be rejected")
	}
	deps.Log.Info("gateway ready", "clusters_seeded", sortedKeys(tokens), "api_keys", nkeys,
		"key_file", cfg.APIKeysFile != "", "oidc", verifier != nil, "name", name)
	return &App{srv: srv, sub: sub, rsub: rsub, csub: csub, hsub: hsub, keys: kw, audit: aw, log: deps.Log}, nil
}

// seedClusters registers the clusters of KUBENTLY_AGENT_TOKENS that the
// registry does not know. A registered cluster is left alone, even if its
// token differs: the registry is the source of truth once a cluster
// exists, so that a replica restarting with the original environment does
// not bring back a token rotated or revoked through the API.
func seedClusters(ctx context.Context, st store.Store, tokens map[string]string, log *slog.Logger) error {
	now := time.Now().UTC()
	for _, id := range sortedKeys(tokens) {
		rec := store.ClusterRecord{ID: id, TokenHash: auth.HashToken(tokens[id]), CreatedAt: now, UpdatedAt: now}
		err := st.CreateCluster(ctx, rec)
		if errors.Is(err, store.ErrExists) {
			if old, gerr := st.GetCluster(ctx, id); gerr == nil && old.TokenHash != rec.TokenHash {
				log.Info("KUBENTLY_AGENT_TOKENS entry ignored: the cluster is registered with another token (rotated or revoked); the registry wins", logging.KeyCluster, id, "revoked", old.Revoked())
			}
			continue
		}
		if err != nil {
			return fmt.Errorf("gateway: register cluster %s: %w", id, err)
		}
	}
	return nil
}

func sortedKeys(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// auditFlushEvery is how often auth_denied rate-limit summaries are
// written without waiting for the next denial.
const auditFlushEvery = time.Minute

// Serve serves HTTP on ln until ctx ends. It also polls the key file and
// flushes the audit writer's rate-limit summaries.
func (a *App) Serve(ctx context.Context, ln net.Listener) error {
	defer func() {
		_, _, _, _ = a.sub.Unsubscribe(), a.rsub.Unsubscribe(), a.csub.Unsubscribe(), a.hsub.Unsubscribe()
	}()
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Go(func() { a.keys.run(ctx) })
	wg.Go(func() {
		t := time.NewTicker(auditFlushEvery)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				if err := a.audit.Flush(ctx); err != nil {
					a.log.Warn("audit flush failed", logging.KeyErr, err)
				}
			}
		}
	})
	err := a.srv.Serve(ctx, ln)
	cancel()
	wg.Wait()
	fctx, fcancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer fcancel()
	if ferr := a.audit.Flush(fctx); ferr != nil {
		a.log.Warn("audit flush failed", logging.KeyErr, ferr)
	}
	return err
}

// Run connects to NATS and the store and serves until ctx ends.
func Run(ctx context.Context, cfg Config, log *slog.Logger) error {
	if err := cfg.Validate(); err != nil {
		return fmt.Errorf("gateway: invalid config: %w", err)
	}
	stopTracing, err := telemetry.Setup(logging.NewContext(ctx, log), cfg.For("gateway", cfg.Version))
	if err != nil {
		return fmt.Errorf("gateway: %w", err)
	}
	defer telemetry.Close(log, stopTracing)
	nc, st, closeAll, err := backend.Dial(ctx, cfg.Platform, "kubently-gateway", log, backend.WithVisibility(cfg.BridgeVisibility), backend.WithNATS(cfg.ConnConfig, natsutil.RoleGateway), backend.WithRedis(cfg.RedisConfig))
	if err != nil {
		return err
	}
	defer closeAll()
	reg := ops.NewRegistry()
	a, err := Start(ctx, cfg, Deps{Conn: nc, Store: st, Log: log, Registry: reg})
	if err != nil {
		return err
	}
	osrv, err := ops.New(ops.Config{Addr: cfg.OpsAddr, MetricsToken: cfg.MetricsToken, PProf: cfg.PProf, Log: log, Registry: reg, Ready: map[string]ops.Check{
		"nats":  natsutil.ConnectedCheck(nc),
		"store": st.Ping,
	}})
	if err != nil {
		return fmt.Errorf("gateway: %w", err)
	}
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return fmt.Errorf("gateway: listen %s: %w", cfg.Addr, err)
	}
	log.Info("gateway listening", "addr", ln.Addr().String(), "ops_addr", osrv.Addr(), "store", backend.Name(backend.Config{RedisURL: cfg.RedisURL, Redis: cfg.RedisConfig}))
	octx, cancel := context.WithCancel(ctx)
	defer cancel()
	oerr := make(chan error, 1)
	go func() { oerr <- osrv.Run(octx) }()
	err = a.Serve(ctx, ln)
	cancel()
	if rerr := <-oerr; err == nil {
		err = rerr
	}
	return err
}
