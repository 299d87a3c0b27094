package kubeexec

import (
	"context"
	"testing"

	"github.com/google/go-cmp/cmp"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
)

func TestLessValue(t *testing.T) {
	tests := []struct {
		a, b    any
		want    bool
		wantErr bool
	}{
		{a: int64(2), b: int64(10), want: true},
		{a: int64(10), b: float64(2.5), want: false},
		{a: "100Mi", b: "1Gi", want: true},
		{a: "2", b: "10", want: true}, // both quantities
		{a: "web-2", b: "web-10", want: false},
		{a: "2026-01-02T00:00:00Z", b: "2026-01-10T00:00:00Z", want: true},
		{a: nil, b: "x", want: true},
		{a: "x", b: nil, want: false},
		{a: false, b: true, want: true},
		{a: []any{int64(1), int64(2)}, b: []any{int64(1), int64(3)}, want: true},
		{a: []any{int64(1)}, b: []any{int64(1), int64(0)}, want: true},
		{a: map[string]any{}, b: map[string]any{}, wantErr: true},
		{a: "x", b: int64(1), wantErr: true},
	}
	for _, tt := range tests {
		got, err := lessValue(tt.a, tt.b)
		if (err != nil) != tt.wantErr || (err == nil && got != tt.want) {
			t.Errorf("lessValue(%v, %v): got %v, %v; want %v, error %v", tt.a, tt.b, got, err, tt.want, tt.wantErr)
		}
	}
}

func TestSortOrder(t *testing.T) {
	obj := func(restarts any) runtime.Object {
		u := &unstructured.Unstructured{Object: map[string]any{"metadata": map[string]any{"name": "x"}}}
		if restarts != nil {
			u.Object["status"] = map[string]any{"restarts": restarts}
		}
		return u
	}
	objs := []runtime.Object{obj(int64(5)), obj(nil), obj(int64(1)), obj(int64(5)), obj(int64(0))}
	p, err := sortExpression("status.restarts")
	if err != nil {
		t.Fatalf("sortExpression: %v", err)
	}
	got, err := sortOrder(p, "status.restarts", len(objs), func(i int) runtime.Object { return objs[i] })
	if err != nil {
		t.Fatalf("sortOrder: %v", err)
	}
	if want := []int{1, 4, 2, 0, 3}; !cmp.Equal(got, want) {
		t.Fatalf("sortOrder: got %v; want %v (missing first, stable for ties)", got, want)
	}
	if _, err := sortOrder(p, ".status.restarts", 1, func(int) runtime.Object { return obj(nil) }); err == nil {
		t.Fatalf("sortOrder without the field anywhere: got no error; want one")
	}
	for _, bad := range []string{"{.a}.b}", "{{x}}"} {
		if _, err := sortExpression(bad); err == nil {
			t.Errorf("sortExpression(%q): got no error; want one", bad)
		}
	}
}

func TestGetSortBy(t *testing.T) {
	r, _ := testRunner(t, DefaultMaxOutputBytes, &podAPI{n: 3})
	// The fake API's rows carry metadata only, so sort by a metadata field.
	got := r.Run(context.Background(), []string{"get", "pods", "-n", "demo", "--sort-by", "{.metadata.name}", "-o", "name"})
	want := Result{Output: "pod/pod-000\npod/pod-001\npod/pod-002\n"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Fatalf("get --sort-by mismatch (-want +got):\n%s", diff)
	}
	got = r.Run(context.Background(), []string{"get", "pods", "-n", "demo", "--sort-by", ".metadata.labels"})
	if got.ExitCode != 1 || got.Error != "error: field .metadata.labels is an unsortable type: cannot compare map[string]interface {} with map[string]interface {}" {
		t.Fatalf("get --sort-by a map: got %+v; want exit 1 and an unsortable error", got)
	}
}

func TestSortLimit(t *testing.T) {
	tests := []struct {
		name                          string
		chunk, bytes, objects, budget int64
		want                          int64
	}{
		{"first page", 500, 0, 0, 8 << 20, sortFirstPage},
		{"first page, small chunk", 10, 0, 0, 8 << 20, 10},
		{"small objects", 500, 50 << 10, 50, 8 << 20, 500},
		{"large objects", 500, 5 << 20, 50, 8 << 20, 31},
		{"at the budget", 500, 8 << 20, 100, 8 << 20, 1},
		{"past the budget", 500, 9 << 20, 100, 8 << 20, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := sortLimit(tt.chunk, tt.bytes, tt.objects, tt.budget); got != tt.want {
				t.Errorf("sortLimit(%d, %d, %d, %d) = %d; want %d", tt.chunk, tt.bytes, tt.objects, tt.budget, got, tt.want)
			}
		})
	}
}
