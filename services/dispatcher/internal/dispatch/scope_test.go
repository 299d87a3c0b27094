package dispatch

import (
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"

	"kubently.io/libs/contracts"
	"kubently.io/libs/policy"
)

// onlineDiscovery is the online cluster's summary: a namespaced and a
// cluster-scoped CRD in category all, and kinds the static table does not
// know.
func onlineDiscovery(widgetsNamespaced bool) contracts.ExecutorDiscovery {
	return contracts.NewExecutorDiscovery([]contracts.DiscoveryResource{
		{Version: "v1", Resource: "pods", Singular: "pod", Kind: "Pod", ShortNames: []string{"po"}, Categories: []string{"all"}, Namespaced: true},
		{Version: "v1", Resource: "nodes", Singular: "node", Kind: "Node", ShortNames: []string{"no"}},
		{Group: "flowcontrol.apiserver.k8s.io", Version: "v1", Resource: "flowschemas", Singular: "flowschema", Kind: "FlowSchema"},
		{Group: "metrics.k8s.io", Version: "v1beta1", Resource: "nodes", Kind: "NodeMetrics"},
		{Group: "example.com", Version: "v1", Resource: "widgets", Singular: "widget", Kind: "Widget", Categories: []string{"all"}, Namespaced: widgetsNamespaced},
		{Group: "example.com", Version: "v1", Resource: "clusterwidgets", Singular: "clusterwidget", Kind: "ClusterWidget", ShortNames: []string{"cwd"}, Categories: []string{"all"}},
	})
}

// TestScopeByDiscovery: a caller limited to namespaces is judged on the
// cluster's discovery — cluster-scoped kinds the static table does not
// know and unknown kinds are refused, categories pass — and its scope goes
// to the executor with the command; an unscoped caller is judged as
// before and sends no scope. A new summary replaces the cached one.
func TestScopeByDiscovery(t *testing.T) {
	e := newEnv(t, nil)
	if err := e.st.PutDiscovery(t.Context(), online, onlineDiscovery(true)); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	scopes := map[string]*contracts.CommandScope{}
	e.setRun(func(cmd contracts.Command) (contracts.ExecutorResult, bool) {
		mu.Lock()
		scopes[cmd.ID] = cmd.Scope
		mu.Unlock()
		return contracts.ExecutorResult{CommandID: cmd.ID, Outcome: contracts.Outcome{Status: contracts.StatusSuccess, Output: "ok\n"}}, true
	})
	shop := &contracts.CommandScope{Namespaces: []string{"shop"}}
	tests := []struct {
		name   string
		in     contracts.ExecuteRequest
		reason policy.Reason // "" for success
		scope  *contracts.CommandScope
	}{
		{"flowschemas by name", request(shopOp, online, "get", "flowschemas", "x", "-n", "shop"), policy.ReasonClusterScoped, nil},
		{"in a list", request(shopOp, online, "get", "pods,flowschemas", "-n", "shop"), policy.ReasonClusterScoped, nil},
		{"cluster-scoped CRD type/name", request(shopOp, online, "get", "cwd/c1", "-n", "shop"), policy.ReasonClusterScoped, nil},
		{"node metrics", request(shopOp, online, "get", "nodes.metrics.k8s.io", "-n", "shop"), policy.ReasonClusterScoped, nil},
		{"top node", request(shopOp, online, "top", "node"), policy.ReasonClusterScoped, nil},
		{"unknown type", request(shopOp, online, "get", "gizmos", "-n", "shop"), policy.ReasonUnknownType, nil},
		{"namespaced CRD", request(shopOp, online, "get", "widgets", "-n", "shop"), "", shop},
		{"all", request(shopOp, online, "get", "all", "-n", "shop"), "", shop},
		{"unscoped caller", request(operator, online, "get", "flowschemas"), "", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err, _ := e.exec(t, tt.in)
			if tt.reason != "" {
				if err == nil || err.Code != contracts.CodeForbidden || err.Reason != string(tt.reason) {
					t.Fatalf("got %s %s; want forbidden/%s", res.Status, fmtErr(err), tt.reason)
				}
				return
			}
			if err != nil || res.Status != contracts.StatusSuccess {
				t.Fatalf("got %s %s; want success", res.Status, fmtErr(err))
			}
			mu.Lock()
			got := scopes[res.CommandID]
			mu.Unlock()
			if d := cmp.Diff(tt.scope, got); d != "" {
				t.Errorf("command scope (-want +got):\n%s", d)
			}
		})
	}

	// The cluster's discovery changes: widgets became cluster-scoped.
	if err := e.st.PutDiscovery(t.Context(), online, onlineDiscovery(false)); err != nil {
		t.Fatal(err)
	}
	if _, err, _ := e.exec(t, request(shopOp, online, "get", "widgets", "-n", "shop")); err == nil || err.Reason != string(policy.ReasonClusterScoped) {
		t.Errorf("after the change: %s; want forbidden/%s", fmtErr(err), policy.ReasonClusterScoped)
	}
}

// TestScopeWithoutDiscovery: before a cluster published its discovery, a
// scoped caller may use the built-in types only.
func TestScopeWithoutDiscovery(t *testing.T) {
	e := newEnv(t, nil)
	if _, err, _ := e.exec(t, request(shopOp, online, "get", "pods", "-n", "shop")); err != nil {
		t.Errorf("get pods -n shop: %s; want success", fmtErr(err))
	}
	if _, err, _ := e.exec(t, request(shopOp, online, "get", "flowschemas", "-n", "shop")); err == nil || err.Reason != string(policy.ReasonUnknownType) {
		t.Errorf("get flowschemas -n shop: %s; want forbidden/%s", fmtErr(err), policy.ReasonUnknownType)
	}
	if _, err, _ := e.exec(t, request(operator, online, "get", "flowschemas")); err != nil {
		t.Errorf("unscoped get flowschemas: %s; want success", fmtErr(err))
	}
}
