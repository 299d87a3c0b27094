package httpapi

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"

	"kubently.io/libs/audit"
	"kubently.io/libs/authz"
	"kubently.io/libs/contracts"
	"kubently.io/libs/logging"
	"kubently.io/libs/store"
	"kubently.io/services/gateway/internal/auth"
)

// The executor token admin routes (admin role, authz.ActionTokenAdmin):
//
//	POST   /v1/clusters/:cluster/token         create: register a new cluster
//	POST   /v1/clusters/:cluster/token/rotate  rotate: new token, old one dead
//	DELETE /v1/clusters/:cluster/token         revoke: the cluster stays, no token works
//
// Tokens are 256-bit random, returned once, stored only as their SHA-256
// (store.ClusterRecord). Every change goes through store.SwapCluster (a
// compare-and-set on the token hash), so two admins acting at once never
// both believe their token works. Rotate and revoke then close the
// cluster's live executor streams on every replica: locally through the
// hub, elsewhere through a message on contracts.BridgeRevokeSubject that
// each replica's hub subscribes to. A stream that authenticated just
// before the change re-checks the registry after registering with the hub
// (recheckExecutor), so it is either closed by the revocation or refused.

// tokenPrefix starts every generated executor token, so secret scanners
// and humans can tell what leaked.
const tokenPrefix = "kbt_"

// tokenBytes is the entropy of a generated token (256 bits).
const tokenBytes = 32

// swapAttempts bounds the compare-and-set retries of rotate and revoke
// when other admins change the same cluster at the same moment.
const swapAttempts = 5

// newToken returns a fresh executor token.
func newToken() (string, error) {
	var b [tokenBytes]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", err
	}
	return tokenPrefix + base64.RawURLEncoding.EncodeToString(b[:]), nil
}

// fingerprint names a token in audit records and logs without revealing
// it: the first 12 hex characters of its hash.
func fingerprint(hash string) string {
	if len(hash) < 12 {
		return ""
	}
	return "sha256:" + hash[:12]
}

// tokenAdmin runs the checks every token route shares: the role (403,
// audited) and the cluster id (400, audited). It returns the cluster.
func (s *Server) tokenAdmin(c echo.Context, ev audit.Event) (string, error) {
	cluster := c.Param("cluster")
	if err := allowRole(c, authz.ActionTokenAdmin); err != nil {
		s.auditToken(c, ev, cluster, "", err)
		return "", err
	}
	if err := contracts.ValidateID("cluster", cluster); err != nil {
		s.auditToken(c, ev, cluster, "", err)
		return "", err
	}
	return cluster, nil
}

// auditToken writes the record of one token action: success when err is
// nil, else denied (403) or failure with the error code as the reason.
// It never holds the token, only its hash's fingerprint.
func (s *Server) auditToken(c echo.Context, ev audit.Event, cluster, target string, err error) {
	ctx := c.Request().Context()
	id := identity(c)
	rec := audit.Record{
		Event: ev, Identity: id.Principal(), Role: string(id.Role), Cluster: cluster, Target: target,
		Outcome: audit.OutcomeSuccess, Remote: c.RealIP(), Gateway: s.cfg.Name,
		CorrelationID: auditID(contracts.CorrelationIDFrom(ctx)),
	}
	if err != nil {
		e := contracts.AsError(err)
		rec.Outcome, rec.Reason, rec.Message = audit.OutcomeFailure, string(e.Code), e.Message
		if e.Code == contracts.CodeForbidden {
			rec.Outcome, rec.Reason = audit.OutcomeDenied, e.Reason
		}
	}
	if contracts.ValidateID("cluster", cluster) != nil {
		rec.Cluster = ""
	}
	s.writeAudit(ctx, rec.Clamp())
}

// registryError maps a store error of the token routes to the wire error.
func registryError(cluster string, err error) error {
	switch {
	case errors.Is(err, store.ErrNotFound):
		return contracts.Errorf(contracts.CodeUnknownCluster, "cluster %q is not registered", cluster)
	case errors.Is(err, store.ErrConflict):
		return contracts.Errorf(contracts.CodeClusterExists, "cluster %q changed meanwhile (another admin); retry", cluster)
	case errors.Is(err, store.ErrInvalid):
		return contracts.Errorf(contracts.CodeBadRequest, "%v", err)
	default:
		return contracts.Errorf(contracts.CodeUnavailable, "cluster registry unavailable")
	}
}

// createToken registers a new cluster with a fresh token (201). A cluster
// that has a token is 409 cluster_exists; a revoked one gets a new token
// (the same as rotating it).
func (s *Server) createToken(c echo.Context) error {
	cluster, err := s.tokenAdmin(c, audit.EventTokenCreated)
	if err != nil {
		return writeError(c, err)
	}
	token, hash, err := s.issue(c, cluster, func(ctx context.Context, now time.Time, hash string) error {
		rec := store.ClusterRecord{ID: cluster, TokenHash: hash, CreatedAt: now, UpdatedAt: now}
		err := s.cfg.Store.CreateCluster(ctx, rec)
		if !errors.Is(err, store.ErrExists) {
			return err
		}
		old, err := s.cfg.Store.GetCluster(ctx, cluster)
		if err != nil {
			return err
		}
		if !old.Revoked() {
			return contracts.Errorf(contracts.CodeClusterExists, "cluster %q already has a token: rotate it (POST /v1/clusters/%s/token/rotate) or revoke it first", cluster, cluster)
		}
		rec.CreatedAt = old.CreatedAt
		return s.cfg.Store.SwapCluster(ctx, "", rec)
	})
	s.auditToken(c, audit.EventTokenCreated, cluster, fingerprint(hash), err)
	if err != nil {
		return writeError(c, err)
	}
	logging.FromContext(c.Request().Context()).Info("executor token created", logging.KeyCluster, cluster, "token", fingerprint(hash))
	return c.JSON(http.StatusCreated, contracts.ClusterToken{Cluster: cluster, Token: token})
}

// rotateToken gives a registered cluster a new token; the old one stops
// working at once and its streams close on every replica.
func (s *Server) rotateToken(c echo.Context) error {
	cluster, err := s.tokenAdmin(c, audit.EventTokenRotated)
	if err != nil {
		return writeError(c, err)
	}
	token, hash, err := s.issue(c, cluster, func(ctx context.Context, now time.Time, hash string) error {
		return s.swap(ctx, cluster, func(old store.ClusterRecord) store.ClusterRecord {
			return store.ClusterRecord{ID: cluster, TokenHash: hash, CreatedAt: old.CreatedAt, UpdatedAt: now}
		})
	})
	if err == nil {
		err = s.broadcastRevoke(c, cluster)
	}
	s.auditToken(c, audit.EventTokenRotated, cluster, fingerprint(hash), err)
	if err != nil {
		return writeError(c, err)
	}
	logging.FromContext(c.Request().Context()).Info("executor token rotated", logging.KeyCluster, cluster, "token", fingerprint(hash))
	return c.JSON(http.StatusOK, contracts.ClusterToken{Cluster: cluster, Token: token})
}

// revokeToken leaves a cluster registered with no working token and closes
// its streams on every replica. Revoking a revoked cluster is no error (the
// broadcast is repeated, which is harmless).
func (s *Server) revokeToken(c echo.Context) error {
	cluster, err := s.tokenAdmin(c, audit.EventTokenRevoked)
	if err != nil {
		return writeError(c, err)
	}
	ctx, cancel := context.WithTimeout(c.Request().Context(), s.cfg.StoreTimeout)
	defer cancel()
	now := time.Now().UTC()
	revokedAt, oldHash := now, ""
	err = s.swap(ctx, cluster, func(old store.ClusterRecord) store.ClusterRecord {
		oldHash = old.TokenHash
		if old.Revoked() {
			revokedAt = *old.RevokedAt
			return old
		}
		return store.ClusterRecord{ID: cluster, CreatedAt: old.CreatedAt, UpdatedAt: now, RevokedAt: &now}
	})
	if err == nil {
		err = s.broadcastRevoke(c, cluster)
	}
	s.auditToken(c, audit.EventTokenRevoked, cluster, fingerprint(oldHash), err)
	if err != nil {
		return writeError(c, err)
	}
	logging.FromContext(ctx).Info("executor token revoked", logging.KeyCluster, cluster, "token", fingerprint(oldHash))
	return c.JSON(http.StatusOK, contracts.TokenRevocation{Cluster: cluster, RevokedAt: revokedAt.UTC()})
}

// issue generates a token and stores its hash through write (within
// StoreTimeout); it returns the token and its hash, or the wire error.
func (s *Server) issue(c echo.Context, cluster string, write func(ctx context.Context, now time.Time, hash string) error) (token, hash string, err error) {
	token, err = newToken()
	if err != nil {
		return "", "", contracts.Errorf(contracts.CodeInternal, "cannot generate a token")
	}
	hash = auth.HashToken(token)
	ctx, cancel := context.WithTimeout(c.Request().Context(), s.cfg.StoreTimeout)
	defer cancel()
	if err := write(ctx, time.Now().UTC(), hash); err != nil {
		if _, ok := errors.AsType[*contracts.Error](err); ok {
			return "", "", err
		}
		return "", "", registryError(cluster, err)
	}
	return token, hash, nil
}

// swap replaces a registered cluster's record with next(current) by
// compare-and-set on the token hash, re-reading and retrying when another
// admin got in between. next returning its argument unchanged writes
// nothing.
func (s *Server) swap(ctx context.Context, cluster string, next func(store.ClusterRecord) store.ClusterRecord) error {
	var err error
	for range swapAttempts {
		var old store.ClusterRecord
		if old, err = s.cfg.Store.GetCluster(ctx, cluster); err != nil {
			return registryError(cluster, err)
		}
		rec := next(old)
		if rec.TokenHash == old.TokenHash && rec.Revoked() == old.Revoked() {
			return nil
		}
		if err = s.cfg.Store.SwapCluster(ctx, old.TokenHash, rec); !errors.Is(err, store.ErrConflict) {
			break
		}
	}
	if err != nil {
		return registryError(cluster, err)
	}
	return nil
}

// broadcastRevoke closes the cluster's streams on this replica and tells
// every replica to do the same. The registry already refuses the old
// token, so a lost broadcast leaves streams open but no new one; it is
// reported as 503 so that the admin retries (revoke is idempotent).
func (s *Server) broadcastRevoke(c echo.Context, cluster string) error {
	ctx := c.Request().Context()
	n := s.cfg.Hub.Revoke(cluster)
	subj, err := contracts.BridgeRevokeSubject(cluster)
	if err == nil {
		err = s.cfg.Conn.Publish(subj, nil)
	}
	if err == nil {
		err = s.cfg.Conn.FlushTimeout(s.cfg.StoreTimeout)
	}
	if err != nil {
		s.metrics.natsErrors.WithLabelValues(subjectPrefix(contracts.BridgeRevokeWildcard), string(contracts.CodeUnavailable)).Inc()
		logging.FromContext(ctx).Error("revocation broadcast failed; other replicas keep the cluster's open streams", logging.KeyCluster, cluster, logging.KeyErr, err)
		return contracts.Errorf(contracts.CodeUnavailable, "the token was changed in the registry, but the other gateway replicas could not be told to close the cluster's open streams; retry the revoke")
	}
	logging.FromContext(ctx).Info("revocation broadcast", logging.KeyCluster, cluster, "local_streams_closed", n)
	return nil
}

// recheckExecutor re-reads the registry for a stream that has just
// registered with the hub and refuses it (401) if the token it
// authenticated with is no longer the cluster's: a revocation that landed
// between executorAuth and the hub registration (which the hub could not
// close yet) is caught here.
func (s *Server) recheckExecutor(ctx context.Context, c echo.Context) error {
	cluster := clusterOf(c)
	hash, _ := c.Get(ctxTokenHash).(string)
	ctx, cancel := context.WithTimeout(ctx, s.cfg.StoreTimeout)
	rec, err := s.cfg.Store.GetCluster(ctx, cluster)
	cancel()
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return contracts.Errorf(contracts.CodeUnavailable, "cluster registry unavailable")
	}
	if err != nil || hash == "" || rec.TokenHash != hash {
		logging.FromContext(ctx).Warn("executor token revoked while connecting", logging.KeyCluster, cluster)
		return contracts.Errorf(contracts.CodeUnauthorized, "invalid executor credentials")
	}
	return nil
}
