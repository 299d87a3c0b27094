package httpapi

import (
	"context"
	"net/http"
	"strconv"
	"sync"

	"github.com/labstack/echo/v4"
	"github.com/modelcontextprotocol/go-sdk/mcp"

	"kubently.io/libs/contracts"
	"kubently.io/libs/mcptools"
)

// ctxTool is the echo context key of the MCP tool a command serves (set
// from contracts.HeaderTool on /v1/execute and by the MCP backend).
const ctxTool = "kubently.tool"

// toolOf returns the MCP tool the request's command serves, or "".
func toolOf(c echo.Context) string {
	t, _ := c.Get(ctxTool).(string)
	return t
}

// mcpRequestKey is the request-context key of the *mcpRequest the MCP
// backend runs tool calls with.
type mcpRequestKey struct{}

// mcpRequest is one authenticated /mcp request: the echo context (its
// identity, logger, response headers) the backend runs tool calls with,
// one at a time (echo contexts are not safe for concurrent use, and a
// JSON-RPC batch may hold several calls).
type mcpRequest struct {
	mu sync.Mutex
	c  echo.Context
}

// mcpRoute returns the handler of /mcp: the MCP tool set (package
// mcptools) over Streamable HTTP, stateless so any replica answers any
// request. It runs behind clientAuth like every client route, and each
// tool call goes through run, the path of POST /v1/execute: role, scopes,
// the cluster's rate limit, the dispatcher (policy, audit) and the
// executor.
func (s *Server) mcpRoute() echo.HandlerFunc {
	srv, err := mcptools.New(mcptools.Config{Backend: mcpBackend{s}, Version: "protocol-" + strconv.Itoa(contracts.ProtocolVersion)})
	if err != nil {
		s.log.Error("mcp server", "err", err)
		return func(c echo.Context) error {
			return writeError(c, contracts.Errorf(contracts.CodeInternal, "MCP is unavailable"))
		}
	}
	h := mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return srv },
		&mcp.StreamableHTTPOptions{Stateless: true, JSONResponse: true, MaxRequestBodyBytes: contracts.MaxBodyBytes})
	return func(c echo.Context) error {
		r := c.Request()
		ctx := context.WithValue(r.Context(), mcpRequestKey{}, &mcpRequest{c: c})
		h.ServeHTTP(c.Response(), r.WithContext(ctx))
		return nil
	}
}

// mcpBackend is the gateway's mcptools.Backend: it runs tool calls as
// POST /v1/execute runs commands, for the caller of the /mcp request.
type mcpBackend struct{ s *Server }

// request returns the /mcp request ctx belongs to, locked; the caller
// unlocks it.
func (b mcpBackend) request(ctx context.Context) (*mcpRequest, error) {
	r, ok := ctx.Value(mcpRequestKey{}).(*mcpRequest)
	if !ok {
		return nil, contracts.Errorf(contracts.CodeInternal, "mcp: tool call outside an /mcp request")
	}
	r.mu.Lock()
	return r, nil
}

// Execute runs req.Argv on req.Cluster for the caller (run: role, scopes,
// rate limit, dispatcher, audit with the tool's name).
func (b mcpBackend) Execute(ctx context.Context, req contracts.ExecuteRequest) (contracts.CommandResult, error) {
	r, err := b.request(ctx)
	if err != nil {
		return contracts.CommandResult{}, err
	}
	defer r.mu.Unlock()
	if err := contracts.ValidateTool(req.Tool); err != nil {
		return contracts.CommandResult{}, err
	}
	r.c.Set(ctxTool, req.Tool)
	defer r.c.Set(ctxTool, nil)
	return b.s.run(r.c, req.Cluster, req.SessionID, req.Argv, req.TimeoutSeconds)
}

// Clusters lists the clusters in the caller's scopes (GET /v1/clusters).
func (b mcpBackend) Clusters(ctx context.Context) ([]mcptools.Cluster, error) {
	r, err := b.request(ctx)
	if err != nil {
		return nil, err
	}
	defer r.mu.Unlock()
	views, err := b.s.visibleClusters(r.c)
	if err != nil {
		return nil, err
	}
	out := make([]mcptools.Cluster, 0, len(views))
	for _, v := range views {
		out = append(out, mcptools.Cluster{ID: v.ID, Connected: v.Connected, Executors: v.Executors, LastSeen: v.LastSeen})
	}
	return out, nil
}

// FleetExecute runs a fan-out for the caller (the path of POST
// /v1/fleet/execute, audited with the tool's name and the fan-out id) and
// returns the results in arrival order with the summary.
func (b mcpBackend) FleetExecute(ctx context.Context, req contracts.FleetExecuteRequest) ([]contracts.FleetResult, contracts.FleetSummary, error) {
	return b.fleet(ctx, "fleet_run", func(c echo.Context) (fleetJob, contracts.FleetTarget, error) {
		job, err := b.s.prepareFleetExecute(c, req)
		return job, req.FleetTarget, err
	})
}

// FleetDiagnose is FleetExecute for POST /v1/fleet/diagnose.
func (b mcpBackend) FleetDiagnose(ctx context.Context, req contracts.FleetDiagnoseRequest) ([]contracts.FleetResult, contracts.FleetSummary, error) {
	return b.fleet(ctx, "fleet_diagnose", func(c echo.Context) (fleetJob, contracts.FleetTarget, error) {
		job, err := b.s.prepareFleetDiagnose(c, &req)
		return job, req.FleetTarget, err
	})
}

func (b mcpBackend) fleet(ctx context.Context, tool string, prepare func(echo.Context) (fleetJob, contracts.FleetTarget, error)) ([]contracts.FleetResult, contracts.FleetSummary, error) {
	r, err := b.request(ctx)
	if err != nil {
		return nil, contracts.FleetSummary{}, err
	}
	defer r.mu.Unlock()
	r.c.Set(ctxTool, tool)
	defer r.c.Set(ctxTool, nil)
	job, t, err := prepare(r.c)
	if err != nil {
		return nil, contracts.FleetSummary{}, err
	}
	var results []contracts.FleetResult
	sum, err := b.s.runFleet(r.c, t, job, func(string) error { return nil }, func(res contracts.FleetResult) error {
		results = append(results, res)
		return nil
	})
	return results, sum, err
}
