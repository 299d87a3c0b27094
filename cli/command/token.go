package command

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"kubently.io/cli/client"
	"kubently.io/libs/contracts"
)

func newTokenCmd(o *Options) *cobra.Command {
	var output string
	cmd := &cobra.Command{
		Use:   "token",
		Short: "Create, rotate and revoke clusters' executor tokens (admin)",
		Long: `Manage the executor token of a cluster (admin role). create and rotate print
the new token once: the gateway keeps only its hash. Rotating or revoking
closes the cluster's connected executors at once on every gateway replica;
they reconnect, are refused and stop until they get the new token.`,
	}
	cmd.PersistentFlags().StringVarP(&output, "output", "o", "", "text (default) or json")
	check := func() error {
		if output != "" && output != "text" && output != "json" {
			return &ExitError{Code: ExitUsage, Err: fmt.Errorf("--output %q: want text or json", output)}
		}
		return nil
	}
	printToken := func(t contracts.ClusterToken, what string) error {
		if output == "json" {
			enc := json.NewEncoder(o.stdout)
			enc.SetIndent("", "  ")
			return enc.Encode(t)
		}
		_, err := fmt.Fprintf(o.stdout, `%s executor token of cluster %s (shown only once; store it now):

%s

Give it to the cluster's executor as KUBENTLY_TOKEN, e.g.
  kubectl -n kubently create secret generic kubently-executor \
    --from-literal=KUBENTLY_TOKEN='<token>' --dry-run=client -o yaml | kubectl apply -f -
and restart the executor with CLUSTER_ID=%s.
`, what, t.Cluster, t.Token, t.Cluster)
		return err
	}
	issue := func(use, short, what string, call func(*client.Client, *cobra.Command, string) (contracts.ClusterToken, error)) *cobra.Command {
		return &cobra.Command{
			Use:   use + " CLUSTER",
			Short: short,
			Args:  usage(cobra.ExactArgs(1)),
			RunE: func(cmd *cobra.Command, args []string) error {
				if err := check(); err != nil {
					return err
				}
				c, err := o.client()
				if err != nil {
					return err
				}
				t, err := call(c, cmd, args[0])
				if err != nil {
					return err
				}
				return printToken(t, what)
			},
		}
	}
	create := issue("create", "Register a new cluster and print its executor token", "New",
		func(c *client.Client, cmd *cobra.Command, cluster string) (contracts.ClusterToken, error) {
			return c.CreateToken(cmd.Context(), cluster)
		})
	rotate := issue("rotate", "Give a cluster a new executor token; the old one stops working at once", "Rotated",
		func(c *client.Client, cmd *cobra.Command, cluster string) (contracts.ClusterToken, error) {
			return c.RotateToken(cmd.Context(), cluster)
		})
	revoke := &cobra.Command{
		Use:   "revoke CLUSTER",
		Short: "Revoke a cluster's executor token; its executors are disconnected at once",
		Args:  usage(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := check(); err != nil {
				return err
			}
			c, err := o.client()
			if err != nil {
				return err
			}
			r, err := c.RevokeToken(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			if output == "json" {
				enc := json.NewEncoder(o.stdout)
				enc.SetIndent("", "  ")
				return enc.Encode(r)
			}
			_, err = fmt.Fprintf(o.stdout, "Executor token of cluster %s revoked at %s; its executors were disconnected.\nIssue a new one with: kubently token create %s\n",
				r.Cluster, r.RevokedAt.In(o.loc).Format(time.RFC3339), r.Cluster)
			return err
		},
	}
	cmd.AddCommand(create, rotate, revoke)
	return cmd
}
