package httpapi

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/modelcontextprotocol/go-sdk/mcp"

	"kubently.io/libs/contracts"
)

type keyTransport struct{ key string }

func (k keyTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set(contracts.HeaderAPIKey, k.key)
	return http.DefaultTransport.RoundTrip(r)
}

// TestMCPRoute calls tools over /mcp and checks they reach the dispatcher
// as /v1/execute requests do: the caller's principal, the gateway, and the
// tool's name for audit.
func TestMCPRoute(t *testing.T) {
	e := newEnv(t, envOpts{})
	tr := &mcp.StreamableClientTransport{Endpoint: e.http.URL + "/mcp", HTTPClient: &http.Client{Transport: keyTransport{operatorKey}}}
	cs, err := mcp.NewClient(&mcp.Implementation{Name: "t", Version: "1"}, nil).Connect(context.Background(), tr, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer cs.Close()
	res, err := cs.CallTool(context.Background(), &mcp.CallToolParams{Name: "resources_list",
		Arguments: map[string]any{"cluster": "dev-1", "kind": "pods", "namespace": "demo"}})
	if err != nil || res.IsError {
		t.Fatalf("resources_list: %v %+v", err, res)
	}
	got := e.lastExecute(t)
	if got.Tool != "resources_list" || got.Caller != "operator" || got.Principal == nil || got.Principal.Role != "operator" || got.Gateway != "gw-test" {
		t.Errorf("dispatched %+v; want tool resources_list from operator via gw-test", got)
	}
	if d := cmp.Diff([]string{"get", "pods", "--namespace=demo"}, got.Argv); d != "" {
		t.Errorf("argv (-want +got):\n%s", d)
	}
	res, err = cs.CallTool(context.Background(), &mcp.CallToolParams{Name: "clusters_list", Arguments: map[string]any{}})
	if err != nil || res.IsError {
		t.Fatalf("clusters_list: %v %+v", err, res)
	}
	if txt := res.Content[0].(*mcp.TextContent).Text; !strings.Contains(txt, "dev-1") || !strings.Contains(txt, "prod-1") {
		t.Errorf("clusters_list: %q", txt)
	}
}

func TestMCPRouteRefusals(t *testing.T) {
	e := newEnv(t, envOpts{})
	initBody := `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"x","version":"1"}}}`
	accept := []string{"Accept", "application/json, text/event-stream", "Content-Type", "application/json"}
	if r := e.do(t, "POST", "/mcp", "", initBody, accept...); r.status != http.StatusUnauthorized || r.apiError(t).Code != contracts.CodeUnauthorized {
		t.Errorf("no key: got %d %s; want 401", r.status, r.body)
	}
	if r := e.do(t, "POST", "/mcp", operatorKey, initBody, accept...); r.status != http.StatusOK || !strings.Contains(string(r.body), `"serverInfo"`) {
		t.Errorf("initialize: got %d %s; want 200 with serverInfo", r.status, r.body)
	}
	if r := e.do(t, "GET", "/mcp", operatorKey, nil); r.status != http.StatusMethodNotAllowed {
		t.Errorf("GET: got %d; want 405 (stateless: no stream to resume)", r.status)
	}
}

// TestExecuteToolHeader: POST /v1/execute takes the tool's name from
// X-Kubently-Tool (kubently mcp sends it) and refuses a malformed one.
func TestExecuteToolHeader(t *testing.T) {
	e := newEnv(t, envOpts{})
	body := map[string]any{"cluster_id": "dev-1", "argv": []string{"get", "pods"}}
	if r := e.do(t, "POST", "/v1/execute", operatorKey, body, contracts.HeaderTool, "pods_log"); r.status != http.StatusOK {
		t.Fatalf("got %d %s", r.status, r.body)
	}
	if got := e.lastExecute(t).Tool; got != "pods_log" {
		t.Errorf("tool %q; want pods_log", got)
	}
	r := e.do(t, "POST", "/v1/execute", operatorKey, body, contracts.HeaderTool, "Bad Tool!")
	if r.status != http.StatusBadRequest || r.apiError(t).Code != contracts.CodeBadRequest {
		t.Errorf("bad tool header: got %d %s; want 400 bad_request", r.status, r.body)
	}
}
