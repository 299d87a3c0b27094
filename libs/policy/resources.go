package policy

import (
	"context"
	"strings"
)

// Resource is a resource type as the API server knows it.
type Resource struct {
	// Group is the API group; "" for the core group.
	Group string
	// Resource is the lower-case plural name: "pods", "secrets".
	Resource string
	// Namespaced is true for namespaced resources. A resolver that does
	// not know the type says true, so namespace rules apply.
	Namespaced bool
	// Guessed is true when the resolver did not know the type and the
	// fields above were read from its spelling alone.
	Guessed bool
	// Category is true when the spelling named a category ("all") and
	// this is one of its members: for a caller limited to namespaces the
	// cluster-scoped members are left out rather than refused.
	Category bool
}

// String returns "resource" or "resource.group", the way kubectl and the
// policy file name resources.
func (r Resource) String() string {
	if r.Group == "" {
		return r.Resource
	}
	return r.Resource + "." + r.Group
}

// Resolver maps a type as spelled in a command ("po", "deploy",
// "deployments.apps", "Secret", a CRD short name, a category such as
// "all") to the resources it stands for. The executor resolves through the
// cluster's discovery, so policy sees the real kind; the dispatcher uses
// StaticResolver.
type Resolver interface {
	ResolveType(ctx context.Context, spelling string) ([]Resource, error)
}

// ResolverFunc adapts a function to Resolver.
type ResolverFunc func(ctx context.Context, spelling string) ([]Resource, error)

// ResolveType implements Resolver.
func (f ResolverFunc) ResolveType(ctx context.Context, spelling string) ([]Resource, error) {
	return f(ctx, spelling)
}

// builtin describes a resource type every cluster serves.
type builtin struct {
	group, resource string
	namespaced      bool
	names           []string // singular, kind and short names, lower-case
}

// builtins are the built-in types, with kubectl's short names. Each also
// matches its plural, singular and lower-case kind.
var builtins = []builtin{
	{"", "pods", true, []string{"pod", "po"}},
	{"", "services", true, []string{"service", "svc"}},
	{"", "secrets", true, []string{"secret"}},
	{"", "configmaps", true, []string{"configmap", "cm"}},
	{"", "serviceaccounts", true, []string{"serviceaccount", "sa"}},
	{"", "endpoints", true, []string{"ep"}},
	{"", "events", true, []string{"event", "ev"}},
	{"", "limitranges", true, []string{"limitrange", "limits"}},
	{"", "persistentvolumeclaims", true, []string{"persistentvolumeclaim", "pvc"}},
	{"", "podtemplates", true, []string{"podtemplate"}},
	{"", "replicationcontrollers", true, []string{"replicationcontroller", "rc"}},
	{"", "resourcequotas", true, []string{"resourcequota", "quota"}},
	{"", "bindings", true, []string{"binding"}},
	{"", "namespaces", false, []string{"namespace", "ns"}},
	{"", "nodes", false, []string{"node", "no"}},
	{"", "persistentvolumes", false, []string{"persistentvolume", "pv"}},
	{"", "componentstatuses", false, []string{"componentstatus", "cs"}},
	{"apps", "deployments", true, []string{"deployment", "deploy"}},
	{"apps", "replicasets", true, []string{"replicaset", "rs"}},
	{"apps", "statefulsets", true, []string{"statefulset", "sts"}},
	{"apps", "daemonsets", true, []string{"daemonset", "ds"}},
	{"apps", "controllerrevisions", true, []string{"controllerrevision"}},
	{"batch", "jobs", true, []string{"job"}},
	{"batch", "cronjobs", true, []string{"cronjob", "cj"}},
	{"autoscaling", "horizontalpodautoscalers", true, []string{"horizontalpodautoscaler", "hpa"}},
	{"policy", "poddisruptionbudgets", true, []string{"poddisruptionbudget", "pdb"}},
	{"networking.k8s.io", "ingresses", true, []string{"ingress", "ing"}},
	{"networking.k8s.io", "networkpolicies", true, []string{"networkpolicy", "netpol"}},
	{"networking.k8s.io", "ingressclasses", false, []string{"ingressclass"}},
	{"discovery.k8s.io", "endpointslices", true, []string{"endpointslice"}},
	{"coordination.k8s.io", "leases", true, []string{"lease"}},
	{"rbac.authorization.k8s.io", "roles", true, []string{"role"}},
	{"rbac.authorization.k8s.io", "rolebindings", true, []string{"rolebinding"}},
	{"rbac.authorization.k8s.io", "clusterroles", false, []string{"clusterrole"}},
	{"rbac.authorization.k8s.io", "clusterrolebindings", false, []string{"clusterrolebinding"}},
	{"storage.k8s.io", "storageclasses", false, []string{"storageclass", "sc"}},
	{"storage.k8s.io", "csidrivers", false, []string{"csidriver"}},
	{"storage.k8s.io", "csinodes", false, []string{"csinode"}},
	{"storage.k8s.io", "volumeattachments", false, []string{"volumeattachment"}},
	{"apiextensions.k8s.io", "customresourcedefinitions", false, []string{"customresourcedefinition", "crd", "crds"}},
	{"apiregistration.k8s.io", "apiservices", false, []string{"apiservice"}},
	{"admissionregistration.k8s.io", "validatingwebhookconfigurations", false, []string{"validatingwebhookconfiguration"}},
	{"admissionregistration.k8s.io", "mutatingwebhookconfigurations", false, []string{"mutatingwebhookconfiguration"}},
	{"scheduling.k8s.io", "priorityclasses", false, []string{"priorityclass", "pc"}},
	{"node.k8s.io", "runtimeclasses", false, []string{"runtimeclass"}},
	{"certificates.k8s.io", "certificatesigningrequests", false, []string{"certificatesigningrequest", "csr"}},
	{"metrics.k8s.io", "pods", true, nil},
	{"metrics.k8s.io", "nodes", false, nil},
}

// allCategory is what the "all" category stands for on a cluster without
// CRDs that join it: kubectl's usual list. Secrets are never in it.
var allCategory = []string{"pods", "replicationcontrollers", "services", "daemonsets", "deployments", "replicasets", "statefulsets", "horizontalpodautoscalers", "cronjobs", "jobs"}

var builtinIndex = func() map[string][]int {
	idx := map[string][]int{}
	for i, b := range builtins {
		if b.group == "metrics.k8s.io" {
			continue
		}
		for _, n := range append([]string{b.resource}, b.names...) {
			idx[n] = append(idx[n], i)
		}
	}
	return idx
}()

// StaticResolver resolves types from a built-in table of the core
// Kubernetes types and kubectl's short names, without a cluster. A type
// it does not know is returned as spelled (Guessed), namespaced. It is
// what the dispatcher uses; the executor resolves through discovery.
var StaticResolver Resolver = ResolverFunc(staticResolve)

func staticResolve(_ context.Context, spelling string) ([]Resource, error) {
	s := strings.ToLower(strings.TrimSpace(spelling))
	if s == "all" {
		out := make([]Resource, 0, len(allCategory))
		for _, n := range allCategory {
			b := builtins[builtinIndex[n][0]]
			out = append(out, Resource{Group: b.group, Resource: b.resource, Namespaced: b.namespaced, Category: true})
		}
		return out, nil
	}
	name, group := splitTypeSpelling(s)
	for _, i := range builtinIndex[name] {
		b := builtins[i]
		if group == "" || group == b.group || (b.group == "" && group == "core") {
			return []Resource{{Group: b.group, Resource: b.resource, Namespaced: b.namespaced}}, nil
		}
	}
	return []Resource{{Group: group, Resource: name, Namespaced: true, Guessed: true}}, nil
}

// splitTypeSpelling splits "deployments.apps", "deployment.v1.apps",
// "secrets.v1" and "secrets." into resource and group, the way kubectl's
// ParseResourceArg reads them (a version segment is dropped).
func splitTypeSpelling(s string) (name, group string) {
	name, rest, ok := strings.Cut(s, ".")
	if !ok {
		return s, ""
	}
	if v, g, _ := strings.Cut(rest, "."); isVersion(v) {
		rest = g
	}
	return name, strings.Trim(rest, ".")
}

// resourceSet is a set of resources matched by group and name. Entries
// are written "secrets", "configmaps", "sealedsecrets.bitnami.com".
type resourceSet []Resource

// parseResourceSet reads entries like "secrets" or "certificates.cert-manager.io".
func parseResourceSet(entries []string) (resourceSet, error) {
	var out resourceSet
	for _, e := range entries {
		e = strings.ToLower(strings.TrimSpace(e))
		if e == "" || strings.ContainsAny(e, "/ ,*") {
			return nil, &fieldError{field: "resource", value: e, why: `want a plural resource name, optionally with its group: "configmaps", "sealedsecrets.bitnami.com"`}
		}
		name, group := splitTypeSpelling(e)
		// Accept singular and short names of built-ins in the file.
		if rs, _ := staticResolve(context.Background(), e); len(rs) == 1 && !rs[0].Guessed {
			name, group = rs[0].Resource, rs[0].Group
		}
		out = append(out, Resource{Group: group, Resource: name})
	}
	return out, nil
}

// match reports whether r is in the set. A resolved resource must match
// exactly. A guessed one (the static resolver did not know it) matches
// any entry of the same name and, when it named no group, any group; and
// a guessed singular matches a plural entry: at the dispatcher the
// policy errs on the side of denying, and the executor decides exactly.
func (s resourceSet) match(r Resource) (Resource, bool) {
	for _, e := range s {
		if !r.Guessed {
			if e.Group == r.Group && e.Resource == r.Resource {
				return e, true
			}
			continue
		}
		nameMatch := e.Resource == r.Resource || e.Resource == r.Resource+"s" || e.Resource == r.Resource+"es" ||
			(strings.HasSuffix(r.Resource, "y") && e.Resource == strings.TrimSuffix(r.Resource, "y")+"ies")
		if nameMatch && (r.Group == "" || r.Group == e.Group) {
			return e, true
		}
	}
	return Resource{}, false
}
