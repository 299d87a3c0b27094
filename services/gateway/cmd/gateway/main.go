// Command gateway runs Kubently's HTTP gateway.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"kubently.io/libs/config"
	"kubently.io/libs/logging"
	"kubently.io/services/gateway/app"
)

var version = "dev"

func main() {
	var cfg app.Config
	if err := config.Load(&cfg, config.Env()); err != nil {
		fmt.Fprintln(os.Stderr, "gateway:", err)
		os.Exit(2)
	}
	cfg.Version = version
	log := logging.New(logging.Config{Service: "gateway", Level: cfg.LogLevel, Format: cfg.LogFormat})
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if err := app.Run(ctx, cfg, log); err != nil {
		log.Error("gateway failed", "err", err)
		os.Exit(1)
	}
}
