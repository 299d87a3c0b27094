// Command session runs Kubently's session service.
package main

import (
	"context"
	"flag"
	"log/slog"

	"kubently.io/libs/config/svcmain"
	"kubently.io/services/session/app"
)

var version = "dev"

func main() {
	var cfg app.Config
	svcmain.Main(svcmain.Spec{
		Name: "session", Title: "session service", Config: &cfg,
		Flags: func(fs *flag.FlagSet) {
			cfg.Version = version
			cfg.BindFlags(fs)
		},
		Logging: func() (string, string) { return cfg.LogLevel, cfg.LogFormat },
		Run:     func(ctx context.Context, log *slog.Logger) error { return app.Run(ctx, cfg, log) },
	})
}
