package command

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"kubently.io/cli/internal/dev"
	"kubently.io/libs/contracts"
	"kubently.io/libs/logging"
)

func newDevCmd(o *Options, version string) *cobra.Command {
	cfg := dev.Config{Version: version}
	var logLevel string
	cmd := &cobra.Command{
		Use:   "dev",
		Short: "Run all of Kubently in one process, connected to your current kubeconfig",
		Long: `Runs an embedded NATS server (JetStream, data kept in --data-dir), the session
service, the dispatcher, the gateway and an executor for your current kubeconfig
context, then prints the URL, a dev API key and commands to try.

With --local-cluster it first builds, starts and seeds a real local Kubernetes
(hack/testbed/testbed.sh from the Kubently checkout in the working directory or
$KUBENTLY_REPO; about 8 minutes to build the first time, seconds after) running
a broken demo shop, and connects the executor to it.`,
		Args: usage(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := contracts.ValidateID("cluster", cfg.ClusterID); err != nil {
				return &ExitError{Code: ExitUsage, Err: fmt.Errorf("--cluster-id: %w", err)}
			}
			if cfg.DataDir == "" {
				home, _ := o.env("HOME")
				if home == "" {
					home = "."
				}
				cfg.DataDir = filepath.Join(home, ".kubently", "dev")
			}
			if cfg.RedisURL == "" {
				cfg.RedisURL, _ = o.env("KUBENTLY_REDIS_URL")
			}
			cfg.KubeconfigEnv, _ = o.env("KUBECONFIG")
			if cfg.LocalCluster {
				if cmd.Flags().Changed("kubeconfig") || cmd.Flags().Changed("context") || cfg.NoExecutor {
					return &ExitError{Code: ExitUsage, Err: fmt.Errorf("--local-cluster cannot be combined with --kubeconfig, --context or --no-executor")}
				}
				cfg.RepoRoot, _ = o.env("KUBENTLY_REPO")
				wd, err := os.Getwd()
				if err != nil {
					return err
				}
				cfg.WorkDir = wd
			}
			cfg.Log = logging.New(logging.Config{Level: logLevel, Output: o.stderr})
			cfg.Out = o.stdout
			return dev.Run(cmd.Context(), cfg)
		},
	}
	f := cmd.Flags()
	f.StringVar(&cfg.DataDir, "data-dir", "", "where JetStream data and dev credentials live (default ~/.kubently/dev)")
	f.StringVar(&cfg.Addr, "addr", "127.0.0.1:8080", "gateway listen address")
	f.IntVar(&cfg.NATSPort, "nats-port", 4222, "embedded NATS port (-1 for a random free port)")
	f.StringVar(&cfg.RedisURL, "redis-url", "", "use this Redis for the store instead of JetStream (env KUBENTLY_REDIS_URL)")
	f.StringVar(&cfg.Kubeconfig, "kubeconfig", "", "kubeconfig for the executor (default $KUBECONFIG or ~/.kube/config)")
	f.StringVar(&cfg.KubeContext, "context", "", "kubeconfig context (default: current)")
	f.StringVar(&cfg.ClusterID, "cluster-id", "local", "id the cluster is registered as")
	f.BoolVar(&cfg.NoExecutor, "no-executor", false, "start no executor")
	f.BoolVar(&cfg.Tracing.Enabled, "tracing", false, "export OpenTelemetry traces over OTLP/HTTP (to --otlp-endpoint or the OTEL_EXPORTER_OTLP_* environment)")
	f.StringVar(&cfg.Tracing.Endpoint, "otlp-endpoint", "", "OTLP/HTTP base URL for --tracing, e.g. http://localhost:4318")
	f.StringVar(&cfg.PolicyFile, "policy-file", "", "command policy file (profiles per cluster; see docs/policy.md), re-read every 5s; empty: built-in readOnly")
	f.BoolVar(&cfg.LocalCluster, "local-cluster", false, "build, start and seed a local Kubernetes with a broken demo app and connect to it (needs a Kubently checkout: the working dir or $KUBENTLY_REPO)")
	f.StringVar(&cfg.APIKey, "api-key", "", "use this dev API key instead of the generated one")
	f.StringVar(&logLevel, "log-level", "warn", "log level: debug, info, warn, error")
	return cmd
}
