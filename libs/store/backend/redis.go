package backend

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"os"
	"time"

	"github.com/redis/go-redis/v9"

	"kubently.io/libs/store"
	"kubently.io/libs/store/redisstore"
)

// ErrBadRedis is wrapped by every error RedisConfig.Validate returns.
var ErrBadRedis = errors.New("backend: invalid Redis settings")

// RedisConfig is how a service authenticates to Redis, checks its
// certificate and finds it through Sentinel. Embed it in a service's
// Config next to config.Platform. The zero value adds nothing to
// KUBENTLY_REDIS_URL.
type RedisConfig struct {
	// Username is the Redis ACL user (AUTH username password); empty means
	// the user in KUBENTLY_REDIS_URL, else the default user.
	Username string `env:"KUBENTLY_REDIS_USERNAME"`
	// Password is the Redis password (requirepass or the ACL user's);
	// empty means the password in KUBENTLY_REDIS_URL, if any. Never logged.
	Password string `env:"KUBENTLY_REDIS_PASSWORD"`
	// TLSCA is a PEM file of CAs Redis's certificate must chain to; empty
	// means the system roots. TLS itself is on with a rediss:// URL (or,
	// with Sentinel, when any KUBENTLY_REDIS_TLS_* file is set).
	TLSCA string `env:"KUBENTLY_REDIS_TLS_CA"`
	// TLSCert is a PEM client certificate for mutual TLS (with TLSKey);
	// empty means none.
	TLSCert string `env:"KUBENTLY_REDIS_TLS_CERT"`
	// TLSKey is the PEM private key of TLSCert; required with TLSCert.
	TLSKey string `env:"KUBENTLY_REDIS_TLS_KEY"`
	// SentinelMaster is the master name Redis Sentinel monitors; setting
	// it selects the Redis store through Sentinel (KUBENTLY_REDIS_URL is
	// then optional and only gives the database, user and password).
	// Empty means no Sentinel.
	SentinelMaster string `env:"KUBENTLY_REDIS_SENTINEL_MASTER"`
	// SentinelAddrs are the Sentinels' host:port addresses, comma-separated;
	// required with SentinelMaster.
	SentinelAddrs []string `env:"KUBENTLY_REDIS_SENTINEL_ADDRS"`
	// SentinelPassword authenticates to the Sentinels themselves
	// (requirepass on the Sentinels); empty means none. Never logged.
	SentinelPassword string `env:"KUBENTLY_REDIS_SENTINEL_PASSWORD"`
}

// Validate checks r (with the Redis URL it goes with) without connecting:
// files exist, a key goes with a certificate, TLS files go with TLS,
// Sentinel has addresses. Secrets never appear in its errors.
func (r RedisConfig) Validate(redisURL string) error {
	var errs []error
	if (r.TLSCert == "") != (r.TLSKey == "") {
		errs = append(errs, fmt.Errorf("%w: KUBENTLY_REDIS_TLS_CERT and KUBENTLY_REDIS_TLS_KEY go together", ErrBadRedis))
	}
	for _, f := range []struct{ env, path string }{
		{"KUBENTLY_REDIS_TLS_CA", r.TLSCA}, {"KUBENTLY_REDIS_TLS_CERT", r.TLSCert}, {"KUBENTLY_REDIS_TLS_KEY", r.TLSKey},
	} {
		if f.path == "" {
			continue
		}
		if st, err := os.Stat(f.path); err != nil {
			errs = append(errs, fmt.Errorf("%w: %s: %w", ErrBadRedis, f.env, err))
		} else if st.IsDir() {
			errs = append(errs, fmt.Errorf("%w: %s: %s is a directory", ErrBadRedis, f.env, f.path))
		}
	}
	tlsFiles := r.TLSCA != "" || r.TLSCert != ""
	if r.SentinelMaster == "" {
		if len(r.SentinelAddrs) > 0 || r.SentinelPassword != "" {
			errs = append(errs, fmt.Errorf("%w: KUBENTLY_REDIS_SENTINEL_ADDRS and _PASSWORD need KUBENTLY_REDIS_SENTINEL_MASTER", ErrBadRedis))
		}
		if redisURL == "" && (r.Username != "" || r.Password != "" || tlsFiles) {
			errs = append(errs, fmt.Errorf("%w: KUBENTLY_REDIS_USERNAME, _PASSWORD and _TLS_* need KUBENTLY_REDIS_URL or Sentinel", ErrBadRedis))
		}
		if redisURL != "" && tlsFiles {
			if u, err := url.Parse(redisURL); err == nil && u.Scheme != "rediss" {
				errs = append(errs, fmt.Errorf("%w: KUBENTLY_REDIS_TLS_* set but KUBENTLY_REDIS_URL is not rediss://", ErrBadRedis))
			}
		}
	} else {
		if len(r.SentinelAddrs) == 0 {
			errs = append(errs, fmt.Errorf("%w: KUBENTLY_REDIS_SENTINEL_ADDRS is required with KUBENTLY_REDIS_SENTINEL_MASTER", ErrBadRedis))
		}
		for _, a := range r.SentinelAddrs {
			if _, _, err := net.SplitHostPort(a); err != nil {
				errs = append(errs, fmt.Errorf("%w: KUBENTLY_REDIS_SENTINEL_ADDRS: %q is not host:port", ErrBadRedis, a))
			}
		}
	}
	if redisURL != "" {
		if _, err := redis.ParseURL(redisURL); err != nil {
			errs = append(errs, fmt.Errorf("%w: KUBENTLY_REDIS_URL: want redis://[user:password@]host:port/db or rediss://", ErrBadRedis))
		}
	}
	return errors.Join(errs...)
}

// client builds the Redis client cfg describes.
func (r RedisConfig) client(redisURL string) (redis.UniversalClient, error) {
	if err := r.Validate(redisURL); err != nil {
		return nil, err
	}
	opts := &redis.Options{}
	if redisURL != "" {
		var err error
		if opts, err = redis.ParseURL(redisURL); err != nil {
			return nil, fmt.Errorf("%w: KUBENTLY_REDIS_URL", ErrBadRedis)
		}
	}
	if r.Username != "" {
		opts.Username = r.Username
	}
	if r.Password != "" {
		opts.Password = r.Password
	}
	if opts.TLSConfig != nil || (r.SentinelMaster != "" && (r.TLSCA != "" || r.TLSCert != "")) {
		tc, err := r.tlsConfig(opts.TLSConfig)
		if err != nil {
			return nil, err
		}
		opts.TLSConfig = tc
	}
	if r.SentinelMaster == "" {
		return redis.NewClient(opts), nil
	}
	return redis.NewFailoverClient(&redis.FailoverOptions{
		MasterName:       r.SentinelMaster,
		SentinelAddrs:    r.SentinelAddrs,
		SentinelPassword: r.SentinelPassword,
		Username:         opts.Username,
		Password:         opts.Password,
		DB:               opts.DB,
		TLSConfig:        opts.TLSConfig,
		ClientName:       opts.ClientName,
	}), nil
}

func (r RedisConfig) tlsConfig(base *tls.Config) (*tls.Config, error) {
	tc := &tls.Config{MinVersion: tls.VersionTLS12}
	if base != nil {
		tc = base.Clone()
		if tc.MinVersion < tls.VersionTLS12 {
			tc.MinVersion = tls.VersionTLS12
		}
	}
	if r.TLSCA != "" {
		pem, err := os.ReadFile(r.TLSCA)
		if err != nil {
			return nil, fmt.Errorf("%w: KUBENTLY_REDIS_TLS_CA: %w", ErrBadRedis, err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("%w: KUBENTLY_REDIS_TLS_CA: no PEM certificate in %s", ErrBadRedis, r.TLSCA)
		}
		tc.RootCAs = pool
	}
	if r.TLSCert != "" {
		cert, err := tls.LoadX509KeyPair(r.TLSCert, r.TLSKey)
		if err != nil {
			return nil, fmt.Errorf("%w: KUBENTLY_REDIS_TLS_CERT/KEY: %w", ErrBadRedis, err)
		}
		tc.Certificates = []tls.Certificate{cert}
	}
	return tc, nil
}

// ownedStore is a Redis store that closes its client on Close.
type ownedStore struct {
	*redisstore.Store
	rdb redis.UniversalClient
}

// Close closes the store and its client.
func (s ownedStore) Close() error { return errors.Join(s.Store.Close(), s.rdb.Close()) }

// openRedis opens the Redis store cfg describes; a Redis that does not
// answer is store.ErrUnavailable.
func openRedis(ctx context.Context, cfg Config) (store.Store, error) {
	rdb, err := cfg.Redis.client(cfg.RedisURL)
	if err != nil {
		return nil, err
	}
	s, err := redisstore.NewFromClient(ctx, rdb, redisstore.Config{Visibility: cfg.Visibility})
	if err != nil {
		_ = rdb.Close()
		return nil, err
	}
	return ownedStore{Store: s, rdb: rdb}, nil
}

// Start-up retry bounds of openRetry.
const (
	retryFirst = 100 * time.Millisecond
	retryMax   = 5 * time.Second
)

// openRetry is Open, retrying with exponential backoff while the store is
// unavailable (Redis not up yet, a Sentinel without a master) until ctx
// ends. Configuration errors (bad settings, refused credentials) are not
// retried.
func openRetry(ctx context.Context, cfg Config, log *slog.Logger) (store.Store, error) {
	backoff := retryFirst
	for {
		st, err := Open(ctx, cfg)
		if err == nil || !errors.Is(err, store.ErrUnavailable) {
			return st, err
		}
		log.Warn("store unavailable; retrying", "store", Name(cfg), "err", err, "in", backoff)
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("%w (last error: %w)", ctx.Err(), err)
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, retryMax)
	}
}
