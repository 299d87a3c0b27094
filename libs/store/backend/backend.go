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
	"kubently.io/libs/store/redisstore"
)

// Config configures Open.
type Config struct {
	// RedisURL selects the Redis store; empty selects JetStream.
	RedisURL string
	// Conn is the NATS connection the JetStream store uses; required when
	// RedisURL is empty.
	Conn *nats.Conn
	// Visibility is how long a claimed command stays leased to its
	// executor stream without an ack; zero means store.Visibility.
	Visibility time.Duration
}

// Option adjusts the Config Dial opens its store with.
type Option func(*Config)

// WithVisibility sets Config.Visibility.
func WithVisibility(d time.Duration) Option { return func(c *Config) { c.Visibility = d } }

// Open returns the configured store. The caller closes it.
func Open(ctx context.Context, cfg Config) (store.Store, error) {
	if cfg.RedisURL != "" {
		s, err := redisstore.New(ctx, redisstore.Config{URL: cfg.RedisURL, Visibility: cfg.Visibility})
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
	if cfg.RedisURL != "" {
		return "redis"
	}
	return "jetstream"
}

// Dial connects a service to NATS (retrying until ctx ends) and opens the
// store p selects. The returned func closes the store and drains NATS.
func Dial(ctx context.Context, p config.Platform, name string, log *slog.Logger, opts ...Option) (*nats.Conn, store.Store, func(), error) {
	nc, err := natsutil.Connect(ctx, p.NATSURL, name, log)
	if err != nil {
		return nil, nil, nil, err
	}
	cfg := Config{RedisURL: p.RedisURL, Conn: nc}
	for _, o := range opts {
		o(&cfg)
	}
	st, err := Open(ctx, cfg)
	if err != nil {
		nc.Close()
		return nil, nil, nil, err
	}
	return nc, st, func() {
		_ = st.Close()
		_ = nc.Drain()
	}, nil
}
