// Command gateway runs Kubently's HTTP gateway.
package main

import (
	"context"
	"flag"
	"log/slog"

	"kubently.io/libs/config/svcmain"
	"kubently.io/services/gateway/app"
)

var version = "dev"

func main() {
	var cfg app.Config
	svcmain.Main(svcmain.Spec{
		Name: "gateway", Config: &cfg,
		Flags: func(fs *flag.FlagSet) {
			cfg.Version = version
			cfg.BindFlags(fs)
			fs.StringVar(&cfg.Addr, "addr", cfg.Addr, "HTTP listen address (env KUBENTLY_GATEWAY_ADDR)")
		},
		// --ops-addr sets the shared Platform field; the gateway's own
		// OpsAddr (default :9090) shadows it.
		Parsed: func(fs *flag.FlagSet) {
			fs.Visit(func(f *flag.Flag) {
				if f.Name == "ops-addr" {
					cfg.OpsAddr = cfg.Platform.OpsAddr
				}
			})
		},
		Logging: func() (string, string) { return cfg.LogLevel, cfg.LogFormat },
		Run:     func(ctx context.Context, log *slog.Logger) error { return app.Run(ctx, cfg, log) },
	})
}
