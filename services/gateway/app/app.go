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
	"os"
	"sort"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/prometheus/client_golang/prometheus"

	"kubently.io/libs/config"
	"kubently.io/libs/contracts"
	"kubently.io/libs/ops"
	"kubently.io/libs/store"
	"kubently.io/libs/store/backend"
	"kubently.io/services/gateway/internal/auth"
	"kubently.io/services/gateway/internal/httpapi"
	"kubently.io/services/gateway/internal/hub"
)

// Config is the gateway's configuration.
type Config struct {
	config.Platform
	// Addr is the HTTP listen address.
	Addr string `env:"KUBENTLY_GATEWAY_ADDR" default:":8080"`
	// APIKeys are the client keys as name:key entries (comma- or
	// newline-separated). The name is the caller's identity.
	APIKeys []string `env:"KUBENTLY_API_KEYS"`
	// AgentTokens registers clusters and their executor tokens: a JSON
	// object {"cluster": "token"} or cluster:token entries. Tokens are
	// stored hashed; a cluster registered earlier stays registered.
	AgentTokens string `env:"KUBENTLY_AGENT_TOKENS"`
	// Name identifies this replica in presence records; empty means the
	// host name.
	Name string `env:"KUBENTLY_GATEWAY_NAME"`
	// Heartbeat is the SSE heartbeat interval.
	Heartbeat time.Duration `env:"KUBENTLY_SSE_HEARTBEAT" default:"5s"`
	// Version is the build version (set by ldflags, not env).
	Version string
}

// Validate checks cfg before anything connects.
func (c Config) Validate() error {
	var errs []error
	if err := c.Platform.Validate(); err != nil {
		errs = append(errs, err)
	}
	if _, err := auth.ParseKeys(c.APIKeys); err != nil {
		errs = append(errs, fmt.Errorf("KUBENTLY_API_KEYS: %w", err))
	}
	if _, err := ParseAgentTokens(c.AgentTokens); err != nil {
		errs = append(errs, fmt.Errorf("KUBENTLY_AGENT_TOKENS: %w", err))
	}
	if c.Heartbeat < 100*time.Millisecond || c.Heartbeat > time.Minute {
		errs = append(errs, fmt.Errorf("KUBENTLY_SSE_HEARTBEAT %s out of range [100ms, 1m]", c.Heartbeat))
	}
	return errors.Join(errs...)
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
	// Conn is the NATS connection; required.
	Conn *nats.Conn
	// Store is the state store; required.
	Store store.Store
	// Log is the logger; required.
	Log *slog.Logger
	// Registry receives and serves metrics; nil means a new one.
	Registry *prometheus.Registry
}

// App is a gateway wired onto its dependencies, ready to Serve.
type App struct {
	srv *httpapi.Server
	sub *nats.Subscription
}

// Start seeds the cluster registry from cfg.AgentTokens, subscribes to
// bridge notifies and builds the HTTP server.
func Start(ctx context.Context, cfg Config, deps Deps) (*App, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("gateway: invalid config: %w", err)
	}
	keys, _ := auth.ParseKeys(cfg.APIKeys)
	tokens, _ := ParseAgentTokens(cfg.AgentTokens)
	if err := seedClusters(ctx, deps.Store, tokens); err != nil {
		return nil, err
	}
	name := cfg.Name
	if name == "" {
		name, _ = os.Hostname()
	}
	h := hub.New()
	srv, err := httpapi.New(httpapi.Config{
		Conn: deps.Conn, Store: deps.Store, Keys: keys, Hub: h, Log: deps.Log, Registry: deps.Registry,
		Name: name, Heartbeat: cfg.Heartbeat,
	})
	if err != nil {
		return nil, err
	}
	sub, err := h.Subscribe(deps.Conn)
	if err != nil {
		return nil, fmt.Errorf("gateway: subscribe notifies: %w", err)
	}
	if keys.Len() == 0 {
		deps.Log.Warn("no API keys configured (KUBENTLY_API_KEYS): every client request will be rejected")
	}
	deps.Log.Info("gateway ready", "clusters_seeded", sortedKeys(tokens), "api_keys", keys.Len(), "name", name)
	return &App{srv: srv, sub: sub}, nil
}

func seedClusters(ctx context.Context, st store.Store, tokens map[string]string) error {
	now := time.Now().UTC()
	for _, id := range sortedKeys(tokens) {
		rec := store.ClusterRecord{ID: id, TokenHash: auth.HashToken(tokens[id]), CreatedAt: now, UpdatedAt: now}
		if old, err := st.GetCluster(ctx, id); err == nil {
			if old.TokenHash == rec.TokenHash {
				continue
			}
			rec.CreatedAt = old.CreatedAt
		} else if !errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("gateway: read cluster %s: %w", id, err)
		}
		if err := st.PutCluster(ctx, rec); err != nil {
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

// Serve serves HTTP on ln until ctx ends.
func (a *App) Serve(ctx context.Context, ln net.Listener) error {
	defer func() { _ = a.sub.Unsubscribe() }()
	return a.srv.Serve(ctx, ln)
}

// Run connects to NATS and the store and serves until ctx ends.
func Run(ctx context.Context, cfg Config, log *slog.Logger) error {
	if err := cfg.Validate(); err != nil {
		return fmt.Errorf("gateway: invalid config: %w", err)
	}
	nc, st, closeAll, err := backend.Dial(ctx, cfg.Platform, "kubently-gateway", log)
	if err != nil {
		return err
	}
	defer closeAll()
	a, err := Start(ctx, cfg, Deps{Conn: nc, Store: st, Log: log, Registry: ops.NewRegistry()})
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return fmt.Errorf("gateway: listen %s: %w", cfg.Addr, err)
	}
	log.Info("gateway listening", "addr", ln.Addr().String(), "store", backend.Name(backend.Config{RedisURL: cfg.RedisURL}))
	return a.Serve(ctx, ln)
}
