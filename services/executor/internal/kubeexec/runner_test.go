package kubeexec

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/rest"

	"kubently.io/libs/policy"
	"kubently.io/services/executor/internal/readonly"
)

func TestNewValidatesConfig(t *testing.T) {
	tests := []struct {
		name    string
		cfg     Config
		wantErr error
	}{
		{name: "nil REST", cfg: Config{}, wantErr: ErrNoRESTConfig},
		{name: "negative output cap", cfg: Config{REST: &rest.Config{Host: "https://127.0.0.1:1"}, MaxOutputBytes: -1}, wantErr: ErrInvalidConfig},
		{name: "negative log cap", cfg: Config{REST: &rest.Config{Host: "https://127.0.0.1:1"}, MaxLogBytes: -1}, wantErr: ErrInvalidConfig},
		{name: "valid", cfg: Config{REST: &rest.Config{Host: "https://127.0.0.1:1"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := New(tt.cfg)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("New: got error %v; want %v", err, tt.wantErr)
			}
			if err != nil {
				return
			}
			if r.maxOutput != DefaultMaxOutputBytes || r.maxLogBytes != DefaultMaxOutputBytes || r.now == nil {
				t.Fatalf("defaults: got maxOutput %d maxLogBytes %d; want %d for both and a clock", r.maxOutput, r.maxLogBytes, DefaultMaxOutputBytes)
			}
			if tt.cfg.REST.WrapTransport != nil {
				t.Fatalf("New modified Config.REST")
			}
		})
	}
}

func TestNewGuardsTransport(t *testing.T) {
	r, err := New(Config{REST: &rest.Config{Host: "https://127.0.0.1:1"}})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	// A write through the runner's own clients never leaves the process.
	err = r.raw.Post().AbsPath("/api/v1/namespaces/default/configmaps").Body([]byte("{}")).Do(context.Background()).Error()
	if !errors.Is(err, readonly.ErrWriteDenied) {
		t.Fatalf("POST through the runner's client: got %v; want %v", err, readonly.ErrWriteDenied)
	}
}

func TestRunUnreachableServer(t *testing.T) {
	r, err := New(Config{REST: &rest.Config{Host: "http://127.0.0.1:1"}})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	got := r.Run(ctx, []string{"get", "pods"})
	want := Result{Error: "The connection to the server 127.0.0.1:1 was refused - did you specify the right host or port?", ExitCode: 1}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Fatalf("Run against a closed port mismatch (-want +got):\n%s", diff)
	}
}

func TestRunNeverPanics(t *testing.T) {
	// A Runner with no clients panics inside every verb that reaches the
	// API; Run must turn that into a Result.
	r := &Runner{maxOutput: 1024, maxLogBytes: 1024, now: time.Now}
	inputs := [][]string{
		nil,
		{},
		{""},
		{"-"},
		{"--"},
		{"get", "pods"},
		{"describe", "pods", "x"},
		{"logs", "x"},
		{"events", "--for", "pod/x"},
		{"get", "pods", "-o"},
		{"get", "pods/", "/x"},
		{"get", "a/b/c"},
		{"logs", "deploy/"},
		{"delete", "pods", "x"},
		{"-n"},
		{"-n", "kube-system"},
		{"get", "pods", "--chunk-size", "-5"},
		{"logs", "x", "--tail", "-7"},
		{"events", "--types", "Bogus"},
		{"get", strings.Repeat("x,", 1000)},
	}
	for _, argv := range inputs {
		t.Run(fmt.Sprintf("%q", argv), func(t *testing.T) {
			got := r.Run(context.Background(), argv)
			if got.ExitCode != 1 || got.Error == "" {
				t.Fatalf("Run(%q): got %+v; want exit 1 with an error", argv, got)
			}
		})
	}
}

func TestErrorMessage(t *testing.T) {
	gr := schema.GroupResource{Resource: "secrets"}
	expired, cancel := context.WithDeadline(context.Background(), time.Unix(1, 0))
	defer cancel()
	tests := []struct {
		name string
		ctx  context.Context
		err  error
		want string
	}{
		{name: "not found", err: apierrors.NewNotFound(schema.GroupResource{Resource: "pods"}, "x"), want: `Error from server (NotFound): pods "x" not found`},
		{name: "forbidden", err: apierrors.NewForbidden(gr, "", errors.New(`User "u" cannot list resource "secrets"`)),
			want: `Error from server (Forbidden): secrets is forbidden: User "u" cannot list resource "secrets"`},
		{name: "wrapped status", err: fmt.Errorf("ctx: %w", apierrors.NewNotFound(gr, "s")), want: `Error from server (NotFound): secrets "s" not found`},
		{name: "unauthorized", err: apierrors.NewUnauthorized("token expired"), want: "error: You must be logged in to the server (token expired)"},
		{name: "refused", err: &url.Error{Op: "Get", URL: "https://10.0.0.1:6443/api", Err: errors.New("dial tcp: connection refused")},
			want: "The connection to the server 10.0.0.1:6443 was refused - did you specify the right host or port?"},
		{name: "tls", err: &url.Error{Op: "Get", URL: "https://h/api", Err: errors.New("x509: bad cert")}, want: "Unable to connect to the server: x509: bad cert"},
		{name: "guard", err: &url.Error{Op: "Post", URL: "https://h/api", Err: fmt.Errorf("%w: POST /api: no", readonly.ErrWriteDenied)},
			want: "error: readonly: write denied: POST /api: no"},
		{name: "deadline", ctx: expired, err: &url.Error{Op: "Get", URL: "https://h/api", Err: context.DeadlineExceeded},
			want: "error: the command did not finish before its deadline"},
		{name: "plain", err: errors.New("boom"), want: "error: boom"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := tt.ctx
			if ctx == nil {
				ctx = context.Background()
			}
			if got := errorMessage(ctx, tt.err); got != tt.want {
				t.Fatalf("errorMessage: got %q; want %q", got, tt.want)
			}
		})
	}
}

func TestCapBuffer(t *testing.T) {
	tests := []struct {
		name    string
		max     int
		writes  []string
		want    string
		wantCut bool
	}{
		{name: "fits", max: 10, writes: []string{"ab\n", "cd\n"}, want: "ab\ncd\n"},
		{name: "exact", max: 6, writes: []string{"ab\ncd\n"}, want: "ab\ncd\n"},
		{name: "cut at line", max: 7, writes: []string{"ab\ncd\n", "efgh\n"}, want: "ab\ncd\n", wantCut: true},
		{name: "no newline", max: 4, writes: []string{"abcdefgh"}, want: "abcd", wantCut: true},
		{name: "utf8", max: 4, writes: []string{"aé€"}, want: "aé", wantCut: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := newCapBuffer(tt.max)
			for _, w := range tt.writes {
				if n, err := b.Write([]byte(w)); n != len(w) || err != nil {
					t.Fatalf("Write(%q): got %d, %v; want %d, nil", w, n, err, len(w))
				}
			}
			got, cut := b.String()
			if got != tt.want || cut != tt.wantCut {
				t.Fatalf("String: got %q, %v; want %q, %v", got, cut, tt.want, tt.wantCut)
			}
		})
	}
}

func TestParseResourceArgs(t *testing.T) {
	tests := []struct {
		args    []string
		want    resourceArgs
		single  bool
		wantErr string
	}{
		{args: []string{"pods"}, want: resourceArgs{types: []string{"pods"}, names: []string{}}},
		{args: []string{"pods,svc"}, want: resourceArgs{types: []string{"pods", "svc"}, names: []string{}}},
		{args: []string{"pods", "a"}, want: resourceArgs{types: []string{"pods"}, names: []string{"a"}}, single: true},
		{args: []string{"pods", "a", "b"}, want: resourceArgs{types: []string{"pods"}, names: []string{"a", "b"}}},
		{args: []string{"pods,svc", "a"}, want: resourceArgs{tuples: [][2]string{{"pods", "a"}, {"svc", "a"}}}},
		{args: []string{"pod/a"}, want: resourceArgs{tuples: [][2]string{{"pod", "a"}}}, single: true},
		{args: []string{"pod/a", "deploy/b"}, want: resourceArgs{tuples: [][2]string{{"pod", "a"}, {"deploy", "b"}}}},
		{args: []string{"pods", "pod/a"}, wantErr: "there is no need to specify a resource type"},
		{args: []string{"a/b/c"}, wantErr: "may not have more than one slash"},
		{args: []string{"/b"}, wantErr: "must have a single resource and name"},
		{args: []string{"pods,svc/b"}, wantErr: "must have a single resource and name"},
	}
	for _, tt := range tests {
		got, err := parseResourceArgs(tt.args)
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("parseResourceArgs(%q): got error %v; want %q", tt.args, err, tt.wantErr)
			}
			continue
		}
		if err != nil {
			t.Errorf("parseResourceArgs(%q): %v", tt.args, err)
			continue
		}
		if diff := cmp.Diff(tt.want, got, cmp.AllowUnexported(resourceArgs{})); diff != "" {
			t.Errorf("parseResourceArgs(%q) mismatch (-want +got):\n%s", tt.args, diff)
		}
		if got.singleItem() != tt.single {
			t.Errorf("parseResourceArgs(%q).singleItem(): got %v; want %v", tt.args, got.singleItem(), tt.single)
		}
	}
}

func TestParseGetFlags(t *testing.T) {
	tests := []struct {
		args     []string
		wantNS   string
		wantOut  string
		wantAll  bool
		wantRest []string
		// wantDenied is the reason policy.Parse refuses args with: the
		// executor never sees such a command.
		wantDenied policy.Reason
	}{
		{args: []string{"pods"}, wantNS: "default", wantRest: []string{"pods"}},
		{args: []string{"pods", "-ojson"}, wantNS: "default", wantOut: "json", wantRest: []string{"pods"}},
		{args: []string{"-o=yaml", "pods"}, wantNS: "default", wantOut: "yaml", wantRest: []string{"pods"}},
		{args: []string{"--output", "wide", "pods", "-n", "kube-system"}, wantNS: "kube-system", wantOut: "wide", wantRest: []string{"pods"}},
		{args: []string{"pods", "--namespace=x", "-A"}, wantNS: "x", wantAll: true, wantRest: []string{"pods"}},
		{args: []string{"pods", "-n=x"}, wantNS: "x", wantRest: []string{"pods"}},
		{args: []string{"pods", "-x"}, wantDenied: policy.ReasonFlagNotAllowed},
		{args: []string{"pods", "--token=abc"}, wantDenied: policy.ReasonCredentialFlag},
		{args: []string{"pods", "-o", "go-template"}, wantDenied: policy.ReasonBadFlagValue},
		{args: []string{"pods", "--chunk-size", "x"}, wantDenied: policy.ReasonBadFlagValue},
		{args: []string{"pods", "--watch-only"}, wantDenied: policy.ReasonUnbounded},
		{args: []string{"pods", "-h"}, wantDenied: policy.ReasonFlagNotAllowed},
	}
	for _, tt := range tests {
		argv := append([]string{"get"}, tt.args...)
		cmd, d, ok := policy.Parse(argv)
		if tt.wantDenied != "" {
			if ok || d.Reason != tt.wantDenied {
				t.Errorf("policy.Parse(%q): got ok %v reason %q; want it refused with %q", argv, ok, d.Reason, tt.wantDenied)
			}
			continue
		}
		if !ok {
			t.Errorf("policy.Parse(%q): refused: %s", argv, d.Message)
			continue
		}
		o, rest, err := parseGetFlags(cmd)
		if err != nil {
			t.Errorf("parseGetFlags(%q): %v", tt.args, err)
			continue
		}
		if o.namespace != tt.wantNS || o.output != tt.wantOut || o.allNamespaces != tt.wantAll || !cmp.Equal(rest, tt.wantRest) {
			t.Errorf("parseGetFlags(%q): got ns %q output %q all %v rest %q; want %q %q %v %q",
				tt.args, o.namespace, o.output, o.allNamespaces, rest, tt.wantNS, tt.wantOut, tt.wantAll, tt.wantRest)
		}
		if o.chunkSize != DefaultChunkSize {
			t.Errorf("parseGetFlags(%q): got chunk size %d; want %d", tt.args, o.chunkSize, DefaultChunkSize)
		}
	}
}

func TestResultTruncationHint(t *testing.T) {
	r := &Runner{maxOutput: 8}
	inv := &invocation{ctx: context.Background(), out: newCapBuffer(8), errOut: newCapBuffer(maxErrorBytes)}
	fmt.Fprint(inv.out, "line1\nline2\n")
	inv.errorf("Defaulted container %q", "a")
	got := r.result(inv)
	want := Result{
		Output:    "line1\n",
		Error:     "Defaulted container \"a\"\noutput truncated at 8 bytes; narrow with -l, -n, --tail or --chunk-size",
		Truncated: true,
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Fatalf("result mismatch (-want +got):\n%s", diff)
	}
}

// TestClientOnlyVersionSkipsTheServer: `version --client` answers from the
// executor alone. It does not wait for an API server that hangs, not even
// to bring the redactor up to date through discovery (it reads no object).
func TestClientOnlyVersionSkipsTheServer(t *testing.T) {
	var hits atomic.Int64
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		select { // hang until the client gives up or the test ends
		case <-r.Context().Done():
		case <-release:
		}
	}))
	t.Cleanup(srv.Close)
	t.Cleanup(func() { close(release) })
	r, err := New(Config{REST: &rest.Config{Host: srv.URL}})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	// The bound only keeps a regression from hanging the suite; the
	// assertion is on what reached the server.
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	got := r.Run(ctx, []string{"version", "--client"})
	if got.ExitCode != 0 || !strings.HasPrefix(got.Output, "Client Version: ") {
		t.Fatalf("version --client: got %+v; want exit 0 and the client version", got)
	}
	if n := hits.Load(); n != 0 {
		t.Fatalf("version --client sent %d requests to the API server; want none", n)
	}
}
