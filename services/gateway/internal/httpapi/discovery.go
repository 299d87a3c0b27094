package httpapi

import (
	"context"
	"net/http"

	"github.com/labstack/echo/v4"

	"kubently.io/libs/contracts"
	"kubently.io/libs/logging"
)

// discovery stores the discovery summary an executor of the cluster
// posts (POST /v1/executor/discovery): the resource types its cluster
// serves, which the dispatcher resolves the commands of namespace-scoped
// callers through. The summary must be valid and its hash must match.
func (s *Server) discovery(c echo.Context) error {
	cluster := clusterOf(c)
	var d contracts.ExecutorDiscovery
	if err := decodeBodyLimit(c, &d, false, contracts.MaxDiscoveryBodyBytes); err != nil {
		return writeError(c, err)
	}
	if err := d.Validate(); err != nil {
		return writeError(c, err)
	}
	ctx, cancel := context.WithTimeout(c.Request().Context(), s.cfg.StoreTimeout)
	defer cancel()
	if err := s.cfg.Store.PutDiscovery(ctx, cluster, d); err != nil {
		logging.FromContext(ctx).Warn("storing discovery failed", logging.KeyCluster, cluster, logging.KeyErr, err)
		return writeError(c, contracts.Errorf(contracts.CodeUnavailable, "store unavailable: discovery not stored"))
	}
	logging.FromContext(ctx).Debug("discovery stored", logging.KeyCluster, cluster, "resources", len(d.Resources), "hash", d.Hash)
	return c.JSON(http.StatusOK, contracts.ExecutorDiscoveryResponse{Status: "stored", Hash: d.Hash})
}
