package command

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"kubently.io/cli/client"
	"kubently.io/libs/contracts"
)

func newExecCmd(o *Options) *cobra.Command {
	var (
		session string
		timeout time.Duration
		ns      string
		output  string
	)
	cmd := &cobra.Command{
		Use:   "exec CLUSTER -- VERB [ARGS...]",
		Short: "Run a read-only kubectl-style command on a cluster",
		Example: `  kubently exec prod-eu -- get pods -A
  kubently exec prod-eu -- describe deploy/web -n shop
  kubently exec prod-eu -- logs web-7d4b9 -n shop --tail 50
  kubently exec prod-eu -o json -- get events -n shop`,
		Args: usage(func(cmd *cobra.Command, args []string) error {
			dash := cmd.ArgsLenAtDash()
			if len(args) < 2 {
				return errors.New("want a cluster and a command, e.g. kubently exec my-cluster -- get pods")
			}
			if dash != 1 {
				return errors.New("put the command after --, e.g. kubently exec my-cluster -- get pods -n default")
			}
			return nil
		}),
		RunE: func(cmd *cobra.Command, args []string) error {
			if output != "" && output != "json" && output != "text" {
				return &ExitError{Code: ExitUsage, Err: fmt.Errorf("--output %q: want text or json", output)}
			}
			if timeout < 0 || timeout > contracts.MaxTimeout {
				return &ExitError{Code: ExitUsage, Err: fmt.Errorf("--timeout %s out of range (max %s)", timeout, contracts.MaxTimeout)}
			}
			c, err := o.client()
			if err != nil {
				return err
			}
			res, err := c.Execute(cmd.Context(), client.ExecuteRequest{
				Cluster: args[0], SessionID: session, Argv: args[1:], Namespace: ns,
				TimeoutSeconds: int(timeout / time.Second),
			})
			if err != nil {
				return err
			}
			if output == "json" {
				enc := json.NewEncoder(o.stdout)
				enc.SetIndent("", "  ")
				if err := enc.Encode(res); err != nil {
					return err
				}
			} else {
				if res.Output != "" {
					fmt.Fprint(o.stdout, res.Output)
					if !strings.HasSuffix(res.Output, "\n") {
						fmt.Fprintln(o.stdout)
					}
				}
				if res.Error != "" {
					fmt.Fprintln(o.stderr, strings.TrimRight(res.Error, "\n"))
				}
				if res.Truncated {
					fmt.Fprintln(o.stderr, "kubently: output truncated; narrow the command (-l, -n, --tail, --chunk-size)")
				}
			}
			return exitFor(res)
		},
	}
	f := cmd.Flags()
	f.StringVar(&session, "session", "", "run inside this session (keeps it alive)")
	f.DurationVar(&timeout, "timeout", 0, "command timeout (default 30s, max 2m)")
	f.StringVarP(&ns, "namespace", "n", "", "namespace to add as -n when the command names none")
	f.StringVarP(&output, "output", "o", "", "text (default) or json: the whole result, for scripts")
	return cmd
}

// exitFor maps a command's outcome to the CLI's exit code.
func exitFor(res contracts.CommandResult) error {
	switch res.Status {
	case contracts.StatusSuccess:
		return nil
	case contracts.StatusDenied:
		return &ExitError{Code: ExitDenied}
	case contracts.StatusTimeout:
		return &ExitError{Code: ExitTimeout}
	case contracts.StatusFailure:
		code := res.ExitCode
		if code == 0 {
			code = ExitFailure
		}
		return &ExitError{Code: code}
	default:
		return &ExitError{Code: ExitRejected}
	}
}
