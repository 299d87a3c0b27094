// Package app is the session service's composition root: Run builds the
// real NATS connection and store from Config; Start wires the service onto
// dependencies the caller already has (used by `kubently dev` and tests).
package app

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/nats-io/nats.go"

	"kubently.io/libs/config"
	"kubently.io/libs/natsutil"
	"kubently.io/libs/ops"
	"kubently.io/libs/store"
	"kubently.io/libs/store/backend"
	"kubently.io/services/session/internal/sessionsvc"
)

// Config is the session service's configuration.
type Config struct {
	config.Platform
	// Version is the build version (set by ldflags, not env).
	Version string
}

// Validate checks cfg before anything connects.
func (c Config) Validate() error { return c.Platform.Validate() }

// Deps are the dependencies Start wires the service onto.
type Deps struct {
	// Conn is the NATS connection; required.
	Conn *nats.Conn
	// Store is the state store; required.
	Store store.Store
	// Log is the logger; required.
	Log *slog.Logger
	// Version is reported in $SRV.INFO.
	Version string
}

// App is a running session service.
type App struct {
	svc *sessionsvc.Service
}

// Start registers the session service on deps.Conn.
func Start(ctx context.Context, deps Deps) (*App, error) {
	svc, err := sessionsvc.New(ctx, sessionsvc.Config{Conn: deps.Conn, Store: deps.Store, Log: deps.Log, Version: deps.Version})
	if err != nil {
		return nil, err
	}
	return &App{svc: svc}, nil
}

// Stop deregisters the service.
func (a *App) Stop() error { return a.svc.Stop() }

// Run connects to NATS and the store, serves until ctx ends, then drains.
func Run(ctx context.Context, cfg Config, log *slog.Logger) error {
	if err := cfg.Validate(); err != nil {
		return fmt.Errorf("session: invalid config: %w", err)
	}
	nc, st, closeAll, err := backend.Dial(ctx, cfg.Platform, "kubently-session", log)
	if err != nil {
		return err
	}
	defer closeAll()
	a, err := Start(ctx, Deps{Conn: nc, Store: st, Log: log, Version: cfg.Version})
	if err != nil {
		return err
	}
	defer func() { _ = a.Stop() }()
	srv, err := ops.New(ops.Config{Addr: cfg.OpsAddr, Log: log, Ready: map[string]ops.Check{
		"nats":  natsutil.ConnectedCheck(nc),
		"store": st.Ping,
	}})
	if err != nil {
		return err
	}
	log.Info("session service started", "store", backend.Name(backend.Config{RedisURL: cfg.RedisURL}), "ops_addr", srv.Addr())
	return srv.Run(ctx)
}
