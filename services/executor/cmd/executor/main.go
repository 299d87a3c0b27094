// Command executor runs Kubently's in-cluster executor: it dials out to the
// gateway and runs read-only commands with client-go.
package main

import (
	"context"
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
	log := logging.New(logging.Config{Service: "executor", Level: cfg.LogLevel, Format: cfg.LogFormat})
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if err := app.Run(ctx, cfg, log); err != nil {
		log.Error("executor failed", "err", err)
		os.Exit(1)
	}
}
