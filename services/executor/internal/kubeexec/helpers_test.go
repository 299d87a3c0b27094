package kubeexec

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	dynamicfake "k8s.io/client-go/dynamic/fake"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"

	"kubently.io/libs/policy"
)

// testNow is the fixed clock of unit tests.
var testNow = time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)

// nopResetter stands in for the discovery RESTMapper's Reset.
type nopResetter struct{}

func (nopResetter) ResetWithContext(context.Context) {}

// testRunner builds a Runner over client-go fakes: a fake clientset for
// typed calls (events, logs), a fake dynamic client, a static RESTMapper
// that knows pods, configmaps, events and deployments, and, when handler is
// not nil, a real REST client talking to an httptest server for get.
func testRunner(t testing.TB, maxOutput int, handler http.Handler, objs ...runtime.Object) (*Runner, *fake.Clientset) {
	t.Helper()
	cs := fake.NewClientset(objs...)
	m := meta.NewDefaultRESTMapper(nil)
	m.Add(corev1.SchemeGroupVersion.WithKind("Pod"), meta.RESTScopeNamespace)
	m.Add(corev1.SchemeGroupVersion.WithKind("ConfigMap"), meta.RESTScopeNamespace)
	m.Add(corev1.SchemeGroupVersion.WithKind("Event"), meta.RESTScopeNamespace)
	m.Add(corev1.SchemeGroupVersion.WithKind("Node"), meta.RESTScopeRoot)
	m.Add(appsv1.SchemeGroupVersion.WithKind("Deployment"), meta.RESTScopeNamespace)
	r := &Runner{
		maxOutput:   maxOutput,
		maxLogBytes: int64(maxOutput),
		maxLogScan:  DefaultMaxLogScanBytes,
		now:         func() time.Time { return testNow },
		core:        cs,
		dyn:         dynamicfake.NewSimpleDynamicClient(scheme.Scheme, objs...),
		mapper:      meta.ToRESTMapperWithContext(m),
		resetter:    nopResetter{},
	}
	if handler != nil {
		srv := httptest.NewServer(handler)
		t.Cleanup(srv.Close)
		cfg := &rest.Config{Host: srv.URL}
		cfg.GroupVersion = &schema.GroupVersion{}
		cfg.NegotiatedSerializer = scheme.Codecs.WithoutConversion()
		raw, err := rest.RESTClientFor(cfg)
		if err != nil {
			t.Fatalf("RESTClientFor: %v", err)
		}
		r.raw = raw
	}
	return r, cs
}

// podAPI serves /api/v1/.../pods like an API server holding n pods named
// pod-000 ... in namespace "demo": lists honour limit and continue, and the
// Accept header selects a Table, metadata or full objects.
type podAPI struct {
	n int

	mu    sync.Mutex
	lists int // list requests served
}

func (a *podAPI) listCount() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.lists
}

func podName(i int) string { return fmt.Sprintf("pod-%03d", i) }

func (a *podAPI) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	var name string
	switch {
	case req.URL.Path == "/api/v1/pods":
	case strings.HasPrefix(req.URL.Path, "/api/v1/namespaces/") && strings.HasSuffix(req.URL.Path, "/pods"):
		if req.URL.Path != "/api/v1/namespaces/demo/pods" {
			a = &podAPI{}
		}
	default:
		prefix := "/api/v1/namespaces/demo/pods/"
		if len(req.URL.Path) <= len(prefix) || req.URL.Path[:len(prefix)] != prefix {
			http.Error(w, `{"kind":"Status","apiVersion":"v1","status":"Failure","reason":"NotFound","code":404,"message":"the server could not find the requested resource"}`, http.StatusNotFound)
			return
		}
		name = req.URL.Path[len(prefix):]
	}

	start, end := 0, a.n
	cont := ""
	if name != "" {
		i := -1
		for j := 0; j < a.n; j++ {
			if podName(j) == name {
				i = j
			}
		}
		if i < 0 {
			w.WriteHeader(http.StatusNotFound)
			fmt.Fprintf(w, `{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"pods \"%s\" not found","reason":"NotFound","details":{"name":%q,"kind":"pods"},"code":404}`, name, name)
			return
		}
		start, end = i, i+1
	} else {
		a.mu.Lock()
		a.lists++
		a.mu.Unlock()
		q := req.URL.Query()
		if c := q.Get("continue"); c != "" {
			start, _ = strconv.Atoi(c)
		}
		if l, _ := strconv.Atoi(q.Get("limit")); l > 0 && start+l < a.n {
			end = start + l
			cont = strconv.Itoa(end)
		}
	}

	accept := req.Header.Get("Accept")
	pod := func(i int) map[string]any {
		return map[string]any{
			"apiVersion": "v1", "kind": "Pod",
			"metadata": map[string]any{
				"name": podName(i), "namespace": "demo", "labels": map[string]any{"app": "web"},
				"managedFields": []any{map[string]any{"manager": "test"}},
			},
			"spec": map[string]any{"nodeName": "node-0"},
		}
	}
	var body map[string]any
	switch {
	case accept == acceptTable:
		rows := []any{}
		for i := start; i < end; i++ {
			rows = append(rows, map[string]any{
				"cells": []any{podName(i), "1/1", "Running", int64(i % 3), "5m", fmt.Sprintf("10.0.0.%d", i), "node-0"},
				"object": map[string]any{"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1",
					"metadata": map[string]any{"name": podName(i), "namespace": "demo", "labels": map[string]any{"app": "web"}}},
			})
		}
		col := func(n string, prio int) map[string]any {
			c := map[string]any{"name": n, "type": "string", "format": "", "description": "", "priority": prio}
			if n == "Name" {
				c["format"] = "name"
			}
			if n == "Restarts" {
				c["type"] = "integer"
			}
			return c
		}
		body = map[string]any{
			"kind": "Table", "apiVersion": "meta.k8s.io/v1",
			"metadata":          map[string]any{"resourceVersion": "7", "continue": cont},
			"columnDefinitions": []any{col("Name", 0), col("Ready", 0), col("Status", 0), col("Restarts", 0), col("Age", 0), col("IP", 1), col("Node", 1)},
			"rows":              rows,
		}
	case name != "":
		body = pod(start)
	default:
		items := []any{}
		for i := start; i < end; i++ {
			p := pod(i)
			delete(p, "apiVersion") // like the API server: list items carry no kind
			delete(p, "kind")
			items = append(items, p)
		}
		body = map[string]any{"apiVersion": "v1", "kind": "PodList", "metadata": map[string]any{"resourceVersion": "7", "continue": cont}, "items": items}
	}
	_ = json.NewEncoder(w).Encode(body)
}

// refused is the Result of a command line policy.Parse refuses: the
// executor reads argv only through the policy's parser, so it runs
// nothing and reports the policy's reason.
func refused(reason policy.Reason, msg string) Result {
	return Result{Error: "error: " + msg, ExitCode: 1, DeniedReason: reason}
}
