package policy

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"kubently.io/libs/ops"
)

// DefaultReloadInterval is how often a Source re-reads its file when
// SourceConfig.Interval is zero.
const DefaultReloadInterval = 5 * time.Second

// SourceConfig configures NewSource.
type SourceConfig struct {
	// Path is the policy file. Empty means the built-in Default policy,
	// never reloaded.
	Path string
	// Interval is how often the file is re-read; zero means
	// DefaultReloadInterval. The whole file is read and hashed each time,
	// so Kubernetes ConfigMap symlink swaps are seen.
	Interval time.Duration
	// Log receives load and reload outcomes; required.
	Log *slog.Logger
	// Registerer receives the policy metrics; nil registers none.
	Registerer prometheus.Registerer
}

// Source holds the policy in force and reloads it from a file. A file
// that fails to load keeps the last good policy in force; when no policy
// was ever loaded, the policy in force is DenyAll (fail closed). Metrics
// and logs say why.
type Source struct {
	cfg     SourceConfig
	current atomic.Pointer[Policy]

	mu       sync.Mutex
	lastHash string // hash of the last file content read, good or bad
	lastErr  string

	reloads   *prometheus.CounterVec
	valid     prometheus.Gauge
	loaded    prometheus.Gauge
	lastError *prometheus.GaugeVec
	info      *prometheus.GaugeVec
}

// NewSource loads the policy file once and returns the Source. A file
// that cannot be loaded is not an error here: the Source then denies
// everything until a good file appears. Errors are for a bad config.
func NewSource(cfg SourceConfig) (*Source, error) {
	if cfg.Log == nil {
		return nil, errors.New("policy: SourceConfig.Log is required")
	}
	if cfg.Interval < 0 {
		return nil, fmt.Errorf("policy: SourceConfig.Interval %v is negative", cfg.Interval)
	}
	if cfg.Interval == 0 {
		cfg.Interval = DefaultReloadInterval
	}
	s := &Source{
		cfg: cfg,
		reloads: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "kubently_policy_reloads_total",
			Help: "Policy file loads by result (success, error, unchanged loads are not counted).",
		}, []string{"result"}),
		valid: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "kubently_policy_config_valid",
			Help: "1 when the last policy file read was valid, 0 when it was not (the last good policy stays in force).",
		}),
		loaded: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "kubently_policy_loaded",
			Help: "1 when a policy is in force, 0 when none could be loaded and every command is denied.",
		}),
		lastError: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "kubently_policy_last_error",
			Help: "1 with the kind of the last failed policy load (read, too_large, invalid) as the reason label; absent after a good load. The full error is in the log and in Source.LastError.",
		}, []string{"reason"}),
		info: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "kubently_policy_info",
			Help: "1 with the SHA-256 of the policy in force (builtin, deny-all or the file's hash).",
		}, []string{"hash"}),
	}
	s.reloads.WithLabelValues("success")
	s.reloads.WithLabelValues("error")
	if err := ops.Register(cfg.Registerer, s.reloads, s.valid, s.loaded, s.lastError, s.info); err != nil {
		return nil, fmt.Errorf("policy: register metrics: %w", err)
	}
	if cfg.Path == "" {
		s.set(Default())
		s.valid.Set(1)
		cfg.Log.Info("command policy: built-in readOnly profile (no policy file configured)")
		return s, nil
	}
	s.set(DenyAll("policy file " + cfg.Path + " not loaded yet"))
	if err := s.Reload(); err != nil {
		s.set(DenyAll(err.Error()))
		cfg.Log.Error("command policy could not be loaded; denying every command until it can", "path", cfg.Path, "err", err)
	}
	return s, nil
}

// Policy returns the policy in force. It never returns nil.
func (s *Source) Policy() *Policy { return s.current.Load() }

// LastError returns why the last load failed, or "" after a good one.
func (s *Source) LastError() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.lastErr
}

func (s *Source) set(p *Policy) {
	s.current.Store(p)
	s.info.Reset()
	s.info.WithLabelValues(p.Hash()).Set(1)
	if p.Available() {
		s.loaded.Set(1)
	} else {
		s.loaded.Set(0)
	}
}

// Reload reads the file once. An unchanged file does nothing. A good file
// replaces the policy in force; a bad or missing one leaves it in place,
// and the error says why.
func (s *Source) Reload() error {
	if s.cfg.Path == "" {
		return nil
	}
	data, err := readBounded(s.cfg.Path)
	s.mu.Lock()
	defer s.mu.Unlock()
	if err != nil {
		return s.failed(err, "")
	}
	p, err := ParseFile(data)
	if err != nil {
		return s.failed(err, sha256Hex(data))
	}
	if p.Hash() == s.lastHash && s.lastErr == "" {
		return nil
	}
	s.lastHash, s.lastErr = p.Hash(), ""
	s.set(p)
	s.valid.Set(1)
	s.lastError.Reset()
	s.reloads.WithLabelValues("success").Inc()
	s.cfg.Log.Info("command policy loaded", "path", s.cfg.Path, "hash", p.Hash(), "profiles", len(p.profiles), "default_profile", p.def)
	return nil
}

// failed records a failed load; called with s.mu held. A bad file that
// was already reported is not logged or counted again.
func (s *Source) failed(err error, hash string) error {
	msg := err.Error()
	if msg == s.lastErr && hash == s.lastHash {
		return err
	}
	s.lastErr, s.lastHash = msg, hash
	s.valid.Set(0)
	s.lastError.Reset()
	s.lastError.WithLabelValues(LoadErrorReason(err)).Set(1)
	s.reloads.WithLabelValues("error").Inc()
	if s.Policy().Available() {
		s.cfg.Log.Error("command policy reload failed; keeping the last good policy", "path", s.cfg.Path, "err", err, "hash_in_force", s.Policy().Hash())
	}
	return err
}

// Run re-reads the file every Interval until ctx ends.
func (s *Source) Run(ctx context.Context) {
	if s.cfg.Path == "" {
		return
	}
	t := time.NewTicker(s.cfg.Interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			_ = s.Reload()
		}
	}
}

// readBounded reads at most MaxFileBytes+1 bytes of path.
func readBounded(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("read policy file: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, MaxFileBytes+1))
	if err != nil {
		return nil, fmt.Errorf("read policy file: %w", err)
	}
	return data, nil
}

// The reason label of kubently_policy_last_error: a closed set, so a
// file's content (or a path) never becomes a metric label.
const (
	// LoadErrorRead: the file could not be read (missing, permissions).
	LoadErrorRead = "read"
	// LoadErrorTooLarge: the file is larger than MaxFileBytes.
	LoadErrorTooLarge = "too_large"
	// LoadErrorInvalid: the file is not a valid policy (YAML, fields,
	// verbs, globs, profiles).
	LoadErrorInvalid = "invalid"
)

// LoadErrorReason classifies a load error of Source.Reload as one of the
// LoadError* reasons.
func LoadErrorReason(err error) string {
	switch {
	case errors.Is(err, errTooLarge):
		return LoadErrorTooLarge
	case errors.Is(err, ErrInvalid):
		return LoadErrorInvalid
	}
	return LoadErrorRead
}
