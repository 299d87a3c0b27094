// Command dispatcher runs Kubently's dispatcher.
package main

import (
	"context"
	"flag"
	"log/slog"

	"kubently.io/libs/config/svcmain"
	"kubently.io/services/dispatcher/app"
)

var version = "dev"

func main() {
	var cfg app.Config
	svcmain.Main(svcmain.Spec{
		Name: "dispatcher", Config: &cfg,
		Flags: func(fs *flag.FlagSet) {
			cfg.Version = version
			cfg.BindFlags(fs)
		},
		Logging: func() (string, string) { return cfg.LogLevel, cfg.LogFormat },
		Run:     func(ctx context.Context, log *slog.Logger) error { return app.Run(ctx, cfg, log) },
	})
}
