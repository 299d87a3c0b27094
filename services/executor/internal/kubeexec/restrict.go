package kubeexec

import (
	"context"
	"fmt"

	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"kubently.io/libs/policy"
)

// denial is a command refused by the policy after its types were resolved
// through discovery: the real kind of "ss" or a CRD short name turned out
// to be restricted.
type denial struct {
	reason policy.Reason
	msg    string
}

func (d *denial) Error() string { return d.msg }

// profile returns the policy profile in force.
func (r *Runner) profile() *policy.Profile {
	if r.profileFn != nil {
		if p := r.profileFn(); p != nil {
			return p
		}
	}
	return policy.Default().Profile("")
}

// restricts reports whether gr is restricted by the profile in force.
func (r *Runner) restricts(gr schema.GroupResource) bool {
	return r.profile().Restricts(policy.Resource{Group: gr.Group, Resource: gr.Resource})
}

// checkMapping refuses a resolved mapping of a restricted resource, and
// for a caller limited to namespaces (policy.ScopeFrom) of a cluster-scoped
// one, and records the denial on the invocation in ctx, so that the Result
// says "denied" whatever the verb does with the error.
func (r *Runner) checkMapping(ctx context.Context, arg string, m *meta.RESTMapping) error {
	gr := m.Resource.GroupResource()
	var d *denial
	switch {
	case r.restricts(gr):
		d = &denial{reason: policy.ReasonRestricted, msg: fmt.Sprintf("resource %q (%s) is restricted by profile %s", arg, gr.String(), r.profile().Name())}
	case policy.ScopeFrom(ctx) != nil && m.Scope.Name() != meta.RESTScopeNameNamespace:
		d = &denial{reason: policy.ReasonClusterScoped, msg: fmt.Sprintf("resource %q (%s) is cluster-scoped; a caller limited to namespaces may read only namespaced resources", arg, gr.String())}
	default:
		return nil
	}
	if inv, ok := ctx.Value(invocationKey{}).(*invocation); ok && inv.denied == nil {
		inv.denied = d
	}
	return d
}

// deny records a policy denial on the invocation and returns it.
func (inv *invocation) deny(reason policy.Reason, msg string) error {
	d := &denial{reason: reason, msg: msg}
	if inv.denied == nil {
		inv.denied = d
	}
	return d
}

// ResolveType implements policy.Resolver through the cluster's discovery:
// aliases, short names, singular and plural forms, kinds and CRDs resolve
// to the resource the Runner would read. A category such as "all"
// resolves to its members, restricted ones left out (the Runner never
// reads them). A type discovery does not know is an error; the policy
// then judges the spelling.
func (r *Runner) ResolveType(ctx context.Context, spelling string) ([]policy.Resource, error) {
	if grs := r.expandCategory(ctx, spelling); len(grs) > 0 {
		out := make([]policy.Resource, 0, len(grs))
		for _, gr := range grs {
			out = append(out, policy.Resource{Group: gr.Group, Resource: gr.Resource, Namespaced: r.namespaced(ctx, gr), Category: true})
		}
		return out, nil
	}
	m, err := r.resolveMapping(ctx, spelling)
	if err != nil {
		return nil, err
	}
	gr := m.Resource.GroupResource()
	return []policy.Resource{{Group: gr.Group, Resource: gr.Resource, Namespaced: m.Scope.Name() == meta.RESTScopeNameNamespace}}, nil
}

// namespaced reports whether gr is namespaced; true when discovery cannot
// say, so that namespace rules apply.
func (r *Runner) namespaced(ctx context.Context, gr schema.GroupResource) bool {
	gvr, err := r.mapper.ResourceForWithContext(ctx, gr.WithVersion(""))
	if err != nil {
		return true
	}
	gvk, err := r.mapper.KindForWithContext(ctx, gvr)
	if err != nil {
		return true
	}
	m, err := r.mapper.RESTMappingWithContext(ctx, gvk.GroupKind(), gvk.Version)
	if err != nil {
		return true
	}
	return m.Scope.Name() == meta.RESTScopeNameNamespace
}
