package policy

import (
	"context"
	"strings"
	"testing"
)

// FuzzScopedNeverClusterScoped checks, on arbitrary argv, that a caller
// limited to namespace shop never gets a command through the scope check
// that (a) spans all namespaces or another namespace, (b) reads no
// namespace (version, api-resources) or (c) names, in a place kubectl
// reads as a type, a cluster-scoped kind of the cluster's discovery or a
// kind discovery does not list. The type positions and the kind spellings
// are found without the parser's Types or the resolver (typePositions,
// clusterScopedSpelling).
func FuzzScopedNeverClusterScoped(f *testing.F) {
	// testdata/seeds.txt holds lines that try to reach cluster-scoped
	// objects from a namespace scope.
	for _, line := range readSeeds(f) {
		f.Add(strings.Join(strings.Fields(line), argvSep))
	}
	for _, c := range readCorpus(f) {
		if argv, err := SplitLine(c.line); err == nil {
			f.Add(strings.Join(argv, argvSep))
		}
	}
	res := NewDiscoveryResolver(testDiscovery)
	ctx := WithScope(context.Background(), &Scope{Namespaces: []string{"shop"}})
	f.Fuzz(func(t *testing.T, joined string) {
		argv := strings.Split(joined, argvSep)
		d := CheckScope(ctx, argv, res)
		if !d.Allowed {
			if d.Message == "" {
				t.Fatalf("CheckScope(%q) = %+v: a denial without a message", argv, d)
			}
			return
		}
		cmd, _, ok := Parse(argv)
		if !ok {
			t.Fatalf("CheckScope accepted %q, which does not parse", argv)
		}
		if cmd.AllNamespaces || (cmd.Namespace != "shop") {
			t.Fatalf("CheckScope accepted %q outside namespace shop", argv)
		}
		if cmd.key() == "top node" {
			t.Fatalf("CheckScope accepted %q: node metrics are cluster-scoped", argv)
		}
		for _, s := range typePositions(cmd) {
			if why := clusterScopedSpelling(s); why != "" {
				t.Fatalf("CheckScope accepted %q with the type %q (%s)", argv, s, why)
			}
		}
	})
}

// clusterScopedSpelling says why s, read by kubectl as a type, must not
// pass a namespace scope with testDiscovery: it names a cluster-scoped
// kind ("nodes", "FlowSchema.v1.flowcontrol.apiserver.k8s.io") or no
// kind at all. Categories pass (their cluster-scoped members are left
// out). It is written without the resolver: by comparing s with every
// spelling of every kind.
func clusterScopedSpelling(s string) string {
	s = strings.ToLower(s)
	known := false
	for _, r := range testDiscovery {
		for _, c := range r.Categories {
			if s == c {
				return ""
			}
		}
		names := append([]string{r.Resource, r.Singular, strings.ToLower(r.Kind)}, r.ShortNames...)
		for _, n := range names {
			if n == "" {
				continue
			}
			spellings := []string{n + "." + r.Group, n + "." + r.Version + "." + r.Group}
			if r.Group == "" {
				spellings = append(spellings, n, n+".", n+"."+r.Version, n+".core", n+"."+r.Version+".core")
			}
			for _, sp := range spellings {
				if s != sp && s != strings.TrimSuffix(sp, ".") {
					continue
				}
				if !r.Namespaced {
					return "cluster-scoped " + r.Resource + "." + r.Group
				}
				known = true
			}
		}
		// A bare name matches the first kind in discovery order.
		if !strings.Contains(s, ".") {
			for _, n := range names {
				if n != "" && s == n {
					if r.Namespaced {
						return ""
					}
					return "cluster-scoped " + r.Resource
				}
			}
		}
	}
	if !known {
		return "unknown to discovery"
	}
	return ""
}
