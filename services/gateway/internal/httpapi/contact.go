package httpapi

import (
	"context"
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"

	"kubently.io/libs/contracts"
	"kubently.io/libs/logging"
	"kubently.io/services/gateway/internal/auth"
	"kubently.io/services/gateway/internal/liveness"
)

// executorHeartbeat counts an executor's contact for its stream
// (ExecutorHeartbeat.ConnID), held by this replica or, named by
// ExecutorHeartbeat.Gateway, by another one (one NATS request to its
// contact subject).
//
// The token is checked against the token the stream was opened with (the
// holder compares hashes), not against the cluster registry: heartbeats
// arrive every few seconds per stream and must not cost a store read. Only
// when no replica knows the stream is the registry asked, to tell a wrong
// token (401) from a stream that is gone (404 not_found, reason
// unknown_stream). Another cluster's conn_id is treated as unknown: the
// answer says nothing about other clusters' streams.
func (s *Server) executorHeartbeat(c echo.Context) error {
	fail := func(outcome string, err error) error {
		s.metrics.heartbeats.WithLabelValues(outcome).Inc()
		return writeError(c, err)
	}
	cluster := c.Request().Header.Get(contracts.HeaderClusterID)
	token, ok := strings.CutPrefix(c.Request().Header.Get("Authorization"), "Bearer ")
	if cluster == "" || !ok || token == "" {
		return fail("unauthorized", contracts.Errorf(contracts.CodeUnauthorized, "executor requests need Authorization: Bearer <token> and %s", contracts.HeaderClusterID))
	}
	var hb contracts.ExecutorHeartbeat
	if err := decodeBodyLimit(c, &hb, true, contracts.MaxHeartbeatBodyBytes); err != nil {
		return fail("bad_request", err)
	}
	if err := contracts.ValidateConnID(hb.ConnID); err != nil {
		return fail("bad_request", err)
	}
	if hb.Gateway != "" {
		if err := contracts.ValidateGatewayName(hb.Gateway); err != nil {
			return fail("bad_request", err)
		}
	}
	tokenHash := auth.HashToken(token)
	ctx := c.Request().Context()
	if s.cfg.Contacts.Touch(cluster, hb.ConnID, tokenHash) {
		s.metrics.localHeartbeats.Inc()
		return c.JSON(http.StatusOK, contracts.ExecutorHeartbeatResponse{Status: "ok"})
	}
	if hb.Gateway != "" && hb.Gateway != s.cfg.Name {
		fctx, cancel := context.WithTimeout(ctx, min(s.cfg.StoreTimeout, s.cfg.ContactTimeout))
		known, err := liveness.Forward(fctx, s.cfg.Conn, hb.Gateway, contracts.ExecutorContact{
			Cluster: cluster, ConnID: hb.ConnID, TokenHash: tokenHash,
		})
		cancel()
		if err != nil {
			logging.FromContext(ctx).Warn("executor heartbeat not relayed", logging.KeyCluster, cluster, "conn_id", hb.ConnID, "holder", hb.Gateway, logging.KeyErr, err)
			return fail("unavailable", contracts.Errorf(contracts.CodeUnavailable, "cannot reach gateway %s, which holds the stream; retry", hb.Gateway))
		}
		if known {
			s.metrics.heartbeats.WithLabelValues("forwarded").Inc()
			return c.JSON(http.StatusOK, contracts.ExecutorHeartbeatResponse{Status: "ok"})
		}
	}
	// Nobody holds it: a wrong token, or a stream that is gone.
	if _, err := s.verifyExecutor(ctx, cluster, token); err != nil {
		if contracts.AsError(err).Code == contracts.CodeUnauthorized {
			return fail("unauthorized", err)
		}
		return fail("unavailable", err)
	}
	holder := hb.Gateway
	if holder == "" {
		holder = s.cfg.Name
	}
	return fail(contracts.ReasonUnknownStream, &contracts.Error{Code: contracts.CodeNotFound, Reason: contracts.ReasonUnknownStream,
		Message: "no open stream " + hb.ConnID + " of cluster " + cluster + " on gateway " + holder + "; reconnect"})
}

// CountRelayedContact counts a contact another replica passed on over
// NATS (the onContact callback of liveness.Registry.Subscribe).
func (s *Server) CountRelayedContact(known bool) {
	if known {
		s.metrics.heartbeats.WithLabelValues("relayed").Inc()
	}
}

// CountHandOff counts a batch of commands a dispatcher handed to this
// replica (the onHandOff callback of handoff.Registry.Subscribe).
func (s *Server) CountHandOff(offered bool) {
	if offered {
		s.metrics.handOffs.WithLabelValues("offered").Inc()
	} else {
		s.metrics.handOffs.WithLabelValues(contracts.HandOffNoStream).Inc()
	}
}
