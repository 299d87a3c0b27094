package command

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"kubently.io/libs/contracts"
)

// fleetGateway fakes the fleet and label routes: a fan-out streams "a"
// (output two lines), then "b" (denied), then the summary; it records the
// bodies it got.
func fleetGateway(t *testing.T) (*httptest.Server, func() []map[string]any) {
	t.Helper()
	var (
		mu     sync.Mutex
		bodies []map[string]any
	)
	record := func(r *http.Request) map[string]any {
		var m map[string]any
		_ = json.NewDecoder(r.Body).Decode(&m)
		mu.Lock()
		bodies = append(bodies, m)
		mu.Unlock()
		return m
	}
	stream := func(w http.ResponseWriter, r *http.Request) {
		record(r)
		w.Header().Set("Content-Type", "application/x-ndjson")
		enc := json.NewEncoder(w)
		a := contracts.FleetResult{Type: contracts.TypeFleetResult, FanoutID: "f1", Cluster: "a", Outcome: contracts.FleetSucceeded, Done: 1, Total: 2}
		if strings.HasSuffix(r.URL.Path, "diagnose") {
			a.Report = &contracts.DiagnoseReport{Type: contracts.TypeDiagnoseReport, Cluster: "a", Namespaces: []string{"shop"}, Findings: []contracts.Finding{}}
		} else {
			a.Result = &contracts.CommandResult{Outcome: contracts.Outcome{Status: contracts.StatusSuccess, Output: "NAME   READY\nweb    1/1\n"}}
		}
		_ = enc.Encode(a)
		_ = enc.Encode(contracts.FleetResult{Type: contracts.TypeFleetResult, FanoutID: "f1", Cluster: "b", Outcome: contracts.FleetDenied,
			Reason: "namespace_out_of_scope", Message: "bob may not read shop", Done: 2, Total: 2})
		_ = enc.Encode(contracts.FleetSummary{Type: contracts.TypeFleetSummary, FanoutID: "f1", Total: 2, Succeeded: 1, Denied: 1,
			Failures: []contracts.FleetFailure{{Cluster: "b", Outcome: contracts.FleetDenied, Reason: "namespace_out_of_scope"}}})
	}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/fleet/execute", stream)
	mux.HandleFunc("POST /v1/fleet/diagnose", stream)
	mux.HandleFunc("POST /v1/clusters/{cluster}/labels", func(w http.ResponseWriter, r *http.Request) {
		m := record(r)
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{"cluster_id": r.PathValue("cluster"), "labels": m["set"]})
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv, func() []map[string]any {
		mu.Lock()
		defer mu.Unlock()
		out := bodies
		bodies = nil
		return out
	}
}

func TestFleetCommands(t *testing.T) {
	srv, bodies := fleetGateway(t)
	tests := []struct {
		name   string
		args   []string
		code   int
		stdout []string
		stderr []string
		body   string // a JSON fragment the request body must hold
	}{
		{"exec -l", []string{"exec", "-l", "env=prod", "--concurrency", "4", "--", "get", "pods", "-n", "shop"}, ExitDenied,
			[]string{"a: NAME   READY\na: web    1/1\n"}, []string{"b: denied: bob may not read shop", "2 clusters: 1 succeeded, 0 failed, 1 denied"},
			`"selector":"env=prod"`},
		{"exec --clusters", []string{"exec", "--clusters", "a,b", "--", "get", "pods"}, ExitDenied, []string{"a: web"}, nil, `"clusters":["a","b"]`},
		{"exec -o json is NDJSON", []string{"exec", "-l", "env=prod", "-o", "json", "--", "get", "pods"}, ExitDenied,
			[]string{`{"type":"io.kubently.fleet.v1.result"`, `{"type":"io.kubently.fleet.v1.summary"`}, nil, ""},
		{"diagnose -l", []string{"diagnose", "-l", "env=prod", "-n", "shop"}, ExitDenied, []string{"a: No problems found in namespace shop"}, []string{"b: denied"}, `"namespaces":["shop"]`},
		{"bad selector", []string{"exec", "-l", "env in (prod", "--", "get", "pods"}, ExitUsage, nil, []string{"is not a label selector"}, ""},
		{"selector and clusters", []string{"exec", "-l", "env=prod", "--clusters", "a", "--", "get", "pods"}, ExitUsage, nil, []string{"give -l or --clusters, not both"}, ""},
		{"concurrency out of range", []string{"exec", "-l", "env=prod", "--concurrency", "1000", "--", "get", "pods"}, ExitUsage, nil, []string{"--concurrency 1000 out of range"}, ""},
		{"cluster and -l", []string{"exec", "a", "-l", "env=prod", "--", "get", "pods"}, ExitUsage, nil, []string{"give no CLUSTER"}, ""},
		{"session and -l", []string{"exec", "-l", "env=prod", "--session", "s1", "--", "get", "pods"}, ExitUsage, nil, []string{"--session"}, ""},
		{"diagnose cluster and -l", []string{"diagnose", "a", "-l", "env=prod"}, ExitUsage, nil, []string{"give no CLUSTER"}, ""},
		{"label", []string{"cluster", "label", "prod-eu", "env=prod", "canary-"}, ExitOK, []string{"cluster prod-eu labelled: env=prod"}, nil, `"remove":["canary"]`},
		{"label bad key", []string{"cluster", "label", "prod-eu", "bad key=x"}, ExitUsage, nil, []string{`label key "bad key"`}, ""},
		{"label bad arg", []string{"cluster", "label", "prod-eu", "env"}, ExitUsage, nil, []string{"want KEY=VALUE"}, ""},
		{"label nothing", []string{"cluster", "label", "prod-eu"}, ExitUsage, nil, []string{"at least one change"}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, stdout, stderr := runCLI(t, context.Background(), srv.URL, tt.args...)
			got := bodies()
			if code != tt.code {
				t.Fatalf("exit %d; want %d (stdout %q, stderr %q)", code, tt.code, stdout, stderr)
			}
			wantContains(t, "stdout", stdout, tt.stdout...)
			wantContains(t, "stderr", stderr, tt.stderr...)
			if tt.body != "" {
				b, _ := json.Marshal(got)
				if len(got) != 1 || !strings.Contains(string(b), tt.body) {
					t.Errorf("request bodies %s; want one holding %s", b, tt.body)
				}
			}
			if tt.code == ExitUsage && len(got) != 0 {
				t.Errorf("a usage error reached the gateway: %v", got)
			}
		})
	}
}
