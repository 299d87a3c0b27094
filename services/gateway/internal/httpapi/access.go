package httpapi

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"github.com/labstack/echo/v4"

	"kubently.io/libs/audit"
	"kubently.io/libs/authz"
	"kubently.io/libs/contracts"
	"kubently.io/libs/logging"
	"kubently.io/libs/policy"
)

// The guards below (limit, allowCluster, allowRole, allowExecute) return
// nil when the request may go on, else the *contracts.Error to answer
// with (403 forbidden with the authz reason, or 429 rate_limited).

// forbidden turns an authz denial into the 403 error.
func forbidden(c echo.Context, err error) error {
	e := &contracts.Error{Code: contracts.CodeForbidden, Message: err.Error()}
	if d, ok := errors.AsType[*authz.Denial](err); ok {
		e.Reason, e.Message = string(d.Reason), d.Message
	}
	logging.FromContext(c.Request().Context()).Info("request forbidden", "reason", e.Reason, "route", c.Path())
	return e
}

// limit takes a token from the identity's and the cluster's buckets (either
// may be empty); when one is empty it sets Retry-After and returns the 429
// error.
func (s *Server) limit(c echo.Context, principal, cluster string) error {
	ok, retry, which := s.cfg.Limiter.Allow(principal, cluster)
	if ok {
		return nil
	}
	s.metrics.rateLimited.WithLabelValues(which).Inc()
	secs := int(retry.Seconds())
	c.Response().Header().Set("Retry-After", strconv.Itoa(secs))
	what := "identity " + principal
	if which == authz.LimitCluster {
		what = "cluster " + cluster
	}
	logging.FromContext(c.Request().Context()).Info("rate limited", "limit", which, "retry_after_s", secs)
	return &contracts.Error{Code: contracts.CodeRateLimited, Reason: which,
		Message: fmt.Sprintf("rate limit of %s exceeded; retry in %ds", what, secs)}
}

// allowCluster checks that the caller's role grants action and that its
// scopes reach cluster (any namespace of it), then takes a token of the
// cluster's bucket. It returns nil or the 403/429 error.
func (s *Server) allowCluster(c echo.Context, a authz.Action, cluster string) error {
	id := identity(c)
	if err := id.Authorize(a, "", "", false); err != nil {
		return forbidden(c, err)
	}
	if !id.AllowsCluster(cluster) {
		return forbidden(c, &authz.Denial{Reason: authz.ReasonClusterOutOfScope,
			Message: fmt.Sprintf("%s may not access cluster %q", id.Principal(), cluster)})
	}
	return s.limit(c, "", cluster)
}

// allowRole checks that the caller's role grants action (no cluster).
func allowRole(c echo.Context, a authz.Action) error {
	if err := identity(c).Authorize(a, "", "", false); err != nil {
		return forbidden(c, err)
	}
	return nil
}

// parseArgv parses argv once for the gateway's checks and its refusal
// record; nil when argv does not parse (the dispatcher's policy check then
// refuses it, with the reason).
func parseArgv(argv []string) *policy.Command {
	cmd, _, ok := policy.Parse(argv)
	if !ok {
		return nil
	}
	return cmd
}

// commandScope returns the namespace cmd reads for the scope check and
// whether it spans all namespaces (policy.Command.ScopeNamespace, the rule
// the dispatcher applies too). parsed is false for a nil cmd (argv that
// does not parse): only the role and the cluster are checked here then.
func commandScope(ctx context.Context, cmd *policy.Command) (ns string, allNamespaces, parsed bool) {
	if cmd == nil {
		return "", false, false
	}
	ns, all := cmd.ScopeNamespace(ctx, policy.StaticResolver)
	return ns, all, true
}

// allowExecute authorises running argv on cluster (role, cluster and
// namespace scope) and takes a token of the cluster's bucket. A refusal is
// a decision like any other: it is audited (command_denied) before the
// client hears of it. argv is parsed once for both.
func (s *Server) allowExecute(c echo.Context, cluster string, argv []string) error {
	cmd := parseArgv(argv)
	err := s.checkExecute(c, cluster, cmd)
	if err != nil {
		s.auditRefusal(c, cluster, argv, cmd, err)
	}
	return err
}

func (s *Server) checkExecute(c echo.Context, cluster string, cmd *policy.Command) error {
	id := identity(c)
	ns, all, parsed := commandScope(c.Request().Context(), cmd)
	if !parsed {
		return s.allowCluster(c, authz.ActionExecute, cluster)
	}
	if err := id.Authorize(authz.ActionExecute, cluster, ns, all); err != nil {
		return forbidden(c, err)
	}
	return s.limit(c, "", cluster)
}

// auditRefusal records a command the gateway refused (role, scope or rate
// limit) as command_denied, with the reason and the caller; cmd is argv
// parsed (nil if it does not parse), for the record's namespace.
func (s *Server) auditRefusal(c echo.Context, cluster string, argv []string, cmd *policy.Command, err error) {
	ctx := c.Request().Context()
	id := identity(c)
	e := contracts.AsError(err)
	rec := audit.Record{
		Event: audit.EventCommandDenied, Identity: id.Principal(), Role: string(id.Role), Cluster: cluster,
		Argv: argv, Outcome: audit.OutcomeDenied, Reason: e.Reason, Gateway: s.cfg.Name,
		CorrelationID: auditID(contracts.CorrelationIDFrom(ctx)), Message: e.Message, Tool: toolOf(c),
		FanoutID: fanoutOf(c),
	}
	if e.Reason == "" {
		rec.Reason = string(e.Code)
	}
	if cmd != nil {
		rec.Namespace = cmd.Namespace
	}
	if contracts.ValidateID("cluster", cluster) != nil {
		rec.Cluster = ""
	}
	s.writeAudit(ctx, rec.Clamp())
}

// principalOf converts an identity for the services behind the gateway.
func principalOf(id authz.Identity) *contracts.Principal {
	p := &contracts.Principal{Name: id.Name, Role: string(id.Role), Source: string(id.Source)}
	for _, sc := range id.Scopes {
		p.Scopes = append(p.Scopes, contracts.PrincipalScope{Clusters: sc.Clusters, Namespaces: sc.Namespaces})
	}
	return p
}
