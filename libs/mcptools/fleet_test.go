package mcptools

import (
	"context"
	"encoding/json"
	"strings"
	"sync"
	"testing"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"kubently.io/libs/contracts"
)

// fleetRecorder is a FleetBackend for unit tests: cluster "a" answers a
// long output (or a report with one finding), "b" is denied.
type fleetRecorder struct {
	recorder
	mu    sync.Mutex
	exec  []contracts.FleetExecuteRequest
	diags []contracts.FleetDiagnoseRequest
	err   error
}

func (f *fleetRecorder) results(diagnose bool) ([]contracts.FleetResult, contracts.FleetSummary) {
	a := contracts.FleetResult{Cluster: "a", Outcome: contracts.FleetSucceeded}
	if diagnose {
		a.Report = &contracts.DiagnoseReport{Type: contracts.TypeDiagnoseReport, Cluster: "a", Namespaces: []string{"shop"},
			Findings: []contracts.Finding{{ID: "crashloop/shop/Deployment/cart", Rule: "crashloop", Severity: contracts.SeverityCritical,
				Object: contracts.ObjectRef{Kind: "Deployment", Namespace: "shop", Name: "cart"}, Title: "Deployment cart crashes"}}}
	} else {
		a.Result = &contracts.CommandResult{Outcome: contracts.Outcome{Status: contracts.StatusSuccess, Output: strings.Repeat("pod-line\n", 10000)}}
	}
	b := contracts.FleetResult{Cluster: "b", Outcome: contracts.FleetDenied, Reason: "namespace_out_of_scope", Message: "not yours"}
	return []contracts.FleetResult{a, b}, contracts.FleetSummary{FanoutID: "f1", Total: 2, Succeeded: 1, Denied: 1}
}

func (f *fleetRecorder) FleetExecute(_ context.Context, req contracts.FleetExecuteRequest) ([]contracts.FleetResult, contracts.FleetSummary, error) {
	f.mu.Lock()
	f.exec = append(f.exec, req)
	f.mu.Unlock()
	if f.err != nil {
		return nil, contracts.FleetSummary{}, f.err
	}
	r, s := f.results(false)
	return r, s, nil
}

func (f *fleetRecorder) FleetDiagnose(_ context.Context, req contracts.FleetDiagnoseRequest) ([]contracts.FleetResult, contracts.FleetSummary, error) {
	f.mu.Lock()
	f.diags = append(f.diags, req)
	f.mu.Unlock()
	r, s := f.results(true)
	return r, s, nil
}

func callFleet(t *testing.T, cs *mcp.ClientSession, tool string, args map[string]any) (*mcp.CallToolResult, FleetOutput) {
	t.Helper()
	res, err := cs.CallTool(context.Background(), &mcp.CallToolParams{Name: tool, Arguments: args})
	if err != nil {
		t.Fatalf("%s: protocol error %v", tool, err)
	}
	var out FleetOutput
	b, _ := json.Marshal(res.StructuredContent)
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatalf("%s: structured content %s: %v", tool, b, err)
	}
	return res, out
}

func TestFleetToolsListedOnlyWithAFleetBackend(t *testing.T) {
	for _, tt := range []struct {
		name string
		b    Backend
		want bool
	}{{"plain backend", &recorder{}, false}, {"fleet backend", &fleetRecorder{}, true}} {
		t.Run(tt.name, func(t *testing.T) {
			cs := connect(t, tt.b, 0)
			list, err := cs.ListTools(context.Background(), nil)
			if err != nil {
				t.Fatal(err)
			}
			found := 0
			for _, tool := range list.Tools {
				if strings.HasPrefix(tool.Name, "fleet_") {
					found++
					if a := tool.Annotations; a == nil || !a.ReadOnlyHint || a.DestructiveHint == nil || *a.DestructiveHint {
						t.Errorf("%s annotations %+v; want read-only, not destructive", tool.Name, a)
					}
				}
			}
			if got := found == 2; got != tt.want {
				t.Errorf("fleet tools listed: %d; want them %v", found, tt.want)
			}
		})
	}
}

func TestFleetRun(t *testing.T) {
	fb := &fleetRecorder{}
	cs := connect(t, fb, 0)
	res, out := callFleet(t, cs, "fleet_run", map[string]any{"selector": "env=prod", "argv": []string{"get", "pods"}, "namespace": "shop", "max_bytes": 8192})
	if res.IsError {
		t.Fatalf("fleet_run is an error: %+v", res.Content)
	}
	req := fb.exec[0]
	if req.Selector != "env=prod" || req.Namespace != "shop" || req.MaxOutputBytes <= 0 || req.MaxOutputBytes > 8192 {
		t.Errorf("request %+v; want the selector, the namespace and a per-cluster bound within max_bytes", req)
	}
	if out.FanoutID != "f1" || out.Total != 2 || out.Succeeded != 1 || out.Denied != 1 || len(out.Clusters) != 2 {
		t.Fatalf("output %+v", out)
	}
	if a := out.Clusters[0]; !a.Truncated || len(a.Output) > 4096 {
		t.Errorf("cluster a: %d bytes, truncated %v; want cut to its share of 8192", len(a.Output), a.Truncated)
	}
	if b := out.Clusters[1]; b.Outcome != "denied" || b.Reason != "namespace_out_of_scope" {
		t.Errorf("cluster b: %+v", b)
	}
	text := res.Content[0].(*mcp.TextContent).Text
	if len(text) > 8192 || !strings.Contains(text, "== b: denied (namespace_out_of_scope)") || !strings.Contains(text, "2 clusters: 1 succeeded") {
		t.Errorf("text (%d bytes): %.300s", len(text), text)
	}
}

func TestFleetRunRefused(t *testing.T) {
	fb := &fleetRecorder{err: &contracts.Error{Code: contracts.CodeBadRequest, Message: `invalid selector "env in (prod"`}}
	cs := connect(t, fb, 0)
	for _, tt := range []struct {
		name string
		args map[string]any
		code string
	}{
		{"gateway refusal", map[string]any{"selector": "env in (prod", "argv": []string{"get", "pods"}}, "bad_request"},
		{"no argv (the input schema requires it)", map[string]any{"selector": "env=prod"}, ""},
		{"budget out of range", map[string]any{"selector": "env=prod", "argv": []string{"get", "pods"}, "max_bytes": 10}, "bad_request"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			res, out := callFleet(t, cs, "fleet_run", tt.args)
			if !res.IsError || out.Code != tt.code || (tt.code != "" && out.Error == "") {
				t.Errorf("got error %v code %q (%q); want a tool error %s", res.IsError, out.Code, out.Error, tt.code)
			}
		})
	}
}

func TestFleetDiagnose(t *testing.T) {
	fb := &fleetRecorder{}
	cs := connect(t, fb, 0)
	res, out := callFleet(t, cs, "fleet_diagnose", map[string]any{"clusters": []string{"a", "b"}, "namespace": "shop"})
	if res.IsError {
		t.Fatalf("fleet_diagnose is an error: %+v", res.Content)
	}
	if req := fb.diags[0]; req.Namespace != "shop" || len(req.Clusters) != 2 {
		t.Errorf("request %+v", req)
	}
	if a := out.Clusters[0]; a.Findings != 1 || !strings.Contains(a.Output, "Deployment cart") {
		t.Errorf("cluster a: %+v; want its finding", a)
	}
}
