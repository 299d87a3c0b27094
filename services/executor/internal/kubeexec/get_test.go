package kubeexec

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"sigs.k8s.io/yaml"

	"kubently.io/libs/policy"
)

func TestGetTable(t *testing.T) {
	tests := []struct {
		name string
		argv []string
		want Result
	}{
		{
			name: "table",
			argv: []string{"get", "pods", "-n", "demo"},
			want: Result{Output: "" +
				"NAME      READY   STATUS    RESTARTS   AGE\n" +
				"pod-000   1/1     Running   0          5m\n" +
				"pod-001   1/1     Running   1          5m\n"},
		},
		{
			name: "wide",
			argv: []string{"get", "pod", "-ndemo", "-o", "wide"},
			want: Result{Output: "" +
				"NAME      READY   STATUS    RESTARTS   AGE   IP         NODE\n" +
				"pod-000   1/1     Running   0          5m    10.0.0.0   node-0\n" +
				"pod-001   1/1     Running   1          5m    10.0.0.1   node-0\n"},
		},
		{
			name: "all namespaces",
			argv: []string{"get", "pods", "-A", "--no-headers"},
			want: Result{Output: "" +
				"demo   pod-000   1/1   Running   0     5m\n" +
				"demo   pod-001   1/1   Running   1     5m\n"},
		},
		{
			name: "show labels and kind",
			argv: []string{"get", "--namespace=demo", "pods", "--show-labels", "--show-kind"},
			want: Result{Output: "" +
				"NAME          READY   STATUS    RESTARTS   AGE   LABELS\n" +
				"pod/pod-000   1/1     Running   0          5m    app=web\n" +
				"pod/pod-001   1/1     Running   1          5m    app=web\n"},
		},
		{
			name: "by name with one missing",
			argv: []string{"get", "pods", "pod-001", "nope", "-n", "demo"},
			want: Result{
				Output:   "NAME      READY   STATUS    RESTARTS   AGE\npod-001   1/1     Running   1          5m\n",
				Error:    `Error from server (NotFound): pods "nope" not found`,
				ExitCode: 1,
			},
		},
		{
			name: "type/name",
			argv: []string{"get", "pod/pod-000", "pods/pod-001", "-n", "demo", "--no-headers"},
			want: Result{Output: "pod-000   1/1   Running   0     5m\npod-001   1/1   Running   1     5m\n"},
		},
		{
			name: "name output",
			argv: []string{"get", "pods", "-n", "demo", "-oname"},
			want: Result{Output: "pod/pod-000\npod/pod-001\n"},
		},
		{
			name: "name output of one object",
			argv: []string{"get", "pod/pod-001", "-n", "demo", "-o", "name"},
			want: Result{Output: "pod/pod-001\n"},
		},
		{
			name: "empty namespace",
			argv: []string{"get", "pods", "-n", "other"},
			want: Result{Output: "", Error: "No resources found in other namespace."},
		},
		{
			name: "unknown type",
			argv: []string{"get", "foo", "-n", "demo"},
			want: Result{Error: `error: the server doesn't have a resource type "foo"`, ExitCode: 1},
		},
		{
			name: "unknown flag",
			argv: []string{"get", "pods", "--bogus"},
			want: refused(policy.ReasonFlagNotAllowed, `flag "--bogus" is not allowed for get`),
		},
		{
			// kubectl reads global flags before the verb; the policy
			// does not, and the stricter reading wins.
			name: "flag before the verb",
			argv: []string{"--namespace=demo", "get", "pods"},
			want: refused(policy.ReasonVerbNotAllowed, `verb "--namespace" is not allowed; allowed verbs: api-resources, api-versions, auth, cluster-info, describe, diagnose, events, explain, get, logs, rollout, top, version`),
		},
		{
			name: "bad output",
			argv: []string{"get", "pods", "-o", "go-template={{.}}"},
			want: refused(policy.ReasonBadFlagValue, `flag --output: output format "go-template={{.}}" is not allowed; use one of custom-columns=…, json, jsonpath-as-json=…, jsonpath=…, name, wide, yaml`),
		},
		{
			name: "watch refused",
			argv: []string{"get", "pods", "-w"},
			want: refused(policy.ReasonUnbounded, "flag -w is never allowed (unbounded_command)"),
		},
		{
			name: "name across namespaces",
			argv: []string{"get", "pods", "pod-000", "-A"},
			want: Result{Error: "error: a resource cannot be retrieved by name across all namespaces", ExitCode: 1},
		},
		{
			name: "name with selector",
			argv: []string{"get", "pods", "pod-000", "-l", "app=web"},
			want: Result{Error: "error: name cannot be provided when a selector is specified", ExitCode: 1},
		},
		{
			name: "mixed type/name and type",
			argv: []string{"get", "pods", "pod/pod-000"},
			want: refused(policy.ReasonResourceArgument, "there is no need to specify a resource type as a separate argument when passing arguments in resource/name form (e.g. 'kubectl get resource/<resource_name>' instead of 'kubectl get resource resource/<resource_name>'"),
		},
		{
			name: "no type",
			argv: []string{"get"},
			want: refused(policy.ReasonMissingArgument, "get needs a resource type, e.g. get pods"),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, _ := testRunner(t, DefaultMaxOutputBytes, &podAPI{n: 2})
			got := r.Run(context.Background(), tt.argv)
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Fatalf("Run(%q) mismatch (-want +got):\n%s", tt.argv, diff)
			}
		})
	}
}

func TestGetJSONAndYAML(t *testing.T) {
	r, _ := testRunner(t, DefaultMaxOutputBytes, &podAPI{n: 3})
	ctx := context.Background()

	res := r.Run(ctx, []string{"get", "pods", "-n", "demo", "-o", "json"})
	if res.ExitCode != 0 {
		t.Fatalf("get -o json: got exit %d (%s); want 0", res.ExitCode, res.Error)
	}
	var list struct {
		APIVersion string
		Kind       string
		Metadata   map[string]any
		Items      []map[string]any
	}
	if err := json.Unmarshal([]byte(res.Output), &list); err != nil {
		t.Fatalf("get -o json: output does not parse: %v\n%s", err, res.Output)
	}
	if list.Kind != "List" || list.APIVersion != "v1" || len(list.Items) != 3 {
		t.Fatalf("get -o json: got kind %q apiVersion %q with %d items; want List v1 with 3", list.Kind, list.APIVersion, len(list.Items))
	}
	if got := list.Items[0]["kind"]; got != "Pod" {
		t.Errorf("item kind: got %v; want Pod", got)
	}
	if md := list.Items[0]["metadata"].(map[string]any); md["managedFields"] != nil {
		t.Errorf("item managedFields: got %v; want them omitted", md["managedFields"])
	}
	if !strings.HasPrefix(res.Output, "{\n    \"apiVersion\": \"v1\",") {
		t.Errorf("get -o json: got %q...; want kubectl's 4-space indentation", res.Output[:30])
	}

	res = r.Run(ctx, []string{"get", "pod", "pod-001", "-n", "demo", "-o", "yaml", "--show-managed-fields"})
	var pod map[string]any
	if err := yaml.Unmarshal([]byte(res.Output), &pod); err != nil {
		t.Fatalf("get -o yaml: output does not parse: %v", err)
	}
	md := pod["metadata"].(map[string]any)
	if pod["kind"] != "Pod" || md["name"] != "pod-001" || md["managedFields"] == nil {
		t.Fatalf("get pod -o yaml: got kind %v name %v managedFields %v; want the single Pod pod-001 with managedFields", pod["kind"], md["name"], md["managedFields"])
	}

	res = r.Run(ctx, []string{"get", "pod", "nope", "-n", "demo", "-o", "yaml"})
	if res.ExitCode != 1 || res.Output != "" || res.Error != `Error from server (NotFound): pods "nope" not found` {
		t.Fatalf("get missing pod -o yaml: got %+v; want exit 1, no output, NotFound", res)
	}
}

func TestGetChunksAndCap(t *testing.T) {
	api := &podAPI{n: 300}
	r, _ := testRunner(t, 2048, api)
	res := r.Run(context.Background(), []string{"get", "pods", "-n", "demo", "--chunk-size", "20"})

	if !res.Truncated {
		t.Fatalf("Truncated: got false; want true")
	}
	if res.ExitCode != 0 {
		t.Fatalf("ExitCode: got %d; want 0 (error %q)", res.ExitCode, res.Error)
	}
	if len(res.Output) > 2048 {
		t.Fatalf("len(Output): got %d; want <= 2048", len(res.Output))
	}
	if !strings.HasSuffix(res.Output, "\n") {
		t.Fatalf("Output: got %q at the end; want a whole line", res.Output[len(res.Output)-20:])
	}
	if want := "output truncated at 2048 bytes; narrow with -l, -n, --tail or --chunk-size ("; !strings.HasPrefix(res.Error, want) || !strings.Contains(res.Error, "more pods remain; to read on") {
		t.Fatalf("Error: got %q; want %q", res.Error, want)
	}
	// 2 KiB hold about 45 rows: three pages of 20, not all 15.
	if got := api.listCount(); got > 4 {
		t.Fatalf("list requests: got %d; want at most 4 (reading must stop at the cap)", got)
	}

	res = r.Run(context.Background(), []string{"get", "pods", "-n", "demo", "-o", "json"})
	if !res.Truncated || len(res.Output) > 2048 {
		t.Fatalf("get -o json: got Truncated %v with %d bytes; want truncated at <= 2048", res.Truncated, len(res.Output))
	}
}

func TestGetFollowsContinue(t *testing.T) {
	api := &podAPI{n: 45}
	r, _ := testRunner(t, DefaultMaxOutputBytes, api)
	res := r.Run(context.Background(), []string{"get", "pods", "-n", "demo", "--chunk-size=10", "--no-headers"})
	if res.ExitCode != 0 || res.Truncated {
		t.Fatalf("got exit %d truncated %v (%s); want 0, false", res.ExitCode, res.Truncated, res.Error)
	}
	if got := strings.Count(res.Output, "\n"); got != 45 {
		t.Fatalf("rows: got %d; want 45", got)
	}
	if got := api.listCount(); got != 5 {
		t.Fatalf("list requests: got %d; want 5", got)
	}
	lines := strings.Split(strings.TrimSpace(res.Output), "\n")
	// Widths are the same across pages: every row is aligned alike.
	if len(lines[0]) != len(lines[44]) {
		t.Fatalf("row widths differ across pages: %q vs %q", lines[0], lines[44])
	}
}
