// Command executor runs Kubently's in-cluster executor: it dials out to the
// gateway and runs read-only commands with client-go.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"kubently.io/libs/config"
	"kubently.io/libs/logging"
	"kubently.io/services/executor/app"
)

var version = "dev"

func main() {
	var cfg app.Config
	if err := config.Load(&cfg, config.Env()); err != nil {
		fmt.Fprintln(os.Stderr, "executor:", err)
		os.Exit(2)
	}
	cfg.Version = version
	fs := flag.NewFlagSet("executor", flag.ContinueOnError)
	fs.StringVar(&cfg.APIURL, "api-url", cfg.APIURL, "gateway URL (env KUBENTLY_API_URL)")
	fs.StringVar(&cfg.Cluster, "cluster-id", cfg.Cluster, "this cluster's id (env CLUSTER_ID)")
	fs.StringVar(&cfg.Kubeconfig, "kubeconfig", cfg.Kubeconfig, "kubeconfig path (env KUBENTLY_KUBECONFIG, KUBECONFIG; default in-cluster)")
	fs.StringVar(&cfg.KubeContext, "context", cfg.KubeContext, "kubeconfig context (env KUBENTLY_KUBE_CONTEXT)")
	fs.StringVar(&cfg.OpsAddr, "ops-addr", cfg.OpsAddr, "serve /healthz, /readyz, /metrics (env KUBENTLY_OPS_ADDR)")
	if err := fs.Parse(os.Args[1:]); err != nil {
		os.Exit(2)
	}
	log := logging.New(logging.Config{Service: "executor", Level: cfg.LogLevel, Format: cfg.LogFormat})
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if err := app.Run(ctx, cfg, log); err != nil {
		log.Error("executor failed", "err", err)
		os.Exit(1)
	}
}
