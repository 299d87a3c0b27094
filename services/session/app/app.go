// Package app is the session service's composition root: Run builds the
// real NATS connection and store from Config; Start wires the service onto
// dependencies the caller already has (used by `kubently dev` and tests).
package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"kubently.io/libs/audit"
	"kubently.io/libs/config"
	"kubently.io/libs/logging"
	"kubently.io/libs/natsutil"
	"kubently.io/libs/ops"
	"kubently.io/libs/store"
	"kubently.io/libs/store/backend"
	"kubently.io/libs/telemetry"
	"kubently.io/services/session/internal/sessionsvc"
)

// Config is the session service's configuration.
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
	// AuditMaxAge is how long the audit stream keeps records (default
	// 2160h, 90 days; at least 1h). Every service that writes audit
	// records ensures the stream with it, so set the same value on all.
	AuditMaxAge time.Duration `env:"KUBENTLY_AUDIT_MAX_AGE" default:"2160h"`
	// AuditReplicas is the audit stream's replication factor (default 1;
	// 1-5, more than 1 needs a NATS cluster; 3 in production).
	AuditReplicas int `env:"KUBENTLY_AUDIT_REPLICAS" default:"1"`
	// Version is the build version (set by ldflags, not env).
	Version string
}

// Validate checks cfg before anything connects.
func (c Config) Validate() error {
	if err := c.Config.Validate(); err != nil {
		return err
	}
	if c.AuditMaxAge < time.Hour {
		return fmt.Errorf("KUBENTLY_AUDIT_MAX_AGE %v: want at least 1h", c.AuditMaxAge)
	}
	if c.AuditReplicas < 1 || c.AuditReplicas > 5 {
		return fmt.Errorf("KUBENTLY_AUDIT_REPLICAS %d out of range [1, 5]", c.AuditReplicas)
	}
	return errors.Join(c.Platform.Validate(), c.ConnConfig.Validate(), c.RedisConfig.Validate(c.RedisURL))
}

// Deps are the dependencies Start wires the service onto.
type Deps struct {
	// Conn is the NATS connection; required. Its server must have
	// JetStream: the audit log is a stream.
	Conn *nats.Conn
	// Store is the state store; required.
	Store store.Store
	// Log is the logger; required.
	Log *slog.Logger
	// Registerer receives metrics; nil registers none. Stop unregisters
	// them.
	Registerer prometheus.Registerer
	// Version is reported in $SRV.INFO.
	Version string
	// AuditMaxAge is the audit stream's retention; zero means
	// audit.DefaultMaxAge (90 days).
	AuditMaxAge time.Duration
	// AuditReplicas is the audit stream's replication factor; zero means 1.
	AuditReplicas int
	// Replica names this replica on its audit records (the pod name);
	// empty means none.
	Replica string
}

// App is a running session service.
type App struct {
	svc *sessionsvc.Service
	w   *audit.Writer
	log *slog.Logger
}

// Start ensures the audit stream and registers the session service on
// deps.Conn.
func Start(ctx context.Context, deps Deps) (*App, error) {
	if deps.Conn == nil || deps.Log == nil {
		return nil, fmt.Errorf("session: Conn and Log are required")
	}
	js, err := jetstream.New(deps.Conn)
	if err != nil {
		return nil, fmt.Errorf("session: jetstream: %w", err)
	}
	if err := audit.EnsureWait(ctx, js, audit.StreamConfig{MaxAge: deps.AuditMaxAge, Replicas: deps.AuditReplicas}, time.Minute); err != nil {
		return nil, fmt.Errorf("session: audit stream: %w", err)
	}
	w, err := audit.NewWriter(audit.WriterConfig{JS: js, Source: "session", Replica: deps.Replica})
	if err != nil {
		return nil, fmt.Errorf("session: audit writer: %w", err)
	}
	svc, err := sessionsvc.New(ctx, sessionsvc.Config{Conn: deps.Conn, Store: deps.Store, Log: deps.Log, Version: deps.Version,
		Audit: w, Registerer: deps.Registerer})
	if err != nil {
		return nil, err
	}
	return &App{svc: svc, w: w, log: deps.Log}, nil
}

// Stop deregisters the service and flushes the audit writer.
func (a *App) Stop() error {
	err := a.svc.Stop()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if ferr := a.w.Flush(ctx); ferr != nil {
		a.log.Error("audit flush failed", "err", ferr)
	}
	return err
}

// Run connects to NATS and the store, serves until ctx ends, then drains.
func Run(ctx context.Context, cfg Config, log *slog.Logger) error {
	if err := cfg.Validate(); err != nil {
		return fmt.Errorf("session: invalid config: %w", err)
	}
	stopTracing, err := telemetry.Setup(logging.NewContext(ctx, log), cfg.For("session", cfg.Version))
	if err != nil {
		return fmt.Errorf("session: %w", err)
	}
	defer telemetry.Close(log, stopTracing)
	nc, st, closeAll, err := backend.Dial(ctx, cfg.Platform, "kubently-session", log, backend.WithNATS(cfg.ConnConfig, natsutil.RoleSession), backend.WithRedis(cfg.RedisConfig))
	if err != nil {
		return err
	}
	defer closeAll()
	reg := ops.NewRegistry()
	host, _ := os.Hostname()
	a, err := Start(ctx, Deps{Conn: nc, Store: st, Log: log, Registerer: reg, Version: cfg.Version,
		AuditMaxAge: cfg.AuditMaxAge, AuditReplicas: cfg.AuditReplicas, Replica: host})
	if err != nil {
		return err
	}
	defer func() { _ = a.Stop() }()
	srv, err := ops.New(ops.Config{Addr: cfg.OpsAddr, MetricsToken: cfg.MetricsToken, PProf: cfg.PProf, Log: log, Registry: reg, Ready: map[string]ops.Check{
		"nats":  natsutil.ConnectedCheck(nc),
		"store": st.Ping,
	}})
	if err != nil {
		return err
	}
	log.Info("session service started", "store", backend.Name(backend.Config{RedisURL: cfg.RedisURL, Redis: cfg.RedisConfig}), "ops_addr", srv.Addr())
	return srv.Run(ctx)
}
