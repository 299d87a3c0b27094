package httpapi

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"kubently.io/libs/authz"
	"kubently.io/libs/contracts"
	"kubently.io/libs/policy"

	"kubently.io/services/gateway/internal/settle"
)

// statusFor maps a command's outcome to the HTTP status of /v1/execute. A
// command that ran and failed (kubectl exit 1, e.g. NotFound) is still a
// successful request: 200 with status "failure".
func statusFor(st contracts.Status) int {
	switch st {
	case contracts.StatusSuccess, contracts.StatusFailure:
		return http.StatusOK
	case contracts.StatusDenied:
		return http.StatusForbidden
	case contracts.StatusTimeout:
		return http.StatusGatewayTimeout
	default:
		return http.StatusBadGateway
	}
}

// withNamespace appends `-n ns` unless argv already names a namespace or
// asks for all namespaces.
func withNamespace(argv []string, ns string) ([]string, error) {
	if ns == "" {
		return argv, nil
	}
	if err := contracts.ValidateID("namespace", ns); err != nil {
		return nil, err
	}
	for _, a := range argv {
		if a == "--" {
			break
		}
		if a == "-n" || a == "--namespace" || a == "-A" || a == "--all-namespaces" ||
			strings.HasPrefix(a, "--namespace=") || strings.HasPrefix(a, "-n=") ||
			(strings.HasPrefix(a, "-n") && !strings.HasPrefix(a, "--")) {
			return argv, nil
		}
	}
	out := slices.Clone(argv)
	if i := slices.Index(out, "--"); i >= 0 {
		return slices.Insert(out, i, "-n", ns), nil
	}
	return append(out, "-n", ns), nil
}

// timeoutFrom applies the X-Request-Timeout header over the body's value.
func timeoutFrom(c echo.Context, body int) (int, error) {
	h := c.Request().Header.Get(contracts.HeaderRequestTimeout)
	if h == "" {
		return body, nil
	}
	n, err := strconv.Atoi(h)
	if err != nil {
		return 0, contracts.Errorf(contracts.CodeInvalidTimeout, "%s must be an integer number of seconds", contracts.HeaderRequestTimeout)
	}
	return n, nil
}

// dispatch sends an execute request to the dispatcher and waits for its
// reply a little longer than the command's own timeout.
func (s *Server) dispatch(ctx context.Context, req contracts.ExecuteRequest) (contracts.CommandResult, error) {
	if err := contracts.ValidateID("cluster", req.Cluster); err != nil {
		return contracts.CommandResult{}, err
	}
	if req.SessionID != "" {
		if err := contracts.ValidateID("session", req.SessionID); err != nil {
			return contracts.CommandResult{}, err
		}
	}
	if err := contracts.ValidateArgv(req.Argv); err != nil {
		return contracts.CommandResult{}, err
	}
	timeout, err := contracts.ValidateTimeout(req.TimeoutSeconds)
	if err != nil {
		return contracts.CommandResult{}, err
	}
	req.CorrelationID = contracts.CorrelationIDFrom(ctx)
	// The gateway names the command, so the settler can tell what became
	// of it if a NATS disruption swallows the request or the reply.
	req.CommandID = contracts.NewID()
	wait := timeout + s.cfg.RequestMargin
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	defer s.settler.Track(req.CommandID, time.Now().Add(wait), cancel)()
	res, err := rpc(ctx, s, wait, contracts.DispatchExecute, req)
	if err != nil {
		res, err := settle.Result(ctx, err)
		return res, namingCommand(err, req.CommandID)
	}
	return res, nil
}

// namingCommand adds the command id to a transport failure of the request
// (timeout, unavailable, internal) whose message does not name it yet, so
// the caller can look the command up in the audit log.
func namingCommand(err error, id string) error {
	var e *contracts.Error
	if err == nil || !errors.As(err, &e) || strings.Contains(e.Message, id) {
		return err
	}
	switch e.Code {
	case contracts.CodeTimeout, contracts.CodeUnavailable, contracts.CodeInternal:
		c := *e
		c.Message += " (command " + id + ")"
		return &c
	}
	return err
}

// run authorises argv on cluster for the caller and dispatches it.
func (s *Server) run(c echo.Context, cluster, sessionID string, argv []string, timeout int) (contracts.CommandResult, error) {
	if err := contracts.ValidateID("cluster", cluster); err != nil {
		return contracts.CommandResult{}, err
	}
	if err := contracts.ValidateArgv(argv); err != nil {
		return contracts.CommandResult{}, err
	}
	if sessionID != "" {
		if err := contracts.ValidateID("session", sessionID); err != nil {
			return contracts.CommandResult{}, err
		}
	}
	if _, err := contracts.ValidateTimeout(timeout); err != nil {
		return contracts.CommandResult{}, err
	}
	if err := s.allowExecute(c, cluster, argv); err != nil {
		return contracts.CommandResult{}, err
	}
	id := identity(c)
	return s.dispatch(c.Request().Context(), contracts.ExecuteRequest{
		Cluster: cluster, SessionID: sessionID, Argv: argv, TimeoutSeconds: timeout,
		Caller: id.Principal(), Principal: principalOf(id), Gateway: s.cfg.Name, Tool: toolOf(c), FanoutID: fanoutOf(c),
	})
}

func (s *Server) execute(c echo.Context) error {
	var body contracts.ExecuteBody
	if err := decodeBody(c, &body, false); err != nil {
		return writeError(c, err)
	}
	argv, err := commandArgv(body.Argv, body.Command, body.Namespace)
	if err != nil {
		return writeError(c, err)
	}
	timeout, err := timeoutFrom(c, body.TimeoutSeconds)
	if err != nil {
		return writeError(c, err)
	}
	if err := setTool(c); err != nil {
		return writeError(c, err)
	}
	res, err := s.run(c, body.Cluster, body.SessionID, argv, timeout)
	if err != nil {
		return writeError(c, err)
	}
	return c.JSON(statusFor(res.Status), res)
}

// commandArgv returns the command of a request that gives argv or one
// command line (split by shell quoting rules without a shell), with
// `-n ns` appended unless the command names a namespace.
func commandArgv(argv []string, command, ns string) ([]string, error) {
	if command != "" {
		if len(argv) > 0 {
			return nil, contracts.Errorf(contracts.CodeInvalidCommand, "give argv or command, not both")
		}
		line, err := policy.SplitLine(command)
		if err != nil {
			return nil, &contracts.Error{Code: contracts.CodeInvalidCommand, Reason: string(policy.ReasonShellSyntax), Message: "command: " + err.Error()}
		}
		argv = line
	}
	return withNamespace(argv, ns)
}

// setTool records the MCP tool (contracts.HeaderTool) a request's command
// serves, for audit.
func setTool(c echo.Context) error {
	if tool := c.Request().Header.Get(contracts.HeaderTool); tool != "" {
		if err := contracts.ValidateTool(tool); err != nil {
			return err
		}
		c.Set(ctxTool, tool)
	}
	return nil
}

func (s *Server) clusterViews(ctx context.Context) ([]contracts.ClusterInfo, error) {
	ctx, cancel := context.WithTimeout(ctx, s.cfg.StoreTimeout)
	defer cancel()
	recs, err := s.cfg.Store.ListClusters(ctx)
	if err != nil {
		return nil, contracts.Errorf(contracts.CodeUnavailable, "cluster registry unavailable: %v", err)
	}
	labels, err := s.cfg.Store.ListClusterLabels(ctx)
	if err != nil {
		return nil, contracts.Errorf(contracts.CodeUnavailable, "cluster labels unavailable: %v", err)
	}
	out := make([]contracts.ClusterInfo, 0, len(recs))
	for _, r := range recs {
		conns, err := s.cfg.Store.Connected(ctx, r.ID)
		if err != nil {
			return nil, contracts.Errorf(contracts.CodeUnavailable, "executor presence unavailable: %v", err)
		}
		v := contracts.ClusterInfo{ID: r.ID, Connected: len(conns) > 0, Streams: conns, RevokedAt: r.RevokedAt, Labels: labels[r.ID]}
		if v.Labels == nil {
			v.Labels = map[string]string{}
		}
		if v.Streams == nil {
			v.Streams = []contracts.ExecutorInfo{}
		}
		ids := map[string]bool{}
		for _, cn := range conns {
			ids[cn.ExecutorID] = true
			if v.LastSeen == nil || cn.LastSeen.After(*v.LastSeen) {
				t := cn.LastSeen
				v.LastSeen = &t
			}
		}
		v.Executors = len(ids)
		out = append(out, v)
	}
	return out, nil
}

// visibleClusters lists the clusters in the caller's scopes.
func (s *Server) visibleClusters(c echo.Context) ([]contracts.ClusterInfo, error) {
	if err := allowRole(c, authz.ActionClustersRead); err != nil {
		return nil, err
	}
	views, err := s.clusterViews(c.Request().Context())
	if err != nil {
		return nil, err
	}
	id := identity(c)
	return slices.DeleteFunc(views, func(v contracts.ClusterInfo) bool { return !id.AllowsCluster(v.ID) }), nil
}

func (s *Server) clusters(c echo.Context) error {
	views, err := s.visibleClusters(c)
	if err != nil {
		return writeError(c, err)
	}
	return c.JSON(http.StatusOK, contracts.ClusterList{Clusters: views, Count: len(views)})
}
