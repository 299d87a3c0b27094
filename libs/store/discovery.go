package store

import (
	"context"

	"kubently.io/libs/contracts"
)

// Discovery keeps the latest discovery summary of each cluster (the
// resource types it serves, as its executor published them), so that the
// dispatcher can resolve the types of commands from namespace-scoped
// callers without asking the cluster. A summary is kept until replaced.
type Discovery interface {
	// PutDiscovery stores d as cluster's summary, replacing any other.
	// d must be valid (contracts.ExecutorDiscovery.Validate); ErrInvalid
	// otherwise.
	PutDiscovery(ctx context.Context, cluster string, d contracts.ExecutorDiscovery) error
	// DiscoveryHash returns the Hash of cluster's stored summary, a cheap
	// read for a caller that caches summaries; ErrNotFound if none.
	DiscoveryHash(ctx context.Context, cluster string) (string, error)
	// GetDiscovery returns cluster's stored summary; ErrNotFound if none.
	GetDiscovery(ctx context.Context, cluster string) (contracts.ExecutorDiscovery, error)
}
