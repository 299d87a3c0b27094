package command

import (
	"encoding/json"
	"fmt"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"kubently.io/libs/contracts"
)

func newClustersCmd(o *Options) *cobra.Command {
	var output string
	cmd := &cobra.Command{
		Use:   "clusters",
		Short: "List registered clusters, whether an executor is connected, and their labels",
		Args:  usage(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := o.client()
			if err != nil {
				return err
			}
			list, err := c.Clusters(cmd.Context())
			if err != nil {
				return err
			}
			switch output {
			case "json":
				enc := json.NewEncoder(o.stdout)
				enc.SetIndent("", "  ")
				return enc.Encode(list)
			case "", "text":
			default:
				return &ExitError{Code: ExitUsage, Err: fmt.Errorf("--output %q: want text or json", output)}
			}
			tw := tabwriter.NewWriter(o.stdout, 0, 4, 3, ' ', 0)
			fmt.Fprintln(tw, "CLUSTER\tCONNECTED\tEXECUTORS\tLAST SEEN\tLABELS")
			for _, cl := range list {
				seen := "-"
				if cl.LastSeen != nil {
					seen = time.Since(*cl.LastSeen).Round(time.Second).String() + " ago"
				}
				connected := fmt.Sprint(cl.Connected)
				if cl.RevokedAt != nil {
					connected = "revoked"
				}
				labels := contracts.FormatLabels(cl.Labels)
				if labels == "" {
					labels = "-"
				}
				fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\n", cl.ID, connected, cl.Executors, seen, labels)
			}
			return tw.Flush()
		},
	}
	cmd.Flags().StringVarP(&output, "output", "o", "", "text (default) or json")
	return cmd
}
