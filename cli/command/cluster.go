package command

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"kubently.io/libs/contracts"
)

func newClusterCmd(o *Options) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "cluster",
		Short: "Manage a registered cluster (labels; admin)",
	}
	var output string
	label := &cobra.Command{
		Use:   "label CLUSTER KEY=VALUE... [KEY-]...",
		Short: "Set (k=v) and remove (k-) labels of a cluster, used by -l selectors (admin)",
		Long: `label sets and removes labels of a registered cluster, like kubectl label:
KEY=VALUE sets a label (replacing its value), KEY- removes it. Keys and values
follow the Kubernetes label rules; a cluster has at most 32 labels. The labels
select clusters for fan-outs (kubently exec -l env=prod, diagnose -l ...) and
show in kubently clusters. Every change is audited (cluster_labeled).`,
		Example: `  kubently cluster label prod-eu env=prod region=eu
  kubently cluster label prod-eu canary-`,
		Args: usage(func(_ *cobra.Command, args []string) error {
			if len(args) < 2 {
				return errors.New("want a cluster and at least one change, e.g. kubently cluster label prod-eu env=prod")
			}
			return nil
		}),
		RunE: func(cmd *cobra.Command, args []string) error {
			if output != "" && output != "text" && output != "json" {
				return &ExitError{Code: ExitUsage, Err: fmt.Errorf("--output %q: want text or json", output)}
			}
			req, err := parseLabelArgs(args[1:])
			if err != nil {
				return &ExitError{Code: ExitUsage, Err: err}
			}
			c, err := o.client()
			if err != nil {
				return err
			}
			labels, err := c.LabelCluster(cmd.Context(), args[0], req.Set, req.Remove)
			if err != nil {
				return err
			}
			if output == "json" {
				enc := json.NewEncoder(o.stdout)
				enc.SetIndent("", "  ")
				return enc.Encode(contracts.ClusterLabels{Cluster: args[0], Labels: labels})
			}
			shown := contracts.FormatLabels(labels)
			if shown == "" {
				shown = "(none)"
			}
			_, err = fmt.Fprintf(o.stdout, "cluster %s labelled: %s\n", args[0], shown)
			return err
		},
	}
	label.Flags().StringVarP(&output, "output", "o", "", "text (default) or json")
	cmd.AddCommand(label)
	return cmd
}

// parseLabelArgs turns k=v and k- arguments into a label request, with
// each key and value checked by the Kubernetes rules.
func parseLabelArgs(args []string) (contracts.ClusterLabelRequest, error) {
	req := contracts.ClusterLabelRequest{Set: map[string]string{}}
	for _, a := range args {
		if k, v, ok := strings.Cut(a, "="); ok {
			if _, dup := req.Set[k]; dup {
				return req, fmt.Errorf("label %q given twice", k)
			}
			req.Set[k] = v
			continue
		}
		if k, ok := strings.CutSuffix(a, "-"); ok && k != "" {
			req.Remove = append(req.Remove, k)
			continue
		}
		return req, fmt.Errorf("%q: want KEY=VALUE to set a label or KEY- to remove one", a)
	}
	if err := req.Validate(); err != nil {
		return req, errors.New(contracts.AsError(err).Message)
	}
	return req, nil
}
