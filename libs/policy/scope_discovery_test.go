package policy

import (
	"context"
	"errors"
	"strings"
	"testing"

	"kubently.io/libs/contracts"
)

// testDiscovery is a cluster's discovery summary as an executor publishes
// it: built-in kinds, kinds the static table does not know (FlowSchemas,
// ServiceCIDRs, IPAddresses, node metrics) and two CRDs in category all,
// one namespaced and one cluster-scoped.
var testDiscovery = []contracts.DiscoveryResource{
	{Version: "v1", Resource: "pods", Singular: "pod", Kind: "Pod", ShortNames: []string{"po"}, Categories: []string{"all"}, Namespaced: true},
	{Version: "v1", Resource: "services", Singular: "service", Kind: "Service", ShortNames: []string{"svc"}, Categories: []string{"all"}, Namespaced: true},
	{Version: "v1", Resource: "configmaps", Singular: "configmap", Kind: "ConfigMap", ShortNames: []string{"cm"}, Namespaced: true},
	{Version: "v1", Resource: "events", Singular: "event", Kind: "Event", ShortNames: []string{"ev"}, Namespaced: true},
	{Version: "v1", Resource: "nodes", Singular: "node", Kind: "Node", ShortNames: []string{"no"}},
	{Version: "v1", Resource: "namespaces", Singular: "namespace", Kind: "Namespace", ShortNames: []string{"ns"}},
	{Version: "v1", Resource: "persistentvolumes", Singular: "persistentvolume", Kind: "PersistentVolume", ShortNames: []string{"pv"}},
	{Group: "apps", Version: "v1", Resource: "deployments", Singular: "deployment", Kind: "Deployment", ShortNames: []string{"deploy"}, Categories: []string{"all"}, Namespaced: true},
	{Group: "events.k8s.io", Version: "v1", Resource: "events", Singular: "event", Kind: "Event", ShortNames: []string{"ev"}, Namespaced: true},
	{Group: "flowcontrol.apiserver.k8s.io", Version: "v1", Resource: "flowschemas", Singular: "flowschema", Kind: "FlowSchema"},
	{Group: "flowcontrol.apiserver.k8s.io", Version: "v1", Resource: "prioritylevelconfigurations", Singular: "prioritylevelconfiguration", Kind: "PriorityLevelConfiguration"},
	{Group: "networking.k8s.io", Version: "v1", Resource: "servicecidrs", Singular: "servicecidr", Kind: "ServiceCIDR"},
	{Group: "networking.k8s.io", Version: "v1", Resource: "ipaddresses", Singular: "ipaddress", Kind: "IPAddress", ShortNames: []string{"ip"}},
	{Group: "metrics.k8s.io", Version: "v1beta1", Resource: "nodes", Kind: "NodeMetrics"},
	{Group: "metrics.k8s.io", Version: "v1beta1", Resource: "pods", Kind: "PodMetrics", Namespaced: true},
	{Group: "example.com", Version: "v1", Resource: "widgets", Singular: "widget", Kind: "Widget", ShortNames: []string{"wd"}, Categories: []string{"all"}, Namespaced: true},
	{Group: "example.com", Version: "v1", Resource: "clusterwidgets", Singular: "clusterwidget", Kind: "ClusterWidget", ShortNames: []string{"cwd"}, Categories: []string{"all", "widgets-all"}},
}

func TestDiscoveryResolver(t *testing.T) {
	res := NewDiscoveryResolver(testDiscovery)
	tests := []struct {
		spelling string
		want     string // resource.group and namespaced, space-separated; "" for unknown
	}{
		{"po", "pods true"},
		{"Pod", "pods true"},
		{"pods.v1", "pods true"},
		{"secrets", ""},
		{"events", "events true"},
		{"events.events.k8s.io", "events.events.k8s.io true"},
		{"deployment.v1.apps", "deployments.apps true"},
		{"deploy", "deployments.apps true"},
		{"FlowSchema", "flowschemas.flowcontrol.apiserver.k8s.io false"},
		{"flowschemas.flowcontrol.apiserver.k8s.io", "flowschemas.flowcontrol.apiserver.k8s.io false"},
		{"ip", "ipaddresses.networking.k8s.io false"},
		{"nodes", "nodes false"},
		{"nodes.metrics.k8s.io", "nodes.metrics.k8s.io false"},
		{"nodemetrics", "nodes.metrics.k8s.io false"},
		{"cwd", "clusterwidgets.example.com false"},
		{"widgets.example.com", "widgets.example.com true"},
		{"widgets.other.io", ""},
		{"nosuchthing", ""},
	}
	for _, tt := range tests {
		t.Run(tt.spelling, func(t *testing.T) {
			rs, err := res.ResolveType(context.Background(), tt.spelling)
			if tt.want == "" {
				if !errors.Is(err, ErrUnknownType) {
					t.Fatalf("ResolveType(%q) = %v, %v; want ErrUnknownType", tt.spelling, rs, err)
				}
				return
			}
			if err != nil || len(rs) != 1 {
				t.Fatalf("ResolveType(%q) = %v, %v", tt.spelling, rs, err)
			}
			if got := rs[0].String() + " " + map[bool]string{true: "true", false: "false"}[rs[0].Namespaced]; got != tt.want {
				t.Errorf("ResolveType(%q) = %s; want %s", tt.spelling, got, tt.want)
			}
		})
	}
	all, err := res.ResolveType(context.Background(), "all")
	if err != nil || len(all) != 5 {
		t.Fatalf("ResolveType(all) = %v, %v; want its 5 members", all, err)
	}
	for _, r := range all {
		if !r.Category {
			t.Errorf("member %s of all is not marked Category", r)
		}
	}
}

func TestCheckScope(t *testing.T) {
	res := NewDiscoveryResolver(testDiscovery)
	shop := WithScope(context.Background(), &Scope{Namespaces: []string{"shop"}})
	tests := []struct {
		line   string
		reason Reason // ReasonAllowed or the denial's reason
	}{
		{"get pods -n shop", ReasonAllowed},
		{"get pods", ReasonNamespaceOutOfScope}, // default
		{"get pods -n data", ReasonNamespaceOutOfScope},
		{"get pods -A", ReasonNamespaceOutOfScope},
		{"get all -n shop", ReasonAllowed}, // cluster-scoped members left out
		{"get widgets.example.com -n shop", ReasonAllowed},
		{"get wd/w1 -n shop", ReasonAllowed},
		{"get clusterwidgets -n shop", ReasonClusterScoped},
		{"get cwd c1 -n shop", ReasonClusterScoped},
		{"get clusterwidget/c1 -n shop", ReasonClusterScoped},
		{"get pods,flowschemas -n shop", ReasonClusterScoped},
		{"get flowschemas -n shop", ReasonClusterScoped},
		{"get servicecidrs -n shop", ReasonClusterScoped},
		{"get ipaddresses.networking.k8s.io -n shop", ReasonClusterScoped},
		{"get nodes.metrics.k8s.io -n shop", ReasonClusterScoped},
		{"get nodemetrics -n shop", ReasonClusterScoped},
		{"top node", ReasonClusterScoped},
		{"top pod -n shop", ReasonAllowed},
		{"describe node/x -n shop", ReasonClusterScoped},
		{"events -n shop --for node/x", ReasonClusterScoped},
		{"get gizmos -n shop", ReasonUnknownType},
		{"get pods,gizmos.example.com -n shop", ReasonUnknownType},
		{"version", ReasonNamespaceOutOfScope},
		{"api-resources", ReasonNamespaceOutOfScope},
		{"logs web-1 -n shop", ReasonAllowed},
		{"auth can-i get pods -n shop", ReasonAllowed},
	}
	for _, tt := range tests {
		t.Run(tt.line, func(t *testing.T) {
			argv := strings.Fields(tt.line)
			d := CheckScope(shop, argv, res)
			if d.Reason != tt.reason || d.Allowed != (tt.reason == ReasonAllowed) {
				t.Fatalf("CheckScope(%q) = %+v; want reason %s", tt.line, d, tt.reason)
			}
			// Unscoped callers keep today's behaviour: no scope check.
			if d := CheckScope(context.Background(), argv, res); !d.Allowed {
				t.Errorf("CheckScope(%q) without a scope = %+v; want allowed", tt.line, d)
			}
		})
	}
}

// TestScopedNamespaceStaticFallback: without a cluster's discovery the
// static table decides, and what it only guesses is refused.
func TestScopedNamespaceStaticFallback(t *testing.T) {
	for line, want := range map[string]Reason{
		"get pods -n shop":                ReasonAllowed,
		"get widgets.example.com -n shop": ReasonUnknownType,
		"get nodes -n shop":               ReasonClusterScoped,
		"get all -n shop":                 ReasonAllowed,
	} {
		cmd, d, ok := Parse(strings.Fields(line))
		if !ok {
			t.Fatalf("Parse(%q): %+v", line, d)
		}
		_, _, d, ok = cmd.ScopedNamespace(context.Background(), nil)
		got := ReasonAllowed
		if !ok {
			got = d.Reason
		}
		if got != want {
			t.Errorf("ScopedNamespace(%q) = %s (%s); want %s", line, got, d.Message, want)
		}
	}
}
