package redact_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"kubently.io/services/executor/internal/redact"
)

// fakeAPI answers each path with a fixed body and content type, and counts
// the requests that reached it.
type fakeAPI struct {
	mu     sync.Mutex
	hits   int
	routes map[string]route
}

type route struct {
	contentType string
	body        string
	header      http.Header
}

func (f *fakeAPI) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	f.mu.Lock()
	f.hits++
	f.mu.Unlock()
	rt, ok := f.routes[req.URL.Path]
	if !ok {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusNotFound)
		_, _ = io.WriteString(w, `{"apiVersion":"v1","kind":"Status","status":"Failure","reason":"NotFound","code":404}`)
		return
	}
	for k, vs := range rt.header {
		w.Header()[k] = vs
	}
	w.Header().Set("Content-Type", rt.contentType)
	w.Header().Set("Content-Length", strconv.Itoa(len(rt.body)))
	_, _ = io.WriteString(w, rt.body)
}

func (f *fakeAPI) requests() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.hits
}

// startAPI serves routes on an httptest.Server closed at cleanup.
func startAPI(t testing.TB, routes map[string]route) (*fakeAPI, string) {
	t.Helper()
	api := &fakeAPI{routes: routes}
	srv := httptest.NewServer(api)
	t.Cleanup(srv.Close)
	return api, srv.URL
}

const (
	secretPath = "/api/v1/namespaces/default/secrets/s"
	tablePath  = "/api/v1/namespaces/default/secrets"
	logPath    = "/api/v1/namespaces/default/pods/p/log"
	protoPath  = "/api/v1/namespaces/default/pods/p"
	badPath    = "/api/v1/namespaces/default/configmaps/bad"
	gzipPath   = "/api/v1/namespaces/default/configmaps/gz"
	yamlPath   = "/api/v1/namespaces/default/configmaps/yaml"
	bigPath    = "/api/v1/namespaces/default/configmaps/big"
)

func testRoutes() map[string]route {
	return map[string]route{
		// No kind: only the URL hint says this is a Secret.
		secretPath: {contentType: "application/json", body: `{"metadata":{"name":"s","namespace":"default"},"type":"Opaque","data":{"password":"aHVudGVyMg=="}}`},
		tablePath: {contentType: "application/json;as=Table;v=v1;g=meta.k8s.io", body: `{"apiVersion":"meta.k8s.io/v1","kind":"Table","columnDefinitions":[{"name":"Name","type":"string"}],` +
			`"rows":[{"cells":["s"],"object":{"apiVersion":"v1","kind":"Secret","metadata":{"name":"s"},"data":{"password":"aHVudGVyMg=="}}}]}`},
		logPath:   {contentType: "text/plain", body: `{"kind":"Secret","data":{"password":"aHVudGVyMg=="}} not JSON`},
		protoPath: {contentType: "application/vnd.kubernetes.protobuf", body: "k8s\x00\x0a\x0f\x0a\x02v1\x12\x03Pod"},
		badPath:   {contentType: "application/json", body: `{"kind":"Secret","data":`},
		gzipPath:  {contentType: "application/json", body: "\x1f\x8b", header: http.Header{"Content-Encoding": {"gzip"}}},
		yamlPath:  {contentType: "application/yaml", body: "kind: Secret\n"},
		bigPath:   {contentType: "application/json", body: `{"kind":"ConfigMap","data":{"k":"` + strings.Repeat("x", 200) + `"}}`},
	}
}

func TestWrap(t *testing.T) {
	tests := []struct {
		name     string
		target   string
		maxBody  int64
		wantErr  error  // nil: the request succeeds
		wantBody string // compared as JSON unless wantRaw
		wantRaw  bool
		wantSent bool        // whether the request must reach the server
		header   http.Header // extra request headers
	}{
		{
			name: "secret GET without kind redacted by URL hint", target: secretPath, wantSent: true,
			wantBody: `{"metadata":{"name":"s","namespace":"default","annotations":{"kubently.io/redacted":"true"}},"type":"Opaque","data":{"password":"` + b64Mask + `"}}`,
		},
		{
			name: "Table content type with parameters", target: tablePath, wantSent: true,
			wantBody: `{"apiVersion":"meta.k8s.io/v1","kind":"Table","columnDefinitions":[{"name":"Name","type":"string"}],` +
				`"rows":[{"cells":["s"],"object":{"apiVersion":"v1","kind":"Secret","metadata":{"name":"s","annotations":{"kubently.io/redacted":"true"}},"data":{"password":"` + b64Mask + `"}}}]}`,
		},
		{name: "text/plain passes", target: logPath, wantSent: true, wantRaw: true, wantBody: testRoutes()[logPath].body},
		{name: "error response passes", target: "/api/v1/namespaces/default/secrets/missing", wantSent: true,
			wantBody: `{"apiVersion":"v1","kind":"Status","status":"Failure","reason":"NotFound","code":404}`},
		{name: "protobuf refused", target: protoPath, wantSent: true, wantErr: redact.ErrUnredactable},
		{name: "YAML refused", target: yamlPath, wantSent: true, wantErr: redact.ErrUnredactable},
		{name: "compressed JSON refused", target: gzipPath, wantSent: true, wantErr: redact.ErrUnredactable,
			// Asking explicitly stops net/http from decompressing transparently.
			header: http.Header{"Accept-Encoding": {"gzip"}}},
		{name: "bad JSON refused", target: badPath, wantSent: true, wantErr: redact.ErrMalformed},
		{name: "over MaxBody refused", target: bigPath, maxBody: 100, wantSent: true, wantErr: redact.ErrTooLarge},
		{name: "watch=true refused unsent", target: tablePath + "?watch=true", wantErr: redact.ErrWatchDenied},
		{name: "watch=1 refused unsent", target: tablePath + "?watch=1&resourceVersion=0", wantErr: redact.ErrWatchDenied},
		{name: "watch path refused unsent", target: "/api/v1/watch/namespaces/default/secrets", wantErr: redact.ErrWatchDenied},
		{name: "watch=false allowed", target: tablePath + "?watch=false", wantSent: true,
			wantBody: `{"apiVersion":"meta.k8s.io/v1","kind":"Table","columnDefinitions":[{"name":"Name","type":"string"}],` +
				`"rows":[{"cells":["s"],"object":{"apiVersion":"v1","kind":"Secret","metadata":{"name":"s","annotations":{"kubently.io/redacted":"true"}},"data":{"password":"` + b64Mask + `"}}}]}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			api, base := startAPI(t, testRoutes())
			r := newRedactor(t, redact.Config{MaxBody: tt.maxBody})
			client := &http.Client{Transport: r.Wrap(http.DefaultTransport)}
			t.Cleanup(client.CloseIdleConnections)

			req, err := http.NewRequestWithContext(context.Background(), http.MethodGet, base+tt.target, nil)
			if err != nil {
				t.Fatal(err)
			}
			for k, vs := range tt.header {
				req.Header[k] = vs
			}
			resp, err := client.Do(req)
			if sent := api.requests() > 0; sent != tt.wantSent {
				t.Errorf("request reached the server: got %v; want %v", sent, tt.wantSent)
			}
			if tt.wantErr != nil {
				if err == nil {
					_ = resp.Body.Close()
				}
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("Do: got error %v; want %v", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("Do: got error %v; want nil", err)
			}
			defer resp.Body.Close()
			body, err := io.ReadAll(resp.Body)
			if err != nil {
				t.Fatal(err)
			}
			if resp.ContentLength != int64(len(body)) {
				t.Errorf("ContentLength: got %d; want %d (the body's length)", resp.ContentLength, len(body))
			}
			if cl := resp.Header.Get("Content-Length"); cl != "" && cl != strconv.Itoa(len(body)) {
				t.Errorf("Content-Length header: got %s; want absent or %d", cl, len(body))
			}
			if tt.wantRaw {
				if string(body) != tt.wantBody {
					t.Errorf("body: got %q; want %q", body, tt.wantBody)
				}
				return
			}
			if diff := cmp.Diff(decodeJSON(t, []byte(tt.wantBody)), decodeJSON(t, body)); diff != "" {
				t.Errorf("body mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

// TestWrapClientGo checks that a typed client-go clientset decodes the
// redacted Secret, and that the mask survives as base64.
func TestWrapClientGo(t *testing.T) {
	_, base := startAPI(t, testRoutes())
	r := newRedactor(t, redact.Config{})
	cs, err := kubernetes.NewForConfig(&rest.Config{
		Host:          base,
		WrapTransport: r.Wrap,
		ContentConfig: rest.ContentConfig{ContentType: "application/json"},
	})
	if err != nil {
		t.Fatal(err)
	}
	s, err := cs.CoreV1().Secrets("default").Get(context.Background(), "s", metav1.GetOptions{})
	if err != nil {
		t.Fatalf("Get: %v", err)
	}
	if got, want := string(s.Data["password"]), redact.Mask; got != want {
		t.Errorf("Data[password]: got %q; want %q", got, want)
	}
	if got := s.Annotations[redact.AnnotationRedacted]; got != "true" {
		t.Errorf("annotation %s: got %q; want \"true\"", redact.AnnotationRedacted, got)
	}

	_, err = cs.CoreV1().Secrets("default").Watch(context.Background(), metav1.ListOptions{})
	if !errors.Is(err, redact.ErrWatchDenied) {
		t.Errorf("Watch: got error %v; want %v", err, redact.ErrWatchDenied)
	}
}

func TestWrapNilTransport(t *testing.T) {
	r := newRedactor(t, redact.Config{})
	rt := r.Wrap(nil)
	w, ok := rt.(interface{ WrappedRoundTripper() http.RoundTripper })
	if !ok || w.WrappedRoundTripper() != http.DefaultTransport {
		t.Fatalf("Wrap(nil): got %T; want a wrapper of http.DefaultTransport", rt)
	}
}
