package httpapi

import (
	"context"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"

	"kubently.io/libs/contracts"
	"kubently.io/libs/natsutil"
)

type createSessionBody struct {
	Cluster    string `json:"cluster_id"`
	TTLSeconds int    `json:"ttl_seconds,omitempty"`
}

type keepaliveBody struct {
	TTLSeconds int `json:"ttl_seconds,omitempty"`
}

// rpc calls a NATS service endpoint with a bounded wait.
func (s *Server) rpc(ctx context.Context, wait time.Duration, subject, reqType string, req any, respType string, resp any) error {
	ctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	return natsutil.Request(ctx, s.cfg.Conn, subject, reqType, req, respType, resp)
}

func (s *Server) doCreateSession(c echo.Context, body createSessionBody) (contracts.Session, error) {
	if err := contracts.ValidateID("cluster", body.Cluster); err != nil {
		return contracts.Session{}, err
	}
	if _, err := contracts.ValidateSessionTTL(body.TTLSeconds); err != nil {
		return contracts.Session{}, err
	}
	var sess contracts.Session
	err := s.rpc(c.Request().Context(), s.cfg.StoreTimeout, contracts.SessionCreateSubject, contracts.TypeCreateSession,
		contracts.CreateSessionRequest{
			Cluster: body.Cluster, TTLSeconds: body.TTLSeconds, Caller: caller(c),
			CorrelationID: contracts.CorrelationIDFrom(c.Request().Context()),
		}, contracts.TypeSession, &sess)
	return sess, err
}

func (s *Server) createSession(c echo.Context) error {
	var body createSessionBody
	if err := decodeBody(c, &body, false); err != nil {
		return writeError(c, err)
	}
	sess, err := s.doCreateSession(c, body)
	if err != nil {
		return writeError(c, err)
	}
	return c.JSON(http.StatusCreated, sess)
}

func (s *Server) sessionOp(c echo.Context, subject string, ttl int) (contracts.Session, error) {
	id := c.Param("id")
	if err := contracts.ValidateID("session", id); err != nil {
		return contracts.Session{}, err
	}
	var sess contracts.Session
	err := s.rpc(c.Request().Context(), s.cfg.StoreTimeout, subject, contracts.TypeSessionRequest,
		contracts.SessionRequest{ID: id, Caller: caller(c), TTLSeconds: ttl}, contracts.TypeSession, &sess)
	return sess, err
}

func (s *Server) getSession(c echo.Context) error {
	sess, err := s.sessionOp(c, contracts.SessionGetSubject, 0)
	if err != nil {
		return writeError(c, err)
	}
	return c.JSON(http.StatusOK, sess)
}

func (s *Server) endSession(c echo.Context) error {
	sess, err := s.sessionOp(c, contracts.SessionEndSubject, 0)
	if err != nil {
		return writeError(c, err)
	}
	return c.JSON(http.StatusOK, sess)
}

func (s *Server) keepaliveSession(c echo.Context) error {
	var body keepaliveBody
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
	sess, err := s.sessionOp(c, contracts.SessionKeepaliveSubject, body.TTLSeconds)
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
	var list contracts.SessionList
	err := s.rpc(c.Request().Context(), s.cfg.StoreTimeout, contracts.SessionListSubject, contracts.TypeListSessions,
		contracts.ListSessionsRequest{Cluster: cluster, Caller: caller(c)}, contracts.TypeSessionList, &list)
	if err != nil {
		return writeError(c, err)
	}
	return c.JSON(http.StatusOK, list)
}
