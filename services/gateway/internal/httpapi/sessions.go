package httpapi

import (
	"context"
	"net/http"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"kubently.io/libs/authz"
	"kubently.io/libs/contracts"
	"kubently.io/libs/natsutil"
)

// rpc calls a NATS service endpoint with a bounded wait, counting failures
// by subject prefix.
func rpc[Req, Resp any](ctx context.Context, s *Server, wait time.Duration, ep contracts.Endpoint[Req, Resp], req Req) (Resp, error) {
	ctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	resp, err := natsutil.Request(ctx, s.cfg.Conn, ep, req)
	s.countNATSError(ep.Subject, err)
	return resp, err
}

// countNATSError counts a request that failed in transport or in the
// service (no responders, timeout, unavailable, internal); a service's
// deliberate answer such as session_not_found is not a failure.
func (s *Server) countNATSError(subject string, err error) {
	if err == nil {
		return
	}
	switch code := contracts.AsError(err).Code; code {
	case contracts.CodeUnavailable, contracts.CodeTimeout, contracts.CodeInternal:
		s.metrics.natsErrors.WithLabelValues(subjectPrefix(subject), string(code)).Inc()
	}
}

// subjectPrefix is the metric label of a subject: its first four tokens
// (kubently.<service>.v1.<endpoint>), dropping parameters such as a
// cluster id or command id.
func subjectPrefix(subject string) string {
	parts := strings.SplitN(subject, ".", 5)
	return strings.Join(parts[:min(len(parts), 4)], ".")
}

func (s *Server) doCreateSession(c echo.Context, body contracts.CreateSessionBody) (contracts.Session, error) {
	if err := contracts.ValidateID("cluster", body.Cluster); err != nil {
		return contracts.Session{}, err
	}
	if _, err := contracts.ValidateSessionTTL(body.TTLSeconds); err != nil {
		return contracts.Session{}, err
	}
	if err := s.allowCluster(c, authz.ActionSessionWrite, body.Cluster); err != nil {
		return contracts.Session{}, err
	}
	id := identity(c)
	return rpc(c.Request().Context(), s, s.cfg.StoreTimeout, contracts.CreateSession, contracts.CreateSessionRequest{
		Cluster: body.Cluster, TTLSeconds: body.TTLSeconds, Caller: id.Principal(), Principal: principalOf(id),
		CorrelationID: contracts.CorrelationIDFrom(c.Request().Context()),
	})
}

func (s *Server) createSession(c echo.Context) error {
	var body contracts.CreateSessionBody
	if err := decodeBody(c, &body, false); err != nil {
		return writeError(c, err)
	}
	sess, err := s.doCreateSession(c, body)
	if err != nil {
		return writeError(c, err)
	}
	return c.JSON(http.StatusCreated, sess)
}

// sessionOp runs op on the session named by the :id parameter: it reads
// the session first (the session service answers only to its owner, or to
// an admin), checks that the caller may write sessions on its cluster,
// then runs op. contracts.GetSession only reads.
func (s *Server) sessionOp(c echo.Context, op contracts.Endpoint[contracts.SessionRequest, contracts.Session], ttl int) (contracts.Session, error) {
	sid := c.Param("id")
	if err := contracts.ValidateID("session", sid); err != nil {
		return contracts.Session{}, err
	}
	if err := allowRole(c, authz.ActionSessionWrite); err != nil {
		return contracts.Session{}, err
	}
	id := identity(c)
	req := contracts.SessionRequest{ID: sid, Caller: id.Principal(), Principal: principalOf(id)}
	sess, err := rpc(c.Request().Context(), s, s.cfg.StoreTimeout, contracts.GetSession, req)
	if err != nil {
		return contracts.Session{}, err
	}
	if err := s.allowCluster(c, authz.ActionSessionWrite, sess.Cluster); err != nil {
		return contracts.Session{}, err
	}
	if op == contracts.GetSession {
		return sess, nil
	}
	req.TTLSeconds = ttl
	return rpc(c.Request().Context(), s, s.cfg.StoreTimeout, op, req)
}

func (s *Server) getSession(c echo.Context) error {
	sess, err := s.sessionOp(c, contracts.GetSession, 0)
	if err != nil {
		return writeError(c, err)
	}
	return c.JSON(http.StatusOK, sess)
}

func (s *Server) endSession(c echo.Context) error {
	sess, err := s.sessionOp(c, contracts.EndSession, 0)
	if err != nil {
		return writeError(c, err)
	}
	return c.JSON(http.StatusOK, sess)
}

func (s *Server) keepaliveSession(c echo.Context) error {
	var body contracts.KeepaliveBody
	if c.Request().ContentLength != 0 {
		if err := decodeBody(c, &body, false); err != nil {
			return writeError(c, err)
		}
	}
	if body.TTLSeconds != 0 {
		if _, err := contracts.ValidateSessionTTL(body.TTLSeconds); err != nil {
			return writeError(c, err)
		}
	}
	sess, err := s.sessionOp(c, contracts.KeepSessionAlive, body.TTLSeconds)
	if err != nil {
		return writeError(c, err)
	}
	return c.JSON(http.StatusOK, sess)
}

func (s *Server) listSessions(c echo.Context) error {
	cluster := c.QueryParam("cluster_id")
	if err := contracts.ValidateID("cluster", cluster); err != nil {
		return writeError(c, err)
	}
	if err := s.allowCluster(c, authz.ActionSessionWrite, cluster); err != nil {
		return writeError(c, err)
	}
	id := identity(c)
	list, err := rpc(c.Request().Context(), s, s.cfg.StoreTimeout, contracts.ListSessions,
		contracts.ListSessionsRequest{Cluster: cluster, Caller: id.Principal(), Principal: principalOf(id)})
	if err != nil {
		return writeError(c, err)
	}
	return c.JSON(http.StatusOK, list)
}
