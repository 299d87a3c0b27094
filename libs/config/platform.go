package config

import (
	"errors"
	"flag"
	"fmt"
	"net/url"
	"strings"
)

// Platform is the configuration every NATS-facing Kubently service shares:
// where NATS and the store are, and how to log. Embed it in a service's
// Config.
type Platform struct {
	// NATSURL is the NATS server (or comma-separated cluster seed list).
	NATSURL string `env:"KUBENTLY_NATS_URL" default:"nats://127.0.0.1:4222"`
	// RedisURL selects the Redis store (redis://[:password@]host:port/db).
	// Empty selects the embedded JetStream store on the NATS connection.
	RedisURL string `env:"KUBENTLY_REDIS_URL"`
	// LogLevel is debug, info, warn or error.
	LogLevel string `env:"KUBENTLY_LOG_LEVEL" default:"info"`
	// LogFormat is json or text; empty picks text on a terminal, else json.
	LogFormat string `env:"KUBENTLY_LOG_FORMAT"`
	// OpsAddr serves /healthz, /readyz and /metrics; empty disables it.
	OpsAddr string `env:"KUBENTLY_OPS_ADDR"`
	// MetricsToken, when set, is the bearer token /metrics on the ops
	// address requires; empty means /metrics is open to whoever reaches
	// the ops address.
	MetricsToken string `env:"KUBENTLY_METRICS_TOKEN"`
	// PProf serves Go's runtime profiles (net/http/pprof) under
	// /debug/pprof/ on the ops address, behind MetricsToken when set; off
	// by default.
	PProf bool `env:"KUBENTLY_PPROF" default:"false"`
}

// Validate checks the shared settings.
func (p Platform) Validate() error {
	var errs []error
	if p.NATSURL == "" {
		errs = append(errs, errors.New("KUBENTLY_NATS_URL is empty"))
	}
	for _, u := range strings.Split(p.NATSURL, ",") {
		if pu, err := url.Parse(strings.TrimSpace(u)); err != nil || pu.Host == "" {
			errs = append(errs, fmt.Errorf("KUBENTLY_NATS_URL: %q is not a URL like nats://host:4222", redactURL(u)))
		}
	}
	if p.RedisURL != "" {
		if pu, err := url.Parse(p.RedisURL); err != nil || (pu.Scheme != "redis" && pu.Scheme != "rediss") || pu.Host == "" {
			errs = append(errs, errors.New("KUBENTLY_REDIS_URL: want redis://host:port/db or rediss://host:port/db"))
		}
	}
	switch strings.ToLower(p.LogLevel) {
	case "", "debug", "info", "warn", "warning", "error":
	default:
		errs = append(errs, fmt.Errorf("KUBENTLY_LOG_LEVEL: %q is not one of debug, info, warn, error", p.LogLevel))
	}
	switch strings.ToLower(p.LogFormat) {
	case "", "json", "text":
	default:
		errs = append(errs, fmt.Errorf("KUBENTLY_LOG_FORMAT: %q is not json or text", p.LogFormat))
	}
	return errors.Join(errs...)
}

// redactURL hides a password in a URL for error messages.
func redactURL(raw string) string {
	u, err := url.Parse(strings.TrimSpace(raw))
	if err != nil || u.User == nil {
		return raw
	}
	return u.Redacted()
}

// BindFlags registers command-line flags that override the environment:
// --nats-url, --redis-url, --log-level, --log-format and --ops-addr. Call
// it after Load, so the flags' defaults show the environment's values.
func (p *Platform) BindFlags(fs *flag.FlagSet) {
	fs.StringVar(&p.NATSURL, "nats-url", p.NATSURL, "NATS server URL(s) (env KUBENTLY_NATS_URL)")
	fs.StringVar(&p.RedisURL, "redis-url", p.RedisURL, "Redis URL; empty uses the JetStream store (env KUBENTLY_REDIS_URL)")
	fs.StringVar(&p.LogLevel, "log-level", p.LogLevel, "debug, info, warn or error (env KUBENTLY_LOG_LEVEL)")
	fs.StringVar(&p.LogFormat, "log-format", p.LogFormat, "json or text (env KUBENTLY_LOG_FORMAT)")
	fs.StringVar(&p.OpsAddr, "ops-addr", p.OpsAddr, "serve /healthz, /readyz, /metrics here (env KUBENTLY_OPS_ADDR)")
}
