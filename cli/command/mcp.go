package command

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/spf13/cobra"

	"kubently.io/cli/client"
	"kubently.io/libs/contracts"
	"kubently.io/libs/mcptools"
)

func newMCPCmd(o *Options, version string) *cobra.Command {
	var maxBytes int
	cmd := &cobra.Command{
		Use:   "mcp",
		Short: "Serve Kubently's MCP tools over stdio, forwarding to the gateway",
		Long: `mcp runs a Model Context Protocol server on stdin/stdout for clients that launch
a command (Claude Code, Cursor, VS Code, ...). Each tool call becomes one
POST /v1/execute to the gateway with your API key, so the gateway's roles,
scopes, rate limits, command policy and audit apply (the audit record names
the tool). Clients that speak Streamable HTTP can use the gateway's /mcp
directly instead. See docs/mcp.md.`,
		Example: `  claude mcp add kubently -e KUBENTLY_API_URL=https://kubently.example.com -e KUBENTLY_API_KEY=... -- kubently mcp`,
		Args:    usage(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if maxBytes != 0 && (maxBytes < mcptools.MinMaxBytes || maxBytes > 1<<20) {
				return &ExitError{Code: ExitUsage, Err: fmt.Errorf("--max-bytes %d: want %d to %d", maxBytes, mcptools.MinMaxBytes, 1<<20)}
			}
			c, err := o.client()
			if err != nil {
				return err
			}
			srv, err := mcptools.New(mcptools.Config{Backend: clientBackend{c}, Version: version, MaxBytes: maxBytes})
			if err != nil {
				return &ExitError{Code: ExitUsage, Err: err}
			}
			t := &mcp.IOTransport{Reader: io.NopCloser(cmd.InOrStdin()), Writer: nopWriteCloser{o.stdout}}
			err = srv.Run(cmd.Context(), t)
			if err != nil && !errors.Is(err, context.Canceled) && !errors.Is(err, io.EOF) {
				return &ExitError{Code: ExitRejected, Err: fmt.Errorf("mcp: %w", err)}
			}
			return nil
		},
	}
	cmd.Flags().IntVar(&maxBytes, "max-bytes", 0, fmt.Sprintf("the largest answer a tool call may ask for (max_bytes), in bytes (default %d)", mcptools.DefaultServerMaxBytes))
	return cmd
}

type nopWriteCloser struct{ io.Writer }

func (nopWriteCloser) Close() error { return nil }

// clientBackend is the CLI's mcptools.Backend: the gateway's HTTP API.
type clientBackend struct{ c *client.Client }

// Execute sends the command to POST /v1/execute, naming the tool.
func (b clientBackend) Execute(ctx context.Context, req contracts.ExecuteRequest) (contracts.CommandResult, error) {
	return b.c.Execute(ctx, contracts.ExecuteBody{
		Cluster: req.Cluster, SessionID: req.SessionID, Argv: req.Argv, TimeoutSeconds: req.TimeoutSeconds, Tool: req.Tool,
	})
}

// Clusters lists the clusters (GET /v1/clusters).
func (b clientBackend) Clusters(ctx context.Context) ([]mcptools.Cluster, error) {
	list, err := b.c.Clusters(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]mcptools.Cluster, 0, len(list))
	for _, c := range list {
		out = append(out, mcptools.Cluster{ID: c.ID, Connected: c.Connected, Executors: c.Executors, LastSeen: c.LastSeen})
	}
	return out, nil
}

// FleetExecute runs a fan-out through the gateway (POST /v1/fleet/execute)
// and collects the results.
func (b clientBackend) FleetExecute(ctx context.Context, req contracts.FleetExecuteRequest) ([]contracts.FleetResult, contracts.FleetSummary, error) {
	var out []contracts.FleetResult
	sum, err := b.c.FleetExecute(ctx, req, func(r contracts.FleetResult) error {
		out = append(out, r)
		return nil
	})
	return out, sum, err
}

// FleetDiagnose runs a fleet diagnosis through the gateway (POST
// /v1/fleet/diagnose) and collects the results.
func (b clientBackend) FleetDiagnose(ctx context.Context, req contracts.FleetDiagnoseRequest) ([]contracts.FleetResult, contracts.FleetSummary, error) {
	var out []contracts.FleetResult
	sum, err := b.c.FleetDiagnose(ctx, req, func(r contracts.FleetResult) error {
		out = append(out, r)
		return nil
	})
	return out, sum, err
}
