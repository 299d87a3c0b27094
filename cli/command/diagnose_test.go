package command

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	"kubently.io/libs/contracts"
)

// diagnoseGateway fakes POST /v1/diagnose: namespace "shop" has one
// finding, every other namespace none; cluster "gone" is unknown. It
// records the requests it got.
func diagnoseGateway(t *testing.T) (*httptest.Server, func() []contracts.DiagnoseRequest) {
	t.Helper()
	var (
		mu   sync.Mutex
		reqs []contracts.DiagnoseRequest
	)
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/diagnose", func(w http.ResponseWriter, r *http.Request) {
		var req contracts.DiagnoseRequest
		_ = json.NewDecoder(r.Body).Decode(&req)
		mu.Lock()
		reqs = append(reqs, req)
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		if req.Cluster == "gone" {
			w.WriteHeader(http.StatusNotFound)
			_ = json.NewEncoder(w).Encode(contracts.Error{Code: contracts.CodeUnknownCluster, Message: `cluster "gone" is not registered`})
			return
		}
		rep := contracts.DiagnoseReport{Type: contracts.TypeDiagnoseReport, Cluster: req.Cluster, Namespaces: req.Namespaces,
			AllNamespaces: req.AllNamespaces, Findings: []contracts.Finding{}, APICalls: 16, DurationMS: 12}
		for _, ns := range req.Namespaces {
			if ns == "shop" {
				rep.Findings = append(rep.Findings, contracts.Finding{ID: "crashloop/shop/Deployment/cart", Rule: "crashloop", Cause: "exit_code_1",
					Severity: contracts.SeverityCritical, Object: contracts.ObjectRef{Kind: "Deployment", Namespace: "shop", Name: "cart"},
					Title: "Deployment cart: container cart is in CrashLoopBackOff", Explanation: "It exits again and again.",
					Pods: []string{"cart-1"}, PodCount: 1,
					Evidence: []contracts.Evidence{{Source: "log", Object: "Pod/cart-1", Field: "cart", Value: "fatal: no such host"}},
					Next:     []string{"describe pod cart-1 -n shop"}})
			}
		}
		_ = json.NewEncoder(w).Encode(rep)
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv, func() []contracts.DiagnoseRequest {
		mu.Lock()
		defer mu.Unlock()
		out := reqs
		reqs = nil
		return out
	}
}

func TestDiagnoseCommand(t *testing.T) {
	srv, requests := diagnoseGateway(t)
	tests := []struct {
		name     string
		args     []string
		code     int
		stdout   []string
		stderr   string
		noStdout bool
		want     *contracts.DiagnoseRequest
	}{
		{name: "findings", args: []string{"diagnose", "dev", "-n", "shop"}, code: ExitFailure,
			stdout: []string{"1 finding(s) in namespace shop: 1 critical", "[CRITICAL] Deployment cart", "shop/Deployment/cart   rule: crashloop / exit_code_1",
				"pods: cart-1", "log Pod/cart-1 cart: fatal: no such host", "kubently exec dev -- describe pod cart-1 -n shop"},
			want: &contracts.DiagnoseRequest{Cluster: "dev", Namespaces: []string{"shop"}}},
		{name: "several namespaces, healthy", args: []string{"diagnose", "dev", "-n", "a,b", "-n", "c", "--timeout", "90s"}, code: ExitOK,
			stdout: []string{"No problems found in namespaces a, b, c"},
			want:   &contracts.DiagnoseRequest{Cluster: "dev", Namespaces: []string{"a", "b", "c"}, TimeoutSeconds: 90}},
		{name: "all namespaces", args: []string{"diagnose", "dev", "-A"}, code: ExitOK, stdout: []string{"No problems found in all namespaces"},
			want: &contracts.DiagnoseRequest{Cluster: "dev", AllNamespaces: true}},
		{name: "json", args: []string{"diagnose", "dev", "-n", "shop", "-o", "json"}, code: ExitFailure, stdout: []string{`"rule": "crashloop"`, `"type": "io.kubently.diagnose.v1.report"`}},
		{name: "unknown cluster", args: []string{"diagnose", "gone", "-n", "shop"}, code: ExitRejected, stderr: "unknown_cluster", noStdout: true},
		{name: "-n and -A", args: []string{"diagnose", "dev", "-n", "shop", "-A"}, code: ExitUsage, stderr: "not both", noStdout: true},
		{name: "no cluster", args: []string{"diagnose"}, code: ExitUsage, stderr: "want one cluster", noStdout: true},
		{name: "bad output", args: []string{"diagnose", "dev", "-o", "yaml"}, code: ExitUsage, stderr: "--output", noStdout: true},
		{name: "bad timeout", args: []string{"diagnose", "dev", "--timeout", "10m"}, code: ExitUsage, stderr: "--timeout", noStdout: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, stdout, stderr := runCLI(t, context.Background(), srv.URL, tt.args...)
			reqs := requests()
			if code != tt.code {
				t.Fatalf("exit %d; want %d (stderr %q)", code, tt.code, stderr)
			}
			wantContains(t, "stdout", stdout, tt.stdout...)
			wantContains(t, "stderr", stderr, tt.stderr)
			if tt.noStdout && stdout != "" {
				t.Errorf("stdout = %q; want nothing", stdout)
			}
			if tt.want != nil && (len(reqs) != 1 || !equalRequest(reqs[0], *tt.want)) {
				t.Errorf("requests %+v; want %+v", reqs, *tt.want)
			}
		})
	}
}

func equalRequest(a, b contracts.DiagnoseRequest) bool {
	x, _ := json.Marshal(a)
	y, _ := json.Marshal(b)
	return string(x) == string(y)
}
