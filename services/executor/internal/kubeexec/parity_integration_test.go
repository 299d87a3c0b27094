package kubeexec_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"

	"kubently.io/libs/policy"
	"kubently.io/libs/testbed"
	"kubently.io/libs/testkit"
	"kubently.io/services/executor/internal/kubeexec"
)

var (
	podMetricsGVR  = schema.GroupVersionResource{Group: "metrics.k8s.io", Version: "v1beta1", Resource: "pods"}
	nodeMetricsGVR = schema.GroupVersionResource{Group: "metrics.k8s.io", Version: "v1beta1", Resource: "nodes"}
)

// parityCluster is the namespace and objects of the parity test.
type parityCluster struct {
	cs  kubernetes.Interface
	dyn dynamic.Interface
	ns  string
	pod string // a pod of deployment web
}

// setupParity creates a namespace with a deployment of two revisions, a
// StatefulSet, a DaemonSet, labelled ConfigMaps, events and PodMetrics,
// and waits for the controllers to act on them.
func setupParity(t *testing.T, kubeconfig string) *parityCluster {
	t.Helper()
	cfg := restConfig(t, kubeconfig)
	p := &parityCluster{cs: kubernetes.NewForConfigOrDie(cfg), dyn: dynamic.NewForConfigOrDie(cfg), ns: "kx-parity-" + randomSuffix(t)}
	ctx := context.Background()
	if _, err := p.cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: p.ns}}, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create namespace: %v", err)
	}
	t.Cleanup(func() { _ = p.cs.CoreV1().Namespaces().Delete(context.Background(), p.ns, metav1.DeleteOptions{}) })
	testkit.CheckFor(t, 30*time.Second, 100*time.Millisecond, func() error {
		_, err := p.cs.CoreV1().ServiceAccounts(p.ns).Get(ctx, "default", metav1.GetOptions{})
		return err
	})

	web := map[string]string{"app": "web"}
	podSpec := func(name, image string) corev1.PodSpec {
		return corev1.PodSpec{Containers: []corev1.Container{{Name: name, Image: image}}}
	}
	dep := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Labels: web, Annotations: map[string]string{"kubernetes.io/change-cause": "first rollout"}},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To[int32](2),
			Selector: &metav1.LabelSelector{MatchLabels: web},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: web}, Spec: podSpec("nginx", "nginx:1.26")},
		},
	}
	if _, err := p.cs.AppsV1().Deployments(p.ns).Create(ctx, dep, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create deployment: %v", err)
	}
	testkit.CheckFor(t, 60*time.Second, 200*time.Millisecond, func() error {
		rs, err := p.cs.AppsV1().ReplicaSets(p.ns).List(ctx, metav1.ListOptions{})
		if err == nil && len(rs.Items) == 0 {
			err = errors.New("no ReplicaSet yet")
		}
		return err
	})
	// A second revision with its own change-cause.
	testkit.CheckFor(t, 30*time.Second, 200*time.Millisecond, func() error {
		d, err := p.cs.AppsV1().Deployments(p.ns).Get(ctx, "web", metav1.GetOptions{})
		if err != nil {
			return err
		}
		d.Annotations["kubernetes.io/change-cause"] = "second rollout"
		d.Spec.Template.Spec.Containers[0].Image = "nginx:1.27"
		_, err = p.cs.AppsV1().Deployments(p.ns).Update(ctx, d, metav1.UpdateOptions{})
		return err
	})

	db := map[string]string{"app": "db"}
	sts := &appsv1.StatefulSet{
		ObjectMeta: metav1.ObjectMeta{Name: "db", Labels: db},
		Spec: appsv1.StatefulSetSpec{
			Replicas: ptr.To[int32](1), ServiceName: "db",
			Selector: &metav1.LabelSelector{MatchLabels: db},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: db}, Spec: podSpec("postgres", "postgres:17")},
		},
	}
	if _, err := p.cs.AppsV1().StatefulSets(p.ns).Create(ctx, sts, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create statefulset: %v", err)
	}
	agent := map[string]string{"app": "agent"}
	ds := &appsv1.DaemonSet{
		ObjectMeta: metav1.ObjectMeta{Name: "agent", Labels: agent},
		Spec: appsv1.DaemonSetSpec{
			Selector: &metav1.LabelSelector{MatchLabels: agent},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: agent}, Spec: podSpec("agent", "busybox:1.36")},
		},
	}
	if _, err := p.cs.AppsV1().DaemonSets(p.ns).Create(ctx, ds, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create daemonset: %v", err)
	}
	for i, tier := range []string{"front", "back", "front"} {
		cm := &corev1.ConfigMap{
			ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("cm-%c", 'a'+i), Labels: map[string]string{"tier": tier}},
			Data:       map[string]string{"k": fmt.Sprint(3 - i)},
		}
		if _, err := p.cs.CoreV1().ConfigMaps(p.ns).Create(ctx, cm, metav1.CreateOptions{}); err != nil {
			t.Fatalf("create configmap: %v", err)
		}
	}

	// Wait for the controllers: two ReplicaSets, web's pods, the
	// ControllerRevisions of db and agent.
	testkit.CheckFor(t, 60*time.Second, 200*time.Millisecond, func() error {
		rs, err := p.cs.AppsV1().ReplicaSets(p.ns).List(ctx, metav1.ListOptions{})
		if err != nil || len(rs.Items) < 2 {
			return fmt.Errorf("ReplicaSets: %v, %w", len(rs.Items), err)
		}
		revs, err := p.cs.AppsV1().ControllerRevisions(p.ns).List(ctx, metav1.ListOptions{})
		if err != nil || len(revs.Items) < 2 {
			return fmt.Errorf("ControllerRevisions: %d, %w", len(revs.Items), err)
		}
		pods, err := p.cs.CoreV1().Pods(p.ns).List(ctx, metav1.ListOptions{LabelSelector: "app=web"})
		if err != nil || len(pods.Items) == 0 {
			return fmt.Errorf("web pods: %w", err)
		}
		p.pod = pods.Items[0].Name
		return nil
	})

	pods, err := p.cs.CoreV1().Pods(p.ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatalf("list pods: %v", err)
	}
	for i, pod := range pods.Items {
		containers := []any{map[string]any{"name": pod.Spec.Containers[0].Name, "usage": map[string]any{"cpu": fmt.Sprintf("%dm", 10+i*7), "memory": fmt.Sprintf("%dMi", 20+i*13)}}}
		if i == 0 {
			containers = append(containers, map[string]any{"name": "sidecar", "usage": map[string]any{"cpu": "1m", "memory": "5Mi"}})
		}
		p.createMetrics(t, podMetricsGVR, p.ns, pod.Name, pod.Labels, containers)
	}
	p.ensureNodeMetrics(t)

	ref := corev1.ObjectReference{Kind: "Pod", APIVersion: "v1", Name: p.pod, Namespace: p.ns}
	now := time.Now()
	for i, e := range []struct{ typ, reason, msg string }{
		{corev1.EventTypeNormal, "Checked", "the pod was checked"},
		{corev1.EventTypeWarning, "Wobbly", "the pod is wobbly"},
	} {
		ev := &corev1.Event{
			ObjectMeta:     metav1.ObjectMeta{Name: fmt.Sprintf("%s.%d", p.pod, i)},
			InvolvedObject: ref, Type: e.typ, Reason: e.reason, Message: e.msg, Count: int32(i + 1),
			FirstTimestamp: metav1.NewTime(now.Add(-time.Duration(10-i) * time.Minute)),
			LastTimestamp:  metav1.NewTime(now.Add(-time.Duration(5-i) * time.Minute)),
			Source:         corev1.EventSource{Component: "parity-test"},
		}
		if _, err := p.cs.CoreV1().Events(p.ns).Create(ctx, ev, metav1.CreateOptions{}); err != nil {
			t.Fatalf("create event: %v", err)
		}
	}
	return p
}

// createMetrics creates one PodMetrics or NodeMetrics object.
func (p *parityCluster) createMetrics(t *testing.T, gvr schema.GroupVersionResource, ns, name string, labels map[string]string, containersOrUsage any) {
	t.Helper()
	kind := "PodMetrics"
	if gvr == nodeMetricsGVR {
		kind = "NodeMetrics"
	}
	obj := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "metrics.k8s.io/v1beta1",
		"kind":       kind,
		"metadata":   map[string]any{"name": name},
		"timestamp":  time.Now().UTC().Format(time.RFC3339),
		"window":     "30s",
	}}
	obj.SetLabels(labels)
	if kind == "PodMetrics" {
		obj.SetNamespace(ns)
		obj.Object["containers"] = containersOrUsage
	} else {
		obj.Object["usage"] = containersOrUsage
	}
	var err error
	if ns != "" {
		_, err = p.dyn.Resource(gvr).Namespace(ns).Create(context.Background(), obj, metav1.CreateOptions{})
	} else {
		_, err = p.dyn.Resource(gvr).Create(context.Background(), obj, metav1.CreateOptions{})
	}
	if err != nil {
		t.Fatalf("create %s %s: %v", kind, name, err)
	}
}

// ensureNodeMetrics creates NodeMetrics for the testbed node unless the
// seed already did, and removes what it created.
func (p *parityCluster) ensureNodeMetrics(t *testing.T) {
	t.Helper()
	_, err := p.dyn.Resource(nodeMetricsGVR).Get(context.Background(), testbed.NodeName, metav1.GetOptions{})
	if !apierrors.IsNotFound(err) {
		return
	}
	p.createMetrics(t, nodeMetricsGVR, "", testbed.NodeName, nil, map[string]any{"cpu": "250m", "memory": "512Mi"})
	t.Cleanup(func() {
		_ = p.dyn.Resource(nodeMetricsGVR).Delete(context.Background(), testbed.NodeName, metav1.DeleteOptions{})
	})
}

// kubectlRun runs the testbed's kubectl and returns what a Result would
// hold.
func kubectlRun(t *testing.T, kubectl, kubeconfig string, argv []string) kubeexec.Result {
	t.Helper()
	var stdout, stderr bytes.Buffer
	cmd := exec.Command(kubectl, append([]string{"--kubeconfig", kubeconfig}, argv...)...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	code := 0
	if err := cmd.Run(); err != nil {
		var exitErr *exec.ExitError
		if !errors.As(err, &exitErr) {
			t.Fatalf("running kubectl: %v", err)
		}
		code = exitErr.ExitCode()
	}
	return kubeexec.Result{Output: stdout.String(), Error: strings.TrimRight(stderr.String(), "\n"), ExitCode: code}
}

// sameAsKubectl reports whether got matches want (stdout, stderr, exit
// code) byte for byte, or, when exact is false, after masking the ages of
// age columns (testbed.MaskAges) — and then only if masking absorbed an
// age that changed, never a difference in layout.
func sameAsKubectl(got, want kubeexec.Result, exact bool) bool {
	if got.ExitCode != want.ExitCode {
		return false
	}
	if got.Output == want.Output && got.Error == want.Error {
		return true
	}
	if exact || testbed.MaskAges(got.Output) != testbed.MaskAges(want.Output) || testbed.MaskAges(got.Error) != testbed.MaskAges(want.Error) {
		return false
	}
	return !slices.Equal(testbed.MaskedTokens(got.Output+got.Error), testbed.MaskedTokens(want.Output+want.Error))
}

// TestIntegrationParity runs about fifty commands through the Runner and
// through the testbed's kubectl and compares stdout, stderr and the exit
// code byte for byte; only ages are normalised.
func TestIntegrationParity(t *testing.T) {
	if testing.Short() {
		t.Skip("needs the local testbed (a real kube-apiserver)")
	}
	kubeconfig := testbed.Kubeconfig(t)
	kubectl := filepath.Join(testbed.BinDir(t), "kubectl")
	p := setupParity(t, kubeconfig)
	r, _ := newRunner(t, restConfig(t, kubeconfig), 0)
	ns := p.ns

	tests := []struct {
		argv  []string
		exact bool // no ages in the output
	}{
		// get
		{argv: []string{"get", "deploy,sts,ds", "-n", ns}},
		{argv: []string{"get", "all", "-n", ns}},
		{argv: []string{"get", "cm", "-n", ns, "-l", "tier", "--show-labels"}},
		{argv: []string{"get", "cm", "-n", ns, "-l", "tier", "-L", "tier"}},
		// -A: the NAMESPACE column comes from each row's object.
		{argv: []string{"get", "cm", "-A", "--field-selector", "metadata.namespace=" + ns, "-l", "tier", "-L", "tier", "--show-labels"}},
		{argv: []string{"get", "deploy,cm", "-A", "--field-selector", "metadata.namespace=" + ns}},
		{argv: []string{"get", "cm", "-n", ns, "-l", "tier", "-Ltier,app", "--no-headers"}},
		{argv: []string{"get", "cm", "-n", ns, "-l", "tier", "--sort-by", "{.data.k}", "-o", "name"}, exact: true},
		{argv: []string{"get", "cm", "-n", ns, "-l", "tier", "--sort-by", ".metadata.name"}},
		{argv: []string{"get", "deploy", "web", "-n", ns, "-o", "jsonpath={.spec.replicas}"}, exact: true},
		{argv: []string{"get", "cm", "-n", ns, "-l", "tier", "-o", `jsonpath={range .items[*]}{.metadata.name}{"\t"}{.data.k}{"\n"}{end}`}, exact: true},
		{argv: []string{"get", "cm", "-n", ns, "-l", "tier=front", "-o", "jsonpath-as-json={.items[*].metadata.name}"}, exact: true},
		{argv: []string{"get", "cm", "-n", ns, "-l", "tier", "-o", "custom-columns=NAME:.metadata.name,TIER:.metadata.labels.tier,K:.data.k"}, exact: true},
		{argv: []string{"get", "cm", "-n", ns, "-l", "tier", "-o", "custom-columns=NAME:.metadata.name", "--no-headers"}, exact: true},
		{argv: []string{"get", "cm", "cm-a", "cm-c", "-n", ns, "-o", "name"}, exact: true},
		{argv: []string{"get", "cm/cm-a", "deploy/web", "-n", ns}},
		{argv: []string{"get", "cm", "-n", ns, "-l", "tier", "--chunk-size", "1"}},
		{argv: []string{"get", "cm", "-n", ns, "-l", "tier=back", "-o", "yaml"}, exact: true},
		{argv: []string{"get", "pods", "nope", "-n", ns}, exact: true},
		{argv: []string{"get", "cm", "-n", ns, "-o", "jsonpath={.items[0].metadata.name"}, exact: true},
		// events
		{argv: []string{"events", "-n", ns}},
		{argv: []string{"events", "-n", ns, "--types", "Warning"}},
		{argv: []string{"events", "-n", ns, "--for", "pod/" + p.pod}},
		// top
		{argv: []string{"top", "pod", "-n", ns}, exact: true},
		{argv: []string{"top", "pod", "-n", ns, "--containers"}, exact: true},
		{argv: []string{"top", "pod", "-n", ns, "--sort-by", "memory", "--no-headers"}, exact: true},
		{argv: []string{"top", "pod", "-n", ns, "-l", "app=web", "--sort-by", "cpu"}, exact: true},
		{argv: []string{"top", "pod", p.pod, "-n", ns}, exact: true},
		{argv: []string{"top", "pod", "-n", ns, "-l", "nosuch=label"}, exact: true},
		{argv: []string{"top", "node"}, exact: true},
		{argv: []string{"top", "node", "-n", ns}, exact: true},
		{argv: []string{"top", "node", testbed.NodeName, "--no-headers"}, exact: true},
		// rollout
		{argv: []string{"rollout", "history", "deploy/web", "-n", ns}, exact: true},
		{argv: []string{"rollout", "history", "deployment", "web", "-n", ns, "--revision", "1"}, exact: true},
		{argv: []string{"rollout", "history", "sts/db", "-n", ns}, exact: true},
		{argv: []string{"rollout", "history", "ds/agent", "-n", ns}, exact: true},
		{argv: []string{"rollout", "history", "ds/agent", "-n", ns, "--revision", "1"}, exact: true},
		{argv: []string{"rollout", "history", "deploy/web", "-n", ns, "--revision", "2"}, exact: true},
		{argv: []string{"rollout", "status", "deploy/web", "-n", ns, "--watch=false"}, exact: true},
		{argv: []string{"rollout", "status", "sts/db", "-n", ns, "--watch=false"}, exact: true},
		{argv: []string{"rollout", "status", "ds/agent", "-n", ns, "--watch=false"}, exact: true},
		{argv: []string{"rollout", "history", "deploy/nope", "-n", ns}, exact: true},
		// discovery and identity
		{argv: []string{"api-resources"}, exact: true},
		{argv: []string{"api-resources", "-o", "wide", "--api-group", "apps"}, exact: true},
		{argv: []string{"api-resources", "--namespaced=false", "-o", "name"}, exact: true},
		{argv: []string{"api-resources", "--verbs", "list", "--sort-by", "kind", "--no-headers"}, exact: true},
		{argv: []string{"api-versions"}, exact: true},
		{argv: []string{"cluster-info"}, exact: true},
		{argv: []string{"auth", "can-i", "get", "pods", "-n", ns}, exact: true},
		{argv: []string{"auth", "can-i", "list", "deployments.apps", "-A"}, exact: true},
		{argv: []string{"auth", "can-i", "get", "nodes"}, exact: true},
		{argv: []string{"auth", "can-i", "get", "/healthz"}, exact: true},
		{argv: []string{"auth", "can-i", "--list", "-n", ns}, exact: true},
		// explain
		{argv: []string{"explain", "pods"}, exact: true},
		{argv: []string{"explain", "deploy.spec.strategy", "--recursive"}, exact: true},
		{argv: []string{"explain", "cronjobs.spec.jobTemplate.spec.backoffLimit"}, exact: true},
		{argv: []string{"explain", "pods.spec.nope"}, exact: true},
		{argv: []string{"auth", "can-i", "get"}, exact: true},
		{argv: []string{"auth", "can-i", "frobnicate", "widgets"}, exact: true},
		{argv: []string{"top", "pod", "nope", "-n", ns}, exact: true},
		{argv: []string{"explain", "hpa", "--api-version", "autoscaling/v1"}, exact: true},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.argv, " "), func(t *testing.T) {
			var got, want kubeexec.Result
			// Compare twice before failing: another test may change the
			// cluster (a CRD, a pod) between the two runs.
			for range 2 {
				want = kubectlRun(t, kubectl, kubeconfig, tt.argv)
				got = run(t, r, tt.argv...)
				if sameAsKubectl(got, want, tt.exact) {
					return
				}
			}
			t.Errorf("Run(%q) differs from kubectl:\ngot  exit %d\n%s\nstderr: %q\nwant exit %d\n%s\nstderr: %q",
				tt.argv, got.ExitCode, got.Output, got.Error, want.ExitCode, want.Output, want.Error)
		})
	}

	// Where kubectl reads argv more loosely than the policy (flags before
	// the verb, a wrong number of arguments), the policy's reading wins:
	// the executor refuses what the policy refuses, with its reason,
	// rather than answering as kubectl would.
	t.Run("stricter than kubectl", func(t *testing.T) {
		for _, tt := range []struct {
			argv []string
			want policy.Reason
		}{
			{[]string{"-n", ns, "top", "pod", "--containers", "-l", "app=web"}, policy.ReasonVerbNotAllowed},
			{[]string{"-n", ns, "rollout", "status", "sts/db", "--watch=false"}, policy.ReasonVerbNotAllowed},
			{[]string{"explain"}, policy.ReasonMissingArgument},
			{[]string{"explain", "pods", "svc"}, policy.ReasonTooManyArguments},
		} {
			got := run(t, r, tt.argv...)
			if got.ExitCode != 1 || got.DeniedReason != tt.want || got.Output != "" {
				t.Errorf("Run(%q): got exit %d, denied %q, output %q; want exit 1 denied %q", tt.argv, got.ExitCode, got.DeniedReason, got.Output, tt.want)
			}
		}
	})

	t.Run("structured", func(t *testing.T) {
		for _, tt := range []struct {
			argv []string
			want string // a fragment of the JSON
		}{
			{[]string{"top", "pod", "-n", ns}, `"kind":"PodMetricsList"`},
			{[]string{"top", "node"}, `"kind":"NodeMetricsList"`},
			{[]string{"events", "-n", ns}, `"kind":"EventList"`},
			{[]string{"get", "cm", "-n", ns, "-l", "tier", "-o", "custom-columns=NAME:.metadata.name"}, `"name":"cm-b"`},
			{[]string{"api-resources", "--api-group", "apps"}, `"kind":"DaemonSet"`},
			{[]string{"api-versions"}, `"apps/v1"`},
			{[]string{"version"}, `"serverVersion"`},
			{[]string{"auth", "can-i", "--list", "-n", ns}, `"resourceRules"`},
			{[]string{"auth", "can-i", "get", "pods", "-n", ns}, `"allowed":true`},
		} {
			res := run(t, r, tt.argv...)
			if !json.Valid(res.Structured) || !strings.Contains(string(res.Structured), tt.want) {
				t.Errorf("Run(%q).Structured: got %.300s; want valid JSON containing %s", tt.argv, res.Structured, tt.want)
			}
		}
	})

	t.Run("version", func(t *testing.T) {
		want := kubectlRun(t, kubectl, kubeconfig, []string{"version", "-o", "json"})
		got := run(t, r, "version", "-o", "json")
		var gv, wv map[string]json.RawMessage
		if err := json.Unmarshal([]byte(got.Output), &gv); err != nil {
			t.Fatalf("version -o json: %v\n%s", err, got.Output)
		}
		if err := json.Unmarshal([]byte(want.Output), &wv); err != nil {
			t.Fatalf("kubectl version -o json: %v", err)
		}
		if string(gv["serverVersion"]) != string(wv["serverVersion"]) {
			t.Errorf("serverVersion: got %s; want %s", gv["serverVersion"], wv["serverVersion"])
		}
		plain := run(t, r, "version")
		server := regexp.MustCompile(`(?m)^Server Version: .*$`).FindString(kubectlRun(t, kubectl, kubeconfig, []string{"version"}).Output)
		if !strings.HasPrefix(plain.Output, "Client Version: v") || !strings.Contains(plain.Output, server+"\n") {
			t.Errorf("version: got %q; want a Client Version line and %q", plain.Output, server)
		}
	})
}

// TestIntegrationLogsGrep checks the in-cluster log search against
// kubectl logs filtered here: the same lines, in the same order.
func TestIntegrationLogsGrep(t *testing.T) {
	if testing.Short() {
		t.Skip("needs the local testbed (a real kube-apiserver)")
	}
	kubeconfig := testbed.Kubeconfig(t)
	kubectl := filepath.Join(testbed.BinDir(t), "kubectl")
	testbed.Seed(t)
	r, _ := newRunner(t, restConfig(t, kubeconfig), 0)
	ns := testbed.SeedNamespace
	for _, tt := range []struct {
		argv    []string
		pattern string
		fold    bool
	}{
		{argv: []string{"logs", "deploy/web", "-n", ns}, pattern: "GET"},
		{argv: []string{"logs", "deploy/web", "-n", ns}, pattern: "get", fold: true},
		{argv: []string{"logs", "-l", "app=web", "-n", ns, "--prefix", "--tail", "5"}, pattern: "HTTP"},
	} {
		want := kubectlRun(t, kubectl, kubeconfig, tt.argv)
		if want.ExitCode != 0 {
			t.Fatalf("kubectl %q: exit %d: %s", tt.argv, want.ExitCode, want.Error)
		}
		var kept strings.Builder
		for _, line := range strings.SplitAfter(want.Output, "\n") {
			text := line
			if tt.fold {
				text = strings.ToLower(text)
			}
			if line != "" && strings.Contains(text, tt.pattern) {
				kept.WriteString(line)
			}
		}
		argv := append(append([]string{}, tt.argv...), "--grep", tt.pattern)
		if tt.fold {
			argv = append(argv, "--ignore-case")
		}
		got := run(t, r, argv...)
		wantOut := kept.String()
		if slices.Contains(tt.argv, "-l") {
			// kubectl reads the pods of a selector in map order: compare
			// the lines, not their order across pods.
			got.Output, wantOut = sortedLines(got.Output), sortedLines(wantOut)
		}
		if got.ExitCode != 0 || got.Output != wantOut {
			t.Errorf("Run(%q): got exit %d\n%s\nwant the lines of kubectl's output containing %q:\n%s", argv, got.ExitCode, got.Output, tt.pattern, kept.String())
		}
		if kept.Len() == 0 {
			t.Errorf("kubectl %q printed no line containing %q; the test checks nothing", tt.argv, tt.pattern)
		}
	}
}

// sortedLines returns the lines of s in sorted order.
func sortedLines(s string) string {
	lines := strings.SplitAfter(s, "\n")
	slices.Sort(lines)
	return strings.Join(lines, "")
}
