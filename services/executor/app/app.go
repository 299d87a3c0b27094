// Package app is the executor's composition root: it loads the Kubernetes
// client configuration, builds the command runner, the worker pool and the
// link to the gateway, and runs them until ctx ends or the token is
// rejected.
package app

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"time"

	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"kubently.io/libs/contracts"
	"kubently.io/libs/logging"
	"kubently.io/libs/ops"
	"kubently.io/libs/policy"
	"kubently.io/libs/telemetry"
	"kubently.io/services/executor/internal/kubeexec"
	"kubently.io/services/executor/internal/link"
	"kubently.io/services/executor/internal/worker"
)

// Config is the executor's configuration.
type Config struct {
	// APIURL is the gateway's base URL (required).
	APIURL string `env:"KUBENTLY_API_URL"`
	// Cluster is this cluster's id (required).
	Cluster string `env:"CLUSTER_ID"`
	// Token is the cluster's executor token (required; never logged).
	Token string `env:"KUBENTLY_TOKEN"`
	// Kubeconfig is a kubeconfig path; empty means $KUBECONFIG, then
	// in-cluster config, then ~/.kube/config.
	Kubeconfig string `env:"KUBENTLY_KUBECONFIG"`
	// KubeconfigEnv is the standard $KUBECONFIG (read, not required).
	KubeconfigEnv string `env:"KUBECONFIG"`
	// KubeContext selects a kubeconfig context; empty means current.
	KubeContext string `env:"KUBENTLY_KUBE_CONTEXT"`
	// Workers is how many commands run at once. Each mostly waits on the
	// apiserver, so 32 keep 64 clients from being refused as busy (with
	// Queue) while still bounding the executor's memory.
	Workers int `env:"KUBENTLY_EXECUTOR_WORKERS" default:"32"`
	// Queue is how many received commands may wait for a worker.
	Queue int `env:"KUBENTLY_EXECUTOR_QUEUE" default:"64"`
	// AckDelay is how long the ack of a received command waits for its
	// result: the result's post acknowledges the command too, so one
	// answered within it costs no separate ack. A command still running
	// then is acked as before (and this process recorded as its holder,
	// for executor_lost). Zero means the default; a negative value acks
	// every command on receipt. At most 2s, far below the gateway's
	// visibility timeout (10s by default): a command acknowledged by
	// neither within it is sent again.
	AckDelay time.Duration `env:"KUBENTLY_EXECUTOR_ACK_DELAY" default:"500ms"`
	// KubeQPS and KubeBurst bound the executor's request rate to its
	// kube-apiserver (client-go's token bucket), shared by all commands.
	// The default is above what one apiserver serves a list of this size
	// (about 1,500/s on two cores), so it protects against a runaway
	// without capping normal load; the apiserver's own priority and
	// fairness still applies.
	KubeQPS float64 `env:"KUBENTLY_KUBE_QPS" default:"1000"`
	// KubeBurst is the token bucket's burst size.
	KubeBurst int `env:"KUBENTLY_KUBE_BURST" default:"2000"`
	// MaxOutputBytes caps each result's output.
	MaxOutputBytes int `env:"KUBENTLY_MAX_OUTPUT_BYTES" default:"262144"`
	// MaxSortBytes bounds the bytes of API answers one get --sort-by may
	// hold to sort (about five times as much memory once decoded); a
	// larger list is refused with a hint to narrow it or page it unsorted.
	// Zero means the default.
	MaxSortBytes int64 `env:"KUBENTLY_MAX_SORT_BYTES" default:"8388608"`
	// MaxConcurrentSorts bounds how many get --sort-by commands hold their
	// objects at once; more wait for a slot until their deadline. Zero
	// means the default.
	MaxConcurrentSorts int `env:"KUBENTLY_MAX_CONCURRENT_SORTS" default:"2"`
	// PolicyFile is the command policy file (profiles per cluster, see
	// docs/policy.md); empty means the built-in readOnly profile. A file
	// that cannot be loaded denies every command until it can.
	PolicyFile string `env:"KUBENTLY_POLICY_FILE"`
	// PolicyReload is how often the policy file is re-read (zero: 5s).
	PolicyReload time.Duration `env:"KUBENTLY_POLICY_RELOAD_INTERVAL" default:"5s"`
	// DiscoveryInterval is how often the executor re-reads the cluster's
	// discovery and publishes it to the gateway if it changed (it also
	// does on every new stream, and soon after a command named a type it
	// did not know); the dispatcher judges namespace-scoped callers on it.
	DiscoveryInterval time.Duration `env:"KUBENTLY_DISCOVERY_INTERVAL" default:"60s"`
	// ExecutorID identifies this process; empty means host name + random.
	ExecutorID string `env:"KUBENTLY_EXECUTOR_ID"`
	// OpsAddr serves /healthz, /readyz and /metrics; empty disables it.
	OpsAddr string `env:"KUBENTLY_OPS_ADDR"`
	// MetricsToken, when set, is the bearer token /metrics on OpsAddr
	// requires; empty means /metrics is open.
	MetricsToken string `env:"KUBENTLY_METRICS_TOKEN"`
	// PProf serves Go's runtime profiles under /debug/pprof/ on OpsAddr,
	// behind MetricsToken when set; off by default.
	PProf bool `env:"KUBENTLY_PPROF" default:"false"`
	// LogLevel is debug, info, warn or error.
	LogLevel string `env:"KUBENTLY_LOG_LEVEL" default:"info"`
	// LogFormat is json or text.
	LogFormat string `env:"KUBENTLY_LOG_FORMAT"`
	// Version is the build version (set by ldflags, not env).
	Version string
	// Config is the tracing configuration: KUBENTLY_TRACING (default
	// off), KUBENTLY_OTLP_ENDPOINT, KUBENTLY_TRACE_SAMPLE_RATIO.
	telemetry.Config
}

// The ack delay's default and upper bound (Config.AckDelay).
const (
	defaultAckDelay = 500 * time.Millisecond
	maxAckDelay     = 2 * time.Second
)

// Validate checks cfg before anything connects.
func (c Config) Validate() error {
	var errs []error
	if c.APIURL == "" {
		errs = append(errs, errors.New("KUBENTLY_API_URL is required"))
	}
	if err := contracts.ValidateID("cluster", c.Cluster); err != nil {
		errs = append(errs, fmt.Errorf("CLUSTER_ID: %w", err))
	}
	if c.Token == "" {
		errs = append(errs, errors.New("KUBENTLY_TOKEN is required"))
	}
	if c.Workers < 1 || c.Workers > 256 {
		errs = append(errs, fmt.Errorf("KUBENTLY_EXECUTOR_WORKERS %d out of range [1, 256]", c.Workers))
	}
	if c.Queue < 1 || c.Queue > 10000 {
		errs = append(errs, fmt.Errorf("KUBENTLY_EXECUTOR_QUEUE %d out of range [1, 10000]", c.Queue))
	}
	if c.AckDelay > maxAckDelay {
		errs = append(errs, fmt.Errorf("KUBENTLY_EXECUTOR_ACK_DELAY %v above %v (keep it far below the gateway's visibility timeout)", c.AckDelay, maxAckDelay))
	}
	if c.KubeQPS <= 0 || c.KubeQPS > 10000 || c.KubeBurst < 1 || c.KubeBurst > 100000 {
		errs = append(errs, fmt.Errorf("KUBENTLY_KUBE_QPS %v / KUBENTLY_KUBE_BURST %d out of range (0, 10000] / [1, 100000]", c.KubeQPS, c.KubeBurst))
	}
	if c.MaxOutputBytes < 1024 || c.MaxOutputBytes > 16<<20 {
		errs = append(errs, fmt.Errorf("KUBENTLY_MAX_OUTPUT_BYTES %d out of range [1024, 16777216]", c.MaxOutputBytes))
	}
	if c.MaxSortBytes != 0 && (c.MaxSortBytes < 1<<20 || c.MaxSortBytes > 1<<30) {
		errs = append(errs, fmt.Errorf("KUBENTLY_MAX_SORT_BYTES %d out of range [1048576, 1073741824]", c.MaxSortBytes))
	}
	if c.MaxConcurrentSorts < 0 || c.MaxConcurrentSorts > 64 {
		errs = append(errs, fmt.Errorf("KUBENTLY_MAX_CONCURRENT_SORTS %d out of range [1, 64]", c.MaxConcurrentSorts))
	}
	if err := c.Config.Validate(); err != nil {
		errs = append(errs, err)
	}
	if c.PolicyReload != 0 && (c.PolicyReload < time.Second || c.PolicyReload > time.Hour) {
		errs = append(errs, fmt.Errorf("KUBENTLY_POLICY_RELOAD_INTERVAL %v out of range [1s, 1h]", c.PolicyReload))
	}
	if c.DiscoveryInterval != 0 && (c.DiscoveryInterval < time.Second || c.DiscoveryInterval > time.Hour) {
		errs = append(errs, fmt.Errorf("KUBENTLY_DISCOVERY_INTERVAL %v out of range [1s, 1h]", c.DiscoveryInterval))
	}
	return errors.Join(errs...)
}

// RESTConfig loads the Kubernetes client configuration cfg points at.
func RESTConfig(cfg Config) (*rest.Config, error) {
	path := cfg.Kubeconfig
	if path == "" {
		path = cfg.KubeconfigEnv
	}
	if path == "" && cfg.KubeContext == "" {
		if rc, err := rest.InClusterConfig(); err == nil {
			return rc, nil
		}
	}
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	if path != "" {
		rules = &clientcmd.ClientConfigLoadingRules{Precedence: strings.Split(path, string(os.PathListSeparator))}
	}
	rc, err := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, &clientcmd.ConfigOverrides{CurrentContext: cfg.KubeContext}).ClientConfig()
	if err != nil {
		return nil, fmt.Errorf("executor: load Kubernetes config: %w", err)
	}
	return rc, nil
}

// Run runs the executor until ctx ends (nil error) or the gateway rejects
// its token (link.ErrUnauthorized).
func Run(ctx context.Context, cfg Config, log *slog.Logger) error {
	if err := cfg.Validate(); err != nil {
		return fmt.Errorf("executor: invalid config: %w", err)
	}
	// Tracing is installed here, not in RunWith, whose callers (kubently
	// dev, tests) own the global tracer provider.
	stopTracing, err := telemetry.Setup(logging.NewContext(ctx, log), cfg.For("executor", cfg.Version))
	if err != nil {
		return fmt.Errorf("executor: %w", err)
	}
	defer telemetry.Close(log, stopTracing)
	rc, err := RESTConfig(cfg)
	if err != nil {
		return err
	}
	return RunWith(ctx, cfg, rc, log)
}

// RunWith is Run with an already loaded REST config (`kubently dev`, tests).
func RunWith(ctx context.Context, cfg Config, rc *rest.Config, log *slog.Logger) error {
	if err := cfg.Validate(); err != nil {
		return fmt.Errorf("executor: invalid config: %w", err)
	}
	rc = rest.CopyConfig(rc)
	rc.QPS, rc.Burst = float32(cfg.KubeQPS), cfg.KubeBurst
	reg := ops.NewRegistry()
	pol, err := policy.NewSource(policy.SourceConfig{Path: cfg.PolicyFile, Interval: cfg.PolicyReload, Log: log, Registerer: reg})
	if err != nil {
		return fmt.Errorf("executor: %w", err)
	}
	profile := func() *policy.Profile { return pol.Policy().Profile(cfg.Cluster) }
	runner, err := kubeexec.New(kubeexec.Config{REST: rc, MaxOutputBytes: cfg.MaxOutputBytes, Profile: profile, Cluster: cfg.Cluster,
		MaxSortBytes: cfg.MaxSortBytes, MaxConcurrentSorts: cfg.MaxConcurrentSorts})
	if err != nil {
		return fmt.Errorf("executor: %w", err)
	}
	if cfg.ExecutorID == "" {
		cfg.ExecutorID = defaultExecutorID()
	}
	ackDelay := cfg.AckDelay
	switch {
	case ackDelay == 0:
		ackDelay = defaultAckDelay
	case ackDelay < 0:
		ackDelay = 0 // on receipt
	}
	lc, err := link.New(link.Config{
		APIURL: cfg.APIURL, Cluster: cfg.Cluster, Token: cfg.Token, ExecutorID: cfg.ExecutorID,
		Version: cfg.Version, Log: log, Registerer: reg, AckDelay: ackDelay,
	})
	if err != nil {
		return err
	}
	pool, err := worker.New(worker.Config{
		Runner: worker.RunnerFunc(func(ctx context.Context, cmd *policy.Command) worker.Outcome {
			r := runner.RunCommand(ctx, cmd)
			out := worker.Outcome{
				Output: r.Output, Error: r.Error, ExitCode: r.ExitCode, Truncated: r.Truncated,
				Structured: r.Structured, DeniedReason: string(r.DeniedReason), Continue: r.Continue,
			}
			// One budget for the whole result: the structured form is a
			// convenience and is dropped before it could double the size.
			if len(out.Output)+len(out.Structured) > cfg.MaxOutputBytes {
				out.Structured = nil
			}
			return out
		}),
		Post: lc.PostResult, Log: log, Workers: cfg.Workers, Queue: cfg.Queue, ExecutorID: cfg.ExecutorID,
		Registerer: reg,
		// The executor's check resolves types through the cluster's
		// discovery, so CRD short names and aliases meet the real kind;
		// a namespace-scoped caller's command (the worker puts its scope
		// in ctx) is checked against its scope again, failing closed.
		Policy: func(ctx context.Context, cmd *policy.Command) policy.Decision {
			if d := pol.Policy().CheckCommand(ctx, cfg.Cluster, cmd, runner); !d.Allowed {
				return d
			}
			return policy.CheckCommandScope(ctx, cmd, runner)
		},
	})
	if err != nil {
		return err
	}
	srv, err := ops.New(ops.Config{Addr: cfg.OpsAddr, MetricsToken: cfg.MetricsToken, PProf: cfg.PProf, Log: log, Registry: reg, Ready: map[string]ops.Check{
		"gateway": func(context.Context) error {
			if !lc.Connected() {
				return errors.New("not connected to the gateway")
			}
			return nil
		},
	}})
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	wg.Go(func() { pool.Run(ctx) })
	wg.Go(func() { pol.Run(ctx) })
	wg.Go(func() { _ = srv.Run(ctx) })
	interval := cfg.DiscoveryInterval
	if interval == 0 {
		interval = time.Minute
	}
	wg.Go(func() { publishDiscovery(ctx, runner, lc, interval, log) })
	log.Info("executor starting", "cluster", cfg.Cluster, "gateway", cfg.APIURL, "kube_host", rc.Host, "executor_id", cfg.ExecutorID)
	err = lc.Run(ctx, func(cmd contracts.Command) { pool.Submit(ctx, cmd) })
	cancel()
	wg.Wait()
	if errors.Is(err, context.Canceled) {
		return nil
	}
	return err
}

func defaultExecutorID() string {
	host, _ := os.Hostname()
	var b [4]byte
	_, _ = rand.Read(b[:])
	if host == "" {
		host = "executor"
	}
	return host + "-" + hex.EncodeToString(b[:])
}
