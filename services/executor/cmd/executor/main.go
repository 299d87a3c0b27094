// Command executor runs Kubently's in-cluster executor: it dials out to the
// gateway and runs read-only commands with client-go.
package main

import (
	"context"
	"flag"
	"log/slog"

	"kubently.io/libs/config/svcmain"
	"kubently.io/services/executor/app"
)

var version = "dev"

func main() {
	var cfg app.Config
	svcmain.Main(svcmain.Spec{
		Name: "executor", Config: &cfg,
		Flags: func(fs *flag.FlagSet) {
			cfg.Version = version
			fs.StringVar(&cfg.APIURL, "api-url", cfg.APIURL, "gateway URL (env KUBENTLY_API_URL)")
			fs.StringVar(&cfg.Cluster, "cluster-id", cfg.Cluster, "this cluster's id (env CLUSTER_ID)")
			fs.StringVar(&cfg.Kubeconfig, "kubeconfig", cfg.Kubeconfig, "kubeconfig path (env KUBENTLY_KUBECONFIG, KUBECONFIG; default in-cluster)")
			fs.StringVar(&cfg.KubeContext, "context", cfg.KubeContext, "kubeconfig context (env KUBENTLY_KUBE_CONTEXT)")
			fs.StringVar(&cfg.OpsAddr, "ops-addr", cfg.OpsAddr, "serve /healthz, /readyz, /metrics (env KUBENTLY_OPS_ADDR)")
		},
		Logging: func() (string, string) { return cfg.LogLevel, cfg.LogFormat },
		Run:     func(ctx context.Context, log *slog.Logger) error { return app.Run(ctx, cfg, log) },
	})
}
