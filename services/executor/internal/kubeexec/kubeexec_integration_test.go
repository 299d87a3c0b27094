package kubeexec_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
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
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/yaml"

	"kubently.io/libs/policy"
	"kubently.io/libs/testbed"
	"kubently.io/libs/testkit"
	"kubently.io/services/executor/internal/kubeexec"
	"kubently.io/services/executor/internal/readonly"
)

// cluster is the state shared by the integration subtests: clients for the
// testbed and the objects created for this run.
type cluster struct {
	cfg    *rest.Config
	cs     kubernetes.Interface
	dyn    dynamic.Interface
	ns     string // this run's namespace
	suffix string // random suffix of cluster-scoped names
	crd    crdNames
	bulk   int // ConfigMaps labelled bulk=true
}

// crdNames are the names of this run's CustomResourceDefinition.
type crdNames struct {
	group, plural, short, kind string
}

func (c crdNames) fullName() string { return c.plural + "." + c.group }

func randomSuffix(tb testing.TB) string {
	tb.Helper()
	b := make([]byte, 4)
	if _, err := rand.Read(b); err != nil {
		tb.Fatalf("rand: %v", err)
	}
	return hex.EncodeToString(b)
}

func restConfig(tb testing.TB, kubeconfig string) *rest.Config {
	tb.Helper()
	cfg, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		tb.Fatalf("loading %s: %v", kubeconfig, err)
	}
	return cfg
}

// setupCluster creates this run's namespace, workload, ConfigMaps, events
// and CRD, and removes them when the test ends.
func setupCluster(t *testing.T) *cluster {
	t.Helper()
	cfg := restConfig(t, testbed.Kubeconfig(t))
	c := &cluster{cfg: cfg, suffix: randomSuffix(t), bulk: 300}
	c.ns = "kubeexec-" + c.suffix
	setup := rest.CopyConfig(cfg)
	setup.QPS, setup.Burst = 200, 400 // creating 300 ConfigMaps
	c.cs = kubernetes.NewForConfigOrDie(setup)
	c.dyn = dynamic.NewForConfigOrDie(setup)
	ctx := context.Background()

	if _, err := c.cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: c.ns}}, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create namespace: %v", err)
	}
	t.Cleanup(func() {
		_ = c.cs.CoreV1().Namespaces().Delete(context.Background(), c.ns, metav1.DeleteOptions{})
	})
	// ServiceAccount "default" is created asynchronously; pods need it.
	testkit.CheckFor(t, 30*time.Second, 100*time.Millisecond, func() error {
		_, err := c.cs.CoreV1().ServiceAccounts(c.ns).Get(ctx, "default", metav1.GetOptions{})
		return err
	})

	labels := map[string]string{"app": "web"}
	dep := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Labels: labels},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To[int32](2),
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "nginx", Image: "nginx:1.27"}}},
			},
		},
	}
	if _, err := c.cs.AppsV1().Deployments(c.ns).Create(ctx, dep, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create deployment: %v", err)
	}
	solo := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "solo", Labels: map[string]string{"tier": "solo"}},
		Spec: corev1.PodSpec{
			NodeName:   testbed.NodeName,
			Containers: []corev1.Container{{Name: "main", Image: "busybox:1.36"}},
		},
	}
	solo, err := c.cs.CoreV1().Pods(c.ns).Create(ctx, solo, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("create pod: %v", err)
	}
	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "settings"}, Data: map[string]string{"mode": "debug"}}
	if _, err := c.cs.CoreV1().ConfigMaps(c.ns).Create(ctx, cm, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create configmap: %v", err)
	}

	now := time.Now()
	ref := corev1.ObjectReference{Kind: "Pod", APIVersion: "v1", Name: "solo", Namespace: c.ns, UID: solo.UID}
	events := []*corev1.Event{
		{
			ObjectMeta: metav1.ObjectMeta{Name: "solo.new"}, InvolvedObject: ref,
			Type: corev1.EventTypeNormal, Reason: "TestNew", Message: "the newer event",
			FirstTimestamp: metav1.NewTime(now.Add(-time.Minute)), LastTimestamp: metav1.NewTime(now.Add(-time.Minute)), Count: 1,
			Source: corev1.EventSource{Component: "kubeexec-test"},
		},
		{
			ObjectMeta: metav1.ObjectMeta{Name: "solo.old"}, InvolvedObject: ref,
			Type: corev1.EventTypeWarning, Reason: "TestOld", Message: "the older event",
			FirstTimestamp: metav1.NewTime(now.Add(-20 * time.Minute)), LastTimestamp: metav1.NewTime(now.Add(-10 * time.Minute)), Count: 3,
			Source: corev1.EventSource{Component: "kubeexec-test"},
		},
	}
	for _, e := range events {
		if _, err := c.cs.CoreV1().Events(c.ns).Create(ctx, e, metav1.CreateOptions{}); err != nil {
			t.Fatalf("create event: %v", err)
		}
	}

	c.createBulkConfigMaps(t)
	c.createCRD(t)
	return c
}

func (c *cluster) createBulkConfigMaps(t *testing.T) {
	t.Helper()
	var (
		wg       sync.WaitGroup
		next     atomic.Int64
		firstErr atomic.Value
	)
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := next.Add(1) - 1
				if i >= int64(c.bulk) {
					return
				}
				cm := &corev1.ConfigMap{
					ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("bulk-%03d", i), Labels: map[string]string{"bulk": "true"}},
					Data:       map[string]string{"index": fmt.Sprint(i)},
				}
				if _, err := c.cs.CoreV1().ConfigMaps(c.ns).Create(context.Background(), cm, metav1.CreateOptions{}); err != nil {
					firstErr.CompareAndSwap(nil, err)
					return
				}
			}
		}()
	}
	wg.Wait()
	if err, ok := firstErr.Load().(error); ok {
		t.Fatalf("create bulk configmaps: %v", err)
	}
}

func (c *cluster) createCRD(t *testing.T) {
	t.Helper()
	c.crd = crdNames{group: "kubeexec" + c.suffix + ".example.com", plural: "widgets", short: "wdg" + c.suffix, kind: "Widget"}
	crdGVR := schema.GroupVersionResource{Group: "apiextensions.k8s.io", Version: "v1", Resource: "customresourcedefinitions"}
	crd := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "apiextensions.k8s.io/v1",
		"kind":       "CustomResourceDefinition",
		"metadata":   map[string]any{"name": c.crd.fullName()},
		"spec": map[string]any{
			"group": c.crd.group,
			"scope": "Namespaced",
			"names": map[string]any{"plural": c.crd.plural, "singular": "widget", "kind": c.crd.kind, "shortNames": []any{c.crd.short}},
			"versions": []any{map[string]any{
				"name": "v1", "served": true, "storage": true,
				"schema": map[string]any{"openAPIV3Schema": map[string]any{
					"type":                                 "object",
					"x-kubernetes-preserve-unknown-fields": true,
				}},
				"additionalPrinterColumns": []any{
					map[string]any{"name": "Size", "type": "integer", "jsonPath": ".spec.size"},
					map[string]any{"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"},
				},
			}},
		},
	}}
	ctx := context.Background()
	if _, err := c.dyn.Resource(crdGVR).Create(ctx, crd, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create CRD: %v", err)
	}
	t.Cleanup(func() {
		_ = c.dyn.Resource(crdGVR).Delete(context.Background(), c.crd.fullName(), metav1.DeleteOptions{})
	})
	gvr := schema.GroupVersionResource{Group: c.crd.group, Version: "v1", Resource: c.crd.plural}
	w := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": c.crd.group + "/v1",
		"kind":       c.crd.kind,
		"metadata":   map[string]any{"name": "w1"},
		"spec":       map[string]any{"size": int64(3)},
	}}
	// The CRD's endpoint appears shortly after it is established.
	testkit.CheckFor(t, 30*time.Second, 100*time.Millisecond, func() error {
		_, err := c.dyn.Resource(gvr).Namespace(c.ns).Create(ctx, w, metav1.CreateOptions{})
		return err
	})
}

// requestCounter counts the list requests the Runner sends, by path and
// limit, to show that lists are paged and that paging stops at the cap.
type requestCounter struct {
	mu    sync.Mutex
	lists map[string]int // "path?limit=N" -> count
}

func (rc *requestCounter) wrap(next http.RoundTripper) http.RoundTripper {
	return roundTripFunc(func(req *http.Request) (*http.Response, error) {
		if l := req.URL.Query().Get("limit"); l != "" {
			rc.mu.Lock()
			rc.lists[req.URL.Path+"?limit="+l]++
			rc.mu.Unlock()
		}
		return next.RoundTrip(req)
	})
}

func (rc *requestCounter) count(key string) int {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return rc.lists[key]
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(req *http.Request) (*http.Response, error) { return f(req) }

// newRunner returns a Runner for cfg, counting its list requests.
func newRunner(t *testing.T, cfg *rest.Config, maxOutput int) (*kubeexec.Runner, *requestCounter) {
	t.Helper()
	rc := &requestCounter{lists: map[string]int{}}
	cfg = rest.CopyConfig(cfg)
	cfg.Wrap(rc.wrap)
	r, err := kubeexec.New(kubeexec.Config{REST: cfg, MaxOutputBytes: maxOutput})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return r, rc
}

// run runs argv with a 30 s deadline.
func run(t *testing.T, r *kubeexec.Runner, argv ...string) kubeexec.Result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	return r.Run(ctx, argv)
}

// mustSucceed runs argv and fails the test unless it exits 0.
func mustSucceed(t *testing.T, r *kubeexec.Runner, argv ...string) kubeexec.Result {
	t.Helper()
	res := run(t, r, argv...)
	if res.ExitCode != 0 {
		t.Fatalf("Run(%q): got exit %d, error %q; want 0", argv, res.ExitCode, res.Error)
	}
	return res
}

func TestIntegration(t *testing.T) {
	if testing.Short() {
		t.Skip("needs the local testbed (a real kube-apiserver)")
	}
	c := setupCluster(t)
	r, counter := newRunner(t, c.cfg, 0)
	ns := c.ns

	t.Run("get table", func(t *testing.T) {
		res := mustSucceed(t, r, "get", "pods", "-n", ns, "-l", "tier=solo")
		if !regexp.MustCompile(`^NAME +READY +STATUS +RESTARTS +AGE\nsolo +\d/1 +\S+ +\d+ +\S+\n$`).MatchString(res.Output) {
			t.Fatalf("get pods: got\n%s\nwant kubectl's table with one row for solo", res.Output)
		}
	})
	t.Run("get wide", func(t *testing.T) {
		res := mustSucceed(t, r, "get", "pod", "solo", "-n", ns, "-o", "wide")
		if !regexp.MustCompile(`^NAME +READY +STATUS +RESTARTS +AGE +IP +NODE +NOMINATED NODE +READINESS GATES\n`).MatchString(res.Output) ||
			!strings.Contains(res.Output, testbed.NodeName) {
			t.Fatalf("get -o wide: got\n%s\nwant the wide columns and node %s", res.Output, testbed.NodeName)
		}
	})
	t.Run("get json", func(t *testing.T) {
		res := mustSucceed(t, r, "get", "pods", "-n", ns, "-o", "json")
		var list struct {
			Kind  string
			Items []corev1.Pod
		}
		if err := json.Unmarshal([]byte(res.Output), &list); err != nil {
			t.Fatalf("get -o json does not parse: %v", err)
		}
		names := map[string]bool{}
		for _, p := range list.Items {
			names[p.Name] = true
			if len(p.ManagedFields) != 0 {
				t.Errorf("pod %s: managedFields shown; kubectl hides them by default", p.Name)
			}
		}
		if list.Kind != "List" || !names["solo"] || len(list.Items) != 3 {
			t.Fatalf("get -o json: got kind %q with pods %v; want a List of solo and the 2 web pods", list.Kind, names)
		}
	})
	t.Run("get yaml", func(t *testing.T) {
		res := mustSucceed(t, r, "get", "configmap", "settings", "-n", ns, "-o", "yaml")
		var cm corev1.ConfigMap
		if err := yaml.Unmarshal([]byte(res.Output), &cm); err != nil {
			t.Fatalf("get -o yaml does not parse: %v", err)
		}
		if cm.Kind != "ConfigMap" || cm.Name != "settings" || cm.Data["mode"] != "debug" {
			t.Fatalf("get -o yaml: got %s %s %v; want ConfigMap settings with mode=debug", cm.Kind, cm.Name, cm.Data)
		}
	})
	t.Run("get name", func(t *testing.T) {
		res := mustSucceed(t, r, "get", "pods,deploy", "-n", ns, "-o", "name", "-l", "tier=solo")
		if res.Output != "pod/solo\n" {
			t.Fatalf("get -o name: got %q; want %q", res.Output, "pod/solo\n")
		}
		res = mustSucceed(t, r, "get", "deploy", "-n", ns, "-oname")
		if res.Output != "deployment.apps/web\n" {
			t.Fatalf("get deploy -o name: got %q; want %q", res.Output, "deployment.apps/web\n")
		}
	})
	t.Run("field selector", func(t *testing.T) {
		res := mustSucceed(t, r, "get", "cm", "-n", ns, "--field-selector", "metadata.name=settings", "--no-headers")
		if !regexp.MustCompile(`^settings +1 +\S+\n$`).MatchString(res.Output) {
			t.Fatalf("get --field-selector: got %q; want only settings", res.Output)
		}
	})
	t.Run("all namespaces", func(t *testing.T) {
		res := mustSucceed(t, r, "get", "deployments", "-A")
		if !strings.HasPrefix(res.Output, "NAMESPACE ") || !regexp.MustCompile(`(?m)^`+ns+` +web +`).MatchString(res.Output) {
			t.Fatalf("get -A: got\n%s\nwant a NAMESPACE column and %s/web", res.Output, ns)
		}
	})
	t.Run("type/name and comma lists", func(t *testing.T) {
		res := mustSucceed(t, r, "get", "pod/solo", "cm/settings", "-n", ns)
		if !regexp.MustCompile(`(?s)^NAME +READY.*\npod/solo .*\n\nNAME +DATA +AGE\nconfigmap/settings +1 +\S+\n$`).MatchString(res.Output) {
			t.Fatalf("get pod/solo cm/settings: got\n%s\nwant two kind-qualified tables", res.Output)
		}
		res = mustSucceed(t, r, "get", "deploy,cm", "-n", ns, "-l", "app=web")
		if !strings.Contains(res.Output, "deployment.apps/web") || strings.Contains(res.Output, "configmap/") {
			t.Fatalf("get deploy,cm -l app=web: got\n%s\nwant deployment.apps/web only", res.Output)
		}
	})
	t.Run("crd", func(t *testing.T) {
		for _, typ := range []string{c.crd.plural, c.crd.short, c.crd.fullName(), "widget." + c.crd.group, c.crd.kind + ".v1." + c.crd.group} {
			res := mustSucceed(t, r, "get", typ, "-n", ns)
			if !regexp.MustCompile(`^NAME +SIZE +AGE\nw1 +3 +\S+\n$`).MatchString(res.Output) {
				t.Fatalf("get %s: got\n%s\nwant the CRD's printer columns", typ, res.Output)
			}
		}
		res := mustSucceed(t, r, "get", c.crd.short+"/w1", "-n", ns, "-o", "json")
		var w map[string]any
		if err := json.Unmarshal([]byte(res.Output), &w); err != nil || w["kind"] != c.crd.kind {
			t.Fatalf("get %s/w1 -o json: got %v (%v); want the Widget", c.crd.short, w["kind"], err)
		}
	})
	t.Run("new crd is found", func(t *testing.T) {
		// The Runner has cached discovery by now; a CRD created afterwards
		// must still be found.
		mustSucceed(t, r, "get", "pods", "-n", ns)
		late := crdNames{group: "late" + c.suffix + ".example.com", plural: "gadgets", short: "gdg" + c.suffix, kind: "Gadget"}
		crdGVR := schema.GroupVersionResource{Group: "apiextensions.k8s.io", Version: "v1", Resource: "customresourcedefinitions"}
		crd := &unstructured.Unstructured{Object: map[string]any{
			"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
			"metadata": map[string]any{"name": late.fullName()},
			"spec": map[string]any{
				"group": late.group, "scope": "Cluster",
				"names": map[string]any{"plural": late.plural, "kind": late.kind, "shortNames": []any{late.short}},
				"versions": []any{map[string]any{"name": "v1", "served": true, "storage": true,
					"schema": map[string]any{"openAPIV3Schema": map[string]any{"type": "object"}}}},
			},
		}}
		if _, err := c.dyn.Resource(crdGVR).Create(context.Background(), crd, metav1.CreateOptions{}); err != nil {
			t.Fatalf("create CRD: %v", err)
		}
		t.Cleanup(func() {
			_ = c.dyn.Resource(crdGVR).Delete(context.Background(), late.fullName(), metav1.DeleteOptions{})
		})
		testkit.CheckFor(t, 30*time.Second, 500*time.Millisecond, func() error {
			res := run(t, r, "get", late.short)
			if res.ExitCode != 0 || res.Error != "No resources found" {
				return fmt.Errorf("get %s: exit %d, error %q", late.short, res.ExitCode, res.Error)
			}
			return nil
		})
	})
	t.Run("not found", func(t *testing.T) {
		res := run(t, r, "get", "pods", "nope", "-n", ns)
		if res.ExitCode != 1 || res.Error != `Error from server (NotFound): pods "nope" not found` {
			t.Fatalf("get missing pod: got exit %d error %q; want 1 and kubectl's NotFound", res.ExitCode, res.Error)
		}
		res = run(t, r, "get", "nosuchthing")
		if res.ExitCode != 1 || res.Error != `error: the server doesn't have a resource type "nosuchthing"` {
			t.Fatalf("get unknown type: got exit %d error %q; want 1 and kubectl's message", res.ExitCode, res.Error)
		}
		res = mustSucceed(t, r, "get", "services", "-n", ns, "-l", "none=here")
		if res.Error != "No resources found in "+ns+" namespace." || res.Output != "" {
			t.Fatalf("get with no match: got output %q error %q; want kubectl's notice on stderr", res.Output, res.Error)
		}
	})
	t.Run("describe", func(t *testing.T) {
		res := mustSucceed(t, r, "describe", "pod", "solo", "-n", ns)
		for _, re := range []string{`(?m)^Name: +solo$`, `(?m)^Node: +` + testbed.NodeName, `(?m)^Events:\n +Type +Reason +Age +From +Message`, `Warning +TestOld +.*the older event`} {
			if !regexp.MustCompile(re).MatchString(res.Output) {
				t.Fatalf("describe pod: output does not match %s:\n%s", re, res.Output)
			}
		}
		res = mustSucceed(t, r, "describe", "deployment/web", "-n", ns)
		for _, re := range []string{`(?m)^Name: +web$`, `(?m)^Selector: +app=web$`, `(?m)^Replicas: +2 desired`} {
			if !regexp.MustCompile(re).MatchString(res.Output) {
				t.Fatalf("describe deployment: output does not match %s:\n%s", re, res.Output)
			}
		}
		res = mustSucceed(t, r, "describe", c.crd.short, "w1", "-n", ns)
		if !regexp.MustCompile(`(?m)^Kind: +Widget$`).MatchString(res.Output) {
			t.Fatalf("describe custom object: got\n%s\nwant the generic describer's output", res.Output)
		}
		res = run(t, r, "describe", "pod", "nope", "-n", ns)
		if res.ExitCode != 1 || res.Error != `Error from server (NotFound): pods "nope" not found` {
			t.Fatalf("describe missing pod: got exit %d error %q; want kubectl's NotFound", res.ExitCode, res.Error)
		}
	})
	t.Run("events", func(t *testing.T) {
		res := mustSucceed(t, r, "events", "-n", ns, "--for", "pod/solo")
		want := regexp.MustCompile(`^LAST SEEN +TYPE +REASON +OBJECT +MESSAGE\n` +
			`1\dm \(x3 over 2\dm\) +Warning +TestOld +Pod/solo +the older event\n` +
			`\S+ +Normal +TestNew +Pod/solo +the newer event\n$`)
		if !want.MatchString(res.Output) {
			t.Fatalf("events --for pod/solo: got\n%s\nwant the two events, oldest first", res.Output)
		}
		res = mustSucceed(t, r, "events", "-A", "--types", "Warning")
		if !strings.HasPrefix(res.Output, "NAMESPACE ") || !strings.Contains(res.Output, "TestOld") || strings.Contains(res.Output, "TestNew") {
			t.Fatalf("events -A --types Warning: got\n%s\nwant a NAMESPACE column and only warnings", res.Output)
		}
		res = mustSucceed(t, r, "get", "events", "-n", ns, "--field-selector", "reason=TestNew")
		if !regexp.MustCompile(`^LAST SEEN +TYPE +REASON +OBJECT +MESSAGE\n.*TestNew`).MatchString(res.Output) {
			t.Fatalf("get events: got\n%s\nwant the server's event table", res.Output)
		}
	})
	t.Run("sort by", func(t *testing.T) {
		// Names sort new before old; timestamps the other way round.
		res := mustSucceed(t, r, "get", "events", "-n", ns, "--field-selector", "involvedObject.name=solo", "--sort-by", ".lastTimestamp", "-o", "name")
		if want := "event/solo.old\nevent/solo.new\n"; res.Output != want {
			t.Fatalf("get events --sort-by .lastTimestamp: got %q; want %q", res.Output, want)
		}
		res = mustSucceed(t, r, "get", "events", "-n", ns, "--field-selector", "involvedObject.name=solo", "--sort-by", "{.lastTimestamp}", "--no-headers")
		if !regexp.MustCompile(`^\S+ +Warning +TestOld .*\n\S+ +Normal +TestNew `).MatchString(res.Output) {
			t.Fatalf("get events --sort-by table: got\n%s\nwant TestOld before TestNew", res.Output)
		}
	})
	t.Run("chunked listing", func(t *testing.T) {
		res := mustSucceed(t, r, "get", "configmaps", "-n", ns, "-l", "bulk=true", "--chunk-size", "7", "--no-headers")
		if got := strings.Count(res.Output, "\n"); got != c.bulk {
			t.Fatalf("rows: got %d; want %d", got, c.bulk)
		}
		want := (c.bulk + 6) / 7
		if got := counter.count("/api/v1/namespaces/" + ns + "/configmaps?limit=7"); got != want {
			t.Fatalf("list requests with limit=7: got %d; want %d", got, want)
		}
	})
	t.Run("byte cap", func(t *testing.T) {
		small, smallCounter := newRunner(t, c.cfg, 4096)
		res := mustSucceed(t, small, "get", "configmaps", "-n", ns, "-l", "bulk=true", "--chunk-size", "50")
		if !res.Truncated || len(res.Output) > 4096 || !strings.HasSuffix(res.Output, "\n") {
			t.Fatalf("capped get: got Truncated %v, %d bytes; want truncated to <= 4096 at a line end", res.Truncated, len(res.Output))
		}
		if !strings.Contains(res.Error, "output truncated at 4096 bytes; narrow with -l, -n, --tail or --chunk-size (") || !strings.Contains(res.Error, "more configmaps remain") {
			t.Fatalf("capped get: got error %q; want the truncation hint", res.Error)
		}
		// About 20 bytes a row: 4 KiB fill 4 pages of 50, not all 6.
		if got := smallCounter.count("/api/v1/namespaces/" + ns + "/configmaps?limit=50"); got > 5 {
			t.Fatalf("capped get: got %d list requests; want reading to stop at the cap (<= 5 of 6 pages)", got)
		}
		res = mustSucceed(t, small, "get", "configmaps", "-n", ns, "-l", "bulk=true", "-o", "json")
		if !res.Truncated || len(res.Output) > 4096 {
			t.Fatalf("capped get -o json: got Truncated %v, %d bytes; want truncated", res.Truncated, len(res.Output))
		}
	})
	t.Run("forbidden", func(t *testing.T) {
		// A profile that lets Secrets be read (redacted) leaves the
		// decision to the cluster's RBAC, which refuses the viewer.
		viewer, _ := profileRunner(t, restConfig(t, testbed.ViewerKubeconfig(t)), 0, secretsRedactedPolicy, "any")
		res := run(t, viewer, "get", "secrets", "-n", ns)
		want := fmt.Sprintf(`Error from server (Forbidden): secrets is forbidden: User "system:serviceaccount:%s:%s" cannot list resource "secrets" in API group "" in the namespace "%s"`,
			testbed.ViewerNamespace, testbed.ViewerServiceAccount, ns)
		if res.ExitCode != 1 || res.Error != want {
			t.Fatalf("viewer get secrets: got exit %d error %q; want 1 and %q", res.ExitCode, res.Error, want)
		}
		mustSucceed(t, viewer, "get", "pods", "-n", ns)
	})
	t.Run("guard blocks writes", func(t *testing.T) {
		cs := kubernetes.NewForConfigOrDie(r.RESTConfig())
		cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "written"}}
		if _, err := cs.CoreV1().ConfigMaps(ns).Create(context.Background(), cm, metav1.CreateOptions{}); !errors.Is(err, readonly.ErrWriteDenied) {
			t.Fatalf("create through the runner's config: got %v; want %v", err, readonly.ErrWriteDenied)
		}
		if err := cs.CoreV1().ConfigMaps(ns).Delete(context.Background(), "settings", metav1.DeleteOptions{}); !errors.Is(err, readonly.ErrWriteDenied) {
			t.Fatalf("delete through the runner's config: got %v; want %v", err, readonly.ErrWriteDenied)
		}
		if _, err := c.cs.CoreV1().ConfigMaps(ns).Get(context.Background(), "written", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
			t.Fatalf("configmap written: got %v; want NotFound", err)
		}
		if _, err := c.cs.CoreV1().ConfigMaps(ns).Get(context.Background(), "settings", metav1.GetOptions{}); err != nil {
			t.Fatalf("configmap settings after refused delete: %v", err)
		}
	})
	t.Run("deadline", func(t *testing.T) {
		ctx, cancel := context.WithDeadline(context.Background(), time.Now().Add(-time.Second))
		defer cancel()
		res := r.Run(ctx, []string{"get", "configmaps", "-n", ns})
		if res.ExitCode != 1 || res.Error != "error: the command did not finish before its deadline" {
			t.Fatalf("expired deadline: got exit %d error %q; want 1 and the deadline message", res.ExitCode, res.Error)
		}
	})
	t.Run("odd input", func(t *testing.T) {
		for _, argv := range [][]string{
			{"get", "pods,", "-n", ns}, {"get", ",", "-n", ns}, {"get", "pods/..", "-n", ns}, {"get", "pods", "a%2Fb", "-n", ns},
			{"get", "pods", "", "-n", ns}, {"describe", "pods/", "-n", ns}, {"logs", "deploy/nope", "-n", ns},
			{"logs", "cm/settings", "-n", ns}, {"events", "--for", "nosuch/x"}, {"get", "all", "x", "-n", ns},
			{"get", "pods", "-n", "Not_A_Namespace"}, {"describe"}, {"get", "--raw", "/api"},
		} {
			res := run(t, r, argv...)
			if res.Error == "" && res.ExitCode == 0 && res.Output == "" {
				t.Errorf("Run(%q): got an empty result", argv)
			}
		}
	})
}

func TestIntegrationLogs(t *testing.T) {
	if testing.Short() {
		t.Skip("needs the local testbed (a real kube-apiserver)")
	}
	cfg := restConfig(t, testbed.Kubeconfig(t))
	testbed.Seed(t)
	r, _ := newRunner(t, cfg, 0)
	ns := testbed.SeedNamespace

	res := mustSucceed(t, r, "logs", "deploy/web", "-n", ns, "--tail", "1")
	if strings.Count(res.Output, "\n") != 1 || !regexp.MustCompile(`^Found 2 pods, using pod/web-`).MatchString(res.Error) {
		t.Fatalf("logs deploy/web --tail 1: got output %q error %q; want one line and kubectl's pod notice", res.Output, res.Error)
	}
	res = mustSucceed(t, r, "logs", "crashy", "-n", ns)
	if !strings.Contains(res.Output, "panic:") {
		t.Fatalf("logs crashy: got %q; want the crash", res.Output)
	}
	prev := mustSucceed(t, r, "logs", "crashy", "-n", ns, "--previous")
	if prev.Output == "" {
		t.Fatalf("logs crashy --previous: got no output; want the previous container's log")
	}
	res = mustSucceed(t, r, "logs", "pod/crashy", "-n", ns, "--limit-bytes", "5")
	if len(res.Output) != 5 {
		t.Fatalf("logs --limit-bytes 5: got %q; want 5 bytes", res.Output)
	}
	res = mustSucceed(t, r, "logs", "-l", "app=web", "-n", ns, "--prefix", "--tail", "1")
	if lines := strings.Split(strings.TrimSpace(res.Output), "\n"); len(lines) != 2 || !strings.HasPrefix(lines[0], "[pod/web-") {
		t.Fatalf("logs -l app=web --prefix: got %q; want one prefixed line per pod", res.Output)
	}
	res = run(t, r, "logs", "crashy", "-n", ns, "-f")
	if res.ExitCode != 1 || res.DeniedReason != policy.ReasonUnbounded {
		t.Fatalf("logs -f: got exit %d error %q; want it refused", res.ExitCode, res.Error)
	}

	capped, err := kubeexec.New(kubeexec.Config{REST: cfg, MaxLogBytes: 20})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	res = mustSucceed(t, capped, "logs", "crashy", "-n", ns)
	if !res.Truncated || len(res.Output) > 20 || !strings.Contains(res.Error, "output truncated") {
		t.Fatalf("logs with a 20-byte cap: got Truncated %v output %q error %q; want at most 20 bytes and the hint", res.Truncated, res.Output, res.Error)
	}
}

// TestIntegrationMatchesKubectl compares outputs that do not depend on time
// with the testbed's own kubectl binary, found as the testbed finds it
// (testbed.BinDir, which honours KUBENTLY_CACHE_DIR).
func TestIntegrationMatchesKubectl(t *testing.T) {
	if testing.Short() {
		t.Skip("needs the local testbed (a real kube-apiserver)")
	}
	kubeconfig := testbed.Kubeconfig(t)
	kubectl := filepath.Join(testbed.BinDir(t), "kubectl")
	testbed.Seed(t)
	r, _ := newRunner(t, restConfig(t, kubeconfig), 0)
	ns := testbed.SeedNamespace
	for _, argv := range [][]string{
		{"get", "deploy,svc", "-n", ns, "-o", "name"},
		{"get", "svc", "web", "-n", ns, "-o", "yaml"},
		{"get", "deploy", "web", "-n", ns, "-o", "json"},
		{"get", "pods", "-n", ns, "-l", "app=web", "-o", "json"},
		{"get", "pods", "nope", "-n", ns},
		{"get", "nosuchthing"},
		{"get", "nodes", "-o", "name"},
		{"get", "endpoints", "web", "-n", ns, "-o", "name"}, // with a deprecation warning
		{"describe", "svc", "web", "-n", ns},
		{"describe", "ns", ns},
		{"logs", "crashy", "-n", ns, "--previous"},
		{"logs", "deploy/web", "-n", ns, "--tail", "2", "--timestamps"},
		{"events", "-n", ns, "--for", "pod/nope"},
	} {
		want := kubectlRun(t, kubectl, kubeconfig, argv)
		got := run(t, r, argv...)
		if got.Output != want.Output || got.Error != want.Error || got.ExitCode != want.ExitCode {
			t.Errorf("Run(%q) differs from kubectl:\ngot  %+v\nwant %+v", argv, got, want)
		}
	}
}
