package command

import (
	"encoding/json"
	"fmt"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"kubently.io/libs/contracts"
)

func newSessionCmd(o *Options) *cobra.Command {
	var output string
	cmd := &cobra.Command{
		Use:   "session",
		Short: "Create, inspect, keep alive and end debugging sessions",
	}
	cmd.PersistentFlags().StringVarP(&output, "output", "o", "", "text (default) or json")
	printList := func(asList bool, sessions ...contracts.Session) error {
		switch output {
		case "json":
			enc := json.NewEncoder(o.stdout)
			enc.SetIndent("", "  ")
			if !asList {
				return enc.Encode(sessions[0])
			}
			if sessions == nil {
				sessions = []contracts.Session{}
			}
			return enc.Encode(sessions)
		case "", "text":
		default:
			return &ExitError{Code: ExitUsage, Err: fmt.Errorf("--output %q: want text or json", output)}
		}
		tw := tabwriter.NewWriter(o.stdout, 0, 4, 3, ' ', 0)
		fmt.Fprintln(tw, "SESSION\tCLUSTER\tSTATUS\tEXPIRES")
		for _, s := range sessions {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", s.ID, s.Cluster, s.State, s.ExpiresAt.Local().Format(time.RFC3339))
		}
		return tw.Flush()
	}
	print := func(s contracts.Session) error { return printList(false, s) }
	var ttl time.Duration
	create := &cobra.Command{
		Use:   "create CLUSTER",
		Short: "Open a session on a cluster",
		Args:  usage(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := o.client()
			if err != nil {
				return err
			}
			s, err := c.CreateSession(cmd.Context(), args[0], ttl)
			if err != nil {
				return err
			}
			return print(s)
		},
	}
	create.Flags().DurationVar(&ttl, "ttl", 0, "session TTL (default 1h; 1m to 24h)")
	get := &cobra.Command{
		Use:   "get SESSION",
		Short: "Show a session (active, expired or ended)",
		Args:  usage(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := o.client()
			if err != nil {
				return err
			}
			s, err := c.GetSession(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			return print(s)
		},
	}
	end := &cobra.Command{
		Use:   "end SESSION",
		Short: "End a session",
		Args:  usage(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := o.client()
			if err != nil {
				return err
			}
			s, err := c.EndSession(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			return print(s)
		},
	}
	var kttl time.Duration
	keepalive := &cobra.Command{
		Use:   "keepalive SESSION",
		Short: "Extend a session's TTL",
		Args:  usage(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := o.client()
			if err != nil {
				return err
			}
			s, err := c.KeepaliveSession(cmd.Context(), args[0], kttl)
			if err != nil {
				return err
			}
			return print(s)
		},
	}
	keepalive.Flags().DurationVar(&kttl, "ttl", 0, "new TTL (default: the session's own)")
	list := &cobra.Command{
		Use:   "list CLUSTER",
		Short: "List your active sessions on a cluster",
		Args:  usage(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := o.client()
			if err != nil {
				return err
			}
			ss, err := c.ListSessions(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			return printList(true, ss...)
		},
	}
	cmd.AddCommand(create, get, end, keepalive, list)
	return cmd
}
