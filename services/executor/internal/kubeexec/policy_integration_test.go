package kubeexec_test

import (
	"context"
	"encoding/base64"
	"fmt"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/rest"

	"kubently.io/libs/policy"
	"kubently.io/libs/testbed"
	"kubently.io/libs/testkit"
	"kubently.io/services/executor/internal/kubeexec"
)

// profileRunner returns a Runner for cluster that enforces the profile the
// policy file text picks for it.
func profileRunner(t *testing.T, cfg *rest.Config, maxOutput int, file, cluster string) (*kubeexec.Runner, *policy.Policy) {
	t.Helper()
	pol, err := policy.ParseFile([]byte(file))
	if err != nil {
		t.Fatalf("ParseFile: %v", err)
	}
	r, err := kubeexec.New(kubeexec.Config{REST: cfg, MaxOutputBytes: maxOutput, Profile: func() *policy.Profile { return pol.Profile(cluster) }})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return r, pol
}

// createCategoryCRD creates a namespaced CRD that joins the "all"
// category, with one object in ns.
func (c *cluster) createCategoryCRD(t *testing.T) (group string) {
	t.Helper()
	group = "gadgets" + c.suffix + ".example.com"
	crdGVR := schema.GroupVersionResource{Group: "apiextensions.k8s.io", Version: "v1", Resource: "customresourcedefinitions"}
	crd := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "apiextensions.k8s.io/v1",
		"kind":       "CustomResourceDefinition",
		"metadata":   map[string]any{"name": "gadgets." + group},
		"spec": map[string]any{
			"group": group,
			"scope": "Namespaced",
			"names": map[string]any{"plural": "gadgets", "singular": "gadget", "kind": "Gadget", "categories": []any{"all"}},
			"versions": []any{map[string]any{
				"name": "v1", "served": true, "storage": true,
				"schema": map[string]any{"openAPIV3Schema": map[string]any{"type": "object", "x-kubernetes-preserve-unknown-fields": true}},
			}},
		},
	}}
	ctx := context.Background()
	if _, err := c.dyn.Resource(crdGVR).Create(ctx, crd, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create CRD: %v", err)
	}
	t.Cleanup(func() {
		_ = c.dyn.Resource(crdGVR).Delete(context.Background(), "gadgets."+group, metav1.DeleteOptions{})
	})
	obj := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": group + "/v1", "kind": "Gadget", "metadata": map[string]any{"name": "g1"},
	}}
	gvr := schema.GroupVersionResource{Group: group, Version: "v1", Resource: "gadgets"}
	testkit.CheckFor(t, 30*time.Second, 100*time.Millisecond, func() error {
		_, err := c.dyn.Resource(gvr).Namespace(c.ns).Create(ctx, obj, metav1.CreateOptions{})
		return err
	})
	return group
}

func TestIntegrationPolicy(t *testing.T) {
	if testing.Short() {
		t.Skip("needs the local testbed (a real kube-apiserver)")
	}
	c := setupCluster(t)
	ns := c.ns
	gadgets := c.createCategoryCRD(t)
	file := fmt.Sprintf(`apiVersion: kubently.io/v1
kind: Policy
profiles:
  - name: strict
    restrictedResources: [configmaps, %s, gadgets.%s]
  - name: teams
    namespaces: {allow: [%q]}
clusters:
  - {match: strict-*, profile: strict}
  - {match: team-*, profile: teams}
`, c.crd.fullName(), gadgets, ns)
	r, pol := profileRunner(t, c.cfg, 0, file, "strict-1")

	t.Run("restricted kinds resolved through discovery", func(t *testing.T) {
		for _, argv := range [][]string{
			{"get", c.crd.short, "-n", ns},
			{"get", "widget", "-n", ns},
			{"get", "Widget", "-n", ns},
			{"get", c.crd.plural + "." + c.crd.group, "-n", ns},
			{"get", "widgets.v1." + c.crd.group, "-n", ns},
			{"describe", c.crd.short + "/w1", "-n", ns},
			{"get", "pods," + c.crd.short, "-n", ns},
			{"get", "cm", "-n", ns},
			{"get", "configmap/settings", "-n", ns},
			{"events", "--for", c.crd.short + "/w1", "-n", ns},
			{"logs", "cm/settings", "-n", ns},
		} {
			// The executor's policy check sees the real kind ...
			d := pol.Check(context.Background(), "strict-1", argv, r)
			if d.Allowed || d.Reason != policy.ReasonRestricted {
				t.Errorf("Check(%q) with discovery: got %v %s; want restricted_resource", argv, d.Allowed, d.Reason)
			}
			// ... and the runner refuses it again after resolving it.
			res := run(t, r, argv...)
			if res.DeniedReason != policy.ReasonRestricted || res.ExitCode != 1 || res.Output != "" {
				t.Errorf("Run(%q): got denied %q exit %d output %q error %q; want restricted_resource, exit 1, no output", argv, res.DeniedReason, res.ExitCode, res.Output, res.Error)
			}
		}
	})
	t.Run("static resolution does not know CRD short names", func(t *testing.T) {
		// What the dispatcher sees: only the executor can catch this one.
		d := pol.Check(context.Background(), "strict-1", []string{"get", c.crd.short, "-n", ns}, policy.StaticResolver)
		if !d.Allowed {
			t.Fatalf("static Check of a CRD short name: got %s; want allowed (the executor decides)", d.Reason)
		}
	})
	t.Run("all leaves restricted kinds out", func(t *testing.T) {
		d := pol.Check(context.Background(), "strict-1", []string{"get", "all", "-n", ns}, r)
		if !d.Allowed {
			t.Fatalf("Check(get all): got %s %s; want allowed", d.Reason, d.Message)
		}
		res := mustSucceed(t, r, "get", "all", "-n", ns)
		if strings.Contains(res.Output, "gadget") || !strings.Contains(res.Output, "pod/solo") {
			t.Fatalf("get all: got\n%s\nwant pods and no gadgets", res.Output)
		}
		open, _ := newRunner(t, c.cfg, 0)
		if res := mustSucceed(t, open, "get", "all", "-n", ns); !strings.Contains(res.Output, "gadget.") {
			t.Fatalf("get all without the restriction: got\n%s\nwant the gadget listed (the CRD joins all)", res.Output)
		}
	})
	t.Run("allowed kinds still work", func(t *testing.T) {
		mustSucceed(t, r, "get", "pods", "-n", ns)
		mustSucceed(t, r, "describe", "deploy/web", "-n", ns)
	})
	t.Run("namespace rules use discovery scope", func(t *testing.T) {
		for _, tt := range []struct {
			argv []string
			want policy.Reason
		}{
			{[]string{"get", "pods", "-n", ns}, policy.ReasonAllowed},
			{[]string{"get", c.crd.short, "-n", ns}, policy.ReasonAllowed},
			{[]string{"get", "pods", "-n", "kube-system"}, policy.ReasonNamespace},
			{[]string{"get", c.crd.short, "-n", "kube-system"}, policy.ReasonNamespace},
			{[]string{"get", "pods", "-A"}, policy.ReasonNamespace},
			{[]string{"get", "nodes"}, policy.ReasonAllowed},
			{[]string{"get", "crd"}, policy.ReasonAllowed},
		} {
			if d := pol.Check(context.Background(), "team-1", tt.argv, r); d.Reason != tt.want {
				t.Errorf("Check(%q) with profile teams: got %s (%s); want %s", tt.argv, d.Reason, d.Message, tt.want)
			}
		}
	})
}

func TestIntegrationContinue(t *testing.T) {
	if testing.Short() {
		t.Skip("needs the local testbed (a real kube-apiserver)")
	}
	c := setupCluster(t)
	small, _ := newRunner(t, c.cfg, 4096)
	seen := map[string]int{}
	argv := []string{"get", "configmaps", "-n", c.ns, "-l", "bulk=true", "--chunk-size", "20", "--no-headers", "-o", "name"}
	calls := 0
	for token := ""; ; calls++ {
		if calls > 40 {
			t.Fatal("continue tokens did not end after 40 calls")
		}
		a := argv
		if token != "" {
			a = append(append([]string{}, argv...), "--continue="+token)
		}
		res := mustSucceed(t, small, a...)
		for _, line := range strings.Split(strings.TrimSpace(res.Output), "\n") {
			seen[line]++
		}
		if res.Continue == "" {
			if res.Truncated {
				t.Fatalf("call %d: truncated without a continue token: %q", calls, res.Error)
			}
			break
		}
		if !res.Truncated || !strings.Contains(res.Error, "--continue="+res.Continue) {
			t.Fatalf("call %d: got truncated %v, error %q; want the continue hint", calls, res.Truncated, res.Error)
		}
		token = res.Continue
	}
	if len(seen) != c.bulk {
		t.Fatalf("distinct configmaps over %d calls: got %d; want %d", calls+1, len(seen), c.bulk)
	}
	for name, n := range seen {
		if n != 1 {
			t.Fatalf("%s listed %d times; want once", name, n)
		}
	}
	if calls < 1 {
		t.Fatalf("calls: got %d; want the list cut at 4 KiB", calls+1)
	}
	for _, bad := range [][]string{
		{"get", "configmaps,pods", "-n", c.ns, "--continue=abc"},
		{"get", "configmaps", "bulk-001", "-n", c.ns, "--continue=abc"},
		{"get", "configmaps", "-n", c.ns, "--continue=abc", "--sort-by", ".metadata.name"},
		{"get", "configmaps", "-n", c.ns, "--continue=not-a-token"},
	} {
		if res := run(t, small, bad...); res.ExitCode != 1 || res.Error == "" {
			t.Errorf("Run(%q): got exit %d error %q; want a clear error", bad, res.ExitCode, res.Error)
		}
	}
}

// secretsRedactedPolicy lets every cluster read Secrets, whose values the
// executor masks.
const secretsRedactedPolicy = `apiVersion: kubently.io/v1
kind: Policy
defaultProfile: secret-metadata
profiles:
  - name: secret-metadata
    secrets: redacted
    redactedResources: [configmaps]
    redactFields:
      - kind: service
        paths: [metadata.annotations.token]
`

func TestIntegrationRedaction(t *testing.T) {
	if testing.Short() {
		t.Skip("needs the local testbed (a real kube-apiserver)")
	}
	c := setupCluster(t)
	ns := c.ns
	ctx := context.Background()
	const (
		secretValue = "hunter2-secret-value"
		envValue    = "s3cr3t-env-value"
		cmValue     = "cm-private-value"
		argValue    = "s3cr3t-arg-value"
		urlPassword = "s3cr3t-url-password"
		headerValue = "s3cr3t-header-value"
		annValue    = "s3cr3t-annotation"
		svcValue    = "s3cr3t-service-field"
	)
	lastApplied := fmt.Sprintf(`{"apiVersion":"v1","kind":"Secret","metadata":{"name":"db","namespace":%q},"stringData":{"password":%q}}`, ns, secretValue)
	sec := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: "db", Annotations: map[string]string{"kubectl.kubernetes.io/last-applied-configuration": lastApplied, "platform.example.com/token": annValue}},
		StringData: map[string]string{"password": secretValue, "username": "shop"},
	}
	if _, err := c.cs.CoreV1().Secrets(ns).Create(ctx, sec, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create secret: %v", err)
	}
	env := []corev1.EnvVar{{Name: "DB_PASSWORD", Value: envValue}, {Name: "MODE", Value: "debug"},
		{Name: "DATABASE_URL", Value: "postgres://shop:" + urlPassword + "@db:5432/shop"},
		{Name: "API_TOKEN", ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: "db"}, Key: "password"}}}}
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "envpod"},
		Spec: corev1.PodSpec{NodeName: testbed.NodeName, Containers: []corev1.Container{{Name: "app", Image: "busybox:1.36", Env: env,
			Args: []string{"--db-password=" + argValue, "--port=80"},
			LivenessProbe: &corev1.Probe{ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/healthz", Port: intstr.FromInt32(8080),
				HTTPHeaders: []corev1.HTTPHeader{{Name: "Authorization", Value: "Bearer " + headerValue}}}}},
		}}},
	}
	if _, err := c.cs.CoreV1().Pods(ns).Create(ctx, pod, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create pod: %v", err)
	}
	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "private"}, Data: map[string]string{"token": cmValue}}
	if _, err := c.cs.CoreV1().ConfigMaps(ns).Create(ctx, cm, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create configmap: %v", err)
	}
	// A Secret spelled by hand in another object's last-applied annotation.
	handApplied := fmt.Sprintf(`{"apiVersion":"core/v1","kind":"secret","metadata":{"name":"x"},"stringData":{"password":%q}}`, secretValue)
	cmHand := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "hand", Annotations: map[string]string{"kubectl.kubernetes.io/last-applied-configuration": handApplied}}}
	if _, err := c.cs.CoreV1().ConfigMaps(ns).Create(ctx, cmHand, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create configmap: %v", err)
	}
	svc := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "annotated", Annotations: map[string]string{"token": svcValue}},
		Spec: corev1.ServiceSpec{Ports: []corev1.ServicePort{{Port: 80}}}}
	if _, err := c.cs.CoreV1().Services(ns).Create(ctx, svc, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create service: %v", err)
	}
	leaks := []string{secretValue, base64.StdEncoding.EncodeToString([]byte(secretValue)), envValue, cmValue, argValue, urlPassword, headerValue, annValue, svcValue}
	noLeak := func(t *testing.T, argv []string, res kubeexec.Result) {
		t.Helper()
		for _, l := range leaks {
			if strings.Contains(res.Output, l) || strings.Contains(res.Error, l) || strings.Contains(string(res.Structured), l) {
				t.Errorf("Run(%q) leaks %q:\n%s", argv, l, res.Output)
			}
		}
	}

	r, _ := profileRunner(t, c.cfg, 0, secretsRedactedPolicy, "any")
	for _, tt := range []struct {
		argv []string
		want []string // substrings of the output
	}{
		{[]string{"get", "secret", "db", "-n", ns, "-o", "yaml"}, []string{"password: UkVEQUNURUQ=", "username: UkVEQUNURUQ=", "kubently.io/redacted: \"true\""}},
		{[]string{"get", "secrets", "-n", ns, "-o", "json"}, []string{`"password": "UkVEQUNURUQ="`}},
		{[]string{"get", "secret", "db", "-n", ns, "-o", "jsonpath={.data.password}"}, []string{"UkVEQUNURUQ="}},
		{[]string{"get", "secrets", "-n", ns}, []string{"db", "Opaque"}},
		{[]string{"describe", "secret", "db", "-n", ns}, []string{"password:  8 bytes"}},
		{[]string{"describe", "pod", "envpod", "-n", ns}, []string{"DB_PASSWORD:   REDACTED", "MODE:          debug", "DATABASE_URL:  postgres://shop:REDACTED@db:5432/shop", "API_TOKEN:     <set to the key 'password' in secret 'db'>"}},
		{[]string{"get", "pod", "envpod", "-n", ns, "-o", "yaml"}, []string{"value: REDACTED", "value: debug"}},
		{[]string{"get", "cm", "private", "-n", ns, "-o", "yaml"}, []string{"token: REDACTED"}},
		{[]string{"get", "cm", "-n", ns, "-o", "custom-columns=NAME:.metadata.name,DATA:.data"}, []string{"private"}},
		{[]string{"get", "pod", "envpod", "-n", ns, "-o", "json"}, []string{"postgres://shop:REDACTED@db:5432/shop", "--db-password=REDACTED", `"value": "REDACTED"`}},
		{[]string{"get", "secret", "db", "-n", ns, "-o", "yaml"}, []string{"platform.example.com/token: REDACTED"}},
		{[]string{"get", "cm", "hand", "-n", ns, "-o", "jsonpath={.metadata.annotations.kubectl\\.kubernetes\\.io/last-applied-configuration}"}, []string{`"password":"REDACTED"`}},
		{[]string{"get", "svc", "annotated", "-n", ns, "-o", "yaml"}, []string{"token: REDACTED"}},
	} {
		res := mustSucceed(t, r, tt.argv...)
		noLeak(t, tt.argv, res)
		for _, w := range tt.want {
			if !strings.Contains(res.Output, w) {
				t.Errorf("Run(%q): output lacks %q:\n%s", tt.argv, w, res.Output)
			}
		}
	}
	// The last-applied annotation is redacted, not dropped.
	res := mustSucceed(t, r, "get", "secret", "db", "-n", ns, "-o", "jsonpath={.metadata.annotations.kubectl\\.kubernetes\\.io/last-applied-configuration}")
	if !strings.Contains(res.Output, `"password":"REDACTED"`) {
		t.Errorf("last-applied: got %q; want its stringData masked", res.Output)
	}
	// Env values are masked under the default profile too.
	plain, _ := newRunner(t, c.cfg, 0)
	for _, argv := range [][]string{
		{"describe", "pod", "envpod", "-n", ns},
		{"get", "pods", "-n", ns, "-o", "json"},
		{"get", "pod", "envpod", "-n", ns, "-o", "jsonpath={.spec.containers[0].env[0].value}"},
	} {
		noLeak(t, argv, mustSucceed(t, plain, argv...))
	}
	// A ConfigMap is not redacted by the default profile.
	if res := mustSucceed(t, plain, "get", "cm", "private", "-n", ns, "-o", "yaml"); !strings.Contains(res.Output, cmValue) {
		t.Errorf("default profile: configmap value %q should be readable:\n%s", cmValue, res.Output)
	}
}
