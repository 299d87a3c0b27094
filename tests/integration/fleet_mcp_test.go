package integration

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"kubently.io/libs/mcptools"
)

// TestMCPFleetDiagnose calls the fleet_diagnose tool through the
// gateway's real /mcp endpoint (Streamable HTTP): the gateway fans the
// diagnosis out over POST /v1/fleet/diagnose to executors on the testbed,
// and the tool answers with the summary and each cluster's findings.
func TestMCPFleetDiagnose(t *testing.T) {
	s := startFleetStack(t)
	call := func(t *testing.T, key string, args map[string]any) (string, mcptools.FleetOutput) {
		t.Helper()
		cs := mcpHTTP(t, s.url, key)
		res, err := cs.CallTool(context.Background(), &mcp.CallToolParams{Name: "fleet_diagnose", Arguments: args})
		if err != nil {
			t.Fatalf("fleet_diagnose %v: protocol error %v; want a tool result", args, err)
		}
		var text strings.Builder
		for _, c := range res.Content {
			if tc, ok := c.(*mcp.TextContent); ok {
				text.WriteString(tc.Text)
			}
		}
		raw, _ := json.Marshal(res.StructuredContent)
		var out mcptools.FleetOutput
		if err := json.Unmarshal(raw, &out); err != nil {
			t.Fatalf("fleet_diagnose structured content %s: %v", raw, err)
		}
		if res.IsError {
			t.Fatalf("fleet_diagnose %v is a tool error: %s", args, text.String())
		}
		return text.String(), out
	}
	byCluster := func(out mcptools.FleetOutput) map[string]mcptools.FleetClusterOutput {
		m := map[string]mcptools.FleetClusterOutput{}
		for _, c := range out.Clusters {
			m[c.Cluster] = c
		}
		return m
	}

	t.Run("LiveAndOffline", func(t *testing.T) {
		text, out := call(t, flAdminKey, map[string]any{"clusters": []string{flA, flB, flOff}, "namespace": "demo", "timeout_seconds": 60})
		if out.Total != 3 || out.Succeeded != 2 || out.Unreachable != 1 || out.FanoutID == "" || len(out.Clusters) != 3 {
			t.Fatalf("summary %+v; want 3 clusters: 2 succeeded, 1 unreachable, with a fan-out id", out)
		}
		got := byCluster(out)
		for _, id := range []string{flA, flB} {
			c := got[id]
			if c.Outcome != "succeeded" || c.Findings == 0 || !strings.Contains(c.Output, "crashy") {
				t.Errorf("%s = %+v; want succeeded with findings naming the crashing pod", id, c)
			}
		}
		if c := got[flOff]; c.Outcome != "unreachable" || c.Reason == "" {
			t.Errorf("%s = %+v; want unreachable with a reason", flOff, c)
		}
		for _, want := range []string{"3 clusters: 2 succeeded", out.FanoutID, "== " + flA + ": succeeded", "== " + flOff + ": unreachable", "crashy"} {
			if !strings.Contains(text, want) {
				t.Errorf("text lacks %q:\n%s", want, text)
			}
		}
	})

	t.Run("ScopedCaller", func(t *testing.T) {
		// The scoped key reads shop on fl-a but only kube-system on
		// fl-deny: that cluster's diagnosis of shop is denied, and said so.
		_, out := call(t, flScopedKey, map[string]any{"clusters": []string{flA, flDeny}, "namespace": "shop", "timeout_seconds": 60})
		if out.Total != 2 || out.Succeeded != 1 || out.Denied != 1 {
			t.Fatalf("summary %+v; want 2 clusters: 1 succeeded, 1 denied", out)
		}
		got := byCluster(out)
		if c := got[flA]; c.Outcome != "succeeded" || c.Findings == 0 {
			t.Errorf("%s = %+v; want succeeded with the seeded findings", flA, c)
		}
		if c := got[flDeny]; c.Outcome != "denied" || c.Reason == "" {
			t.Errorf("%s = %+v; want denied with a reason", flDeny, c)
		}
	})
}
