package fleet

import (
	"context"
	"slices"

	"k8s.io/apimachinery/pkg/labels"

	"kubently.io/libs/contracts"
	"kubently.io/libs/store"
)

// Registry is what Select reads of the store.
type Registry interface {
	ListClusters(ctx context.Context) ([]store.ClusterRecord, error)
	ListClusterLabels(ctx context.Context) (map[string]map[string]string, error)
}

// ParseSelector parses a label selector in the Kubernetes syntax; a bad
// one is a 400 bad_request naming the problem.
func ParseSelector(s string) (labels.Selector, error) {
	if len(s) > contracts.MaxSelectorLen {
		return nil, contracts.Errorf(contracts.CodeBadRequest, "selector is %d bytes: at most %d", len(s), contracts.MaxSelectorLen)
	}
	sel, err := labels.Parse(s)
	if err != nil {
		return nil, contracts.Errorf(contracts.CodeBadRequest, "invalid selector %q: %v", s, err)
	}
	return sel, nil
}

// Select returns the clusters t reaches, sorted and without duplicates.
//
// A selector picks the registered clusters whose labels match it among
// those visible(id) allows (the caller's cluster scopes): clusters out of
// scope are left out, as GET /v1/clusters leaves them out. A list is
// taken as given (deduplicated): a cluster in it that is unknown or out
// of scope gets its own outcome (unreachable, denied) from the job, so
// the caller learns of it. No cluster, or more than
// contracts.MaxFleetClusters, is a 400 bad_request.
func Select(ctx context.Context, reg Registry, t contracts.FleetTarget, visible func(id string) bool) ([]string, error) {
	if err := t.Validate(); err != nil {
		return nil, err
	}
	if len(t.Clusters) > 0 {
		out := slices.Clone(t.Clusters)
		slices.Sort(out)
		return slices.Compact(out), nil
	}
	sel, err := ParseSelector(t.Selector)
	if err != nil {
		return nil, err
	}
	recs, err := reg.ListClusters(ctx)
	if err != nil {
		return nil, contracts.Errorf(contracts.CodeUnavailable, "cluster registry unavailable: %v", err)
	}
	all, err := reg.ListClusterLabels(ctx)
	if err != nil {
		return nil, contracts.Errorf(contracts.CodeUnavailable, "cluster labels unavailable: %v", err)
	}
	var out []string
	for _, r := range recs {
		if visible(r.ID) && sel.Matches(labels.Set(all[r.ID])) {
			out = append(out, r.ID)
		}
	}
	switch {
	case len(out) == 0:
		return nil, contracts.Errorf(contracts.CodeBadRequest, "selector %q matches no cluster you can reach", t.Selector)
	case len(out) > contracts.MaxFleetClusters:
		return nil, contracts.Errorf(contracts.CodeBadRequest, "selector %q matches %d clusters: at most %d per fan-out; narrow it", t.Selector, len(out), contracts.MaxFleetClusters)
	}
	return out, nil
}
