// Package command implements the kubently command: the client commands (exec,
// clusters, session, audit, token), the stdio MCP server (`kubently mcp`)
// and the all-in-one `kubently dev` runner.
//
// Exit codes: 0 success; 1 the command ran and failed (kubectl's exit
// code); 2 usage or configuration error; 3 denied by policy; 4 timeout;
// 5 the request was rejected or the gateway could not be reached.
package command

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"sigs.k8s.io/yaml"

	"kubently.io/cli/client"
	"kubently.io/libs/contracts"
)

// Exit codes.
const (
	ExitOK       = 0
	ExitFailure  = 1
	ExitUsage    = 2
	ExitDenied   = 3
	ExitTimeout  = 4
	ExitRejected = 5
)

// ExitError carries a process exit code out of a command.
type ExitError struct {
	Code int
	Err  error
}

func (e *ExitError) Error() string {
	if e.Err == nil {
		return fmt.Sprintf("exit %d", e.Code)
	}
	return e.Err.Error()
}

func (e *ExitError) Unwrap() error { return e.Err }

// Env looks up an environment variable; os.LookupEnv in main.
type Env func(string) (string, bool)

// Options are the global options shared by the client commands.
type Options struct {
	APIURL     string
	APIKey     string
	ConfigPath string
	Output     string
	env        Env
	stdout     io.Writer
	stderr     io.Writer
	// now is the clock (--since 1h is relative to it); time.Now in NewRoot.
	now func() time.Time
	// loc is the zone times are printed in; time.Local in NewRoot.
	loc *time.Location
	// follow tunes `audit --follow` reconnects; zero: the client defaults.
	follow client.FollowOptions
}

// fileConfig is ~/.kubently/config.
type fileConfig struct {
	APIURL string `json:"api_url"`
	APIKey string `json:"api_key"`
}

// client resolves URL and key from flags, then env, then the config file.
func (o *Options) client() (*client.Client, error) {
	url, key := o.APIURL, o.APIKey
	if url == "" {
		url, _ = o.env("KUBENTLY_API_URL")
	}
	if key == "" {
		key, _ = o.env("KUBENTLY_API_KEY")
	}
	if url == "" || key == "" {
		fc, err := o.readConfig()
		if err != nil {
			return nil, &ExitError{Code: ExitUsage, Err: err}
		}
		if url == "" {
			url = fc.APIURL
		}
		if key == "" {
			key = fc.APIKey
		}
	}
	c, err := client.New(url, key, nil)
	if err != nil {
		return nil, &ExitError{Code: ExitUsage, Err: err}
	}
	return c, nil
}

func (o *Options) readConfig() (fileConfig, error) {
	var fc fileConfig
	path := o.ConfigPath
	if path == "" {
		if p, ok := o.env("KUBENTLY_CONFIG"); ok && p != "" {
			path = p
		} else if home, ok := o.env("HOME"); ok && home != "" {
			path = filepath.Join(home, ".kubently", "config")
		} else {
			return fc, nil
		}
	}
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) && o.ConfigPath == "" {
		return fc, nil
	}
	if err != nil {
		return fc, fmt.Errorf("reading config %s: %w", path, err)
	}
	if len(b) > 1<<20 {
		return fc, fmt.Errorf("config %s is larger than 1 MiB", path)
	}
	if err := yaml.UnmarshalStrict(b, &fc); err != nil {
		return fc, fmt.Errorf("config %s: %w", path, err)
	}
	return fc, nil
}

// NewRoot builds the kubently command tree.
func NewRoot(version string, env Env, stdout, stderr io.Writer) *cobra.Command {
	return newRoot(&Options{env: env, stdout: stdout, stderr: stderr, now: time.Now, loc: time.Local}, version)
}

func newRoot(o *Options, version string) *cobra.Command {
	stdout, stderr := o.stdout, o.stderr
	root := &cobra.Command{
		Use:   "kubently",
		Short: "Debug many Kubernetes clusters from one place, read-only and safely",
		Long: `kubently sends read-only kubectl-style commands to clusters through the Kubently
gateway. Each cluster runs an executor that dials out to the gateway.

Configuration: --api-url/--api-key, or KUBENTLY_API_URL/KUBENTLY_API_KEY, or
api_url/api_key in ~/.kubently/config (YAML).`,
		SilenceUsage:  true,
		SilenceErrors: true,
		Version:       version,
	}
	root.SetFlagErrorFunc(func(cmd *cobra.Command, err error) error {
		return &ExitError{Code: ExitUsage, Err: fmt.Errorf("%w\nRun '%s --help' for usage", err, cmd.CommandPath())}
	})
	root.SetOut(stdout)
	root.SetErr(stderr)
	pf := root.PersistentFlags()
	pf.StringVar(&o.APIURL, "api-url", "", "gateway URL (env KUBENTLY_API_URL)")
	pf.StringVar(&o.APIKey, "api-key", "", "API key (env KUBENTLY_API_KEY)")
	pf.StringVar(&o.ConfigPath, "config", "", "config file (default ~/.kubently/config)")
	root.AddCommand(newExecCmd(o), newDiagnoseCmd(o), newClustersCmd(o), newClusterCmd(o), newSessionCmd(o), newAuditCmd(o), newTokenCmd(o), newNATSCmd(o), newDevCmd(o, version), newMCPCmd(o, version), newVersionCmd(version))
	return root
}

// ExecuteContext runs the CLI with args and returns the process exit code.
func ExecuteContext(ctx context.Context, version string, args []string, env Env, stdout, stderr io.Writer) int {
	return execute(ctx, NewRoot(version, env, stdout, stderr), args, stderr)
}

// execute runs root with args and maps its error to an exit code.
func execute(ctx context.Context, root *cobra.Command, args []string, stderr io.Writer) int {
	root.SetArgs(args)
	err := root.ExecuteContext(ctx)
	if err == nil {
		return ExitOK
	}
	var ee *ExitError
	if errors.As(err, &ee) {
		if ee.Err != nil {
			fmt.Fprintln(stderr, "kubently:", ee.Err)
		}
		return ee.Code
	}
	var ce *contracts.Error
	if errors.As(err, &ce) {
		msg := describeError(ce)
		var ae *client.APIError
		if errors.As(err, &ae) && ae.RetryAfter > 0 {
			msg += fmt.Sprintf(" (retry after %ds)", int(ae.RetryAfter/time.Second))
		}
		fmt.Fprintf(stderr, "kubently: %s\n", msg)
		if ce.Code == contracts.CodeCommandDenied {
			return ExitDenied
		}
		return ExitRejected
	}
	fmt.Fprintln(stderr, "kubently:", err)
	// What remains are cobra's own errors (unknown command) and transport
	// errors; cobra's start with "unknown".
	if strings.HasPrefix(err.Error(), "unknown ") {
		return ExitUsage
	}
	return ExitRejected
}

// usage marks an argument-validation error as a usage error.
func usage(v cobra.PositionalArgs) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if err := v(cmd, args); err != nil {
			return &ExitError{Code: ExitUsage, Err: fmt.Errorf("%w\nRun '%s --help' for usage", err, cmd.CommandPath())}
		}
		return nil
	}
}

func describeError(e *contracts.Error) string {
	if e.Reason != "" {
		return fmt.Sprintf("%s (%s): %s", e.Code, e.Reason, e.Message)
	}
	return fmt.Sprintf("%s: %s", e.Code, e.Message)
}

func newVersionCmd(version string) *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the kubently version",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			_, err := fmt.Fprintf(cmd.OutOrStdout(), "kubently %s (protocol %d)\n", version, contracts.ProtocolVersion)
			return err
		},
	}
}
