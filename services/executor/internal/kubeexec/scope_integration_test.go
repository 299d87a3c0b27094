package kubeexec_test

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"

	"kubently.io/libs/contracts"
	"kubently.io/libs/policy"
	"kubently.io/libs/testbed"
	"kubently.io/libs/testkit"
	"kubently.io/services/executor/internal/kubeexec"
)

// scopeFixture is a namespace of this run and two CRDs in category all:
// one cluster-scoped (object c1) and one namespaced (object g1 in ns).
type scopeFixture struct {
	ns, group string
	dyn       dynamic.Interface
}

var crdGVR = schema.GroupVersionResource{Group: "apiextensions.k8s.io", Version: "v1", Resource: "customresourcedefinitions"}

func setupScopeFixture(t *testing.T) scopeFixture {
	t.Helper()
	cfg := restConfig(t, testbed.Kubeconfig(t))
	suffix := randomSuffix(t)
	f := scopeFixture{ns: "i13scope-" + suffix, group: "scope" + suffix + ".example.com", dyn: dynamic.NewForConfigOrDie(cfg)}
	cs := kubernetes.NewForConfigOrDie(cfg)
	ctx := context.Background()
	if _, err := cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: f.ns}}, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create namespace: %v", err)
	}
	t.Cleanup(func() { _ = cs.CoreV1().Namespaces().Delete(context.Background(), f.ns, metav1.DeleteOptions{}) })
	f.crd(t, "clusterwidgets", "ClusterWidget", "Cluster", "c1", "")
	f.crd(t, "nsgadgets", "NsGadget", "Namespaced", "g1", f.ns)
	return f
}

// crd creates a CRD of scope in category all and one object of it.
func (f scopeFixture) crd(t *testing.T, plural, kind, scope, object, ns string) {
	t.Helper()
	name := plural + "." + f.group
	crd := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
		"metadata": map[string]any{"name": name},
		"spec": map[string]any{
			"group": f.group, "scope": scope,
			"names": map[string]any{"plural": plural, "singular": strings.ToLower(kind), "kind": kind, "categories": []any{"all"}},
			"versions": []any{map[string]any{
				"name": "v1", "served": true, "storage": true,
				"schema": map[string]any{"openAPIV3Schema": map[string]any{"type": "object", "x-kubernetes-preserve-unknown-fields": true}},
			}},
		},
	}}
	ctx := context.Background()
	if _, err := f.dyn.Resource(crdGVR).Create(ctx, crd, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create CRD %s: %v", name, err)
	}
	t.Cleanup(func() { _ = f.dyn.Resource(crdGVR).Delete(context.Background(), name, metav1.DeleteOptions{}) })
	obj := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": f.group + "/v1", "kind": kind, "metadata": map[string]any{"name": object},
	}}
	gvr := schema.GroupVersionResource{Group: f.group, Version: "v1", Resource: plural}
	testkit.CheckFor(t, 60*time.Second, 200*time.Millisecond, func() error {
		var err error
		if ns == "" {
			_, err = f.dyn.Resource(gvr).Create(ctx, obj, metav1.CreateOptions{})
		} else {
			_, err = f.dyn.Resource(gvr).Namespace(ns).Create(ctx, obj, metav1.CreateOptions{})
		}
		return err
	})
}

// TestIntegrationScope: for a caller limited to namespaces the executor
// reads only namespaced kinds in them, after resolving types through the
// cluster's discovery: the policy re-check (policy.CheckScope with the
// Runner as resolver) refuses cluster-scoped and unknown kinds, the
// Runner refuses them again when it resolves them, and category all
// leaves out its cluster-scoped members. An unscoped caller reads all.
func TestIntegrationScope(t *testing.T) {
	if testing.Short() {
		t.Skip("needs the local testbed (a real kube-apiserver)")
	}
	f := setupScopeFixture(t)
	r, err := kubeexec.New(kubeexec.Config{REST: restConfig(t, testbed.Kubeconfig(t))})
	if err != nil {
		t.Fatal(err)
	}
	scoped := policy.WithScope(context.Background(), &policy.Scope{Namespaces: []string{"shop", f.ns}})
	runScoped := func(argv ...string) kubeexec.Result {
		ctx, cancel := context.WithTimeout(scoped, 30*time.Second)
		defer cancel()
		return r.Run(ctx, argv)
	}
	sum, err := r.DiscoverySummary(context.Background())
	if err != nil {
		t.Fatalf("DiscoverySummary: %v", err)
	}
	served := map[string]contracts.DiscoveryResource{}
	for _, d := range sum.Resources {
		served[d.Resource+"."+d.Group] = d
	}
	if d, ok := served["clusterwidgets."+f.group]; !ok || d.Namespaced || !slices.Contains(d.Categories, "all") {
		t.Errorf("summary has clusterwidgets as %+v (found %v); want cluster-scoped, in all", d, ok)
	}
	if d, ok := served["flowschemas.flowcontrol.apiserver.k8s.io"]; !ok || d.Namespaced {
		t.Errorf("summary has flowschemas as %+v (found %v); want cluster-scoped", d, ok)
	}
	if err := contracts.NewExecutorDiscovery(sum.Resources).Validate(); err != nil {
		t.Errorf("summary does not validate: %v", err)
	}

	cw := "clusterwidgets." + f.group
	denied := [][]string{
		{"get", cw, "-n", "shop"},
		{"get", cw, "c1", "-n", "shop"},
		{"get", "clusterwidget." + f.group + "/c1", "-n", "shop"},
		{"get", "ClusterWidget", "-n", "shop"},
		{"describe", cw, "c1", "-n", "shop"},
		{"get", "pods,flowschemas", "-n", "shop"},
		{"get", "flowschemas", "-n", "shop"},
		{"get", "prioritylevelconfigurations", "-n", "shop"},
		{"get", "nodes", "-n", "shop"},
		{"top", "node"},
	}
	for _, gr := range []string{"servicecidrs.networking.k8s.io", "ipaddresses.networking.k8s.io", "nodes.metrics.k8s.io"} {
		if _, ok := served[gr]; ok {
			denied = append(denied, []string{"get", gr, "-n", "shop"})
		}
	}
	for _, argv := range denied {
		// The executor's re-check, with the cluster's discovery ...
		if d := policy.CheckScope(scoped, argv, r); d.Allowed || d.Reason != policy.ReasonClusterScoped {
			t.Errorf("CheckScope(%q) = %v %s; want cluster_scoped_resource", argv, d.Allowed, d.Reason)
		}
		// ... and the Runner itself, when it resolves the types.
		res := runScoped(argv...)
		if res.ExitCode != 1 || res.DeniedReason != policy.ReasonClusterScoped || strings.Contains(res.Output, "c1") {
			t.Errorf("Run(%q) scoped: exit %d denied %q output %q error %q; want cluster_scoped_resource and no objects", argv, res.ExitCode, res.DeniedReason, res.Output, res.Error)
		}
	}
	if d := policy.CheckScope(scoped, []string{"get", "gizmos." + f.group, "-n", "shop"}, r); d.Reason != policy.ReasonUnknownType {
		t.Errorf("CheckScope(unknown type) = %s; want unknown_resource_type", d.Reason)
	}

	// Category all: the namespaced CRD is in, the cluster-scoped one out.
	for _, ns := range []string{"shop", f.ns} {
		argv := []string{"get", "all", "-n", ns, "-o", "name"}
		if d := policy.CheckScope(scoped, argv, r); !d.Allowed {
			t.Errorf("CheckScope(%q) = %+v; want allowed", argv, d)
		}
		res := runScoped(argv...)
		if res.ExitCode != 0 || strings.Contains(res.Output, "clusterwidget") {
			t.Errorf("Run(%q) scoped: exit %d output %q error %q; want no clusterwidget", argv, res.ExitCode, res.Output, res.Error)
		}
	}
	if res := runScoped("get", "all", "-n", f.ns, "-o", "name"); !strings.Contains(res.Output, "nsgadget."+f.group+"/g1") {
		t.Errorf("scoped get all -n %s = %q; want nsgadget g1", f.ns, res.Output)
	}
	if res := runScoped("get", "nsgadgets."+f.group, "g1", "-n", f.ns); res.ExitCode != 0 || !strings.Contains(res.Output, "g1") {
		t.Errorf("scoped get nsgadgets g1: exit %d output %q error %q; want g1", res.ExitCode, res.Output, res.Error)
	}
	// Out-of-scope namespaces and -A are refused by the re-check.
	for _, argv := range [][]string{{"get", "pods", "-n", "data"}, {"get", "pods", "-A"}, {"version"}} {
		if d := policy.CheckScope(scoped, argv, r); d.Allowed || d.Reason != policy.ReasonNamespaceOutOfScope {
			t.Errorf("CheckScope(%q) = %v %s; want namespace_out_of_scope", argv, d.Allowed, d.Reason)
		}
	}

	// An unscoped caller keeps today's behaviour.
	if res := run(t, r, "get", cw, "c1"); res.ExitCode != 0 || !strings.Contains(res.Output, "c1") {
		t.Errorf("unscoped get %s c1: exit %d output %q error %q", cw, res.ExitCode, res.Output, res.Error)
	}
	if res := run(t, r, "get", "all", "-n", f.ns, "-o", "name"); !strings.Contains(res.Output, "clusterwidget."+f.group+"/c1") {
		t.Errorf("unscoped get all = %q; want the cluster-scoped member too, as kubectl", res.Output)
	}
}
