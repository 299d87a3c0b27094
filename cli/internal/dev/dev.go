// Package dev runs all of Kubently in one process for a laptop or a demo:
// an embedded NATS server with JetStream (file storage, so state survives a
// restart), the embedded store (or Redis), the session service, the
// dispatcher, the gateway and — when a kubeconfig is found — an executor
// connected to it.
package dev

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/nats-io/nats.go"

	"kubently.io/cli/devstack"
	"kubently.io/libs/logging"
	"kubently.io/libs/natsutil"
	"kubently.io/libs/ops"
	"kubently.io/libs/store"
	"kubently.io/libs/store/backend"
	"kubently.io/libs/telemetry"
	dispatchapp "kubently.io/services/dispatcher/app"
	executorapp "kubently.io/services/executor/app"
	gatewayapp "kubently.io/services/gateway/app"
)

// AdminURLFile is the file in the data directory holding the URL (with an
// unrestricted user's password) of this run's embedded NATS server, for
// inspecting the bus locally (`nats --server "$(cat ...)"`).
const AdminURLFile = "nats-admin.url"

// Config configures Run.
type Config struct {
	// DataDir keeps JetStream data and the generated dev credentials.
	DataDir string
	// Addr is the gateway's listen address.
	Addr string
	// NATSPort is the embedded NATS client port (-1: random).
	NATSPort int
	// RedisURL uses Redis for the store instead of JetStream.
	RedisURL string
	// Kubeconfig and KubeContext select the cluster the executor talks to;
	// empty Kubeconfig means $KUBECONFIG or ~/.kube/config.
	Kubeconfig, KubeContext string
	// ClusterID is the id the local cluster is registered as.
	ClusterID string
	// KubeconfigEnv is $KUBECONFIG, passed in (the package reads no env).
	KubeconfigEnv string
	// NoExecutor starts no executor even if a kubeconfig exists.
	NoExecutor bool
	// PolicyFile is the command policy file the dispatcher and executor
	// enforce; empty means the built-in readOnly profile.
	PolicyFile string
	// Tracing exports OpenTelemetry traces of every service over OTLP
	// when Tracing.Enabled is set.
	Tracing telemetry.Config
	// APIKey overrides the generated dev API key.
	APIKey string
	// Version is the build version.
	Version string
	// Log is the logger; required.
	Log *slog.Logger
	// Out receives the human-readable banner; required.
	Out io.Writer
	// Ready, if set, receives the gateway URL once everything runs.
	Ready func(url string)
	// LocalCluster builds, starts and seeds the local Kubernetes testbed
	// (hack/testbed/testbed.sh in RepoRoot) and connects the executor to it,
	// ignoring Kubeconfig and KubeContext. False uses Kubeconfig as usual.
	LocalCluster bool
	// RepoRoot is the Kubently checkout holding the testbed script; used
	// only with LocalCluster. Empty means FindRepoRoot(WorkDir, "").
	RepoRoot string
	// WorkDir is where FindRepoRoot starts looking; empty means ".".
	WorkDir string
}

// credentials are generated once and kept in the data dir.
type credentials struct {
	APIKey, Token string
}

func loadOrCreate(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err == nil && len(strings.TrimSpace(string(b))) >= 16 {
		return strings.TrimSpace(string(b)), nil
	}
	var r [24]byte
	if _, err := rand.Read(r[:]); err != nil {
		return "", err
	}
	v := hex.EncodeToString(r[:])
	if err := os.WriteFile(path, []byte(v+"\n"), 0o600); err != nil {
		return "", err
	}
	return v, nil
}

// Run starts everything and blocks until ctx ends.
func Run(ctx context.Context, cfg Config) error {
	if cfg.Log == nil || cfg.Out == nil {
		return errors.New("dev: Log and Out are required")
	}
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return fmt.Errorf("dev: data dir: %w", err)
	}
	// One tracer provider for every service of this process.
	stopTracing, err := telemetry.Setup(logging.NewContext(ctx, cfg.Log), cfg.Tracing.For("kubently-dev", cfg.Version))
	if err != nil {
		return fmt.Errorf("dev: %w", err)
	}
	defer telemetry.Close(cfg.Log, stopTracing)
	if cfg.LocalCluster {
		root := cfg.RepoRoot
		if root == "" {
			wd := cfg.WorkDir
			if wd == "" {
				wd = "."
			}
			abs, err := filepath.Abs(wd)
			if err != nil {
				return fmt.Errorf("dev: %w", err)
			}
			if root, err = FindRepoRoot(abs, ""); err != nil {
				return fmt.Errorf("dev: --local-cluster: %w", err)
			}
		}
		kubeconfig, err := startLocalCluster(ctx, root, cfg.Out)
		if err != nil {
			return fmt.Errorf("dev: --local-cluster: %w", err)
		}
		cfg.Kubeconfig, cfg.KubeContext, cfg.KubeconfigEnv = kubeconfig, "", ""
	}
	var creds credentials
	if creds.APIKey, err = loadOrCreate(filepath.Join(cfg.DataDir, "api-key")); err != nil {
		return fmt.Errorf("dev: api key: %w", err)
	}
	if cfg.APIKey != "" {
		creds.APIKey = cfg.APIKey
	}
	if creds.Token, err = loadOrCreate(filepath.Join(cfg.DataDir, "executor-token")); err != nil {
		return fmt.Errorf("dev: executor token: %w", err)
	}

	// Each service connects as its own user with its role's permissions
	// (the production model); the passwords are new on every run. The
	// admin user, unrestricted, is for inspecting the bus locally: its
	// URL is in <data-dir>/nats-admin.url (mode 0600, beside the
	// JetStream data it could read anyway).
	users := []natsutil.EmbeddedUser{{User: "admin", Password: rand.Text()}}
	for _, r := range natsutil.Roles() {
		users = append(users, natsutil.EmbeddedUser{User: string(r), Password: rand.Text(), Role: r})
	}
	ns, err := natsutil.RunEmbedded(natsutil.EmbeddedConfig{Port: cfg.NATSPort, StoreDir: filepath.Join(cfg.DataDir, "jetstream"), Users: users})
	if err != nil {
		return fmt.Errorf("dev: embedded NATS on port %d: %w (is another kubently dev running? try --nats-port -1)", cfg.NATSPort, err)
	}
	defer func() { ns.Shutdown(); ns.WaitForShutdown() }()
	adminURL := strings.Replace(ns.ClientURL(), "://", "://admin:"+users[0].Password+"@", 1)
	if err := os.WriteFile(filepath.Join(cfg.DataDir, AdminURLFile), []byte(adminURL+"\n"), 0o600); err != nil {
		return fmt.Errorf("dev: %w", err)
	}
	log := cfg.Log
	var closers []func()
	defer func() {
		for i := len(closers) - 1; i >= 0; i-- {
			closers[i]()
		}
	}()
	connect := func(r natsutil.Role) (*nats.Conn, store.Store, error) {
		u := users[slices.Index(natsutil.Roles(), r)+1]
		opts, err := natsutil.ConnConfig{User: u.User, Password: u.Password}.Options()
		if err != nil {
			return nil, nil, err
		}
		nc, err := natsutil.Connect(ctx, ns.ClientURL(), r.ServiceName(), log, append(opts, natsutil.RoleOption(r))...)
		if err != nil {
			return nil, nil, err
		}
		closers = append(closers, nc.Close)
		st, err := backend.Open(ctx, backend.Config{RedisURL: cfg.RedisURL, Conn: nc})
		if err != nil {
			return nil, nil, err
		}
		closers = append(closers, func() { _ = st.Close() })
		return nc, st, nil
	}

	// The documented defaults (rate limits, connection limits, the
	// authentication back-off) apply in dev as in production.
	gwCfg := gatewayapp.DefaultConfig()
	gwCfg.Addr = cfg.Addr
	gwCfg.APIKeys = []string{"dev:admin:" + creds.APIKey} // the one local user administers too
	gwCfg.AgentTokens = cfg.ClusterID + ":" + creds.Token
	gwCfg.Name = "dev"
	gwCfg.Heartbeat = 5 * time.Second
	// One local address serves everything, /metrics included.
	gwCfg.MetricsOnClientPort = true
	gwCfg.NATSURL = ns.ClientURL()
	reg := ops.NewRegistry()
	stack, err := devstack.Start(ctx, devstack.Config{Connect: connect, Log: log, Version: cfg.Version, PolicyFile: cfg.PolicyFile,
		DispatcherRegistry: reg, GatewayRegistry: reg, Gateway: gwCfg, Addr: cfg.Addr,
		Dispatcher: func(d *dispatchapp.Deps) {
			d.BridgeGrace = 10 * time.Second
			// A short drain: Ctrl-C should not hang for long.
			d.DrainTimeout = 2 * time.Second
		}})
	var opErr *net.OpError
	if errors.As(err, &opErr) && opErr.Op == "listen" {
		return fmt.Errorf("dev: %w (use --addr to pick another)", err)
	}
	if err != nil {
		return err
	}
	defer stack.Stop()
	url := stack.URL

	execCfg := executorapp.Config{
		APIURL: url, Cluster: cfg.ClusterID, Token: creds.Token, Kubeconfig: cfg.Kubeconfig,
		KubeContext: cfg.KubeContext, Workers: 8, Queue: 64, MaxOutputBytes: 256 << 10, KubeQPS: 100, KubeBurst: 200,
		ExecutorID: "dev-executor", Version: cfg.Version, PolicyFile: cfg.PolicyFile,
	}
	execCfg.KubeconfigEnv = cfg.KubeconfigEnv
	executorNote := ""
	if cfg.NoExecutor {
		executorNote = "no executor started (--no-executor)"
	} else if rc, kerr := executorapp.RESTConfig(execCfg); kerr != nil {
		executorNote = "no kubeconfig found, so no executor is connected (" + firstLine(kerr.Error()) + ")"
	} else {
		stack.RunExecutor(execCfg, rc, log.With("service", "executor"))
		executorNote = "executor for " + rc.Host
	}

	fmt.Fprintf(cfg.Out, `
Kubently dev is running.

  Gateway:    %s
  NATS:       %s (JetStream data in %s; per-service users, admin URL in %s)
  Store:      %s
  Cluster:    %s — %s
  API key:    %s

Try it:

  export KUBENTLY_API_URL=%s
  export KUBENTLY_API_KEY=%s
  kubently clusters
  kubently exec %s -- get pods -A

`, url, ns.ClientURL(), filepath.Join(cfg.DataDir, "jetstream"), filepath.Join(cfg.DataDir, AdminURLFile), backend.Name(backend.Config{RedisURL: cfg.RedisURL}),
		cfg.ClusterID, executorNote, creds.APIKey, url, creds.APIKey, cfg.ClusterID)
	if strings.HasPrefix(executorNote, "no ") {
		fmt.Fprintf(cfg.Out, `To connect an executor for a cluster, run it where it can reach that cluster:

  KUBENTLY_API_URL=%s CLUSTER_ID=%s KUBENTLY_TOKEN=%s \
  KUBECONFIG=/path/to/kubeconfig executor

`, url, cfg.ClusterID, creds.Token)
	}
	if cfg.LocalCluster {
		fmt.Fprintf(cfg.Out, `The local cluster runs a broken demo shop. Things to try:

  kubently exec %[1]s -- get pods -n shop                            # CrashLoopBackOff, ImagePullBackOff, Pending...
  kubently exec %[1]s -- describe pod -n shop -l app=cart            # why it restarts
  kubently exec %[1]s -- logs deploy/cart -n shop --previous         # the crash before the last restart
  kubently exec %[1]s -- logs deploy/recommender -n shop --previous  # OOMKilled
  kubently exec %[1]s -- events -n shop --types Warning
  kubently exec %[1]s -- describe pod -n shop -l app=search          # FailedScheduling
  kubently exec %[1]s -- top pod -n shop --containers
  kubently exec %[1]s -- rollout history deploy/checkout -n shop
  kubently exec %[1]s -- rollout status deploy/checkout -n shop      # stuck rollout
  kubently exec %[1]s -- describe job db-migrate -n batch            # failed Job
  kubently exec %[1]s -- describe svc inventory -n shop              # a Service with no endpoints
  kubently exec %[1]s -- get secrets -n shop                         # denied: Kubently never reads Secrets

The cluster keeps running after kubently dev stops; hack/testbed/testbed.sh down stops it.

`, cfg.ClusterID)
	}
	if cfg.Ready != nil {
		cfg.Ready(url)
	}
	var runErr error
	select {
	case <-ctx.Done():
	case <-stack.Ended():
		if errs := stack.Errs(); len(errs) > 0 {
			runErr = errs[0]
		}
	}
	return runErr
}

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}
