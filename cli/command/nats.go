package command

import (
	"errors"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"kubently.io/libs/natsutil"
)

func newNATSCmd(o *Options) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "nats",
		Short: "Set up the NATS bus for Kubently's services (operators)",
	}
	var (
		nkeys []string
		nsc   string
	)
	cfg := &cobra.Command{
		Use:   "config",
		Short: "Print the nats-server users and permissions of Kubently's services",
		Long: `Prints an authorization block for nats-server's configuration file: one user
per service (gateway, session, dispatcher) with the subject permissions of its
role, so that only gateways publish commands and read their replies, only
dispatchers serve them, and nothing else may publish a principal. Clients not
listed cannot connect. Include it in the server's config (include ./kubently-auth.conf).

By default each user has a password the server reads from its environment
(KUBENTLY_NATS_GATEWAY_PASSWORD, ..._SESSION_..., ..._DISPATCHER_...), so the
file holds no secret; give each service its own as KUBENTLY_NATS_USER and
KUBENTLY_NATS_PASSWORD. With --nkey role=U... that role authenticates with an
NKey instead (KUBENTLY_NATS_NKEY_FILE on the service holds its seed).

With --nsc ACCOUNT it prints the nsc commands that add the same users to an
account in operator (JWT) mode; each service then gets its credentials file
as KUBENTLY_NATS_CREDS_FILE. See docs/operations.md, "Securing the bus".`,
		Args: usage(cobra.NoArgs),
		RunE: func(_ *cobra.Command, _ []string) error {
			if nsc != "" {
				if len(nkeys) > 0 {
					return &ExitError{Code: ExitUsage, Err: errors.New("flags --nsc and --nkey do not combine: nsc makes its own keys")}
				}
				out, err := natsutil.NSCCommands(nsc)
				if err != nil {
					return &ExitError{Code: ExitUsage, Err: fmt.Errorf("flag --nsc: %w", err)}
				}
				_, err = fmt.Fprint(o.stdout, out)
				return err
			}
			byRole := map[natsutil.Role]string{}
			for _, kv := range nkeys {
				role, key, ok := strings.Cut(kv, "=")
				r, err := natsutil.ParseRole(role)
				if !ok || err != nil {
					return &ExitError{Code: ExitUsage, Err: fmt.Errorf("flag --nkey %q: want gateway=U…, session=U… or dispatcher=U…", kv)}
				}
				byRole[r] = key
			}
			var users []natsutil.ConfigUser
			for _, r := range natsutil.Roles() {
				u := natsutil.ConfigUser{Role: r, NKey: byRole[r]}
				if u.NKey == "" {
					u.PasswordEnv = PasswordEnv(r)
				}
				users = append(users, u)
			}
			out, err := natsutil.ServerConfig(users)
			if err != nil {
				return &ExitError{Code: ExitUsage, Err: err}
			}
			_, err = fmt.Fprint(o.stdout, out)
			return err
		},
	}
	cfg.Flags().StringArrayVar(&nkeys, "nkey", nil, "role=public NKey (U...): that role authenticates with an NKey (repeatable)")
	cfg.Flags().StringVar(&nsc, "nsc", "", "print nsc commands adding the users to this account instead")
	cmd.AddCommand(cfg)
	return cmd
}

// PasswordEnv is the nats-server environment variable `kubently nats
// config` reads role r's password from.
func PasswordEnv(r natsutil.Role) string {
	return "KUBENTLY_NATS_" + strings.ToUpper(string(r)) + "_PASSWORD"
}
