package httpapi

import (
	"context"
	"net/http"
	"slices"
	"strings"

	"github.com/labstack/echo/v4"

	"kubently.io/libs/audit"
	"kubently.io/libs/authz"
	"kubently.io/libs/contracts"
	"kubently.io/libs/logging"
)

// labelCluster serves POST /v1/clusters/:cluster/labels: an admin sets
// and removes labels of a registered cluster at once (the registry admin
// permission, authz.ActionTokenAdmin). Every attempt is audited
// (cluster_labeled), refused ones too.
func (s *Server) labelCluster(c echo.Context) error {
	cluster, err := s.tokenAdmin(c, audit.EventClusterLabeled)
	if err != nil {
		return writeError(c, err)
	}
	var body contracts.ClusterLabelRequest
	if err := decodeBody(c, &body, false); err != nil {
		s.auditToken(c, audit.EventClusterLabeled, cluster, "", err)
		return writeError(c, err)
	}
	change := labelChange(body)
	if err := body.Validate(); err != nil {
		s.auditToken(c, audit.EventClusterLabeled, cluster, change, err)
		return writeError(c, err)
	}
	ctx, cancel := context.WithTimeout(c.Request().Context(), s.cfg.StoreTimeout)
	defer cancel()
	labels, err := s.cfg.Store.LabelCluster(ctx, cluster, body.Set, body.Remove)
	if err != nil {
		err = registryError(cluster, err)
	}
	s.auditToken(c, audit.EventClusterLabeled, cluster, change, err)
	if err != nil {
		return writeError(c, err)
	}
	logging.FromContext(c.Request().Context()).Info("cluster labels changed", logging.KeyCluster, cluster, "labels", contracts.FormatLabels(labels))
	return c.JSON(http.StatusOK, contracts.ClusterLabels{Cluster: cluster, Labels: labels})
}

// labelChange renders a label request for the audit record's target:
// "env=prod,tier- ..." in the CLI's own syntax, keys sorted.
func labelChange(body contracts.ClusterLabelRequest) string {
	parts := strings.Fields(strings.ReplaceAll(contracts.FormatLabels(body.Set), ",", " "))
	rm := slices.Clone(body.Remove)
	slices.Sort(rm)
	for _, k := range rm {
		parts = append(parts, k+"-")
	}
	return strings.Join(parts, " ")
}

// allowFleet checks that the caller may run commands at all before a
// fan-out selects clusters (each cluster is then checked on its own).
func allowFleet(c echo.Context) error { return allowRole(c, authz.ActionExecute) }
