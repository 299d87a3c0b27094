package kubeexec

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/discovery/cached/memory"
	k8stesting "k8s.io/client-go/testing"

	"kubently.io/libs/policy"
)

func TestGrepper(t *testing.T) {
	lines := "a\nerror one\nb\nc\nd\nerror two\ne\nERROR three\nf\n"
	tests := []struct {
		name string
		o    logsOptions
		want string
	}{
		{name: "substring", o: logsOptions{grep: "error"}, want: "error one\nerror two\n"},
		{name: "ignore case", o: logsOptions{grep: "error", ignoreCase: true}, want: "error one\nerror two\nERROR three\n"},
		{name: "regex", o: logsOptions{grep: `^error (one|three)$`, grepRegex: true}, want: "error one\n"},
		{name: "regex is not substring", o: logsOptions{grep: "e.r"}, want: ""},
		{name: "special characters are literal", o: logsOptions{grep: "("}, want: ""},
		{
			name: "context merges touching groups and separates the rest",
			o:    logsOptions{grep: "error", ignoreCase: true, grepContext: 1},
			want: "a\nerror one\nb\n--\nd\nerror two\ne\nERROR three\nf\n",
		},
		{
			name: "context at the edges",
			o:    logsOptions{grep: "a", grepContext: 2},
			want: "a\nerror one\nb\n",
		},
		{
			name: "timestamps are not matched",
			o:    logsOptions{grep: "2026", timestamps: true},
			want: "",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g, err := newGrepper(tt.o)
			if err != nil {
				t.Fatalf("newGrepper: %v", err)
			}
			input := lines
			if tt.o.timestamps {
				input = "2026-05-01T12:00:00Z x\n2026-05-01T12:00:01Z y\n"
			}
			var out bytes.Buffer
			g.line, g.lastPrinted = 0, -1
			for _, l := range strings.SplitAfter(input, "\n") {
				if l != "" {
					g.take(&out, &out, []byte(l))
				}
			}
			if diff := cmp.Diff(tt.want, out.String()); diff != "" {
				t.Errorf("kept lines mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestLogsGrep(t *testing.T) {
	r, cs := testRunner(t, 1<<20, nil, logObjects()...)
	cs.PrependReactor("get", "pods", func(a k8stesting.Action) (bool, runtime.Object, error) {
		if a.GetSubresource() != "log" {
			return false, nil, nil
		}
		return true, &runtime.Unknown{Raw: []byte("ok 1\nfail 2\nok 3\nok 4\nok 5\nfail 6\n")}, nil
	})
	tests := []struct {
		name string
		argv []string
		want Result
	}{
		{
			name: "one pod with context",
			argv: []string{"logs", "web-1", "-n", "demo", "--grep", "fail", "--grep-context", "1"},
			want: Result{Output: "ok 1\nfail 2\nok 3\n--\nok 5\nfail 6\n"},
		},
		{
			name: "several pods with prefixes separate groups across pods",
			argv: []string{"logs", "-l", "app=web", "-n", "demo", "--prefix", "--grep", "FAIL 6", "--ignore-case", "--grep-context", "1"},
			want: Result{Output: "[pod/web-1/app] ok 5\n[pod/web-1/app] fail 6\n--\n[pod/web-2/app] ok 5\n[pod/web-2/app] fail 6\n"},
		},
		{
			name: "bad regex",
			argv: []string{"logs", "web-1", "-n", "demo", "--grep", "(", "--grep-regex"},
			want: Result{Error: "error: invalid --grep regular expression: error parsing regexp: missing closing ): `(`", ExitCode: 1},
		},
		{
			name: "context out of range",
			argv: []string{"logs", "web-1", "-n", "demo", "--grep", "x", "--grep-context", "11"},
			want: refused(policy.ReasonBadFlagValue, "flag --grep-context: 11 is out of range [0, 10]"),
		},
		{
			name: "search flags need --grep",
			argv: []string{"logs", "web-1", "-n", "demo", "--ignore-case"},
			want: Result{Error: "error: --grep-regex, --grep-context and --ignore-case need --grep", ExitCode: 1},
		},
		{
			name: "pattern too long",
			argv: []string{"logs", "web-1", "-n", "demo", "--grep", strings.Repeat("x", 513)},
			want: refused(policy.ReasonBadFlagValue, "flag --grep: value is 513 bytes; at most 512 allowed"),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := r.Run(context.Background(), tt.argv)
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Run(%q) mismatch (-want +got):\n%s", tt.argv, diff)
			}
		})
	}
}

func TestLogsGrepScanLimit(t *testing.T) {
	r, cs := testRunner(t, 1<<20, nil, logObjects()...)
	r.maxLogScan = 12
	cs.PrependReactor("get", "pods", func(a k8stesting.Action) (bool, runtime.Object, error) {
		if a.GetSubresource() != "log" {
			return false, nil, nil
		}
		return true, &runtime.Unknown{Raw: []byte("hit 1\nhit 2\nhit 3\n")}, nil
	})
	got := r.Run(context.Background(), []string{"logs", "web-1", "-n", "demo", "--grep", "hit"})
	if got.Output != "hit 1\nhit 2\n" || !got.Truncated || !strings.Contains(got.Error, "log search stopped at its scan limit") {
		t.Fatalf("scan-limited grep: got %+v; want two lines, Truncated and the scan hint", got)
	}
}

func TestTopWithoutMetricsAPI(t *testing.T) {
	r, cs := testRunner(t, 1<<20, nil, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "default"}})
	r.discovery = memory.NewMemCacheClientWithContext(discovery.ToDiscoveryInterfaceWithContext(cs.Discovery()))
	for _, argv := range [][]string{{"top", "pod"}, {"top", "node"}, {"top", "pods", "-A", "--containers"}} {
		got := r.Run(context.Background(), argv)
		want := Result{Error: "error: Metrics API not available", ExitCode: 1}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("Run(%q) mismatch (-want +got):\n%s", argv, diff)
		}
	}
}

func TestNewVerbsRejectBadUsage(t *testing.T) {
	r, _ := testRunner(t, 1<<20, nil)
	tests := []struct {
		argv []string
		want string
		// denied is the reason policy.Parse refuses argv with, before
		// the executor could; "" when the executor refuses it.
		denied policy.Reason
	}{
		{[]string{"rollout", "undo", "deploy/web"}, `error: rollout "undo" is not allowed; allowed: history, status`, policy.ReasonVerbNotAllowed},
		{[]string{"rollout", "restart", "deploy/web"}, `error: rollout "restart" is not allowed; allowed: history, status`, policy.ReasonVerbNotAllowed},
		{[]string{"rollout", "status", "deploy/web", "--watch"}, "error: flag --watch: only false is allowed: a command must end", policy.ReasonBadFlagValue},
		{[]string{"auth", "reconcile"}, `error: auth "reconcile" is not allowed; allowed: can-i`, policy.ReasonVerbNotAllowed},
		{[]string{"auth", "can-i", "get", "pods", "--as", "admin"}, `error: flag "--as" is never allowed (credential_flag)`, policy.ReasonCredentialFlag},
		{[]string{"auth", "can-i", "--list", "pods"}, "error: list option must be specified with no arguments", ""},
		{[]string{"auth", "can-i", "get"}, "error: you must specify two arguments: verb resource or verb resource/resourceName.\nSee 'kubectl auth can-i -h' for help and examples.", ""},
		{[]string{"top", "service"}, `error: top "service" is not allowed; allowed: node, pod`, policy.ReasonVerbNotAllowed},
		{[]string{"top", "pod", "--sort-by", "name"}, `error: flag --sort-by: "name" is not one of cpu, memory`, policy.ReasonBadFlagValue},
		{[]string{"cluster-info", "dump"}, "error: cluster-info takes at most 0 argument(s)", policy.ReasonTooManyArguments},
		{[]string{"explain"}, "error: explain needs at least 1 argument(s)", policy.ReasonMissingArgument},
		{[]string{"explain", "pods", "-o", "plaintext-openapiv2"}, `error: flag --output: output format "plaintext-openapiv2" is not allowed; use one of plaintext`, policy.ReasonBadFlagValue},
		{[]string{"version", "-o", "wide"}, `error: flag --output: "wide" is not one of json, yaml`, policy.ReasonBadFlagValue},
		{[]string{"api-versions", "x"}, "error: api-versions takes at most 0 argument(s)", policy.ReasonTooManyArguments},
	}
	for _, tt := range tests {
		got := r.Run(context.Background(), tt.argv)
		if got.ExitCode != 1 || got.Error != tt.want || got.DeniedReason != tt.denied {
			t.Errorf("Run(%q): got exit %d, error %q, denied %q; want exit 1, error %q, denied %q", tt.argv, got.ExitCode, got.Error, got.DeniedReason, tt.want, tt.denied)
		}
	}
}

func TestStructured(t *testing.T) {
	r, _ := testRunner(t, 1<<20, &podAPI{n: 3})
	res := r.Run(context.Background(), []string{"get", "pods", "-n", "demo", "-o", "jsonpath={.items[*].metadata.name}"})
	if res.ExitCode != 0 || res.Output != "pod-000 pod-001 pod-002" {
		t.Fatalf("jsonpath: got %+v", res)
	}
	if !bytes.Contains(res.Structured, []byte(`"kind":"List"`)) || !bytes.Contains(res.Structured, []byte(`"name":"pod-002"`)) {
		t.Fatalf("Structured: got %s; want the List of the three pods", res.Structured)
	}
	// The table form has no Structured form; a too-large one is dropped.
	if res := r.Run(context.Background(), []string{"get", "pods", "-n", "demo"}); res.Structured != nil {
		t.Errorf("table Structured: got %s; want nil", res.Structured)
	}
	small, _ := testRunner(t, 200, &podAPI{n: 3})
	if res := small.Run(context.Background(), []string{"get", "pods", "-n", "demo", "-o", "jsonpath={.items[0].metadata.name}"}); res.Output != "pod-000" || res.Structured != nil {
		t.Errorf("capped Structured: got output %q, %d structured bytes; want pod-000 and none", res.Output, len(res.Structured))
	}
}
