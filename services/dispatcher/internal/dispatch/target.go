package dispatch

import (
	"context"

	"kubently.io/libs/policy"
)

// defaultNamespace is the namespace a namespaced command without -n reads.
const defaultNamespace = "default"

// scopeTarget returns the namespace a parsed command acts on for the
// caller's scope check, and whether it spans all namespaces (-A): the
// command's -n (default "default"), or "" when every type it reads
// resolves, with policy.StaticResolver, to a cluster-scoped resource. A
// command that reads no resource types (version, api-resources, explain,
// auth can-i, cluster-info) is unnamespaced too, so a caller limited to
// some namespaces may not run it (authz denies unnamespaced requests to
// namespace-scoped identities). Types the static table does not know are
// taken as namespaced, the safe side for the check.
func scopeTarget(ctx context.Context, cmd *policy.Command) (ns string, allNamespaces bool) {
	if cmd.AllNamespaces {
		return "", true
	}
	if clusterScoped(ctx, cmd.Types) {
		return "", false
	}
	if cmd.Namespace != "" {
		return cmd.Namespace, false
	}
	return defaultNamespace, false
}

// clusterScoped reports whether every type resolves to cluster-scoped
// resources only (vacuously true for no types).
func clusterScoped(ctx context.Context, types []policy.TypeRef) bool {
	for _, t := range types {
		rs, err := policy.StaticResolver.ResolveType(ctx, t.Spelling)
		if err != nil || len(rs) == 0 {
			return false
		}
		for _, r := range rs {
			if r.Namespaced {
				return false
			}
		}
	}
	return true
}
