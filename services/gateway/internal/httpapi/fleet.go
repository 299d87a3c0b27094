package httpapi

import (
	"context"
	"errors"
	"net/http"

	"github.com/labstack/echo/v4"

	"kubently.io/libs/contracts"
	"kubently.io/libs/logging"
	"kubently.io/libs/policy"
	"kubently.io/services/gateway/internal/fleet"
)

// The fleet routes (package fleet does the selection, the concurrency and
// the stream):
//
//	POST /v1/fleet/execute   one read on every selected cluster
//	POST /v1/fleet/diagnose  one diagnosis on every selected cluster
//
// Each cluster's command takes the path of POST /v1/execute (s.run: role,
// cluster and namespace scopes, the cluster's rate limit, the
// dispatcher's policy check and audit), with the fan-out's id in its
// audit records. Bad input is refused before any cluster is reached: the
// target (selector syntax, no cluster selected, too many, concurrency),
// the timeout, and a command the policy refuses whatever the cluster
// (unknown verb, watch, write flags: one command_denied record and 403).
// A refusal that depends on the cluster (scope, per-cluster policy
// profile, rate limit) is that cluster's "denied" outcome in the stream.

// ctxFanout is the echo context key of a fleet command's fan-out id.
const ctxFanout = "kubently.fanout"

// fanoutOf returns the fan-out id of a fleet command's context, or "".
func fanoutOf(c echo.Context) string {
	id, _ := c.Get(ctxFanout).(string)
	return id
}

// fleetJob runs a fan-out's command on one cluster, on that cluster's
// own echo context (see runFleet).
type fleetJob func(cc echo.Context, cluster string) contracts.FleetResult

func (s *Server) fleetExecute(c echo.Context) error {
	var body contracts.FleetExecuteRequest
	if err := decodeBody(c, &body, false); err != nil {
		return writeError(c, err)
	}
	var err error
	if body.TimeoutSeconds, err = timeoutFrom(c, body.TimeoutSeconds); err != nil {
		return writeError(c, err)
	}
	job, err := s.prepareFleetExecute(c, body)
	if err != nil {
		return writeError(c, err)
	}
	return s.fanOut(c, body.FleetTarget, job)
}

// prepareFleetExecute checks a fleet execute request up front and returns
// its per-cluster job.
func (s *Server) prepareFleetExecute(c echo.Context, body contracts.FleetExecuteRequest) (fleetJob, error) {
	argv, err := commandArgv(body.Argv, body.Command, body.Namespace)
	if err != nil {
		return nil, err
	}
	if err := contracts.ValidateArgv(argv); err != nil {
		return nil, err
	}
	if err := s.fleetPrecheck(c, body.FleetTarget, [][]string{argv}); err != nil {
		return nil, err
	}
	limit := outputLimit(body.FleetTarget)
	return func(cc echo.Context, cluster string) contracts.FleetResult {
		res, err := s.run(cc, cluster, "", argv, body.TimeoutSeconds)
		r := contracts.FleetResult{Cluster: cluster}
		r.Outcome, r.Reason, r.Message = fleet.Classify(res, err)
		if err == nil {
			cut := fleet.Cut(res, limit)
			r.Result = &cut
		}
		return r
	}, nil
}

func (s *Server) fleetDiagnose(c echo.Context) error {
	var body contracts.FleetDiagnoseRequest
	if err := decodeBody(c, &body, false); err != nil {
		return writeError(c, err)
	}
	var err error
	if body.TimeoutSeconds, err = timeoutFrom(c, body.TimeoutSeconds); err != nil {
		return writeError(c, err)
	}
	job, err := s.prepareFleetDiagnose(c, &body)
	if err != nil {
		return writeError(c, err)
	}
	return s.fanOut(c, body.FleetTarget, job)
}

// prepareFleetDiagnose checks a fleet diagnose request up front (filling
// in the default timeout) and returns its per-cluster job.
func (s *Server) prepareFleetDiagnose(c echo.Context, body *contracts.FleetDiagnoseRequest) (fleetJob, error) {
	argvs, err := diagnoseArgvs(contracts.DiagnoseRequest{Namespace: body.Namespace, Namespaces: body.Namespaces, AllNamespaces: body.AllNamespaces})
	if err != nil {
		return nil, err
	}
	if body.TimeoutSeconds == 0 {
		body.TimeoutSeconds = contracts.DefaultDiagnoseTimeoutSeconds
	}
	if err := s.fleetPrecheck(c, body.FleetTarget, argvs); err != nil {
		return nil, err
	}
	timeout, all := body.TimeoutSeconds, body.AllNamespaces
	return func(cc echo.Context, cluster string) contracts.FleetResult {
		rep, err := s.diagnoseCluster(cc, cluster, argvs, timeout, all)
		r := contracts.FleetResult{Cluster: cluster}
		if bg, ok := errors.AsType[*badGateway](err); ok {
			err = bg.e
		}
		r.Outcome, r.Reason, r.Message = fleet.Classify(contracts.CommandResult{Outcome: contracts.Outcome{Status: contracts.StatusSuccess}}, err)
		if err == nil {
			r.Report = &rep
		}
		return r
	}, nil
}

// fleetPrecheck refuses, before any cluster is reached, what would fail
// on every cluster: a bad target or timeout, a caller whose role may not
// execute, and a command the policy refuses whatever the cluster (audited
// as one command_denied record without a cluster).
func (s *Server) fleetPrecheck(c echo.Context, t contracts.FleetTarget, argvs [][]string) error {
	if err := t.Validate(); err != nil {
		return err
	}
	if err := setTool(c); err != nil {
		return err
	}
	if err := allowFleet(c); err != nil {
		return err
	}
	for _, argv := range argvs {
		if _, d, ok := policy.Parse(argv); !ok {
			err := &contracts.Error{Code: contracts.CodeCommandDenied, Reason: string(d.Reason), Message: d.Message}
			s.auditRefusal(c, "", argv, nil, err)
			return err
		}
	}
	return nil
}

// outputLimit is the per-cluster output bound of a fleet request.
func outputLimit(t contracts.FleetTarget) int {
	if t.MaxOutputBytes > 0 {
		return t.MaxOutputBytes
	}
	return contracts.MaxFleetOutputBytes
}

// discardWriter is the response of a fleet command's own echo context:
// the guards of s.run may set headers (Retry-After) there; nothing is
// sent.
type discardWriter struct{ h http.Header }

func (d *discardWriter) Header() http.Header         { return d.h }
func (d *discardWriter) Write(b []byte) (int, error) { return len(b), nil }
func (d *discardWriter) WriteHeader(int)             {}

// fanOut runs a fan-out (runFleet) and streams each result as it
// arrives, then the summary.
func (s *Server) fanOut(c echo.Context, t contracts.FleetTarget, job fleetJob) error {
	var st *fleet.Stream
	sum, err := s.runFleet(c, t, job, func(fanout string) error {
		st = fleet.NewStream(c.Response(), c.Request(), s.cfg.ContactTimeout)
		return st.Start(fanout)
	}, func(r contracts.FleetResult) error { return st.Result(r) })
	if st == nil {
		return writeError(c, err)
	}
	if err == nil {
		if err := st.Summary(sum); err != nil {
			logging.FromContext(c.Request().Context()).Info("fleet client gone before the summary", "fanout_id", sum.FanoutID, logging.KeyErr, err)
		}
	}
	return nil
}

// runFleet selects the clusters of t, calls start with the new fan-out
// id, then runs job per cluster with at most t.Concurrency at once and
// calls emit with each result as it arrives; it returns the summary. An
// error before start (a bad target, the registry down) is returned and
// nothing ran; so is a start error (the client is gone). Each cluster's
// command runs on an echo context of its own (the caller's identity, tool
// and the fan-out id; a response nobody reads), so the guards of s.run
// never share one.
func (s *Server) runFleet(c echo.Context, t contracts.FleetTarget, job fleetJob, start func(fanout string) error, emit func(contracts.FleetResult) error) (contracts.FleetSummary, error) {
	ctx := c.Request().Context()
	id := identity(c)
	sctx, cancel := context.WithTimeout(ctx, s.cfg.StoreTimeout)
	clusters, err := fleet.Select(sctx, s.cfg.Store, t, id.AllowsCluster)
	cancel()
	if err != nil {
		return contracts.FleetSummary{}, err
	}
	fanout := contracts.NewID()
	concurrency := t.Concurrency
	if concurrency == 0 {
		concurrency = contracts.DefaultFleetConcurrency
	}
	log := logging.FromContext(ctx).With("fanout_id", fanout)
	log.Info("fleet fan-out", "clusters", len(clusters), "concurrency", concurrency, "route", c.Path(), "tool", toolOf(c))
	if err := start(fanout); err != nil {
		return contracts.FleetSummary{}, err
	}
	tool := toolOf(c)
	sum := fleet.Run(ctx, fanout, clusters, concurrency, func(jctx context.Context, cluster string) contracts.FleetResult {
		cc := s.e.NewContext(c.Request().WithContext(jctx), &discardWriter{h: http.Header{}})
		cc.SetPath(c.Path())
		cc.Set(ctxIdentity, id)
		cc.Set(ctxFanout, fanout)
		if tool != "" {
			cc.Set(ctxTool, tool)
		}
		return job(cc, cluster)
	}, emit)
	log.Info("fleet fan-out done", "succeeded", sum.Succeeded, "failed", sum.Failed, "denied", sum.Denied,
		"unreachable", sum.Unreachable, "timed_out", sum.TimedOut, "duration_ms", sum.DurationMS)
	return sum, nil
}
