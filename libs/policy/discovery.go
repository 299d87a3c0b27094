package policy

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"kubently.io/libs/contracts"
)

// DiscoveryResolver resolves types the way kubectl does, from a cluster's
// discovery summary (contracts.ExecutorDiscovery, which each executor
// publishes): a category ("all") to its members; otherwise the plural,
// singular, short name or kind, optionally qualified by group
// ("flowschemas.flowcontrol.apiserver.k8s.io") or version and group
// ("deployment.v1.apps"), the first match in discovery order (the core
// group first). A type the summary does not list is an ErrUnknownType
// error: the dispatcher judges the scope of namespace-limited callers
// with it and fails closed. It is immutable and safe for concurrent use.
type DiscoveryResolver struct {
	resources []contracts.DiscoveryResource
	// byName indexes resources by every lower-case name they answer to.
	byName map[string][]int
	// categories maps a category to its members, in discovery order.
	categories map[string][]int
}

// NewDiscoveryResolver indexes resources (a discovery summary).
func NewDiscoveryResolver(resources []contracts.DiscoveryResource) *DiscoveryResolver {
	d := &DiscoveryResolver{resources: resources, byName: map[string][]int{}, categories: map[string][]int{}}
	for i, r := range resources {
		names := append([]string{r.Resource, r.Singular, strings.ToLower(r.Kind)}, r.ShortNames...)
		seen := map[string]bool{}
		for _, n := range names {
			n = strings.ToLower(n)
			if n == "" || seen[n] {
				continue
			}
			seen[n] = true
			d.byName[n] = append(d.byName[n], i)
		}
		for _, c := range r.Categories {
			c = strings.ToLower(c)
			if !slices.Contains(d.categories[c], i) {
				d.categories[c] = append(d.categories[c], i)
			}
		}
	}
	return d
}

// ResolveType implements Resolver.
func (d *DiscoveryResolver) ResolveType(_ context.Context, spelling string) ([]Resource, error) {
	// No trimming: kubectl knows no type " po", and neither does this.
	s := strings.ToLower(spelling)
	if members := d.categories[s]; len(members) > 0 {
		out := make([]Resource, 0, len(members))
		for _, i := range members {
			r := d.resources[i]
			out = append(out, Resource{Group: r.Group, Resource: r.Resource, Namespaced: r.Namespaced, Category: true})
		}
		return out, nil
	}
	name, group := splitTypeSpelling(s)
	if group == "core" {
		group = ""
	}
	qualified := strings.Contains(s, ".")
	for _, i := range d.byName[name] {
		r := d.resources[i]
		if qualified && group != r.Group {
			continue
		}
		return []Resource{{Group: r.Group, Resource: r.Resource, Namespaced: r.Namespaced}}, nil
	}
	return nil, fmt.Errorf("%w: the cluster does not serve %q", ErrUnknownType, truncate(spelling))
}
