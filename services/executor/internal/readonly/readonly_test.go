package readonly_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	authorizationv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"kubently.io/services/executor/internal/readonly"
)

// recorder is an httptest handler that remembers which requests reached the
// server and answers every one with an empty JSON object of the right kind.
type recorder struct {
	mu   sync.Mutex
	seen []string
}

func (r *recorder) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	r.mu.Lock()
	r.seen = append(r.seen, req.Method+" "+req.URL.Path)
	r.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	switch {
	case strings.HasSuffix(req.URL.Path, "/selfsubjectaccessreviews"):
		_, _ = io.WriteString(w, `{"apiVersion":"authorization.k8s.io/v1","kind":"SelfSubjectAccessReview","status":{"allowed":true}}`)
	case strings.HasSuffix(req.URL.Path, "/pods"):
		_, _ = io.WriteString(w, `{"apiVersion":"v1","kind":"PodList","metadata":{},"items":[]}`)
	default:
		_, _ = io.WriteString(w, `{"apiVersion":"v1","kind":"Pod","metadata":{"name":"x"}}`)
	}
}

func (r *recorder) requests() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.seen...)
}

func TestWrap(t *testing.T) {
	tests := []struct {
		name    string
		method  string
		target  string
		header  http.Header
		wantErr error // nil: the request must reach the server
	}{
		{name: "get pod", method: http.MethodGet, target: "/api/v1/namespaces/default/pods/x"},
		{name: "empty method is GET", method: "", target: "/api/v1/namespaces/default/pods"},
		{name: "head", method: http.MethodHead, target: "/api/v1/pods"},
		{name: "options", method: http.MethodOptions, target: "/api/v1/pods"},
		{name: "list with watch=false", method: http.MethodGet, target: "/api/v1/pods?watch=false"},
		{name: "logs", method: http.MethodGet, target: "/api/v1/namespaces/default/pods/x/log?tailLines=10"},
		{name: "pod named proxy", method: http.MethodGet, target: "/api/v1/namespaces/default/pods/proxy"},
		{name: "deployment named watch", method: http.MethodGet, target: "/apis/apps/v1/namespaces/default/deployments/watch"},
		{name: "namespace status", method: http.MethodGet, target: "/api/v1/namespaces/exec/status"},
		{name: "ssar", method: http.MethodPost, target: "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews"},
		{name: "ssrr", method: http.MethodPost, target: "/apis/authorization.k8s.io/v1/selfsubjectrulesreviews"},

		{name: "create pod", method: http.MethodPost, target: "/api/v1/namespaces/default/pods", wantErr: readonly.ErrWriteDenied},
		{name: "put", method: http.MethodPut, target: "/api/v1/namespaces/default/pods/x", wantErr: readonly.ErrWriteDenied},
		{name: "patch", method: http.MethodPatch, target: "/api/v1/namespaces/default/pods/x", wantErr: readonly.ErrWriteDenied},
		{name: "delete", method: http.MethodDelete, target: "/api/v1/namespaces/default/pods/x", wantErr: readonly.ErrWriteDenied},
		{name: "lower-case method", method: "delete", target: "/api/v1/namespaces/default/pods/x", wantErr: readonly.ErrWriteDenied},
		{name: "token review", method: http.MethodPost, target: "/apis/authentication.k8s.io/v1/tokenreviews", wantErr: readonly.ErrWriteDenied},
		{name: "self subject review", method: http.MethodPost, target: "/apis/authentication.k8s.io/v1/selfsubjectreviews", wantErr: readonly.ErrWriteDenied},
		{name: "ssar with suffix", method: http.MethodPost, target: "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews/x", wantErr: readonly.ErrWriteDenied},
		{name: "ssar behind other path", method: http.MethodPost, target: "/api/v1/namespaces/a/pods/apis/authorization.k8s.io/v1/selfsubjectaccessreviews", wantErr: readonly.ErrWriteDenied},
		{name: "subject access review", method: http.MethodPost, target: "/apis/authorization.k8s.io/v1/subjectaccessreviews", wantErr: readonly.ErrWriteDenied},
		{name: "eviction", method: http.MethodPost, target: "/api/v1/namespaces/default/pods/x/eviction", wantErr: readonly.ErrWriteDenied},
		{name: "exec over GET", method: http.MethodGet, target: "/api/v1/namespaces/default/pods/x/exec?command=sh", wantErr: readonly.ErrWriteDenied},
		{name: "attach over GET", method: http.MethodGet, target: "/api/v1/namespaces/default/pods/x/attach", wantErr: readonly.ErrWriteDenied},
		{name: "portforward over GET", method: http.MethodGet, target: "/api/v1/namespaces/default/pods/x/portforward", wantErr: readonly.ErrWriteDenied},
		{name: "service proxy", method: http.MethodGet, target: "/api/v1/namespaces/default/services/x/proxy/admin", wantErr: readonly.ErrWriteDenied},
		{name: "node proxy", method: http.MethodGet, target: "/api/v1/nodes/n1/proxy/exec/ns/pod/c", wantErr: readonly.ErrWriteDenied},
		{name: "legacy proxy", method: http.MethodGet, target: "/api/v1/proxy/nodes/n1/pods", wantErr: readonly.ErrWriteDenied},
		{name: "escaped slash hides exec", method: http.MethodGet, target: "/api/v1/namespaces/default/pods/x%2Fexec", wantErr: readonly.ErrWriteDenied},
		{name: "websocket upgrade", method: http.MethodGet, target: "/api/v1/namespaces/default/pods/x/log", header: http.Header{"Upgrade": {"websocket"}, "Connection": {"Upgrade"}}, wantErr: readonly.ErrWriteDenied},
		{name: "connection upgrade only", method: http.MethodGet, target: "/api/v1/pods", header: http.Header{"Connection": {"keep-alive, Upgrade"}}, wantErr: readonly.ErrWriteDenied},

		{name: "watch query", method: http.MethodGet, target: "/api/v1/pods?watch=true", wantErr: readonly.ErrWatchDenied},
		{name: "watch=1", method: http.MethodGet, target: "/api/v1/pods?watch=1", wantErr: readonly.ErrWatchDenied},
		{name: "empty watch value", method: http.MethodGet, target: "/api/v1/pods?watch=", wantErr: readonly.ErrWatchDenied},
		{name: "watch path", method: http.MethodGet, target: "/api/v1/watch/namespaces/default/pods", wantErr: readonly.ErrWatchDenied},
		{name: "group watch path", method: http.MethodGet, target: "/apis/apps/v1/watch/deployments", wantErr: readonly.ErrWatchDenied},
		{name: "watch behind prefix", method: http.MethodGet, target: "/k8s/clusters/c-1/api/v1/watch/pods", wantErr: readonly.ErrWatchDenied},
		{name: "follow logs", method: http.MethodGet, target: "/api/v1/namespaces/default/pods/x/log?follow=true", wantErr: readonly.ErrWatchDenied},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := &recorder{}
			srv := httptest.NewServer(rec)
			defer srv.Close()

			client := &http.Client{Transport: readonly.Wrap(srv.Client().Transport)}
			req, err := http.NewRequestWithContext(context.Background(), tt.method, srv.URL+tt.target, strings.NewReader("{}"))
			if err != nil {
				t.Fatalf("NewRequest: %v", err)
			}
			for k, vs := range tt.header {
				req.Header[k] = vs
			}
			resp, err := client.Do(req)
			if resp != nil {
				_ = resp.Body.Close()
			}

			if tt.wantErr == nil {
				if err != nil {
					t.Fatalf("Do: got error %v; want none", err)
				}
				if got := len(rec.requests()); got != 1 {
					t.Fatalf("requests reaching the server: got %d; want 1", got)
				}
				return
			}
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("Do: got error %v; want %v", err, tt.wantErr)
			}
			if got := rec.requests(); len(got) != 0 {
				t.Fatalf("requests reaching the server: got %q; want none", got)
			}
		})
	}
}

func TestGuardClientGo(t *testing.T) {
	rec := &recorder{}
	srv := httptest.NewServer(rec)
	defer srv.Close()

	base := &rest.Config{Host: srv.URL}
	guarded := readonly.Guard(base)
	if base.WrapTransport != nil {
		t.Fatalf("Guard modified its argument: WrapTransport got non-nil; want nil")
	}
	cs, err := kubernetes.NewForConfig(guarded)
	if err != nil {
		t.Fatalf("NewForConfig: %v", err)
	}
	ctx := context.Background()

	if _, err := cs.CoreV1().Pods("default").List(ctx, metav1.ListOptions{}); err != nil {
		t.Fatalf("List pods: got error %v; want none", err)
	}
	ssar := &authorizationv1.SelfSubjectAccessReview{Spec: authorizationv1.SelfSubjectAccessReviewSpec{
		ResourceAttributes: &authorizationv1.ResourceAttributes{Verb: "get", Resource: "pods"},
	}}
	if _, err := cs.AuthorizationV1().SelfSubjectAccessReviews().Create(ctx, ssar, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create SelfSubjectAccessReview: got error %v; want none", err)
	}

	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "x"}}
	if _, err := cs.CoreV1().Pods("default").Create(ctx, pod, metav1.CreateOptions{}); !errors.Is(err, readonly.ErrWriteDenied) {
		t.Fatalf("create pod: got error %v; want %v", err, readonly.ErrWriteDenied)
	}
	if err := cs.CoreV1().Pods("default").Delete(ctx, "x", metav1.DeleteOptions{}); !errors.Is(err, readonly.ErrWriteDenied) {
		t.Fatalf("delete pod: got error %v; want %v", err, readonly.ErrWriteDenied)
	}
	if _, err := cs.CoreV1().Pods("default").Watch(ctx, metav1.ListOptions{}); !errors.Is(err, readonly.ErrWatchDenied) {
		t.Fatalf("watch pods: got error %v; want %v", err, readonly.ErrWatchDenied)
	}

	want := []string{
		"GET /api/v1/namespaces/default/pods",
		"POST /apis/authorization.k8s.io/v1/selfsubjectaccessreviews",
	}
	if got := rec.requests(); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("requests reaching the server: got %q; want %q", got, want)
	}
}

func TestGuardPathPrefix(t *testing.T) {
	rec := &recorder{}
	mux := http.NewServeMux()
	mux.Handle("/k8s/clusters/c-1/", rec)
	srv := httptest.NewServer(mux)
	defer srv.Close()

	cs, err := kubernetes.NewForConfig(readonly.Guard(&rest.Config{Host: srv.URL + "/k8s/clusters/c-1/"}))
	if err != nil {
		t.Fatalf("NewForConfig: %v", err)
	}
	ctx := context.Background()
	ssar := &authorizationv1.SelfSubjectAccessReview{Spec: authorizationv1.SelfSubjectAccessReviewSpec{
		ResourceAttributes: &authorizationv1.ResourceAttributes{Verb: "get", Resource: "pods"},
	}}
	if _, err := cs.AuthorizationV1().SelfSubjectAccessReviews().Create(ctx, ssar, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create SelfSubjectAccessReview behind prefix: got error %v; want none", err)
	}
	if _, err := cs.CoreV1().Pods("default").Watch(ctx, metav1.ListOptions{}); !errors.Is(err, readonly.ErrWatchDenied) {
		t.Fatalf("watch pods behind prefix: got error %v; want %v", err, readonly.ErrWatchDenied)
	}
}

func TestGuardNil(t *testing.T) {
	if got := readonly.Guard(nil); got != nil {
		t.Fatalf("Guard(nil): got %v; want nil", got)
	}
}
