package integration

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"k8s.io/client-go/rest"

	"kubently.io/libs/audit"
	"kubently.io/libs/contracts"
	"kubently.io/libs/testbed"
	"kubently.io/libs/testkit"
	executorapp "kubently.io/services/executor/app"
	gatewayapp "kubently.io/services/gateway/app"
	kstack "kubently.io/tests/stack"
)

// The fleet stack: three healthy clusters on the testbed, one whose API
// server never answers (slow), one without an executor (offline) and one
// the scoped key may read only kube-system of (deny).
const (
	flA, flB, flC = "fl-a", "fl-b", "fl-c"
	flSlow        = "fl-slow"
	flOff         = "fl-off"
	flDeny        = "fl-deny"

	flAdminKey  = "fl-admin-key-0123456789abcdef"
	flScopedKey = "fl-scoped-key-0123456789abcdef"
	flViewerKey = "fl-viewer-key-0123456789abcdef"
)

func startFleetStack(t *testing.T) *stack {
	t.Helper()
	rc, err := executorapp.RESTConfig(executorapp.Config{Kubeconfig: testbed.Kubeconfig(t)})
	if err != nil {
		t.Fatalf("kubeconfig: %v", err)
	}
	keys := filepath.Join(t.TempDir(), "keys.yaml")
	writeKeyFile(t, keys, "  - {name: scoped, role: operator, key: "+flScopedKey+
		", scopes: [{clusters: ['fl-a', 'fl-b', 'fl-c', 'fl-slow', 'fl-off'], namespaces: [shop, default]}, {clusters: [fl-deny], namespaces: [kube-system]}]}\n")
	s := kstack.Start(t, kstack.Config{
		LogLevel: "info",
		Clusters: []kstack.Cluster{
			{ID: flA, Token: "fla-token-0123456789abcdef", REST: rc},
			{ID: flB, Token: "flb-token-0123456789abcdef", REST: rc},
			{ID: flC, Token: "flc-token-0123456789abcdef", REST: rc},
			{ID: flSlow, Token: "flslow-token-0123456789abcdef", REST: &rest.Config{Host: kstack.Blackhole(t), Timeout: 0}},
			{ID: flOff, Token: "floff-token-0123456789abcdef"},
			{ID: flDeny, Token: "fldeny-token-0123456789abcdef", REST: rc},
		},
		Gateway: func(c *gatewayapp.Config) {
			c.APIKeys = []string{"adm:admin:" + flAdminKey, "vera:viewer:" + flViewerKey, "alice:" + aliceKey}
			c.APIKeysFile = keys
		},
	})
	return &stack{Stack: s, url: s.URL, nc: s.Conn, store: s.Store, logs: s.Logs}
}

// fleetStream posts a fleet request and reads its stream line by line
// (NDJSON, or SSE events when sse), calling each as a line arrives, while
// the request is still open. It returns the results and the summary.
func fleetStream(t testing.TB, s *stack, path, key string, body any, sse bool, each func(contracts.FleetResult)) (http.Header, []contracts.FleetResult, contracts.FleetSummary) {
	t.Helper()
	b, err := json.Marshal(body)
	if err != nil {
		t.Fatal(err)
	}
	req, err := http.NewRequest(http.MethodPost, s.url+path, bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(contracts.HeaderAPIKey, key)
	if sse {
		req.Header.Set("Accept", "text/event-stream")
	}
	resp, err := (&http.Client{Timeout: 3 * time.Minute}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = resp.Body.Close() }()
	if resp.StatusCode != http.StatusOK {
		var e bytes.Buffer
		_, _ = e.ReadFrom(resp.Body)
		t.Fatalf("POST %s: %d %s", path, resp.StatusCode, e.String())
	}
	var results []contracts.FleetResult
	var sum contracts.FleetSummary
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 4<<20)
	event := ""
	for sc.Scan() {
		line := sc.Text()
		if sse {
			switch {
			case strings.HasPrefix(line, "event: "):
				event = strings.TrimPrefix(line, "event: ")
				continue
			case strings.HasPrefix(line, "data: "):
				line = strings.TrimPrefix(line, "data: ")
			default:
				continue
			}
		}
		var probe struct {
			Type string `json:"type"`
		}
		if err := json.Unmarshal([]byte(line), &probe); err != nil {
			t.Fatalf("stream line %q: %v", line, err)
		}
		switch probe.Type {
		case contracts.TypeFleetResult:
			if sse && event != "result" {
				t.Errorf("SSE event %q carries a result", event)
			}
			var r contracts.FleetResult
			if err := json.Unmarshal([]byte(line), &r); err != nil {
				t.Fatal(err)
			}
			if sum.Type != "" {
				t.Errorf("result of %s after the summary", r.Cluster)
			}
			results = append(results, r)
			if each != nil {
				each(r)
			}
		case contracts.TypeFleetSummary:
			if sse && event != "summary" {
				t.Errorf("SSE event %q carries the summary", event)
			}
			if err := json.Unmarshal([]byte(line), &sum); err != nil {
				t.Fatal(err)
			}
		default:
			t.Fatalf("stream line of type %q: %s", probe.Type, line)
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatalf("reading the stream: %v", err)
	}
	if sum.Type == "" {
		t.Fatalf("stream ended without a summary after %d results", len(results))
	}
	return resp.Header, results, sum
}

func label(t *testing.T, s *stack, key, cluster string, set map[string]string, remove ...string) response {
	t.Helper()
	return s.do(t, http.MethodPost, "/v1/clusters/"+cluster+"/labels", key, contracts.ClusterLabelRequest{Set: set, Remove: remove})
}

// TestFleet runs fan-outs through the real services: labels set by an
// admin select the clusters; results stream back per cluster as they
// arrive (the slow cluster's last, the others before it ends); the summary
// counts and explains every outcome; every per-cluster command is audited
// with the fan-out's id; bad input is refused before any cluster is
// reached.
func TestFleet(t *testing.T) {
	s := startFleetStack(t)

	t.Run("Labels", func(t *testing.T) {
		for _, c := range []string{flA, flB, flC, flSlow, flOff, flDeny} {
			if r := label(t, s, flAdminKey, c, map[string]string{"env": "prod", "fleet.kubently.io/test": "yes"}); r.status != http.StatusOK {
				t.Fatalf("label %s: %d %s", c, r.status, r.body)
			}
		}
		r := label(t, s, flAdminKey, flC, map[string]string{"region": "eu"}, "fleet.kubently.io/test")
		var got struct {
			Labels map[string]string `json:"labels"`
		}
		r.json(t, &got)
		if want := map[string]string{"env": "prod", "region": "eu"}; !mapsEqual(got.Labels, want) {
			t.Errorf("labels of %s after the edit: %v; want %v", flC, got.Labels, want)
		}
		var list struct {
			Clusters []struct {
				ID     string            `json:"cluster_id"`
				Labels map[string]string `json:"labels"`
			} `json:"clusters"`
		}
		s.do(t, http.MethodGet, "/v1/clusters", flAdminKey, nil).json(t, &list)
		for _, c := range list.Clusters {
			if c.Labels["env"] != "prod" {
				t.Errorf("GET /v1/clusters: %s has labels %v; want env=prod", c.ID, c.Labels)
			}
		}
		bad := []struct {
			name   string
			key    string
			path   string
			body   any
			status int
			code   contracts.ErrorCode
		}{
			{"operator may not label", aliceKey, "/v1/clusters/fl-a/labels", contracts.ClusterLabelRequest{Set: map[string]string{"x": "y"}}, http.StatusForbidden, contracts.CodeForbidden},
			{"bad key", flAdminKey, "/v1/clusters/fl-a/labels", contracts.ClusterLabelRequest{Set: map[string]string{"bad key": "y"}}, http.StatusBadRequest, contracts.CodeBadRequest},
			{"bad value", flAdminKey, "/v1/clusters/fl-a/labels", contracts.ClusterLabelRequest{Set: map[string]string{"k": strings.Repeat("v", 64)}}, http.StatusBadRequest, contracts.CodeBadRequest},
			{"no change", flAdminKey, "/v1/clusters/fl-a/labels", contracts.ClusterLabelRequest{}, http.StatusBadRequest, contracts.CodeBadRequest},
			{"too many labels", flAdminKey, "/v1/clusters/fl-a/labels", contracts.ClusterLabelRequest{Set: manyLabels(contracts.MaxClusterLabels)}, http.StatusBadRequest, contracts.CodeBadRequest},
			{"unknown cluster", flAdminKey, "/v1/clusters/nope-1/labels", contracts.ClusterLabelRequest{Set: map[string]string{"x": "y"}}, http.StatusNotFound, contracts.CodeUnknownCluster},
			{"unknown field", flAdminKey, "/v1/clusters/fl-a/labels", map[string]any{"labels": map[string]string{"x": "y"}}, http.StatusBadRequest, contracts.CodeInvalidJSON},
		}
		for _, tt := range bad {
			t.Run(tt.name, func(t *testing.T) {
				r := s.do(t, http.MethodPost, tt.path, tt.key, tt.body)
				if e := r.apiError(t); r.status != tt.status || e.Code != tt.code {
					t.Errorf("got %d %s; want %d %s", r.status, r.body, tt.status, tt.code)
				}
			})
		}
	})

	var fanout string
	t.Run("ExecuteStreams", func(t *testing.T) {
		var before []string // clusters whose result arrived before fl-slow's
		slowSeen := false
		body := contracts.FleetExecuteRequest{FleetTarget: contracts.FleetTarget{Selector: "env=prod", Concurrency: 8, TimeoutSeconds: 20},
			Argv: []string{"get", "pods", "-n", "shop"}}
		hdr, results, sum := fleetStream(t, s, "/v1/fleet/execute", flScopedKey, body, false, func(r contracts.FleetResult) {
			if r.Cluster == flSlow {
				slowSeen = true
			} else if !slowSeen {
				before = append(before, r.Cluster)
			}
		})
		fanout = sum.FanoutID
		if hdr.Get(contracts.HeaderFanoutID) != fanout || fanout == "" {
			t.Errorf("fan-out id header %q; summary %q", hdr.Get(contracts.HeaderFanoutID), fanout)
		}
		got := map[string]contracts.FleetResult{}
		for i, r := range results {
			got[r.Cluster] = r
			if r.Done != i+1 || r.Total != 6 || r.FanoutID != fanout {
				t.Errorf("result %d (%s): done %d/%d fanout %q; want %d/6 %q", i, r.Cluster, r.Done, r.Total, r.FanoutID, i+1, fanout)
			}
		}
		want := map[string]contracts.FleetOutcome{flA: contracts.FleetSucceeded, flB: contracts.FleetSucceeded, flC: contracts.FleetSucceeded,
			flSlow: contracts.FleetTimedOut, flOff: contracts.FleetUnreachable, flDeny: contracts.FleetDenied}
		for c, o := range want {
			r, ok := got[c]
			if !ok {
				t.Errorf("no result for %s", c)
				continue
			}
			if r.Outcome != o {
				t.Errorf("%s: outcome %s (%s: %s); want %s", c, r.Outcome, r.Reason, r.Message, o)
			}
		}
		if r := got[flA]; r.Result == nil || !strings.Contains(r.Result.Output, "NAME") {
			t.Errorf("%s: result %+v; want the pods of shop", flA, r.Result)
		}
		if r := got[flDeny]; r.Reason != "namespace_out_of_scope" {
			t.Errorf("%s: reason %q; want namespace_out_of_scope", flDeny, r.Reason)
		}
		if r := got[flOff]; r.Reason != string(contracts.CodeExecutorUnavailable) {
			t.Errorf("%s: reason %q; want executor_unavailable", flOff, r.Reason)
		}
		// Streaming: every other cluster's result arrived while the slow
		// one was still running (its result is the last of the stream).
		if len(results) > 0 && results[len(results)-1].Cluster != flSlow {
			t.Errorf("last result is %s; want %s (the slow one)", results[len(results)-1].Cluster, flSlow)
		}
		if len(before) != 5 {
			t.Errorf("results before the slow cluster's: %v; want the 5 others", before)
		}
		wantSum := contracts.FleetSummary{Type: contracts.TypeFleetSummary, FanoutID: fanout, Total: 6, Succeeded: 3, Denied: 1, Unreachable: 1, TimedOut: 1}
		if sum.Total != wantSum.Total || sum.Succeeded != 3 || sum.Denied != 1 || sum.Unreachable != 1 || sum.TimedOut != 1 || sum.Failed != 0 {
			t.Errorf("summary %+v; want %+v", sum, wantSum)
		}
		var failed []string
		for _, f := range sum.Failures {
			failed = append(failed, f.Cluster)
			if f.Reason == "" || f.Message == "" {
				t.Errorf("summary failure %+v without reason or message", f)
			}
		}
		if want := []string{flDeny, flOff, flSlow}; !slices.Equal(failed, want) {
			t.Errorf("summary failures %v; want %v", failed, want)
		}
	})

	t.Run("AuditLinkedByFanout", func(t *testing.T) {
		if fanout == "" {
			t.Skip("no fan-out ran")
		}
		testkit.CheckFor(t, 60*time.Second, 250*time.Millisecond, func() error {
			var page struct {
				Records []audit.Record `json:"records"`
			}
			r := s.do(t, http.MethodGet, "/v1/audit?limit=500&fanout_id="+fanout, flAdminKey, nil)
			if r.status != http.StatusOK {
				return fmt.Errorf("GET /v1/audit: %d %s", r.status, r.body)
			}
			r.json(t, &page)
			final := map[string]audit.Record{}
			for _, rec := range page.Records {
				if rec.FanoutID != fanout {
					return fmt.Errorf("record %s of fan-out %q in the query for %q", rec.ID, rec.FanoutID, fanout)
				}
				if rec.Event == audit.EventCommandExecuted || rec.Event == audit.EventCommandDenied {
					final[rec.Cluster] = rec
				}
			}
			want := map[string]audit.Outcome{flA: audit.OutcomeSuccess, flB: audit.OutcomeSuccess, flC: audit.OutcomeSuccess,
				flDeny: audit.OutcomeDenied, flSlow: audit.OutcomeTimeout, flOff: ""}
			for c, o := range want {
				rec, ok := final[c]
				if !ok {
					return fmt.Errorf("no final record of %s with fan-out %s yet (%d records)", c, fanout, len(page.Records))
				}
				if o != "" && rec.Outcome != o {
					return fmt.Errorf("%s: record outcome %s (%s); want %s", c, rec.Outcome, rec.Reason, o)
				}
				if rec.Identity != "scoped" {
					return fmt.Errorf("%s: record identity %q; want scoped", c, rec.Identity)
				}
			}
			return nil
		})
	})

	t.Run("SSEAndList", func(t *testing.T) {
		body := contracts.FleetExecuteRequest{FleetTarget: contracts.FleetTarget{Clusters: []string{flA, flB, "nope-1", flA}},
			Command: "get namespaces"}
		_, results, sum := fleetStream(t, s, "/v1/fleet/execute", flAdminKey, body, true, nil)
		if len(results) != 3 || sum.Total != 3 || sum.Succeeded != 2 || sum.Unreachable != 1 {
			t.Errorf("SSE fan-out to a list: %d results, summary %+v; want 3 (a, b succeeded; nope-1 unreachable)", len(results), sum)
		}
		body.MaxOutputBytes = 64
		body.Clusters = []string{flA}
		_, results, _ = fleetStream(t, s, "/v1/fleet/execute", flAdminKey, body, false, nil)
		if len(results) != 1 || results[0].Result == nil || len(results[0].Result.Output) > 64 || !results[0].Result.Truncated {
			t.Errorf("max_output_bytes 64: %+v; want output cut at 64 bytes and marked truncated", results)
		}
	})

	t.Run("Diagnose", func(t *testing.T) {
		body := contracts.FleetDiagnoseRequest{FleetTarget: contracts.FleetTarget{Selector: "region=eu"}, Namespace: "shop"}
		_, results, sum := fleetStream(t, s, "/v1/fleet/diagnose", flScopedKey, body, false, nil)
		if sum.Total != 1 || sum.Succeeded != 1 || len(results) != 1 {
			t.Fatalf("fleet diagnose region=eu: summary %+v", sum)
		}
		if rep := results[0].Report; rep == nil || rep.Cluster != flC || len(rep.Findings) == 0 {
			t.Errorf("fleet diagnose of shop on %s: report %+v; want the seeded findings", flC, rep)
		}
	})

	t.Run("BadInput", func(t *testing.T) {
		tooMany := make([]string, contracts.MaxFleetClusters+1)
		for i := range tooMany {
			tooMany[i] = fmt.Sprintf("c-%d", i)
		}
		get := []string{"get", "pods"}
		tests := []struct {
			name   string
			key    string
			path   string
			body   any
			status int
			code   contracts.ErrorCode
			reason string
		}{
			{"bad selector", flAdminKey, "/v1/fleet/execute", contracts.FleetExecuteRequest{FleetTarget: contracts.FleetTarget{Selector: "env in (prod"}, Argv: get}, 400, contracts.CodeBadRequest, ""},
			{"empty selection", flAdminKey, "/v1/fleet/execute", contracts.FleetExecuteRequest{FleetTarget: contracts.FleetTarget{Selector: "env=nowhere"}, Argv: get}, 400, contracts.CodeBadRequest, ""},
			{"no target", flAdminKey, "/v1/fleet/execute", contracts.FleetExecuteRequest{Argv: get}, 400, contracts.CodeBadRequest, ""},
			{"selector and clusters", flAdminKey, "/v1/fleet/execute", contracts.FleetExecuteRequest{FleetTarget: contracts.FleetTarget{Selector: "env=prod", Clusters: []string{flA}}, Argv: get}, 400, contracts.CodeBadRequest, ""},
			{"too many clusters", flAdminKey, "/v1/fleet/execute", contracts.FleetExecuteRequest{FleetTarget: contracts.FleetTarget{Clusters: tooMany}, Argv: get}, 400, contracts.CodeBadRequest, ""},
			{"bad cluster id", flAdminKey, "/v1/fleet/execute", contracts.FleetExecuteRequest{FleetTarget: contracts.FleetTarget{Clusters: []string{"Bad_ID"}}, Argv: get}, 400, contracts.CodeInvalidID, ""},
			{"concurrency too high", flAdminKey, "/v1/fleet/execute", contracts.FleetExecuteRequest{FleetTarget: contracts.FleetTarget{Selector: "env=prod", Concurrency: contracts.MaxFleetConcurrency + 1}, Argv: get}, 400, contracts.CodeBadRequest, ""},
			{"concurrency negative", flAdminKey, "/v1/fleet/execute", contracts.FleetExecuteRequest{FleetTarget: contracts.FleetTarget{Selector: "env=prod", Concurrency: -1}, Argv: get}, 400, contracts.CodeBadRequest, ""},
			{"timeout out of range", flAdminKey, "/v1/fleet/execute", contracts.FleetExecuteRequest{FleetTarget: contracts.FleetTarget{Selector: "env=prod", TimeoutSeconds: 100000}, Argv: get}, 400, contracts.CodeInvalidTimeout, ""},
			{"output bound out of range", flAdminKey, "/v1/fleet/execute", contracts.FleetExecuteRequest{FleetTarget: contracts.FleetTarget{Selector: "env=prod", MaxOutputBytes: contracts.MaxFleetOutputBytes + 1}, Argv: get}, 400, contracts.CodeBadRequest, ""},
			{"no command", flAdminKey, "/v1/fleet/execute", contracts.FleetExecuteRequest{FleetTarget: contracts.FleetTarget{Selector: "env=prod"}}, 400, contracts.CodeInvalidCommand, ""},
			{"watch refused up front", flAdminKey, "/v1/fleet/execute", contracts.FleetExecuteRequest{FleetTarget: contracts.FleetTarget{Selector: "env=prod"}, Argv: []string{"get", "pods", "-w"}}, 403, contracts.CodeCommandDenied, "unbounded_command"},
			{"write refused up front", flAdminKey, "/v1/fleet/execute", contracts.FleetExecuteRequest{FleetTarget: contracts.FleetTarget{Selector: "env=prod"}, Argv: []string{"delete", "pod", "x"}}, 403, contracts.CodeCommandDenied, "verb_not_allowed"},
			{"viewer may not execute", flViewerKey, "/v1/fleet/execute", contracts.FleetExecuteRequest{FleetTarget: contracts.FleetTarget{Selector: "env=prod"}, Argv: get}, 403, contracts.CodeForbidden, ""},
			{"diagnose too many namespaces", flAdminKey, "/v1/fleet/diagnose", contracts.FleetDiagnoseRequest{FleetTarget: contracts.FleetTarget{Selector: "env=prod"}, Namespaces: manyNamespaces(contracts.MaxDiagnoseNamespaces + 1)}, 400, contracts.CodeBadRequest, ""},
			{"unknown field", flAdminKey, "/v1/fleet/diagnose", map[string]any{"selector": "env=prod", "cluster_id": flA}, 400, contracts.CodeInvalidJSON, ""},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				r := s.do(t, http.MethodPost, tt.path, tt.key, tt.body)
				e := r.apiError(t)
				if r.status != tt.status || e.Code != tt.code || (tt.reason != "" && e.Reason != tt.reason) {
					t.Errorf("got %d %s; want %d %s %s", r.status, r.body, tt.status, tt.code, tt.reason)
				}
			})
		}
	})
}

func mapsEqual(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

func manyLabels(n int) map[string]string {
	out := map[string]string{}
	for i := range n {
		out[fmt.Sprintf("k%d", i)] = "v"
	}
	return out
}

func manyNamespaces(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("ns-%d", i)
	}
	return out
}
