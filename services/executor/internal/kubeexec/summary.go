package kubeexec

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"k8s.io/apimachinery/pkg/runtime/schema"

	"kubently.io/libs/contracts"
)

// DiscoverySummary asks the API server (not the cache) which resource
// types the cluster serves and returns them as a summary for the gateway
// (contracts.ExecutorDiscovery): each resource of each group once, in the
// first (preferred) version that serves it, the core group first, without
// subresources. Names the summary format cannot carry are left out, as
// are resources beyond contracts.MaxDiscoveryResources. When the summary
// differs from the previous one this Runner computed, the Runner's own
// discovery cache is dropped too, so that its checks see the change (a
// CRD added or removed) at once.
func (r *Runner) DiscoverySummary(ctx context.Context) (contracts.ExecutorDiscovery, error) {
	dc, err := r.freshDiscovery()
	if err != nil {
		return contracts.ExecutorDiscovery{}, err
	}
	groups, lists, err := dc.ServerGroupsAndResourcesWithContext(ctx)
	if err != nil && len(lists) == 0 {
		return contracts.ExecutorDiscovery{}, fmt.Errorf("discovery: %w", err)
	}
	byGV := map[string][]contracts.DiscoveryResource{}
	for _, l := range lists {
		if l == nil {
			continue
		}
		gv, err := schema.ParseGroupVersion(l.GroupVersion)
		if err != nil {
			continue
		}
		for _, res := range l.APIResources {
			if strings.Contains(res.Name, "/") {
				continue // a subresource
			}
			d := contracts.DiscoveryResource{
				Group: gv.Group, Version: gv.Version, Resource: res.Name, Singular: res.SingularName, Kind: res.Kind,
				ShortNames: capNames(res.ShortNames), Categories: capNames(res.Categories), Namespaced: res.Namespaced,
				Verbs: capNames(res.Verbs),
			}
			if contracts.NewExecutorDiscovery([]contracts.DiscoveryResource{d}).Validate() != nil {
				continue
			}
			byGV[l.GroupVersion] = append(byGV[l.GroupVersion], d)
		}
	}
	var out []contracts.DiscoveryResource
	seen := map[schema.GroupResource]bool{}
	for _, g := range groups {
		for _, v := range g.Versions {
			for _, d := range byGV[v.GroupVersion] {
				gr := schema.GroupResource{Group: d.Group, Resource: d.Resource}
				if seen[gr] || len(out) >= contracts.MaxDiscoveryResources {
					continue
				}
				seen[gr] = true
				out = append(out, d)
			}
		}
	}
	sum := contracts.NewExecutorDiscovery(out)
	r.refreshMu.Lock()
	changed := r.lastSummary != "" && r.lastSummary != sum.Hash
	r.lastSummary = sum.Hash
	r.refreshMu.Unlock()
	if changed {
		r.resetter.ResetWithContext(ctx)
		r.resolved.drop()
	}
	return sum, nil
}

// capNames bounds a list of names for a summary.
func capNames(names []string) []string {
	if len(names) > contracts.MaxDiscoveryNames {
		names = names[:contracts.MaxDiscoveryNames]
	}
	return slices.Clone(names)
}

// DiscoveryChanged is signalled when the Runner dropped its discovery
// cache because a command named a type it did not know (perhaps a new
// CRD), so that the summary can be published again soon.
func (r *Runner) DiscoveryChanged() <-chan struct{} { return r.changed }
