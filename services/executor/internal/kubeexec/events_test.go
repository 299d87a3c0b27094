package kubeexec

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	k8stesting "k8s.io/client-go/testing"

	"kubently.io/libs/policy"
)

// event returns an Event in ns about a Pod, last seen ago before testNow.
func event(ns, name, typ, reason, pod string, ago time.Duration, count int32) *corev1.Event {
	last := metav1.NewTime(testNow.Add(-ago))
	first := metav1.NewTime(testNow.Add(-ago - time.Duration(count-1)*time.Minute))
	return &corev1.Event{
		ObjectMeta:     metav1.ObjectMeta{Name: name, Namespace: ns},
		InvolvedObject: corev1.ObjectReference{Kind: "Pod", APIVersion: "v1", Name: pod, Namespace: ns},
		Type:           typ,
		Reason:         reason,
		Message:        reason + " message\n",
		FirstTimestamp: first,
		LastTimestamp:  last,
		Count:          count,
	}
}

func TestEvents(t *testing.T) {
	objs := []runtime.Object{
		event("demo", "e1", "Normal", "Scheduled", "web-1", 10*time.Minute, 1),
		event("demo", "e2", "Warning", "BackOff", "crashy", 30*time.Second, 5),
		event("demo", "e3", "Normal", "Pulled", "web-1", 3*time.Minute, 1),
		event("other", "e4", "Normal", "Started", "db-0", time.Hour, 1),
	}
	// EventTime only (events.k8s.io writers): sorted by it.
	series := &corev1.Event{
		ObjectMeta:     metav1.ObjectMeta{Name: "e5", Namespace: "demo"},
		InvolvedObject: corev1.ObjectReference{Kind: "Pod", Name: "web-2"},
		Type:           "Normal", Reason: "Killing", Message: "Stopping",
		EventTime: metav1.NewMicroTime(testNow.Add(-5 * time.Minute)),
	}
	objs = append(objs, series)

	tests := []struct {
		name string
		argv []string
		want Result
	}{
		{
			name: "namespace sorted oldest first",
			argv: []string{"events", "-n", "demo"},
			want: Result{Output: "" +
				"LAST SEEN             TYPE      REASON      OBJECT       MESSAGE\n" +
				"10m                   Normal    Scheduled   Pod/web-1    Scheduled message\n" +
				"5m                    Normal    Killing     Pod/web-2    Stopping\n" +
				"3m                    Normal    Pulled      Pod/web-1    Pulled message\n" +
				"30s (x5 over 4m30s)   Warning   BackOff     Pod/crashy   BackOff message\n"},
		},
		{
			name: "warnings across namespaces",
			argv: []string{"events", "-A", "--types=Warning"},
			want: Result{Output: "" +
				"NAMESPACE   LAST SEEN             TYPE      REASON    OBJECT       MESSAGE\n" +
				"demo        30s (x5 over 4m30s)   Warning   BackOff   Pod/crashy   BackOff message\n"},
		},
		{
			name: "no headers, two types",
			argv: []string{"events", "--types", "normal,WARNING", "-n", "other", "--no-headers"},
			want: Result{Output: "60m   Normal   Started   Pod/db-0   Started message\n"},
		},
		{
			name: "none",
			argv: []string{"events", "-n", "empty"},
			want: Result{Error: "No events found in empty namespace."},
		},
		{
			name: "bad type",
			argv: []string{"events", "--types", "Error"},
			want: Result{Error: "error: valid --types are Normal or Warning", ExitCode: 1},
		},
		{
			name: "for without slash",
			argv: []string{"events", "--for", "web-1"},
			want: refused(policy.ReasonResourceArgument, "--for must be in resource/name form"),
		},
		{
			name: "watch",
			argv: []string{"events", "--watch"},
			want: refused(policy.ReasonUnbounded, `flag "--watch" is never allowed (unbounded_command)`),
		},
		{
			name: "name output",
			argv: []string{"events", "-n", "other", "-o", "name"},
			want: Result{Output: "event/e4\n"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, _ := testRunner(t, DefaultMaxOutputBytes, nil, objs...)
			got := r.Run(context.Background(), tt.argv)
			if tt.want.Output != "" && (!json.Valid(got.Structured) || !strings.Contains(string(got.Structured), `"kind":"EventList"`)) {
				t.Errorf("Run(%q).Structured: got %.200s; want the EventList", tt.argv, got.Structured)
			}
			got.Structured = nil
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Fatalf("Run(%q) mismatch (-want +got):\n%s", tt.argv, diff)
			}
		})
	}
}

func TestEventsFor(t *testing.T) {
	r, cs := testRunner(t, DefaultMaxOutputBytes, nil, event("demo", "e1", "Normal", "Pulled", "web-1", time.Minute, 1))
	var gotSelector string
	cs.PrependReactor("list", "events", func(a k8stesting.Action) (bool, runtime.Object, error) {
		gotSelector = a.(k8stesting.ListAction).GetListRestrictions().Fields.String()
		return false, nil, nil
	})
	res := r.Run(context.Background(), []string{"events", "-n", "demo", "--for", "pod/web-1", "-o", "json"})
	if res.ExitCode != 0 {
		t.Fatalf("exit: got %d (%s); want 0", res.ExitCode, res.Error)
	}
	if want := "involvedObject.apiVersion=v1,involvedObject.kind=Pod,involvedObject.name=web-1"; gotSelector != want {
		t.Fatalf("field selector: got %q; want %q", gotSelector, want)
	}
	var list corev1.EventList
	if err := json.Unmarshal([]byte(res.Output), &list); err != nil {
		t.Fatalf("-o json does not parse: %v", err)
	}
	if list.Kind != "EventList" || len(list.Items) != 1 || list.Items[0].Kind != "Event" {
		t.Fatalf("-o json: got kind %q with %d items; want EventList with 1 Event", list.Kind, len(list.Items))
	}
}

func TestEventsKeepNewestWhenCapped(t *testing.T) {
	var objs []runtime.Object
	for i := 0; i < 200; i++ {
		objs = append(objs, event("demo", fmt.Sprintf("e%03d", i), "Normal", fmt.Sprintf("R%03d", i), "p", time.Duration(200-i)*time.Minute, 1))
	}
	r, _ := testRunner(t, 1024, nil, objs...)
	res := r.Run(context.Background(), []string{"events", "-n", "demo"})
	if !res.Truncated || len(res.Output) > 1024 {
		t.Fatalf("got Truncated %v with %d bytes; want truncated to <= 1024", res.Truncated, len(res.Output))
	}
	lines := strings.Split(strings.TrimSuffix(res.Output, "\n"), "\n")
	if !strings.HasPrefix(lines[0], "LAST SEEN") {
		t.Fatalf("first line: got %q; want the header", lines[0])
	}
	if last := lines[len(lines)-1]; !strings.Contains(last, "R199") {
		t.Fatalf("last line: got %q; want the newest event R199", last)
	}
	if !strings.HasSuffix(res.Error, "(oldest events omitted)") {
		t.Fatalf("Error: got %q; want the hint to say oldest events were omitted", res.Error)
	}
}

func TestKeepNewest(t *testing.T) {
	table := []byte("HDR\naaaa\nbbbb\ncccc\n")
	tests := []struct {
		max      int
		want     string
		wantDrop bool
	}{
		{max: 100, want: "HDR\naaaa\nbbbb\ncccc\n"},
		{max: 14, want: "HDR\nbbbb\ncccc\n", wantDrop: true},
		{max: 13, want: "HDR\ncccc\n", wantDrop: true},
		{max: 7, want: "HDR\ncc\n", wantDrop: true},
	}
	for _, tt := range tests {
		got, dropped := keepNewest(table, tt.max, true)
		if string(got) != tt.want || dropped != tt.wantDrop {
			t.Errorf("keepNewest(max %d): got %q, %v; want %q, %v", tt.max, got, dropped, tt.want, tt.wantDrop)
		}
	}
}
