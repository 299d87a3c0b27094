// Package logging is Kubently's one way to log: log/slog with a JSON handler
// (text on a terminal), stable keys, and a logger carried in the context.
//
// # Usage
//
//	log := logging.New(logging.Config{Service: "dispatcher", Level: "info"})
//	ctx = logging.NewContext(ctx, log.With(logging.KeyCorrelationID, id))
//	logging.FromContext(ctx).Info("command dispatched", logging.KeyCluster, c)
//
// # Concurrency
//
// Loggers are safe for concurrent use. Secrets (tokens, API keys) must never
// be passed as attribute values; Redact masks a value if one must be named.
package logging

import (
	"context"
	"io"
	"log/slog"
	"os"
	"strings"
)

// Stable attribute keys. Use these, not ad-hoc spellings.
const (
	KeyErr           = "err"
	KeyService       = "service"
	KeyCluster       = "cluster"
	KeySessionID     = "session_id"
	KeyCommandID     = "command_id"
	KeyCorrelationID = "correlation_id"
	KeyCaller        = "caller"
	KeyExecutorID    = "executor_id"
	KeyVerb          = "verb"
	KeyStatus        = "status"
	KeyDuration      = "duration_ms"
)

// Config configures New.
type Config struct {
	// Service names the process; added to every line. Empty adds nothing.
	Service string
	// Level is debug, info (default), warn or error.
	Level string
	// Format is json (default off a terminal) or text.
	Format string
	// Output is where lines go; nil means stderr.
	Output io.Writer
}

// New builds a logger from cfg.
func New(cfg Config) *slog.Logger {
	out := cfg.Output
	if out == nil {
		out = os.Stderr
	}
	opts := &slog.HandlerOptions{Level: ParseLevel(cfg.Level)}
	var h slog.Handler
	format := strings.ToLower(cfg.Format)
	if format == "" {
		format = "json"
		if f, ok := out.(*os.File); ok && isTerminal(f) {
			format = "text"
		}
	}
	if format == "text" {
		h = slog.NewTextHandler(out, opts)
	} else {
		opts.AddSource = false
		h = slog.NewJSONHandler(out, opts)
	}
	l := slog.New(h)
	if cfg.Service != "" {
		l = l.With(KeyService, cfg.Service)
	}
	return l
}

// ParseLevel maps a level name to a slog.Level; unknown names mean info.
func ParseLevel(s string) slog.Level {
	switch strings.ToLower(s) {
	case "debug":
		return slog.LevelDebug
	case "warn", "warning":
		return slog.LevelWarn
	case "error":
		return slog.LevelError
	default:
		return slog.LevelInfo
	}
}

// Discard returns a logger that drops everything (for tests).
func Discard() *slog.Logger { return slog.New(slog.DiscardHandler) }

type ctxKey struct{}

// NewContext returns ctx carrying log.
func NewContext(ctx context.Context, log *slog.Logger) context.Context {
	return context.WithValue(ctx, ctxKey{}, log)
}

// FromContext returns the logger in ctx, or slog.Default if there is none.
func FromContext(ctx context.Context) *slog.Logger {
	if l, ok := ctx.Value(ctxKey{}).(*slog.Logger); ok && l != nil {
		return l
	}
	return slog.Default()
}

// Redact returns a masked form of a secret that is safe to log: its length
// and nothing else.
func Redact(secret string) string {
	if secret == "" {
		return ""
	}
	return "***redacted(" + itoa(len(secret)) + ")***"
}

func itoa(n int) string {
	if n == 0 {
		return "0"
	}
	var b [20]byte
	i := len(b)
	for n > 0 {
		i--
		b[i] = byte('0' + n%10)
		n /= 10
	}
	return string(b[i:])
}

func isTerminal(f *os.File) bool {
	fi, err := f.Stat()
	if err != nil {
		return false
	}
	return fi.Mode()&os.ModeCharDevice != 0
}
