package httpapi

import (
	"net/http"
	"time"

	"github.com/labstack/echo/v4"

	"kubently.io/libs/contracts"
)

// The /debug routes keep the request and response shapes of the system
// Kubently replaces, so its clients keep working — without its bugs: a
// denied or failed command is never "success", stderr reaches "error", an
// unknown cluster or dead executor fails at once, and the session status is
// the real one.

// debugCreateBody is the seed's CreateSessionRequest; fields it had that
// Kubently derives itself (user_id, service_identity) are accepted and
// ignored — the identity is always the authenticated API key's.
type debugCreateBody struct {
	Cluster         string `json:"cluster_id"`
	UserID          string `json:"user_id,omitempty"`
	CorrelationID   string `json:"correlation_id,omitempty"`
	ServiceIdentity string `json:"service_identity,omitempty"`
	TTLSeconds      int    `json:"ttl_seconds,omitempty"`
}

type debugSession struct {
	SessionID       string    `json:"session_id"`
	ClusterID       string    `json:"cluster_id"`
	Status          string    `json:"status"`
	CreatedAt       time.Time `json:"created_at"`
	ExpiresAt       time.Time `json:"expires_at"`
	TTLSeconds      int       `json:"ttl_seconds"`
	CorrelationID   string    `json:"correlation_id,omitempty"`
	ServiceIdentity string    `json:"service_identity"`
}

func toDebugSession(s contracts.Session) debugSession {
	return debugSession{
		SessionID: s.ID, ClusterID: s.Cluster, Status: string(s.State), CreatedAt: s.CreatedAt,
		ExpiresAt: s.ExpiresAt, TTLSeconds: s.TTLSeconds, CorrelationID: s.CorrelationID, ServiceIdentity: s.Owner,
	}
}

func (s *Server) debugCreateSession(c echo.Context) error {
	var body debugCreateBody
	if err := decodeBody(c, &body, true); err != nil {
		return writeError(c, err)
	}
	sess, err := s.doCreateSession(c, contracts.CreateSessionBody{Cluster: body.Cluster, TTLSeconds: body.TTLSeconds})
	if err != nil {
		return writeError(c, err)
	}
	return c.JSON(http.StatusCreated, toDebugSession(sess))
}

func (s *Server) debugGetSession(c echo.Context) error {
	sess, err := s.sessionOp(c, contracts.GetSession, 0)
	if err != nil {
		return writeError(c, err)
	}
	return c.JSON(http.StatusOK, toDebugSession(sess))
}

func (s *Server) debugEndSession(c echo.Context) error {
	if _, err := s.sessionOp(c, contracts.EndSession, 0); err != nil {
		return writeError(c, err)
	}
	return c.NoContent(http.StatusNoContent)
}

// debugExecuteBody is the seed's ExecuteCommandRequest. Namespace defaults
// to "default" as it did; an explicit null means no -n.
type debugExecuteBody struct {
	Cluster        string   `json:"cluster_id"`
	SessionID      string   `json:"session_id,omitempty"`
	CorrelationID  string   `json:"correlation_id,omitempty"`
	CommandType    string   `json:"command_type"`
	Args           []string `json:"args"`
	Namespace      *string  `json:"namespace"`
	TimeoutSeconds int      `json:"timeout_seconds,omitempty"`
	ExtraArgs      []string `json:"extra_args,omitempty"`
}

type debugCommandResponse struct {
	CommandID       string    `json:"command_id"`
	SessionID       string    `json:"session_id,omitempty"`
	ClusterID       string    `json:"cluster_id"`
	Status          string    `json:"status"`
	CorrelationID   string    `json:"correlation_id,omitempty"`
	Output          string    `json:"output"`
	Error           string    `json:"error,omitempty"`
	ExitCode        int       `json:"exit_code"`
	Truncated       bool      `json:"truncated"`
	ExecutionTimeMS int64     `json:"execution_time_ms"`
	ExecutedAt      time.Time `json:"executed_at,omitzero"`
}

func (s *Server) debugExecute(c echo.Context) error {
	body := debugExecuteBody{}
	if err := decodeBody(c, &body, true); err != nil {
		return writeError(c, err)
	}
	if body.CommandType == "" {
		body.CommandType = "get"
	}
	argv := append([]string{body.CommandType}, body.Args...)
	argv = append(argv, body.ExtraArgs...)
	ns := "default"
	if body.Namespace != nil {
		ns = *body.Namespace
	}
	argv, err := withNamespace(argv, ns)
	if err != nil {
		return writeError(c, err)
	}
	timeout, err := timeoutFrom(c, body.TimeoutSeconds)
	if err != nil {
		return writeError(c, err)
	}
	res, err := s.run(c, body.Cluster, body.SessionID, argv, timeout)
	if err != nil {
		return writeError(c, err)
	}
	return c.JSON(statusFor(res.Status), debugCommandResponse{
		CommandID: res.CommandID, SessionID: res.SessionID, ClusterID: res.Cluster, Status: string(res.Status),
		CorrelationID: res.CorrelationID, Output: res.Output, Error: res.Error, ExitCode: res.ExitCode,
		Truncated: res.Truncated, ExecutionTimeMS: res.DurationMS, ExecutedAt: res.ExecutedAt,
	})
}

func (s *Server) debugClusters(c echo.Context) error {
	views, err := s.visibleClusters(c)
	if err != nil {
		return writeError(c, err)
	}
	ids := make([]string, 0, len(views))
	for _, v := range views {
		ids = append(ids, v.ID)
	}
	return c.JSON(http.StatusOK, map[string]any{"clusters": ids, "count": len(ids)})
}
