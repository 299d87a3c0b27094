package command

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"

	"kubently.io/libs/contracts"
)

func newDiagnoseCmd(o *Options) *cobra.Command {
	var (
		namespaces []string
		all        bool
		timeout    time.Duration
		output     string
		fleet      fleetFlags
	)
	cmd := &cobra.Command{
		Use:   "diagnose CLUSTER|-l SELECTOR|--clusters A,B [-n NS]... [-A] [-o json]",
		Short: "Find what is wrong in namespaces of a cluster, with evidence and next steps",
		Long: `diagnose runs Kubently's rules in the cluster's executor (only findings cross the
network) and prints one finding per root cause: a Deployment, its ReplicaSets and
pods with one problem are one finding. Each finding has a severity, the evidence
(fields, events, error lines of logs; never a Secret value), a plain explanation
and read commands to run next. Exit code 0 when nothing is found, 1 otherwise.`,
		Example: `  kubently diagnose prod-eu -n shop
  kubently diagnose prod-eu -n shop -n batch
  kubently diagnose prod-eu -A                 # every namespace, and the nodes
  kubently diagnose prod-eu -n shop -o json    # the report, for scripts
  kubently diagnose -l env=prod -n shop        # every cluster labelled env=prod`,
		Args: usage(func(_ *cobra.Command, args []string) error {
			if fleet.on() {
				if len(args) != 0 {
					return errors.New("with -l or --clusters give no CLUSTER, e.g. kubently diagnose -l env=prod -n shop")
				}
				return nil
			}
			if len(args) != 1 {
				return errors.New("want one cluster, e.g. kubently diagnose my-cluster -n shop")
			}
			return nil
		}),
		RunE: func(cmd *cobra.Command, args []string) error {
			if output != "" && output != "json" && output != "text" {
				return &ExitError{Code: ExitUsage, Err: fmt.Errorf("--output %q: want text or json", output)}
			}
			if all && len(namespaces) > 0 {
				return &ExitError{Code: ExitUsage, Err: errors.New("give -n or -A, not both")}
			}
			if len(namespaces) > contracts.MaxDiagnoseNamespaces {
				return &ExitError{Code: ExitUsage, Err: fmt.Errorf("at most %d namespaces (-n) per diagnosis", contracts.MaxDiagnoseNamespaces)}
			}
			if timeout < 0 || timeout > contracts.MaxTimeout {
				return &ExitError{Code: ExitUsage, Err: fmt.Errorf("--timeout %s out of range (max %s)", timeout, contracts.MaxTimeout)}
			}
			if fleet.on() {
				return runFleetDiagnose(cmd, o, &fleet, namespaces, all, int(timeout/time.Second), output)
			}
			c, err := o.client()
			if err != nil {
				return err
			}
			rep, err := c.Diagnose(cmd.Context(), contracts.DiagnoseRequest{
				Cluster: args[0], Namespaces: namespaces, AllNamespaces: all, TimeoutSeconds: int(timeout / time.Second),
			})
			if err != nil {
				return err
			}
			if output == "json" {
				enc := json.NewEncoder(o.stdout)
				enc.SetIndent("", "  ")
				if err := enc.Encode(rep); err != nil {
					return err
				}
			} else if err := rep.WriteText(o.stdout, args[0]); err != nil {
				return err
			}
			if len(rep.Findings) > 0 {
				return &ExitError{Code: ExitFailure}
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringSliceVarP(&namespaces, "namespace", "n", nil, "namespace to diagnose (repeat or comma-separate for several; default: default)")
	f.BoolVarP(&all, "all-namespaces", "A", false, "diagnose the whole cluster: every namespace and the nodes")
	f.DurationVar(&timeout, "timeout", 0, "timeout per namespace (default 60s, max 2m)")
	f.StringVarP(&output, "output", "o", "", "text (default) or json: the report, for scripts (NDJSON with -l)")
	fleet.add(cmd)
	return cmd
}

// runFleetDiagnose diagnoses every cluster the fleet flags select and
// prints each report as it arrives. Exit 1 when a cluster has findings or
// did not succeed.
func runFleetDiagnose(cmd *cobra.Command, o *Options, fl *fleetFlags, namespaces []string, all bool, timeout int, output string) error {
	t, c, p, err := fl.start(o, timeout, output)
	if err != nil {
		return err
	}
	findings := 0
	sum, err := c.FleetDiagnose(cmd.Context(), contracts.FleetDiagnoseRequest{FleetTarget: t, Namespaces: namespaces, AllNamespaces: all},
		func(r contracts.FleetResult) error {
			if r.Report != nil {
				findings += len(r.Report.Findings)
			}
			return p.result(r, func(w io.Writer, r contracts.FleetResult) error {
				if r.Report == nil {
					return nil
				}
				return r.Report.WriteText(w, r.Cluster)
			})
		})
	if err != nil {
		return err
	}
	if err := p.summary(sum); err != nil {
		return err
	}
	if findings > 0 {
		return &ExitError{Code: ExitFailure}
	}
	return nil
}
