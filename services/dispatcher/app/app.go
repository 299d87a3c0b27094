// Package app is the dispatcher's composition root: Run builds the real NATS
// connection and store from Config; Start wires the dispatcher onto
// dependencies the caller already has (used by `kubently dev` and tests).
package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"kubently.io/libs/audit"
	"kubently.io/libs/config"
	"kubently.io/libs/logging"
	"kubently.io/libs/natsutil"
	"kubently.io/libs/ops"
	"kubently.io/libs/policy"
	"kubently.io/libs/store"
	"kubently.io/libs/store/backend"
	"kubently.io/libs/telemetry"
	"kubently.io/services/dispatcher/internal/dispatch"
)

// Config is the dispatcher's configuration.
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
	// MaxInFlight bounds concurrent execute requests per replica.
	MaxInFlight int `env:"KUBENTLY_DISPATCH_MAX_IN_FLIGHT" default:"1024"`
	// BridgeMaxQueue refuses commands (503 unavailable) for a cluster
	// whose bridge queue holds this many commands not yet acknowledged by
	// an executor (1-100000).
	BridgeMaxQueue int `env:"KUBENTLY_BRIDGE_MAX_QUEUE" default:"1000"`
	// BridgeGrace: a command for a cluster with no executor connected is
	// still queued (not refused with 503 executor_unavailable) while the
	// cluster's last executor stream ended less than this ago; 0 disables
	// the window (0-1h).
	BridgeGrace time.Duration `env:"KUBENTLY_BRIDGE_GRACE" default:"10s"`
	// ExecutorLostGrace: a command acknowledged by an executor instance
	// that then has no stream for this long (it died, or did not come back
	// after its stream ended) is answered at once with 502 executor_lost
	// instead of waiting for its deadline; 0 disables the check (0-1h).
	ExecutorLostGrace time.Duration `env:"KUBENTLY_EXECUTOR_LOST_GRACE" default:"10s"`
	// PolicyFile is the command policy file (profiles per cluster, see
	// docs/policy.md); empty means the built-in readOnly profile. A file
	// that cannot be loaded denies every command until it can.
	PolicyFile string `env:"KUBENTLY_POLICY_FILE"`
	// PolicyReload is how often the policy file is re-read (zero: 5s).
	PolicyReload time.Duration `env:"KUBENTLY_POLICY_RELOAD_INTERVAL" default:"5s"`
	// AuditMaxAge is how long the audit stream keeps records (default
	// 2160h, 90 days; at least 1h). Every service that writes audit
	// records ensures the stream with it, so set the same value on all.
	AuditMaxAge time.Duration `env:"KUBENTLY_AUDIT_MAX_AGE" default:"2160h"`
	// AuditReplicas is the audit stream's replication factor (default 1;
	// 1-5, more than 1 needs a NATS cluster; 3 in production).
	AuditReplicas int `env:"KUBENTLY_AUDIT_REPLICAS" default:"1"`
	// DrainTimeout is how long a stopping dispatcher keeps waiting for
	// the results of commands in flight before it answers them
	// unavailable/dispatcher_stopped (1s-5m; keep it below the pod's
	// termination grace period).
	DrainTimeout time.Duration `env:"KUBENTLY_DISPATCH_DRAIN_TIMEOUT" default:"10s"`
	// Version is the build version (set by ldflags, not env).
	Version string
}

// Validate checks cfg before anything connects.
func (c Config) Validate() error {
	if err := c.Config.Validate(); err != nil {
		return err
	}
	if c.BridgeMaxQueue < 0 || c.BridgeMaxQueue > 100000 {
		return fmt.Errorf("KUBENTLY_BRIDGE_MAX_QUEUE %d out of range [1, 100000] (0: 1000)", c.BridgeMaxQueue)
	}
	if c.BridgeGrace < 0 || c.BridgeGrace > time.Hour {
		return fmt.Errorf("KUBENTLY_BRIDGE_GRACE %v out of range [0, 1h]", c.BridgeGrace)
	}
	if c.ExecutorLostGrace < 0 || c.ExecutorLostGrace > time.Hour {
		return fmt.Errorf("KUBENTLY_EXECUTOR_LOST_GRACE %v out of range [0, 1h]", c.ExecutorLostGrace)
	}
	if c.MaxInFlight < 1 || c.MaxInFlight > 100000 {
		return fmt.Errorf("KUBENTLY_DISPATCH_MAX_IN_FLIGHT %d out of range [1, 100000]", c.MaxInFlight)
	}
	if c.DrainTimeout < time.Second || c.DrainTimeout > 5*time.Minute {
		return fmt.Errorf("KUBENTLY_DISPATCH_DRAIN_TIMEOUT %v out of range [1s, 5m]", c.DrainTimeout)
	}
	if c.PolicyReload != 0 && (c.PolicyReload < time.Second || c.PolicyReload > time.Hour) {
		return fmt.Errorf("KUBENTLY_POLICY_RELOAD_INTERVAL %v out of range [1s, 1h]", c.PolicyReload)
	}
	if err := validateAudit(c.AuditMaxAge, c.AuditReplicas); err != nil {
		return err
	}
	return errors.Join(c.Platform.Validate(), c.ConnConfig.Validate(), c.RedisConfig.Validate(c.RedisURL))
}

// validateAudit checks the audit stream settings.
func validateAudit(maxAge time.Duration, replicas int) error {
	if maxAge < time.Hour {
		return fmt.Errorf("KUBENTLY_AUDIT_MAX_AGE %v: want at least 1h", maxAge)
	}
	if replicas < 1 || replicas > 5 {
		return fmt.Errorf("KUBENTLY_AUDIT_REPLICAS %d out of range [1, 5]", replicas)
	}
	return nil
}

// Deps are the dependencies Start wires the dispatcher onto.
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
	// MaxInFlight bounds concurrent execute requests; zero means 1024.
	MaxInFlight int
	// MaxQueue is dispatch.Config.MaxQueue; zero means 1000.
	MaxQueue int
	// BridgeGrace is dispatch.Config.BridgeGrace; zero disables the
	// reconnect grace (Run passes KUBENTLY_BRIDGE_GRACE, default 10s).
	BridgeGrace time.Duration
	// ExecutorLostGrace is dispatch.Config.ExecutorLostGrace; zero
	// disables the check (Run passes KUBENTLY_EXECUTOR_LOST_GRACE,
	// default 10s).
	ExecutorLostGrace time.Duration
	// Version is reported in $SRV.INFO.
	Version string
	// Policy is the command policy source; nil means the built-in
	// readOnly profile.
	Policy *policy.Source
	// AuditMaxAge is the audit stream's retention; zero means
	// audit.DefaultMaxAge (90 days).
	AuditMaxAge time.Duration
	// AuditReplicas is the audit stream's replication factor; zero means 1.
	AuditReplicas int
	// Replica names this replica on its audit records (the pod name);
	// empty means none.
	Replica string
	// DrainTimeout is dispatch.Config.StopTimeout; zero means 10s.
	DrainTimeout time.Duration
}

// App is a running dispatcher.
type App struct {
	d   *dispatch.Dispatcher
	w   *audit.Writer
	log *slog.Logger

	stopOnce sync.Once
	stopErr  error
}

// Start ensures the audit stream and registers the dispatcher on
// deps.Conn.
func Start(ctx context.Context, deps Deps) (*App, error) {
	if deps.Conn == nil || deps.Log == nil {
		return nil, fmt.Errorf("dispatcher: Conn and Log are required")
	}
	js, err := jetstream.New(deps.Conn)
	if err != nil {
		return nil, fmt.Errorf("dispatcher: jetstream: %w", err)
	}
	if err := audit.EnsureWait(ctx, js, audit.StreamConfig{MaxAge: deps.AuditMaxAge, Replicas: deps.AuditReplicas}, time.Minute); err != nil {
		return nil, fmt.Errorf("dispatcher: audit stream: %w", err)
	}
	w, err := audit.NewWriter(audit.WriterConfig{JS: js, Source: "dispatcher", Replica: deps.Replica})
	if err != nil {
		return nil, fmt.Errorf("dispatcher: audit writer: %w", err)
	}
	var pol dispatch.PolicyFunc
	if deps.Policy != nil {
		pol = deps.Policy.Policy
	}
	d, err := dispatch.New(ctx, dispatch.Config{
		Conn: deps.Conn, Store: deps.Store, Log: deps.Log, Registerer: deps.Registerer, Audit: w,
		MaxInFlight: deps.MaxInFlight, MaxQueue: deps.MaxQueue, BridgeGrace: deps.BridgeGrace, Version: deps.Version, Policy: pol,
		StopTimeout: deps.DrainTimeout, ExecutorLostGrace: deps.ExecutorLostGrace,
	})
	if err != nil {
		return nil, err
	}
	return &App{d: d, w: w, log: deps.Log}, nil
}

// Stop deregisters the dispatcher, drains requests in flight (see
// dispatch.Dispatcher.Stop) and flushes the audit writer. Calls after the
// first wait for it and return its error.
func (a *App) Stop() error {
	a.stopOnce.Do(func() {
		a.stopErr = a.d.Stop()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if ferr := a.w.Flush(ctx); ferr != nil {
			a.log.Error("audit flush failed", "err", ferr)
		}
	})
	return a.stopErr
}

// Run connects to NATS and the store, serves until ctx ends, then drains.
func Run(ctx context.Context, cfg Config, log *slog.Logger) error {
	if err := cfg.Validate(); err != nil {
		return fmt.Errorf("dispatcher: invalid config: %w", err)
	}
	stopTracing, err := telemetry.Setup(logging.NewContext(ctx, log), cfg.For("dispatcher", cfg.Version))
	if err != nil {
		return fmt.Errorf("dispatcher: %w", err)
	}
	defer telemetry.Close(log, stopTracing)
	nc, st, closeAll, err := backend.Dial(ctx, cfg.Platform, "kubently-dispatcher", log, backend.WithNATS(cfg.ConnConfig, natsutil.RoleDispatcher), backend.WithRedis(cfg.RedisConfig))
	if err != nil {
		return err
	}
	defer closeAll()
	reg := ops.NewRegistry()
	pol, err := policy.NewSource(policy.SourceConfig{Path: cfg.PolicyFile, Interval: cfg.PolicyReload, Log: log, Registerer: reg})
	if err != nil {
		return err
	}
	go pol.Run(ctx)
	host, _ := os.Hostname()
	a, err := Start(ctx, Deps{Conn: nc, Store: st, Log: log, Registerer: reg, MaxInFlight: cfg.MaxInFlight, MaxQueue: cfg.BridgeMaxQueue, BridgeGrace: cfg.BridgeGrace, Version: cfg.Version, Policy: pol,
		ExecutorLostGrace: cfg.ExecutorLostGrace, AuditMaxAge: cfg.AuditMaxAge, AuditReplicas: cfg.AuditReplicas, Replica: host, DrainTimeout: cfg.DrainTimeout})
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
	log.Info("dispatcher started", "store", backend.Name(backend.Config{RedisURL: cfg.RedisURL, Redis: cfg.RedisConfig}), "ops_addr", srv.Addr())
	return srv.Run(ctx)
}
