package store

import "context"

// ClusterLabels keeps the labels of registered clusters (env=prod,
// region=eu): set by admins, read to select the clusters of a fleet
// fan-out. Keys and values follow the Kubernetes label rules
// (contracts.ValidateLabel); a cluster has at most
// contracts.MaxClusterLabels. Unregistering a cluster (DeleteCluster)
// drops its labels.
type ClusterLabels interface {
	// LabelCluster sets the labels of set and removes the keys of remove
	// on a registered cluster in one atomic step, and returns its labels
	// after the change. Removing a key that is not there is no error.
	// ErrNotFound if the cluster is not registered; ErrInvalid if a key or
	// value is malformed or the result would have more than
	// contracts.MaxClusterLabels labels (nothing is written then).
	LabelCluster(ctx context.Context, id string, set map[string]string, remove []string) (map[string]string, error)
	// ClusterLabels returns a cluster's labels; an empty map (not nil) if
	// it has none or is not registered.
	ClusterLabels(ctx context.Context, id string) (map[string]string, error)
	// ListClusterLabels returns the labels of every cluster that has
	// some, by cluster id.
	ListClusterLabels(ctx context.Context) (map[string]map[string]string, error)
}
