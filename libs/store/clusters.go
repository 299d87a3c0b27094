package store

import (
	"context"
	"time"
)

// ClusterRecord is one registered cluster: the executor token is kept only
// as a SHA-256 hash. A revoked cluster stays registered (so that its
// commands fail with executor_unavailable rather than unknown_cluster, and
// so that KUBENTLY_AGENT_TOKENS cannot re-register it) with no token hash:
// no token matches it until a new one is issued.
type ClusterRecord struct {
	// ID is the cluster id.
	ID string `json:"cluster_id"`
	// TokenHash is the hex SHA-256 of the executor token; empty exactly
	// when the token is revoked (RevokedAt is set).
	TokenHash string `json:"token_hash"`
	// CreatedAt is when the cluster was first registered.
	CreatedAt time.Time `json:"created_at"`
	// UpdatedAt is when the token last changed.
	UpdatedAt time.Time `json:"updated_at"`
	// RevokedAt is when the token was revoked; nil while the cluster has
	// a token.
	RevokedAt *time.Time `json:"revoked_at,omitempty"`
}

// Revoked reports whether the cluster's token was revoked (no token
// works).
func (c ClusterRecord) Revoked() bool { return c.RevokedAt != nil }

// Clusters is the registry of clusters and their executor token hashes.
// A cluster exists in Kubently exactly when it is registered here.
type Clusters interface {
	// PutCluster registers a cluster or replaces its token hash.
	PutCluster(ctx context.Context, c ClusterRecord) error
	// CreateCluster registers a cluster that is not registered yet, in one
	// atomic step; ErrExists if it is (revoked or not).
	CreateCluster(ctx context.Context, c ClusterRecord) error
	// SwapCluster replaces the record of c.ID with c only if its stored
	// token hash still equals oldTokenHash ("" for a revoked cluster), in
	// one atomic step: a compare-and-set, so that two admins rotating at
	// once cannot both believe their token works. ErrNotFound if the
	// cluster is not registered, ErrConflict if its token hash differs.
	SwapCluster(ctx context.Context, oldTokenHash string, c ClusterRecord) error
	// GetCluster returns a registered cluster; ErrNotFound if none.
	GetCluster(ctx context.Context, id string) (ClusterRecord, error)
	// ListClusters returns every registered cluster, sorted by id.
	ListClusters(ctx context.Context) ([]ClusterRecord, error)
	// DeleteCluster unregisters a cluster; ErrNotFound if none.
	DeleteCluster(ctx context.Context, id string) error
}
