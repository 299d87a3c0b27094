// Package app is the dispatcher's composition root: Run builds the real NATS
// connection and store from Config; Start wires the dispatcher onto
// dependencies the caller already has (used by `kubently dev` and tests).
package app

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/nats-io/nats.go"
	"github.com/prometheus/client_golang/prometheus"

	"kubently.io/libs/config"
	"kubently.io/libs/natsutil"
	"kubently.io/libs/ops"
	"kubently.io/libs/store"
	"kubently.io/libs/store/backend"
	"kubently.io/services/dispatcher/internal/dispatch"
)

// Config is the dispatcher's configuration.
type Config struct {
	config.Platform
	// MaxInFlight bounds concurrent execute requests per replica.
	MaxInFlight int `env:"KUBENTLY_DISPATCH_MAX_IN_FLIGHT" default:"1024"`
	// Version is the build version (set by ldflags, not env).
	Version string
}

// Validate checks cfg before anything connects.
func (c Config) Validate() error {
	if c.MaxInFlight < 1 || c.MaxInFlight > 100000 {
		return fmt.Errorf("KUBENTLY_DISPATCH_MAX_IN_FLIGHT %d out of range [1, 100000]", c.MaxInFlight)
	}
	return c.Platform.Validate()
}

// Deps are the dependencies Start wires the dispatcher onto.
type Deps struct {
	// Conn is the NATS connection; required.
	Conn *nats.Conn
	// Store is the state store; required.
	Store store.Store
	// Log is the logger; required.
	Log *slog.Logger
	// Registerer receives metrics; nil registers none.
	Registerer prometheus.Registerer
	// MaxInFlight bounds concurrent execute requests; zero means 1024.
	MaxInFlight int
	// Version is reported in $SRV.INFO.
	Version string
}

// App is a running dispatcher.
type App struct {
	d *dispatch.Dispatcher
}

// Start registers the dispatcher on deps.Conn.
func Start(ctx context.Context, deps Deps) (*App, error) {
	d, err := dispatch.New(ctx, dispatch.Config{
		Conn: deps.Conn, Store: deps.Store, Log: deps.Log, Registerer: deps.Registerer,
		MaxInFlight: deps.MaxInFlight, Version: deps.Version,
	})
	if err != nil {
		return nil, err
	}
	return &App{d: d}, nil
}

// Stop deregisters the dispatcher.
func (a *App) Stop() error { return a.d.Stop() }

// Run connects to NATS and the store, serves until ctx ends, then drains.
func Run(ctx context.Context, cfg Config, log *slog.Logger) error {
	if err := cfg.Validate(); err != nil {
		return fmt.Errorf("dispatcher: invalid config: %w", err)
	}
	nc, st, closeAll, err := backend.Dial(ctx, cfg.Platform, "kubently-dispatcher", log)
	if err != nil {
		return err
	}
	defer closeAll()
	reg := ops.NewRegistry()
	a, err := Start(ctx, Deps{Conn: nc, Store: st, Log: log, Registerer: reg, MaxInFlight: cfg.MaxInFlight, Version: cfg.Version})
	if err != nil {
		return err
	}
	defer func() { _ = a.Stop() }()
	srv, err := ops.New(ops.Config{Addr: cfg.OpsAddr, Log: log, Registry: reg, Ready: map[string]ops.Check{
		"nats":  natsutil.ConnectedCheck(nc),
		"store": st.Ping,
	}})
	if err != nil {
		return err
	}
	log.Info("dispatcher started", "store", backend.Name(backend.Config{RedisURL: cfg.RedisURL}), "ops_addr", srv.Addr())
	return srv.Run(ctx)
}
