package kubeexec

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"kubently.io/libs/policy"
)

// target is one resource type of a command with the names asked for.
type target struct {
	mapping *meta.RESTMapping
	names   []string // empty: every object matching the selectors
}

// resourceArgs is a kubectl resource argument list split the way
// cli-runtime's resource.Builder splits it, before any discovery.
type resourceArgs struct {
	// tuples are type/name pairs ("pod/x", or "pods,svc x" expanded).
	tuples [][2]string
	// types is the comma-separated type list of the first argument.
	types []string
	// names are the names following the type list.
	names []string
}

// singleItem reports whether the arguments name exactly one object, in
// which case -o json/yaml print that object rather than a List.
func (a resourceArgs) singleItem() bool {
	if len(a.tuples) > 0 {
		return len(a.tuples) == 1
	}
	return len(a.names) == 1
}

// parseResourceArgs applies kubectl's rules for "TYPE[,TYPE...] [NAME...]"
// and "TYPE/NAME ..." arguments: the policy's own, so that the policy
// refuses exactly what cannot be parsed here.
func parseResourceArgs(args []string) (resourceArgs, error) {
	ra, err := policy.ParseResourceArgs(args)
	if err != nil {
		return resourceArgs{}, err
	}
	return resourceArgs{tuples: ra.Tuples, types: ra.Types, names: ra.Names}, nil
}

// resolve maps parsed arguments to targets, expanding categories such as
// "all" in the type list. Consecutive tuples of one type share a target.
func (r *Runner) resolve(ctx context.Context, ra resourceArgs) ([]target, error) {
	var out []target
	if len(ra.tuples) > 0 {
		for _, t := range ra.tuples {
			m, err := r.mappingFor(ctx, t[0])
			if err != nil {
				return nil, err
			}
			if n := len(out); n > 0 && out[n-1].mapping.Resource == m.Resource {
				out[n-1].names = append(out[n-1].names, t[1])
				continue
			}
			out = append(out, target{mapping: m, names: []string{t[1]}})
		}
		return out, nil
	}
	var types []string
	for _, t := range ra.types {
		if grs := r.expandCategory(ctx, t); len(grs) > 0 {
			for _, gr := range grs {
				types = append(types, gr.String())
			}
			continue
		}
		types = append(types, t)
	}
	if len(ra.names) > 0 && len(types) > 1 {
		return nil, errors.New("you must specify only one resource")
	}
	seen := map[schema.GroupVersionResource]bool{}
	for _, t := range types {
		m, err := r.mappingFor(ctx, t)
		if err != nil {
			return nil, err
		}
		if seen[m.Resource] {
			continue
		}
		seen[m.Resource] = true
		out = append(out, target{mapping: m, names: ra.names})
	}
	return out, nil
}

// expandCategory returns the resources in category (such as "all"), in
// discovery order: the core group first, then the other groups in the
// server's order, versions by preference, as kubectl lists them. It
// returns nil when name is not a category. For a caller limited to
// namespaces (policy.ScopeFrom) it leaves out cluster-scoped members.
func (r *Runner) expandCategory(ctx context.Context, name string) []schema.GroupResource {
	members, ok := r.resolved.category(name)
	if !ok {
		if r.discovery == nil {
			return nil
		}
		members = r.categoryMembers(ctx, name)
		r.resolved.putCategory(name, members)
	}
	var out []schema.GroupResource
	scoped := policy.ScopeFrom(ctx) != nil
	for _, m := range members {
		if r.restricts(m.gr) || (scoped && !m.namespaced) {
			// Restricted, whatever category a server puts it in; or
			// out of a namespace scope.
			continue
		}
		out = append(out, m.gr)
	}
	return out
}

// categoryMembers asks discovery for the resources in category name, in
// expandCategory's order, each once.
func (r *Runner) categoryMembers(ctx context.Context, name string) []categoryMember {
	groups, lists, _ := r.discovery.ServerGroupsAndResourcesWithContext(ctx)
	byGV := make(map[string]*metav1.APIResourceList, len(lists))
	for _, l := range lists {
		if l != nil {
			byGV[l.GroupVersion] = l
		}
	}
	var out []categoryMember
	seen := map[schema.GroupResource]bool{}
	for _, g := range groups {
		for _, v := range g.Versions {
			l := byGV[v.GroupVersion]
			if l == nil {
				continue
			}
			for _, res := range l.APIResources {
				if !slices.Contains(res.Categories, name) {
					continue
				}
				gr := schema.GroupResource{Group: g.Name, Resource: res.Name}
				if !seen[gr] {
					seen[gr] = true
					out = append(out, categoryMember{gr: gr, namespaced: res.Namespaced})
				}
			}
		}
	}
	return out
}

// mappingFor resolves a resource argument ("po", "deployments.apps",
// "deployment.v1.apps", "Deployment", a CRD's short name) to its REST
// mapping. When the type is unknown it refreshes discovery once, rate
// limited, so that CRDs created after the cache was filled are found.
//
// A resource the policy profile restricts is refused here, whatever
// spelling named it: this is where the executor sees the real kind.
func (r *Runner) mappingFor(ctx context.Context, arg string) (*meta.RESTMapping, error) {
	m, err := r.resolveMapping(ctx, arg)
	if err != nil {
		return nil, err
	}
	if err := r.checkMapping(ctx, arg, m); err != nil {
		return nil, err
	}
	return m, nil
}

// resolveMapping is mappingFor without the policy check.
func (r *Runner) resolveMapping(ctx context.Context, arg string) (*meta.RESTMapping, error) {
	if m, ok := r.resolved.mapping(arg); ok {
		return m, nil
	}
	m, unknown, err := r.lookupMapping(ctx, arg)
	if unknown && r.refreshDiscovery(ctx) {
		m, _, err = r.lookupMapping(ctx, arg)
	}
	if err == nil {
		r.resolved.putMapping(arg, m)
	}
	return m, err
}

// lookupMapping follows the steps of cli-runtime's Builder.mappingFor: try
// the argument as a resource, then as a kind. unknown reports that discovery
// does not know the type (as opposed to discovery failing).
func (r *Runner) lookupMapping(ctx context.Context, arg string) (m *meta.RESTMapping, unknown bool, err error) {
	fullySpecifiedGVR, groupResource := schema.ParseResourceArg(arg)
	var gvk schema.GroupVersionKind
	if fullySpecifiedGVR != nil {
		gvk, _ = r.mapper.KindForWithContext(ctx, *fullySpecifiedGVR)
	}
	if gvk.Empty() {
		gvk, _ = r.mapper.KindForWithContext(ctx, groupResource.WithVersion(""))
	}
	if !gvk.Empty() {
		m, err := r.mapper.RESTMappingWithContext(ctx, gvk.GroupKind(), gvk.Version)
		return m, meta.IsNoMatchError(err), err
	}

	fullySpecifiedGVK, groupKind := schema.ParseKindArg(arg)
	if fullySpecifiedGVK == nil {
		k := groupKind.WithVersion("")
		fullySpecifiedGVK = &k
	}
	if !fullySpecifiedGVK.Empty() {
		if m, err := r.mapper.RESTMappingWithContext(ctx, fullySpecifiedGVK.GroupKind(), fullySpecifiedGVK.Version); err == nil {
			return m, false, nil
		}
	}
	m, err = r.mapper.RESTMappingWithContext(ctx, groupKind, gvk.Version)
	if err == nil {
		return m, false, nil
	}
	if !meta.IsNoMatchError(err) {
		return nil, false, err
	}
	if groupResource.Group != "" {
		return nil, true, fmt.Errorf("the server doesn't have a resource type %q in group %q", groupResource.Resource, groupResource.Group)
	}
	return nil, true, fmt.Errorf("the server doesn't have a resource type %q", groupResource.Resource)
}

// refreshDiscovery drops the cached discovery data unless that happened
// less than discoveryRefreshInterval ago. It reports whether it did.
func (r *Runner) refreshDiscovery(ctx context.Context) bool {
	r.refreshMu.Lock()
	defer r.refreshMu.Unlock()
	if !r.lastRefresh.IsZero() && time.Since(r.lastRefresh) < discoveryRefreshInterval {
		return false
	}
	r.lastRefresh = time.Now()
	r.resetter.ResetWithContext(ctx)
	r.resolved.drop()
	select {
	case r.changed <- struct{}{}:
	default:
	}
	return true
}

// apiPrefix returns the URL path of a group version: /api/v1 or
// /apis/<group>/<version>.
func apiPrefix(gv schema.GroupVersion) string {
	if gv.Group == "" {
		return "/api/" + gv.Version
	}
	return "/apis/" + gv.Group + "/" + gv.Version
}

// namespaceFor returns the namespace to use in a request for m: ns for
// namespaced resources, "" for cluster-scoped ones.
func namespaceFor(m *meta.RESTMapping, ns string) string {
	if m.Scope.Name() != meta.RESTScopeNameNamespace {
		return ""
	}
	return ns
}

// kindName returns how kubectl names an object of m: "pod/x",
// "deployment.apps/x".
func kindName(m *meta.RESTMapping, name string) string {
	gk := m.GroupVersionKind.GroupKind()
	if gk.Group == "" {
		return strings.ToLower(gk.Kind) + "/" + name
	}
	return strings.ToLower(gk.Kind) + "." + gk.Group + "/" + name
}
