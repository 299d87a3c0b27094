package mcptools

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/modelcontextprotocol/go-sdk/mcp"

	"kubently.io/libs/contracts"
)

// recorder is a Backend for unit tests: it records each request and
// answers with reply (or err).
type recorder struct {
	mu    sync.Mutex
	reqs  []contracts.ExecuteRequest
	reply func(contracts.ExecuteRequest) (contracts.CommandResult, error)
}

func (r *recorder) Execute(_ context.Context, req contracts.ExecuteRequest) (contracts.CommandResult, error) {
	r.mu.Lock()
	r.reqs = append(r.reqs, req)
	r.mu.Unlock()
	if r.reply == nil {
		return contracts.CommandResult{CommandID: "c1", Cluster: req.Cluster, Outcome: contracts.Outcome{Status: contracts.StatusSuccess, Output: "ok\n"}}, nil
	}
	return r.reply(req)
}

func (r *recorder) Clusters(context.Context) ([]Cluster, error) {
	return []Cluster{{ID: "prod", Connected: true, Executors: 2}, {ID: "dev"}}, nil
}

func (r *recorder) last(t *testing.T) contracts.ExecuteRequest {
	t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.reqs) == 0 {
		t.Fatal("backend not called")
	}
	return r.reqs[len(r.reqs)-1]
}

// connect serves a New server over the SDK's in-memory transports and
// returns a connected client session.
func connect(t *testing.T, b Backend, maxBytes int) *mcp.ClientSession {
	t.Helper()
	srv, err := New(Config{Backend: b, Version: "test", MaxBytes: maxBytes})
	if err != nil {
		t.Fatal(err)
	}
	ct, st := mcp.NewInMemoryTransports()
	ctx := context.Background()
	ss, err := srv.Connect(ctx, st, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ss.Close() })
	cs, err := mcp.NewClient(&mcp.Implementation{Name: "test", Version: "1"}, nil).Connect(ctx, ct, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cs.Close() })
	return cs
}

func call(t *testing.T, cs *mcp.ClientSession, tool string, args map[string]any) (*mcp.CallToolResult, Output) {
	t.Helper()
	res, err := cs.CallTool(context.Background(), &mcp.CallToolParams{Name: tool, Arguments: args})
	if err != nil {
		t.Fatalf("%s: protocol error %v; want a tool result", tool, err)
	}
	var out Output
	if res.StructuredContent != nil {
		b, _ := json.Marshal(res.StructuredContent)
		if err := json.Unmarshal(b, &out); err != nil {
			t.Fatalf("%s: structured content %s: %v", tool, b, err)
		}
	}
	return res, out
}

func text(res *mcp.CallToolResult) string {
	var b strings.Builder
	for _, c := range res.Content {
		if tc, ok := c.(*mcp.TextContent); ok {
			b.WriteString(tc.Text)
		}
	}
	return b.String()
}

// size is what budgets count: the text plus the structured content's JSON.
func size(res *mcp.CallToolResult) int {
	b, _ := json.Marshal(res.StructuredContent)
	return len(text(res)) + len(b)
}

func TestNewRejectsBadConfig(t *testing.T) {
	if _, err := New(Config{}); !errors.Is(err, ErrConfig) {
		t.Errorf("no backend: got %v; want ErrConfig", err)
	}
	if _, err := New(Config{Backend: &recorder{}, MaxBytes: 100}); !errors.Is(err, ErrConfig) {
		t.Errorf("MaxBytes 100: got %v; want ErrConfig", err)
	}
}

func TestToolsAreReadOnlyAndTyped(t *testing.T) {
	cs := connect(t, &recorder{}, 0)
	res, err := cs.ListTools(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, tl := range res.Tools {
		names = append(names, tl.Name)
		a := tl.Annotations
		if a == nil || !a.ReadOnlyHint || a.DestructiveHint == nil || *a.DestructiveHint || !a.IdempotentHint {
			t.Errorf("%s: annotations %+v; want read-only, idempotent, not destructive", tl.Name, a)
		}
		if tl.OutputSchema == nil {
			t.Errorf("%s: no output schema", tl.Name)
		}
		in, _ := json.Marshal(tl.InputSchema)
		var schema struct {
			Properties map[string]any `json:"properties"`
			Required   []string       `json:"required"`
		}
		_ = json.Unmarshal(in, &schema)
		if _, ok := schema.Properties["max_bytes"]; !ok {
			t.Errorf("%s: input schema %s has no max_bytes", tl.Name, in)
		}
		if tl.Name != "clusters_list" {
			if _, ok := schema.Properties["continue"]; !ok || !contains(schema.Required, "cluster") {
				t.Errorf("%s: input schema %s: want continue and a required cluster", tl.Name, in)
			}
		}
	}
	want := []string{"api_resources", "clusters_list", "command_run", "diagnose", "events_list", "explain", "nodes_top", "pods_log",
		"pods_top", "resources_describe", "resources_get", "resources_list", "rollout_history", "rollout_status"}
	if d := cmp.Diff(want, names); d != "" {
		t.Errorf("tools (-want +got):\n%s", d)
	}
}

func contains(s []string, v string) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

func TestArgv(t *testing.T) {
	tests := []struct {
		tool string
		args map[string]any
		want []string
	}{
		{"command_run", map[string]any{"argv": []string{"get", "pods"}, "namespace": "demo"}, []string{"get", "pods", "--namespace=demo"}},
		{"command_run", map[string]any{"argv": []string{"get", "pods", "-n", "x"}, "namespace": "demo"}, []string{"get", "pods", "-n", "x"}},
		{"resources_list", map[string]any{"kind": "pods", "namespace": "demo", "label_selector": "app=web", "field_selector": "status.phase!=Running", "output": "wide"},
			[]string{"get", "pods", "--namespace=demo", "--selector=app=web", "--field-selector=status.phase!=Running", "--output=wide"}},
		{"resources_list", map[string]any{"kind": "nodes"}, []string{"get", "nodes"}},
		{"resources_list", map[string]any{"kind": "pods", "all_namespaces": true}, []string{"get", "pods", "--all-namespaces"}},
		{"resources_get", map[string]any{"kind": "deploy", "name": "web", "namespace": "shop"}, []string{"get", "deploy", "web", "--output=yaml", "--namespace=shop"}},
		{"resources_get", map[string]any{"kind": "node", "name": "n1", "output": "json"}, []string{"get", "node", "n1", "--output=json"}},
		{"resources_describe", map[string]any{"kind": "pod", "name": "web-1", "namespace": "shop"}, []string{"describe", "pod", "web-1", "--namespace=shop"}},
		{"resources_describe", map[string]any{"kind": "pod", "namespace": "shop", "label_selector": "app=web"}, []string{"describe", "pod", "--namespace=shop", "--selector=app=web"}},
		{"pods_log", map[string]any{"name": "deploy/web", "namespace": "shop"}, []string{"logs", "deploy/web", "--tail=500", "--namespace=shop"}},
		{"pods_log", map[string]any{"name": "web-1", "namespace": "shop", "container": "app", "previous": true, "tail": 50, "since": "10m",
			"grep": "err|fail", "grep_regex": true, "grep_context": 2, "ignore_case": true},
			[]string{"logs", "web-1", "--tail=50", "--container=app", "--previous", "--since=10m", "--grep=err|fail", "--grep-regex", "--grep-context=2", "--ignore-case", "--namespace=shop"}},
		{"events_list", map[string]any{"namespace": "shop", "for": "pod/web-1", "types": "Warning"}, []string{"events", "--namespace=shop", "--for=pod/web-1", "--types=Warning"}},
		{"pods_top", map[string]any{"namespace": "shop", "sort_by": "memory", "containers": true}, []string{"top", "pod", "--containers", "--namespace=shop", "--sort-by=memory"}},
		{"nodes_top", map[string]any{"sort_by": "cpu"}, []string{"top", "node", "--sort-by=cpu"}},
		{"rollout_history", map[string]any{"name": "deployment/web", "namespace": "shop", "revision": 2}, []string{"rollout", "history", "deployment/web", "--revision=2", "--namespace=shop"}},
		{"rollout_status", map[string]any{"name": "deployment/web", "namespace": "shop"}, []string{"rollout", "status", "deployment/web", "--watch=false", "--namespace=shop"}},
		{"api_resources", map[string]any{"namespaced": "true", "api_group": "apps"}, []string{"api-resources", "--namespaced=true", "--api-group=apps"}},
		{"explain", map[string]any{"resource": "deployment.spec.strategy", "recursive": true}, []string{"explain", "deployment.spec.strategy", "--recursive"}},
		{"diagnose", map[string]any{"namespace": "shop"}, []string{"diagnose", "--namespace=shop"}},
		{"diagnose", map[string]any{"all_namespaces": true}, []string{"diagnose", "--all-namespaces"}},
	}
	b := &recorder{}
	cs := connect(t, b, 0)
	for _, tt := range tests {
		t.Run(tt.tool, func(t *testing.T) {
			tt.args["cluster"] = "prod"
			tt.args["timeout_seconds"] = 7
			res, out := call(t, cs, tt.tool, tt.args)
			if res.IsError {
				t.Fatalf("isError: %s", text(res))
			}
			got := b.last(t)
			want := contracts.ExecuteRequest{Cluster: "prod", Argv: tt.want, TimeoutSeconds: 7, Tool: tt.tool}
			if d := cmp.Diff(want, got); d != "" {
				t.Errorf("request (-want +got):\n%s", d)
			}
			if out.Status != "success" || out.CommandID != "c1" || text(res) != "ok\n" {
				t.Errorf("answer %q %+v; want ok, success, c1", text(res), out)
			}
		})
	}
}

func TestBadInputIsAToolError(t *testing.T) {
	tests := []struct {
		name string
		tool string
		args map[string]any
	}{
		{"no cluster", "resources_list", map[string]any{"kind": "pods"}},
		{"kind is a flag", "resources_list", map[string]any{"cluster": "prod", "kind": "--kubeconfig=/x"}},
		{"kind/name in list", "resources_list", map[string]any{"cluster": "prod", "kind": "pods/x"}},
		{"bad output", "resources_list", map[string]any{"cluster": "prod", "kind": "pods", "output": "json"}},
		{"namespace and all", "resources_list", map[string]any{"cluster": "prod", "kind": "pods", "namespace": "a", "all_namespaces": true}},
		{"max_bytes too small", "resources_list", map[string]any{"cluster": "prod", "kind": "pods", "max_bytes": 10}},
		{"max_bytes too large", "resources_list", map[string]any{"cluster": "prod", "kind": "pods", "max_bytes": 1 << 30}},
		{"bad continue", "resources_list", map[string]any{"cluster": "prod", "kind": "pods", "continue": "nope"}},
		{"huge selector", "resources_list", map[string]any{"cluster": "prod", "kind": "pods", "label_selector": strings.Repeat("a", 2000)}},
		{"get without name", "resources_get", map[string]any{"cluster": "prod", "kind": "pod"}},
		{"describe nothing", "resources_describe", map[string]any{"cluster": "prod", "kind": "pod"}},
		{"log name is a flag", "pods_log", map[string]any{"cluster": "prod", "name": "-f"}},
		{"bad since", "pods_log", map[string]any{"cluster": "prod", "name": "web", "since": "yesterday"}},
		{"grep context without grep", "pods_log", map[string]any{"cluster": "prod", "name": "web", "grep_context": 2}},
		{"grep context too large", "pods_log", map[string]any{"cluster": "prod", "name": "web", "grep": "x", "grep_context": 50}},
		{"bad types", "events_list", map[string]any{"cluster": "prod", "types": "Fatal"}},
		{"rollout without kind", "rollout_status", map[string]any{"cluster": "prod", "name": "web"}},
		{"empty argv", "command_run", map[string]any{"cluster": "prod", "argv": []string{}}},
		{"control character", "command_run", map[string]any{"cluster": "prod", "argv": []string{"get", "po\x00ds"}}},
		{"wrong type", "resources_list", map[string]any{"cluster": "prod", "kind": 3}},
	}
	b := &recorder{}
	cs := connect(t, b, 0)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, _ := call(t, cs, tt.tool, tt.args)
			if !res.IsError {
				t.Fatalf("got a success %q; want a tool error", text(res))
			}
			if len(b.reqs) != 0 {
				t.Errorf("backend called with %v; want nothing sent", b.reqs)
			}
		})
	}
}

func TestRefusalsAreToolErrorsWithReasonAndHint(t *testing.T) {
	tests := []struct {
		name              string
		res               contracts.CommandResult
		err               error
		status, code, why string
		hintHas, textHas  string
	}{
		{name: "policy denial", err: &contracts.Error{Code: contracts.CodeCommandDenied, Reason: "restricted_resource", Message: "secrets are restricted"},
			status: "rejected", code: "command_denied", why: "restricted_resource", hintHas: "Secret values", textHas: "command_denied (restricted_resource)"},
		{name: "out of scope", err: &contracts.Error{Code: contracts.CodeForbidden, Reason: "cluster_out_of_scope", Message: "bob may not access cluster"},
			status: "rejected", code: "forbidden", why: "cluster_out_of_scope", hintHas: "clusters_list", textHas: "forbidden (cluster_out_of_scope)"},
		{name: "offline", err: &contracts.Error{Code: contracts.CodeExecutorUnavailable, Message: "no executor"},
			status: "rejected", code: "executor_unavailable", hintHas: "not connected", textHas: "executor_unavailable"},
		{name: "unreachable gateway", err: errors.New("dial tcp: connection refused"),
			status: "rejected", code: "unavailable", hintHas: "retry", textHas: "connection refused"},
		{name: "executor denial", res: contracts.CommandResult{Outcome: contracts.Outcome{Status: contracts.StatusDenied, Error: "verb delete is not allowed", ExitCode: 1}, Reason: "verb_not_allowed"},
			status: "denied", why: "verb_not_allowed", hintHas: "read-only", textHas: "verb delete is not allowed"},
		{name: "timeout", res: contracts.CommandResult{Outcome: contracts.Outcome{Status: contracts.StatusTimeout, Error: "timed out after 30s"}},
			status: "timeout", hintHas: "timeout_seconds", textHas: "timed out"},
		{name: "not found", res: contracts.CommandResult{Outcome: contracts.Outcome{Status: contracts.StatusFailure, Error: `Error from server (NotFound): pods "x" not found`, ExitCode: 1}},
			status: "failure", hintHas: "resources_list", textHas: "NotFound"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := &recorder{reply: func(contracts.ExecuteRequest) (contracts.CommandResult, error) { return tt.res, tt.err }}
			cs := connect(t, b, 0)
			res, out := call(t, cs, "resources_list", map[string]any{"cluster": "prod", "kind": "pods"})
			if !res.IsError {
				t.Fatalf("isError false; want a tool error: %q", text(res))
			}
			if out.Status != tt.status || out.Code != tt.code || out.Reason != tt.why {
				t.Errorf("status/code/reason = %q/%q/%q; want %q/%q/%q", out.Status, out.Code, out.Reason, tt.status, tt.code, tt.why)
			}
			if !strings.Contains(out.Hint, tt.hintHas) || !strings.Contains(text(res), "hint: ") {
				t.Errorf("hint %q (text %q); want it to mention %q", out.Hint, text(res), tt.hintHas)
			}
			if !strings.Contains(text(res), tt.textHas) {
				t.Errorf("text %q; want %q", text(res), tt.textHas)
			}
		})
	}
}

// table returns a kubectl-like table of n rows.
func table(n int) string {
	var b strings.Builder
	b.WriteString("NAME          READY   STATUS    RESTARTS   AGE\n")
	for i := range n {
		fmt.Fprintf(&b, "pod-%06d    1/1     Running   0          %dm\n", i, i%60)
	}
	return b.String()
}

func TestPagingReadsEveryRowOnceWithinBudget(t *testing.T) {
	const rows = 700
	full := table(rows)
	b := &recorder{reply: func(req contracts.ExecuteRequest) (contracts.CommandResult, error) {
		return contracts.CommandResult{CommandID: "c", Outcome: contracts.Outcome{Status: contracts.StatusSuccess, Output: full}}, nil
	}}
	cs := connect(t, b, 0)
	args := map[string]any{"cluster": "prod", "kind": "pods", "namespace": "demo", "max_bytes": MinMaxBytes}
	header, _, _ := strings.Cut(full, "\n")
	var got []string
	for page := 0; ; page++ {
		if page > rows {
			t.Fatal("paging does not end")
		}
		res, out := call(t, cs, "resources_list", args)
		if res.IsError {
			t.Fatalf("page %d: %s", page, text(res))
		}
		if n := size(res); n > MinMaxBytes {
			t.Fatalf("page %d: %d bytes; budget %d", page, n, MinMaxBytes)
		}
		lines := strings.Split(strings.TrimSuffix(text(res), "\n"), "\n")
		if lines[0] != header {
			t.Fatalf("page %d starts %q; want the header", page, lines[0])
		}
		got = append(got, lines[1:]...)
		if out.Continue == "" {
			if out.Truncated {
				t.Errorf("last page truncated without a continue token")
			}
			break
		}
		if !out.Truncated {
			t.Errorf("page %d has a continue token but truncated=false", page)
		}
		args["continue"] = out.Continue
	}
	want := strings.Split(strings.TrimSuffix(full, "\n"), "\n")[1:]
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("rows over all pages (-want +got):\n%s", d)
	}
	// A token is bound to its query.
	args["namespace"] = "other"
	if res, _ := call(t, cs, "resources_list", args); !res.IsError || !strings.Contains(text(res), "other arguments") {
		t.Errorf("token reused for another query: %q; want a tool error", text(res))
	}
}

func TestExecutorContinueTokenIsPassedBack(t *testing.T) {
	b := &recorder{reply: func(req contracts.ExecuteRequest) (contracts.CommandResult, error) {
		last := req.Argv[len(req.Argv)-1]
		if last == "--continue=exec-tok" {
			return contracts.CommandResult{Outcome: contracts.Outcome{Status: contracts.StatusSuccess, Output: table(2)}}, nil
		}
		return contracts.CommandResult{Outcome: contracts.Outcome{Status: contracts.StatusSuccess, Output: table(3), Truncated: true}, Continue: "exec-tok"}, nil
	}}
	cs := connect(t, b, 0)
	args := map[string]any{"cluster": "prod", "kind": "pods"}
	_, out := call(t, cs, "resources_list", args)
	if !out.Truncated || out.Continue == "" {
		t.Fatalf("first page: %+v; want truncated with a continue token", out)
	}
	args["continue"] = out.Continue
	_, out = call(t, cs, "resources_list", args)
	if got := b.last(t).Argv; got[len(got)-1] != "--continue=exec-tok" {
		t.Errorf("second call argv %v; want --continue=exec-tok", got)
	}
	if out.Truncated || out.Continue != "" {
		t.Errorf("second page %+v; want the end", out)
	}
}

func TestStructuredContent(t *testing.T) {
	structured := `{"apiVersion":"v1","kind":"List","items":[{"reason":"BackOff"}]}`
	b := &recorder{reply: func(req contracts.ExecuteRequest) (contracts.CommandResult, error) {
		return contracts.CommandResult{Outcome: contracts.Outcome{Status: contracts.StatusSuccess, Output: "LAST SEEN   TYPE\n1m   Warning\n"}, Structured: json.RawMessage(structured)}, nil
	}}
	cs := connect(t, b, 0)
	_, out := call(t, cs, "events_list", map[string]any{"cluster": "prod", "namespace": "shop"})
	var want any
	_ = json.Unmarshal([]byte(structured), &want)
	if d := cmp.Diff(want, out.Structured); d != "" {
		t.Errorf("structured (-want +got):\n%s", d)
	}
	// Too big for the budget: dropped, the table stays.
	big := `{"items":["` + strings.Repeat("x", 3000) + `"]}`
	b.reply = func(req contracts.ExecuteRequest) (contracts.CommandResult, error) {
		return contracts.CommandResult{Outcome: contracts.Outcome{Status: contracts.StatusSuccess, Output: "A\nb\n"}, Structured: json.RawMessage(big)}, nil
	}
	res, out := call(t, cs, "events_list", map[string]any{"cluster": "prod", "namespace": "shop", "max_bytes": MinMaxBytes})
	if out.Structured != nil || text(res) != "A\nb\n" || size(res) > MinMaxBytes {
		t.Errorf("over budget: structured %v, text %q, %d bytes; want no structured, the table, within %d", out.Structured != nil, text(res), size(res), MinMaxBytes)
	}
}

func TestLongLineIsCutNotLooped(t *testing.T) {
	b := &recorder{reply: func(req contracts.ExecuteRequest) (contracts.CommandResult, error) {
		return contracts.CommandResult{Outcome: contracts.Outcome{Status: contracts.StatusSuccess, Output: strings.Repeat("é", 10000) + "\nshort\n"}}, nil
	}}
	cs := connect(t, b, 0)
	args := map[string]any{"cluster": "prod", "name": "web", "max_bytes": MinMaxBytes}
	res, out := call(t, cs, "pods_log", args)
	if size(res) > MinMaxBytes || !out.Truncated || out.Continue == "" {
		t.Fatalf("first page: %d bytes, %+v; want within budget, truncated, continue", size(res), out)
	}
	args["continue"] = out.Continue
	res, out = call(t, cs, "pods_log", args)
	if text(res) != "short\n" || out.Continue != "" {
		t.Errorf("second page %q %+v; want the short line and the end", text(res), out)
	}
}

func TestClustersList(t *testing.T) {
	cs := connect(t, &recorder{}, 0)
	res, err := cs.CallTool(context.Background(), &mcp.CallToolParams{Name: "clusters_list", Arguments: map[string]any{}})
	if err != nil || res.IsError {
		t.Fatalf("clusters_list: %v %v", err, res)
	}
	if !strings.Contains(text(res), "prod") || !strings.Contains(text(res), "CONNECTED") {
		t.Errorf("text %q; want a table with prod", text(res))
	}
	var out ClustersOutput
	b, _ := json.Marshal(res.StructuredContent)
	_ = json.Unmarshal(b, &out)
	if out.Count != 2 || len(out.Clusters) != 2 || !out.Clusters[0].Connected {
		t.Errorf("structured %s; want both clusters", b)
	}
}

func TestPrompts(t *testing.T) {
	cs := connect(t, &recorder{}, 0)
	ctx := context.Background()
	list, err := cs.ListPrompts(ctx, nil)
	if err != nil || len(list.Prompts) != 2 {
		t.Fatalf("prompts: %v %v", list, err)
	}
	p, err := cs.GetPrompt(ctx, &mcp.GetPromptParams{Name: "investigate_pod", Arguments: map[string]string{"cluster": "prod", "namespace": "shop", "pod": "web-1"}})
	if err != nil {
		t.Fatal(err)
	}
	if tc, ok := p.Messages[0].Content.(*mcp.TextContent); !ok || !strings.Contains(tc.Text, "pods_log name=web-1") {
		t.Errorf("prompt %+v; want the pod's steps", p.Messages[0].Content)
	}
	if _, err := cs.GetPrompt(ctx, &mcp.GetPromptParams{Name: "namespace_health", Arguments: map[string]string{"cluster": "prod"}}); err == nil {
		t.Error("namespace_health without namespace: no error")
	}
}
