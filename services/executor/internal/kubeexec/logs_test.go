package kubeexec

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
	"k8s.io/utils/ptr"

	"kubently.io/libs/policy"
)

// logObjects returns pods and a Deployment for the logs tests.
func logObjects() []runtime.Object {
	pod := func(name string, phase corev1.PodPhase, ready bool, containers ...string) *corev1.Pod {
		p := &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "demo", Labels: map[string]string{"app": "web"}},
			Spec:       corev1.PodSpec{NodeName: "node-0"},
			Status:     corev1.PodStatus{Phase: phase},
		}
		for _, c := range containers {
			p.Spec.Containers = append(p.Spec.Containers, corev1.Container{Name: c})
		}
		if ready {
			p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}}
		}
		return p
	}
	multi := pod("multi", corev1.PodRunning, true, "a", "b")
	multi.Labels = nil
	multi.Spec.InitContainers = []corev1.Container{{Name: "i"}}
	annotated := pod("annotated", corev1.PodRunning, true, "a", "b")
	annotated.Labels = nil
	annotated.Annotations = map[string]string{"kubectl.kubernetes.io/default-container": "b"}
	return []runtime.Object{
		pod("web-2", corev1.PodPending, false, "app"),
		pod("web-1", corev1.PodRunning, true, "app"),
		multi,
		annotated,
		&appsv1.Deployment{
			ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "demo"},
			Spec:       appsv1.DeploymentSpec{Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}}},
		},
		&corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "cm", Namespace: "demo"}},
	}
}

// logRecorder makes the fake clientset answer log requests with
// "log of <container>" lines and remembers the options it got.
type logRecorder struct {
	mu   sync.Mutex
	opts []corev1.PodLogOptions
}

func (l *logRecorder) install(cs *fake.Clientset) {
	cs.PrependReactor("get", "pods", func(a k8stesting.Action) (bool, runtime.Object, error) {
		if a.GetSubresource() != "log" {
			return false, nil, nil
		}
		opts := a.(k8stesting.GenericAction).GetValue().(*corev1.PodLogOptions)
		l.mu.Lock()
		l.opts = append(l.opts, *opts)
		l.mu.Unlock()
		// The fake's log action does not carry the pod name.
		return true, &runtime.Unknown{Raw: []byte(fmt.Sprintf("log of %s\nline 2\n", opts.Container))}, nil
	})
}

func TestLogs(t *testing.T) {
	tests := []struct {
		name string
		argv []string
		want Result
	}{
		{
			name: "pod",
			argv: []string{"logs", "web-1", "-n", "demo"},
			want: Result{Output: "log of app\nline 2\n"},
		},
		{
			name: "defaulted container",
			argv: []string{"logs", "multi", "-n", "demo"},
			want: Result{Output: "log of a\nline 2\n", Error: `Defaulted container "a" out of: a, b, i (init)`},
		},
		{
			name: "annotation picks container",
			argv: []string{"logs", "pod/annotated", "-n", "demo"},
			want: Result{Output: "log of b\nline 2\n"},
		},
		{
			name: "container flag",
			argv: []string{"logs", "multi", "-c", "b", "-n", "demo"},
			want: Result{Output: "log of b\nline 2\n"},
		},
		{
			name: "inline container",
			argv: []string{"logs", "multi", "b", "-n", "demo"},
			want: Result{Output: "log of b\nline 2\n"},
		},
		{
			name: "all containers with prefix",
			argv: []string{"logs", "multi", "--all-containers", "--prefix", "-n", "demo"},
			want: Result{Output: "" +
				"[pod/multi/i] log of i\n[pod/multi/i] line 2\n" +
				"[pod/multi/a] log of a\n[pod/multi/a] line 2\n" +
				"[pod/multi/b] log of b\n[pod/multi/b] line 2\n"},
		},
		{
			name: "deployment picks best pod",
			argv: []string{"logs", "deployment/web", "-n", "demo"},
			want: Result{Output: "log of app\nline 2\n", Error: "Found 2 pods, using pod/web-1"},
		},
		{
			name: "unknown container",
			argv: []string{"logs", "multi", "-c", "zz", "-n", "demo"},
			want: Result{Error: "error: container zz is not valid for pod multi out of: a, b, i (init)", ExitCode: 1},
		},
		{
			name: "missing pod",
			argv: []string{"logs", "nope", "-n", "demo"},
			want: Result{Error: `error: error from server (NotFound): pods "nope" not found in namespace "demo"`, ExitCode: 1}, // as kubectl logs words it
		},
		{
			name: "no selector",
			argv: []string{"logs", "configmap/cm", "-n", "demo"},
			want: Result{Error: "error: cannot get the logs from configmap/cm: a ConfigMap has no pod selector", ExitCode: 1},
		},
		{
			name: "follow refused by the policy's parser",
			argv: []string{"logs", "web-1", "-f"},
			want: refused(policy.ReasonUnbounded, "flag -f is never allowed (unbounded_command)"),
		},
		{
			name: "no pod",
			argv: []string{"logs"},
			want: refused(policy.ReasonMissingArgument, "logs needs a pod name or type/name"),
		},
		{
			name: "since and since-time",
			argv: []string{"logs", "web-1", "--since=1m", "--since-time=2026-01-01T00:00:00Z"},
			want: Result{Error: "error: at most one of `sinceTime` or `sinceSeconds` may be specified", ExitCode: 1},
		},
		{
			name: "bad tail",
			argv: []string{"logs", "web-1", "--tail=-2"},
			want: refused(policy.ReasonBadFlagValue, "flag --tail: -2 is out of range [-1, 100000]"),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, cs := testRunner(t, DefaultMaxOutputBytes, nil, logObjects()...)
			(&logRecorder{}).install(cs)
			got := r.Run(context.Background(), tt.argv)
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Fatalf("Run(%q) mismatch (-want +got):\n%s", tt.argv, diff)
			}
		})
	}
}

func TestLogsOptions(t *testing.T) {
	r, cs := testRunner(t, DefaultMaxOutputBytes, nil, logObjects()...)
	rec := &logRecorder{}
	rec.install(cs)
	res := r.Run(context.Background(), []string{"logs", "web-1", "-n", "demo", "--tail", "5", "--since", "90s", "--timestamps", "-p", "--limit-bytes=100"})
	if res.ExitCode != 0 {
		t.Fatalf("exit: got %d (%s); want 0", res.ExitCode, res.Error)
	}
	want := corev1.PodLogOptions{Container: "app", TailLines: ptr.To[int64](5), SinceSeconds: ptr.To[int64](90), Timestamps: true, Previous: true, LimitBytes: ptr.To[int64](100)}
	if diff := cmp.Diff([]corev1.PodLogOptions{want}, rec.opts); diff != "" {
		t.Fatalf("log options mismatch (-want +got):\n%s", diff)
	}

	rec.opts = nil
	res = r.Run(context.Background(), []string{"logs", "-l", "app=web", "-n", "demo", "--since-time", "2026-04-30T10:00:00Z"})
	if res.ExitCode != 0 {
		t.Fatalf("logs -l: got exit %d (%s); want 0", res.ExitCode, res.Error)
	}
	if len(rec.opts) != 2 {
		t.Fatalf("logs -l: got %d streams; want 2 (one per matching pod)", len(rec.opts))
	}
	st := metav1.NewTime(time.Date(2026, 4, 30, 10, 0, 0, 0, time.UTC))
	for _, o := range rec.opts {
		if o.TailLines == nil || *o.TailLines != 10 || o.SinceTime == nil || !o.SinceTime.Equal(&st) {
			t.Fatalf("logs -l options: got tail %v since %v; want kubectl's default tail 10 and the since time", o.TailLines, o.SinceTime)
		}
	}
}

func TestLogsByteCap(t *testing.T) {
	r, cs := testRunner(t, DefaultMaxOutputBytes, nil, logObjects()...)
	r.maxLogBytes = 10
	rec := &logRecorder{}
	rec.install(cs)
	got := r.Run(context.Background(), []string{"logs", "multi", "--all-containers", "-n", "demo"})
	want := Result{
		Output:    "log of i\n",
		Error:     fmt.Sprintf("output truncated at %d bytes; narrow with -l, -n, --tail or --chunk-size", DefaultMaxOutputBytes),
		Truncated: true,
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Fatalf("capped logs mismatch (-want +got):\n%s", diff)
	}
	if len(rec.opts) != 1 || rec.opts[0].LimitBytes == nil || *rec.opts[0].LimitBytes != 11 {
		t.Fatalf("log requests: got %d with options %+v; want one asking for 11 bytes", len(rec.opts), rec.opts)
	}
}
