package integration

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"kubently.io/libs/audit"
	"kubently.io/libs/contracts"
	"kubently.io/libs/mcptools"
	"kubently.io/libs/testkit"
)

// keyTransport adds an API key to every request.
type keyTransport struct{ key string }

func (k keyTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set(contracts.HeaderAPIKey, k.key)
	return http.DefaultTransport.RoundTrip(r)
}

// mcpHTTP connects an MCP client to the gateway's /mcp with key over
// Streamable HTTP.
func mcpHTTP(t *testing.T, gateway, key string) *mcp.ClientSession {
	t.Helper()
	tr := &mcp.StreamableClientTransport{Endpoint: gateway + "/mcp", HTTPClient: &http.Client{Transport: keyTransport{key}, Timeout: 2 * time.Minute}}
	cs, err := mcp.NewClient(&mcp.Implementation{Name: "kubently-test", Version: "1"}, nil).Connect(context.Background(), tr, nil)
	if err != nil {
		t.Fatalf("connect to %s/mcp: %v", gateway, err)
	}
	t.Cleanup(func() { _ = cs.Close() })
	return cs
}

// toolCall calls a tool and decodes its structured content; a protocol
// error ends the test (every failure must be a tool result).
func toolCall(t *testing.T, cs *mcp.ClientSession, tool string, args map[string]any) (string, mcptools.Output, bool, int) {
	t.Helper()
	res, err := cs.CallTool(context.Background(), &mcp.CallToolParams{Name: tool, Arguments: args})
	if err != nil {
		t.Fatalf("%s %v: protocol error %v; want a tool result", tool, args, err)
	}
	var b strings.Builder
	for _, c := range res.Content {
		if tc, ok := c.(*mcp.TextContent); ok {
			b.WriteString(tc.Text)
		}
	}
	raw, _ := json.Marshal(res.StructuredContent)
	var out mcptools.Output
	_ = json.Unmarshal(raw, &out)
	return b.String(), out, res.IsError, b.Len() + len(raw)
}

// seedCalls calls every tool on the seeded demo namespace and checks the
// answers; it returns the tools it called that ran a command.
func seedCalls(t *testing.T, cs *mcp.ClientSession, cluster string) []string {
	t.Helper()
	tests := []struct {
		tool string
		args map[string]any
		want []string // substrings of the text
		not  []string
	}{
		{"command_run", map[string]any{"argv": []string{"get", "pods", "-o", "wide"}, "namespace": "demo"}, []string{"crashy", "web-", "NODE"}, nil},
		{"resources_list", map[string]any{"kind": "pods", "namespace": "demo", "label_selector": "app=web"}, []string{"NAME", "web-"}, []string{"crashy"}},
		{"resources_list", map[string]any{"kind": "pods", "namespace": "demo", "field_selector": "metadata.name=crashy"}, []string{"crashy", "CrashLoopBackOff"}, []string{"web-"}},
		{"resources_get", map[string]any{"kind": "deployment", "name": "web", "namespace": "demo"}, []string{"kind: Deployment", "name: web", "replicas: 2"}, []string{"managedFields"}},
		{"resources_describe", map[string]any{"kind": "pod", "name": "crashy", "namespace": "demo"}, []string{"Name:", "crashy", "CrashLoopBackOff"}, nil},
		{"pods_log", map[string]any{"name": "crashy", "namespace": "demo"}, []string{"starting crashy v1.4.2", "connection refused"}, []string{"previous run"}},
		{"pods_log", map[string]any{"name": "crashy", "namespace": "demo", "previous": true}, []string{"previous run"}, nil},
		{"pods_log", map[string]any{"name": "crashy", "namespace": "demo", "grep": "PANIC", "ignore_case": true}, []string{"panic: dial tcp"}, []string{"starting crashy", "loading config"}},
		{"pods_log", map[string]any{"name": "crashy", "namespace": "demo", "grep": "^load.*yaml$", "grep_regex": true, "grep_context": 1}, []string{"starting crashy", "loading config", "panic: dial tcp"}, nil},
		{"events_list", map[string]any{"namespace": "demo"}, []string{"LAST SEEN", "TYPE"}, nil},
		{"rollout_history", map[string]any{"name": "deployment/web", "namespace": "demo"}, []string{"REVISION", "seed: initial rollout"}, nil},
		{"rollout_status", map[string]any{"name": "deployment/web", "namespace": "demo"}, []string{"successfully rolled out"}, nil},
		{"api_resources", map[string]any{"api_group": "apps"}, []string{"deployments", "statefulsets"}, []string{"configmaps"}},
		{"explain", map[string]any{"resource": "pods.spec.restartPolicy"}, []string{"restartPolicy"}, nil},
		{"diagnose", map[string]any{"namespace": "demo"}, []string{"crashy", "CrashLoopBackOff"}, nil},
	}
	var called []string
	for _, tt := range tests {
		tt.args["cluster"] = cluster
		text, out, isErr, n := toolCall(t, cs, tt.tool, tt.args)
		if isErr {
			t.Errorf("%s %v: tool error %q", tt.tool, tt.args, text)
			continue
		}
		for _, w := range tt.want {
			if !strings.Contains(text, w) {
				t.Errorf("%s %v: want %q in\n%s", tt.tool, tt.args, w, text)
			}
		}
		for _, w := range tt.not {
			if strings.Contains(text, w) {
				t.Errorf("%s %v: did not want %q in\n%s", tt.tool, tt.args, w, text)
			}
		}
		if out.Status != "success" || out.CommandID == "" || out.Cluster != cluster {
			t.Errorf("%s: structured %+v; want success with a command id", tt.tool, out)
		}
		if n > mcptools.DefaultMaxBytes {
			t.Errorf("%s: %d bytes; default budget %d", tt.tool, n, mcptools.DefaultMaxBytes)
		}
		called = append(called, tt.tool)
	}
	// top reads metrics.k8s.io, which the testbed serves without data:
	// whatever the cluster answers, it is a result, not a protocol error.
	for _, tool := range []string{"pods_top", "nodes_top"} {
		args := map[string]any{"cluster": cluster}
		if tool == "pods_top" {
			args["namespace"] = "demo"
		}
		text, out, isErr, _ := toolCall(t, cs, tool, args)
		if out.CommandID == "" || (isErr && out.Hint == "") {
			t.Errorf("%s: %q %+v; want a command that ran, with a hint if it failed", tool, text, out)
		}
		called = append(called, tool)
	}
	return called
}

// pageAll reads a list with max_bytes at the minimum, following continue
// tokens to the end, and returns its rows (without headers).
func pageAll(t *testing.T, cs *mcp.ClientSession, args map[string]any) (rows []string, pages int) {
	t.Helper()
	args["max_bytes"] = mcptools.MinMaxBytes
	var header string
	for pages = 1; ; pages++ {
		if pages > 500 {
			t.Fatal("paging does not end")
		}
		text, out, isErr, n := toolCall(t, cs, "resources_list", args)
		if isErr {
			t.Fatalf("page %d: %s", pages, text)
		}
		if n > mcptools.MinMaxBytes {
			t.Fatalf("page %d: %d bytes over the %d budget", pages, n, mcptools.MinMaxBytes)
		}
		lines := strings.Split(strings.TrimRight(text, "\n"), "\n")
		if pages == 1 {
			header = lines[0]
		}
		if !strings.HasPrefix(lines[0], "NAME") || lines[0] != header {
			t.Fatalf("page %d does not start with the header %q: %q", pages, header, lines[0])
		}
		rows = append(rows, lines[1:]...)
		if out.Continue == "" {
			return rows, pages
		}
		args["continue"] = out.Continue
	}
}

// mcpToolCount is how many tools the MCP server offers (libs/mcptools),
// fleet_run and fleet_diagnose included.
const mcpToolCount = 16

func TestMCPOverStreamableHTTP(t *testing.T) {
	s := startAccessStack(t, nil)
	cs := mcpHTTP(t, s.url, aliceKey)
	ctx := context.Background()

	tools, err := cs.ListTools(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(tools.Tools) != mcpToolCount {
		t.Errorf("got %d tools; want %d", len(tools.Tools), mcpToolCount)
	}
	for _, tl := range tools.Tools {
		if tl.Annotations == nil || !tl.Annotations.ReadOnlyHint {
			t.Errorf("%s is not annotated read-only", tl.Name)
		}
	}
	text, _, isErr, _ := toolCall(t, cs, "clusters_list", map[string]any{})
	if isErr || !strings.Contains(text, live) || !strings.Contains(text, offline) {
		t.Errorf("clusters_list: %q", text)
	}

	// One read across a live and an offline cluster, through the real
	// fan-out: one success, one unreachable, each named.
	res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "fleet_run", Arguments: map[string]any{
		"clusters": []string{live, offline}, "argv": []string{"get", "namespaces"}, "timeout_seconds": 30}})
	if err != nil {
		t.Fatalf("fleet_run: %v", err)
	}
	raw, _ := json.Marshal(res.StructuredContent)
	var fleet mcptools.FleetOutput
	if err := json.Unmarshal(raw, &fleet); err != nil {
		t.Fatalf("fleet_run structured content %s: %v", raw, err)
	}
	if fleet.Total != 2 || fleet.Succeeded != 1 || fleet.Unreachable != 1 || fleet.FanoutID == "" {
		t.Errorf("fleet_run summary = %s; want 2 clusters: 1 succeeded, 1 unreachable, with a fan-out id", raw)
	}
	for _, c := range fleet.Clusters {
		if c.Cluster == live && (c.Outcome != "succeeded" || !strings.Contains(c.Output, "demo")) {
			t.Errorf("fleet_run %s = %+v; want succeeded with the demo namespace listed", live, c)
		}
	}

	called := seedCalls(t, cs, live)

	// Page a capped list to the end: the same rows as one uncapped read
	// (ClusterRoles: a list of some 7 KB that does not change while it is
	// read).
	rows, pages := pageAll(t, cs, map[string]any{"cluster": live, "kind": "clusterroles"})
	full, _, isErr, _ := toolCall(t, cs, "command_run", map[string]any{"cluster": live, "argv": []string{"get", "clusterroles"}, "max_bytes": 128 << 10})
	if isErr {
		t.Fatal(full)
	}
	want := strings.Split(strings.TrimRight(full, "\n"), "\n")[1:]
	if pages < 2 {
		t.Errorf("%d rows in %d page; want several pages at %d bytes", len(rows), pages, mcptools.MinMaxBytes)
	}
	name := func(row string) string { return strings.Fields(row)[0] }
	var gotNames, wantNames []string
	for _, r := range rows {
		gotNames = append(gotNames, name(r))
	}
	for _, r := range want {
		wantNames = append(wantNames, name(r))
	}
	if !slices.Equal(gotNames, wantNames) {
		t.Errorf("paged rows %v\nwant %v", gotNames, wantNames)
	}

	// A denial: a tool error with the policy's reason and a hint.
	text, out, isErr, _ := toolCall(t, cs, "command_run", map[string]any{"cluster": live, "argv": []string{"delete", "pod", "crashy", "-n", "demo"}})
	if !isErr || out.Code != string(contracts.CodeCommandDenied) || out.Reason != "verb_not_allowed" || out.Hint == "" || !strings.Contains(text, "hint:") {
		t.Errorf("delete: %q %+v; want isError command_denied/verb_not_allowed with a hint", text, out)
	}
	// Secret values never come back, whatever the tool.
	text, _, _, _ = toolCall(t, cs, "resources_get", map[string]any{"cluster": live, "kind": "secret", "name": "payments-db", "namespace": "shop", "output": "json"})
	text2, _, _, _ := toolCall(t, cs, "command_run", map[string]any{"cluster": live, "argv": []string{"get", "secrets", "-A", "-o", "yaml"}})
	for _, v := range shopSecretValues(t) {
		if strings.Contains(text, v) || strings.Contains(text2, v) {
			t.Errorf("a Secret value reached the answer: %q", v)
		}
	}
	// Offline cluster, unknown cluster: tool errors with hints.
	for cluster, code := range map[string]contracts.ErrorCode{offline: contracts.CodeExecutorUnavailable, "nope": contracts.CodeUnknownCluster} {
		_, out, isErr, _ := toolCall(t, cs, "resources_list", map[string]any{"cluster": cluster, "kind": "pods"})
		if !isErr || out.Code != string(code) || out.Hint == "" {
			t.Errorf("%s: %+v; want isError %s with a hint", cluster, out, code)
		}
	}

	// A key scoped to kube-system: other namespaces are a tool error
	// (forbidden/namespace_out_of_scope), its namespace works.
	scoped := mcpHTTP(t, s.url, accNSKey)
	_, out, isErr, _ = toolCall(t, scoped, "resources_list", map[string]any{"cluster": live, "kind": "pods", "namespace": "demo"})
	if !isErr || out.Code != string(contracts.CodeForbidden) || out.Reason != "namespace_out_of_scope" {
		t.Errorf("scoped key on demo: %+v; want isError forbidden/namespace_out_of_scope", out)
	}
	if text, _, isErr, _ := toolCall(t, scoped, "resources_list", map[string]any{"cluster": live, "kind": "pods", "namespace": "kube-system"}); isErr {
		t.Errorf("scoped key on kube-system: %q", text)
	}
	if text, _, _, _ := toolCall(t, scoped, "clusters_list", map[string]any{}); strings.Contains(text, offline) {
		t.Errorf("scoped key sees %s:\n%s", offline, text)
	}

	// Bad or missing keys: 401 before any MCP.
	initBody := `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"x","version":"1"}}}`
	for _, key := range []string{"", "wrong-key-0123456789abcdef"} {
		r := s.do(t, "POST", "/mcp", key, initBody, "Accept", "application/json, text/event-stream")
		if r.status != http.StatusUnauthorized || r.apiError(t).Code != contracts.CodeUnauthorized {
			t.Errorf("key %q: got %d %s; want 401 unauthorized", key, r.status, r.body)
		}
	}

	// Every call is in the audit log with its tool.
	testkit.CheckFor(t, 20*time.Second, 200*time.Millisecond, func() error {
		return auditedTools(t, s.stack, accAdminKey, "alice", append(called, "command_run"), "command_run", "verb_not_allowed")
	})
	testkit.CheckFor(t, 20*time.Second, 200*time.Millisecond, func() error {
		return auditedTools(t, s.stack, accAdminKey, "ns-op", []string{"resources_list"}, "resources_list", "namespace_out_of_scope")
	})
}

// auditedTools checks that identity's command records name each tool in
// tools, and that a command_denied record for deniedTool carries reason.
func auditedTools(t *testing.T, s *stack, adminKey, identity string, tools []string, deniedTool, reason string) error {
	t.Helper()
	r := s.do(t, "GET", "/v1/audit?identity="+url.QueryEscape(identity)+"&limit=1000", adminKey, nil)
	if r.status != http.StatusOK {
		return fmt.Errorf("audit: %d %s", r.status, r.body)
	}
	var page audit.Result
	r.json(t, &page)
	seen := map[string]bool{}
	denied := false
	for _, rec := range page.Records {
		if rec.Event == audit.EventCommandExecuted && rec.Tool != "" {
			seen[rec.Tool] = true
		}
		if rec.Event == audit.EventCommandDenied && rec.Tool == deniedTool && rec.Reason == reason {
			denied = true
		}
	}
	for _, tl := range tools {
		if tl != deniedTool && !seen[tl] {
			return fmt.Errorf("no command_executed record of %s with tool %s (have %v)", identity, tl, seen)
		}
	}
	if !denied {
		return fmt.Errorf("no command_denied record of %s with tool %s and reason %s", identity, deniedTool, reason)
	}
	return nil
}

// shopSecretValues reads the values of the seeded Secret shop/payments-db
// from the seed manifest.
func shopSecretValues(t *testing.T) []string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "hack", "testbed", "seed", "shop.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var vals []string
	in := false
	for _, line := range strings.Split(string(b), "\n") {
		trim := strings.TrimSpace(line)
		switch {
		case trim == "stringData:" || trim == "data:":
			in = true
		case in && strings.HasPrefix(line, "  ") && strings.Contains(trim, ":"):
			// Values short enough to appear elsewhere (a user name that
			// is also the app's name) prove nothing; passwords are long.
			_, v, _ := strings.Cut(trim, ":")
			if v = strings.Trim(strings.TrimSpace(v), `"'`); len(v) >= 12 {
				vals = append(vals, v)
			}
		case in && !strings.HasPrefix(line, "  "):
			in = false
		}
	}
	if len(vals) == 0 {
		t.Fatal("no Secret values found in the shop seed")
	}
	return vals
}

// TestMCPOverStdio runs the built kubently binary as `kubently mcp`, as an
// MCP client launches it, against a stack: tools, a grep, a denial and
// the audit records of its /v1/execute calls with the tool names.
func TestMCPOverStdio(t *testing.T) {
	s := startStack(t, true)
	bin := filepath.Join(t.TempDir(), "kubently")
	build := exec.Command("go", "build", "-o", bin, "kubently.io/cli/cmd/kubently")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build kubently: %v\n%s", err, out)
	}
	cmd := exec.Command(bin, "mcp")
	cmd.Env = append(os.Environ(), "KUBENTLY_API_URL="+s.url, "KUBENTLY_API_KEY="+aliceKey, "HOME="+t.TempDir())
	cs, err := mcp.NewClient(&mcp.Implementation{Name: "kubently-test", Version: "1"}, nil).Connect(context.Background(), &mcp.CommandTransport{Command: cmd}, nil)
	if err != nil {
		t.Fatalf("start kubently mcp: %v", err)
	}
	t.Cleanup(func() { _ = cs.Close() })
	tools, err := cs.ListTools(context.Background(), nil)
	if err != nil || len(tools.Tools) != mcpToolCount {
		t.Fatalf("tools/list: %v, %v", err, tools)
	}
	called := seedCalls(t, cs, live)
	text, out, isErr, _ := toolCall(t, cs, "command_run", map[string]any{"cluster": live, "argv": []string{"exec", "crashy", "--", "sh"}, "namespace": "demo"})
	if !isErr || out.Code != string(contracts.CodeCommandDenied) || out.Hint == "" {
		t.Errorf("exec: %q %+v; want isError command_denied with a hint", text, out)
	}
	rows, pages := pageAll(t, cs, map[string]any{"cluster": live, "kind": "clusterroles"})
	if pages < 2 || len(rows) < 10 {
		t.Errorf("%d rows in %d pages; want paging", len(rows), pages)
	}
	testkit.CheckFor(t, 20*time.Second, 200*time.Millisecond, func() error {
		return auditedTools(t, s, aliceKey, "alice", called, "command_run", out.Reason)
	})
}
