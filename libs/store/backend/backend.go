// Package backend opens the store a deployment is configured for: Redis
// when a Redis URL is given, otherwise JetStream on the service's NATS
// connection (the embedded default).
package backend

import (
	"log/slog"

	"context"
	"errors"
	"fmt"
	"time"

	"kubently.io/libs/config"
	"kubently.io/libs/natsutil"

	"github.com/nats-io/nats.go"

	"kubently.io/libs/store"
	"kubently.io/libs/store/jsstore"
)

// Config configures Open.
type Config struct {
	// RedisURL selects the Redis store; empty selects JetStream (unless
	// Redis.SentinelMaster is set).
	RedisURL string
	// Redis holds the Redis credentials, TLS and Sentinel settings.
	Redis RedisConfig
	// Conn is the NATS connection the JetStream store uses; required when
	// RedisURL is empty.
	Conn *nats.Conn
	// Visibility is how long a claimed command stays leased to its
	// executor stream without an ack; zero means store.Visibility.
	Visibility time.Duration

	nats natsutil.ConnConfig // Dial only
	role natsutil.Role       // Dial only
}

// redis reports whether cfg selects the Redis store.
func (cfg Config) redis() bool { return cfg.RedisURL != "" || cfg.Redis.SentinelMaster != "" }

// Option adjusts the Config Dial opens its store with.
type Option func(*Config)

// WithVisibility sets Config.Visibility.
func WithVisibility(d time.Duration) Option { return func(c *Config) { c.Visibility = d } }

// WithRedis sets Config.Redis.
func WithRedis(r RedisConfig) Option { return func(c *Config) { c.Redis = r } }

// WithNATS makes Dial connect with c's credentials and TLS, as role r
// (its client name and reply inbox prefix).
func WithNATS(c natsutil.ConnConfig, r natsutil.Role) Option {
	return func(cfg *Config) { cfg.nats, cfg.role = c, r }
}

// Open returns the configured store. The caller closes it.
func Open(ctx context.Context, cfg Config) (store.Store, error) {
	if cfg.redis() {
		s, err := openRedis(ctx, cfg)
		if err != nil {
			return nil, fmt.Errorf("backend: redis store: %w", err)
		}
		return s, nil
	}
	if cfg.Conn == nil {
		return nil, errors.New("backend: no Redis URL and no NATS connection")
	}
	s, err := jsstore.New(ctx, jsstore.Config{Conn: cfg.Conn, Visibility: cfg.Visibility})
	if err != nil {
		return nil, fmt.Errorf("backend: jetstream store: %w", err)
	}
	return s, nil
}

// Name returns which backend cfg selects, for logs.
func Name(cfg Config) string {
	if cfg.redis() {
		return "redis"
	}
	return "jetstream"
}

// Dial connects a service to NATS (retrying until ctx ends) and opens the
// store p selects (retrying Redis until ctx ends too). The returned func
// closes the store and drains NATS.
func Dial(ctx context.Context, p config.Platform, name string, log *slog.Logger, opts ...Option) (*nats.Conn, store.Store, func(), error) {
	cfg := Config{RedisURL: p.RedisURL}
	for _, o := range opts {
		o(&cfg)
	}
	nopts, err := cfg.nats.Options()
	if err != nil {
		return nil, nil, nil, err
	}
	if cfg.role != "" {
		nopts = append(nopts, natsutil.RoleOption(cfg.role))
	}
	nc, err := natsutil.Connect(ctx, p.NATSURL, name, log, nopts...)
	if err != nil {
		return nil, nil, nil, err
	}
	cfg.Conn = nc
	st, err := openRetry(ctx, cfg, log)
	if err != nil {
		nc.Close()
		return nil, nil, nil, err
	}
	return nc, st, func() {
		_ = st.Close()
		_ = nc.Drain()
	}, nil
}
