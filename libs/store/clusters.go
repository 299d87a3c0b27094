package store

import (
	"context"
	"time"
)

// ClusterRecord is one registered cluster: the executor token is kept only
// as a SHA-256 hash.
type ClusterRecord struct {
	// ID is the cluster id.
	ID string `json:"cluster_id"`
	// TokenHash is the hex SHA-256 of the executor token.
	TokenHash string `json:"token_hash"`
	// CreatedAt is when the cluster was first registered.
	CreatedAt time.Time `json:"created_at"`
	// UpdatedAt is when the token last changed.
	UpdatedAt time.Time `json:"updated_at"`
}

// Clusters is the registry of clusters and their executor token hashes.
// A cluster exists in Kubently exactly when it is registered here.
type Clusters interface {
	// PutCluster registers a cluster or replaces its token hash.
	PutCluster(ctx context.Context, c ClusterRecord) error
	// GetCluster returns a registered cluster; ErrNotFound if none.
	GetCluster(ctx context.Context, id string) (ClusterRecord, error)
	// ListClusters returns every registered cluster, sorted by id.
	ListClusters(ctx context.Context) ([]ClusterRecord, error)
	// DeleteCluster unregisters a cluster; ErrNotFound if none.
	DeleteCluster(ctx context.Context, id string) error
}
