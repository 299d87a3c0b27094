// Command kubently is Kubently's CLI: exec, clusters, session, audit and the
// all-in-one `kubently dev`.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"kubently.io/cli/command"
)

var version = "dev"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	code := command.ExecuteContext(ctx, version, os.Args[1:], os.LookupEnv, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
