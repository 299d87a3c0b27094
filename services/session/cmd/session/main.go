// Command session runs Kubently's session service.
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
	"kubently.io/services/session/app"
)

var version = "dev"

func main() {
	var cfg app.Config
	if err := config.Load(&cfg, config.Env()); err != nil {
		fmt.Fprintln(os.Stderr, "session:", err)
		os.Exit(2)
	}
	cfg.Version = version
	fs := flag.NewFlagSet("session", flag.ContinueOnError)
	cfg.BindFlags(fs)
	if err := fs.Parse(os.Args[1:]); err != nil {
		os.Exit(2)
	}
	log := logging.New(logging.Config{Service: "session", Level: cfg.LogLevel, Format: cfg.LogFormat})
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if err := app.Run(ctx, cfg, log); err != nil {
		log.Error("session service failed", "err", err)
		os.Exit(1)
	}
}
