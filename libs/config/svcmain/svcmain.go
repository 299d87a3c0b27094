// Package svcmain is the body every Kubently service binary's main shares:
// load the Config from the environment, let flags override it, build the
// logger, run until SIGINT or SIGTERM, and exit non-zero on failure. Each
// services/<svc>/cmd/<svc>/main.go only says which config and which Run.
package svcmain

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"kubently.io/libs/config"
	"kubently.io/libs/logging"
)

// Spec describes one service binary.
type Spec struct {
	// Name is the service's name: the flag set's, the stderr prefix of a
	// config error and the logger's "service". Required.
	Name string
	// Title names the service in the message logged when Run fails
	// ("<Title> failed"); empty means Name.
	Title string
	// Config points at the service's Config struct, filled by config.Load
	// from the environment. Required.
	Config any
	// Flags, when set, is called after the environment is loaded, to set
	// what is not from env (the build version) and register the flags
	// that override it.
	Flags func(fs *flag.FlagSet)
	// Parsed, when set, is called after the flags are parsed.
	Parsed func(fs *flag.FlagSet)
	// Logging returns the log level and format once the flags are parsed.
	// Required.
	Logging func() (level, format string)
	// Run runs the service until ctx ends. Required.
	Run func(ctx context.Context, log *slog.Logger) error
}

// Main runs spec with the process's environment and arguments and exits:
// 2 on a bad environment or flags, 1 when Run fails, 0 otherwise.
func Main(spec Spec) {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	code := Exec(ctx, spec, config.Env(), os.Args[1:], os.Stderr)
	stop()
	os.Exit(code)
}

// Exec is Main with the environment, arguments, stderr and ctx given, and
// the exit code returned.
func Exec(ctx context.Context, spec Spec, env config.LookupFunc, args []string, stderr io.Writer) int {
	if err := config.Load(spec.Config, env); err != nil {
		fmt.Fprintln(stderr, spec.Name+":", err)
		return 2
	}
	fs := flag.NewFlagSet(spec.Name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	if spec.Flags != nil {
		spec.Flags(fs)
	}
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if spec.Parsed != nil {
		spec.Parsed(fs)
	}
	level, format := spec.Logging()
	log := logging.New(logging.Config{Service: spec.Name, Level: level, Format: format, Output: stderr})
	if err := spec.Run(ctx, log); err != nil {
		title := spec.Title
		if title == "" {
			title = spec.Name
		}
		log.Error(title+" failed", "err", err)
		return 1
	}
	return 0
}
