package command

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"kubently.io/libs/contracts"
)

func newExecCmd(o *Options) *cobra.Command {
	var (
		session string
		timeout time.Duration
		ns      string
		output  string
		fleet   fleetFlags
	)
	cmd := &cobra.Command{
		Use:   "exec CLUSTER -- VERB [ARGS...] | exec -l SELECTOR -- VERB [ARGS...]",
		Short: "Run a read-only kubectl-style command on a cluster",
		Example: `  kubently exec prod-eu -- get pods -A
  kubently exec prod-eu -- describe deploy/web -n shop
  kubently exec prod-eu -- logs web-7d4b9 -n shop --tail 50
  kubently exec prod-eu -o json -- get events -n shop
  kubently exec -l env=prod -- get pods -A          # every cluster labelled env=prod
  kubently exec --clusters eu-1,us-1 -- get nodes   # these clusters`,
		Args: usage(func(cmd *cobra.Command, args []string) error {
			dash := cmd.ArgsLenAtDash()
			if fleet.on() {
				if dash != 0 || len(args) == 0 {
					return errors.New("with -l or --clusters give no CLUSTER, and the command after --, e.g. kubently exec -l env=prod -- get pods -A")
				}
				return nil
			}
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
			if fleet.on() {
				if session != "" {
					return &ExitError{Code: ExitUsage, Err: errors.New("--session names one cluster's session: not with -l or --clusters")}
				}
				return runFleetExec(cmd, o, &fleet, args, ns, int(timeout/time.Second), output)
			}
			c, err := o.client()
			if err != nil {
				return err
			}
			res, err := c.Execute(cmd.Context(), contracts.ExecuteBody{
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
	f.StringVarP(&output, "output", "o", "", "text (default) or json: the whole result, for scripts (NDJSON with -l)")
	fleet.add(cmd)
	return cmd
}

// runFleetExec runs argv on every cluster the fleet flags select and
// prints each result as it arrives.
func runFleetExec(cmd *cobra.Command, o *Options, fl *fleetFlags, argv []string, ns string, timeout int, output string) error {
	t, c, p, err := fl.start(o, timeout, output)
	if err != nil {
		return err
	}
	sum, err := c.FleetExecute(cmd.Context(), contracts.FleetExecuteRequest{FleetTarget: t, Argv: argv, Namespace: ns},
		func(r contracts.FleetResult) error {
			return p.result(r, func(w io.Writer, r contracts.FleetResult) error {
				if r.Result == nil {
					return nil
				}
				fmt.Fprint(w, r.Result.Output)
				if r.Result.Error != "" {
					fmt.Fprintln(w, strings.TrimRight(r.Result.Error, "\n"))
				}
				if r.Result.Truncated {
					fmt.Fprintln(w, "(output truncated)")
				}
				return nil
			})
		})
	if err != nil {
		return err
	}
	return p.summary(sum)
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
