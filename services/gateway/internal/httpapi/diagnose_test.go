package httpapi

import (
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/nats-io/nats.go"

	"kubently.io/libs/authz"
	"kubently.io/libs/contracts"
)

// diagnoseDispatcher answers diagnose commands like an executor would: one
// finding per namespace, named after it; namespace "broken" fails, and
// namespace "old" answers without a report.
func diagnoseDispatcher(t *testing.T, e **env) nats.MsgHandler {
	return func(m *nats.Msg) {
		var req contracts.ExecuteRequest
		_ = json.Unmarshal(m.Data, &req)
		(*e).mu.Lock()
		(*e).executes = append((*e).executes, req)
		(*e).mu.Unlock()
		ns := req.Argv[len(req.Argv)-1]
		res := contracts.CommandResult{CommandID: "cmd-" + ns, Cluster: req.Cluster, Outcome: contracts.Outcome{Status: contracts.StatusSuccess}}
		rep := contracts.DiagnoseReport{Type: contracts.TypeDiagnoseReport, Namespaces: []string{ns}, APICalls: 16, DurationMS: 5,
			Findings: []contracts.Finding{{ID: "crashloop/" + ns + "/Deployment/cart", Rule: "crashloop", Severity: contracts.SeverityCritical,
				Object: contracts.ObjectRef{Kind: "Deployment", Namespace: ns, Name: "cart"}, Title: "Deployment cart: crashloop"}}}
		switch ns {
		case "-A":
			rep.Namespaces, rep.AllNamespaces = nil, true
		case "broken":
			res.Status, res.ExitCode, res.Error = contracts.StatusFailure, 1, "diagnose: cannot list pods"
		case "old":
			res.Output = "error: unknown command"
		}
		if res.Status == contracts.StatusSuccess && ns != "old" {
			res.Structured, _ = json.Marshal(rep)
		}
		r, _ := contracts.NewResponse(contracts.TypeCommandResult, res)
		b, _ := json.Marshal(r)
		_ = m.Respond(b)
	}
}

func TestDiagnose(t *testing.T) {
	var e *env
	e = newEnv(t, envOpts{dispatcher: diagnoseDispatcher(t, &e)})
	post := func(key string, body any) resp { return e.do(t, "POST", "/v1/diagnose", key, body) }

	// Two namespaces: two audited commands through the dispatcher, one report.
	r := post(devKey, map[string]any{"cluster_id": "dev-1", "namespaces": []string{"shop", "batch", "shop"}})
	if r.status != http.StatusOK {
		t.Fatalf("got %d %s; want 200", r.status, r.body)
	}
	var rep contracts.DiagnoseReport
	if err := json.Unmarshal(r.body, &rep); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"shop", "batch"}, rep.Namespaces); diff != "" || rep.Cluster != "dev-1" || len(rep.Findings) != 2 ||
		rep.APICalls != 32 || !slices.Equal(rep.CommandIDs, []string{"cmd-shop", "cmd-batch"}) {
		t.Errorf("report %+v; namespaces (-want +got):\n%s", rep, diff)
	}
	e.mu.Lock()
	var argvs [][]string
	for _, x := range e.executes {
		argvs = append(argvs, x.Argv)
		if x.Principal == nil || x.Caller != "dev-op" || x.TimeoutSeconds != contracts.DefaultDiagnoseTimeoutSeconds {
			t.Errorf("execute request %+v: want the caller's principal and the default diagnose timeout", x)
		}
	}
	e.executes = nil
	e.mu.Unlock()
	if diff := cmp.Diff([][]string{{"diagnose", "-n", "shop"}, {"diagnose", "-n", "batch"}}, argvs); diff != "" {
		t.Errorf("commands (-want +got):\n%s", diff)
	}

	// The whole cluster.
	r = post(devKey, map[string]any{"cluster_id": "dev-1", "all_namespaces": true, "timeout_seconds": 90})
	if r.status != http.StatusOK || !strings.Contains(string(r.body), `"all_namespaces":true`) {
		t.Fatalf("all namespaces: got %d %s", r.status, r.body)
	}
	if got := e.lastExecute(t); !slices.Equal(got.Argv, []string{"diagnose", "-A"}) || got.TimeoutSeconds != 90 {
		t.Errorf("all namespaces sent %v (timeout %d)", got.Argv, got.TimeoutSeconds)
	}

	// Scopes: a key limited to namespace shop diagnoses only shop.
	if r := post(nsKey, map[string]any{"cluster_id": "dev-1", "namespace": "shop"}); r.status != http.StatusOK {
		t.Errorf("in-scope namespace: got %d %s", r.status, r.body)
	}
	scoped := []struct {
		name   string
		body   map[string]any
		reason authz.DenialReason
	}{
		{"other namespace", map[string]any{"cluster_id": "dev-1", "namespace": "kube-system"}, authz.ReasonNamespaceOutOfScope},
		{"one of the list out of scope", map[string]any{"cluster_id": "dev-1", "namespaces": []string{"shop", "batch"}}, authz.ReasonNamespaceOutOfScope},
		{"default namespace", map[string]any{"cluster_id": "dev-1"}, authz.ReasonNamespaceOutOfScope},
		{"whole cluster", map[string]any{"cluster_id": "dev-1", "all_namespaces": true}, authz.ReasonAllNamespacesOutOfScope},
		{"other cluster", map[string]any{"cluster_id": "prod-1", "namespace": "shop"}, authz.ReasonClusterOutOfScope},
	}
	for _, tt := range scoped {
		t.Run(tt.name, func(t *testing.T) {
			r := post(nsKey, tt.body)
			if r.status != http.StatusForbidden {
				t.Fatalf("got %d %s; want 403", r.status, r.body)
			}
			if ae := r.apiError(t); ae.Code != contracts.CodeForbidden || ae.Reason != string(tt.reason) {
				t.Errorf("got %s/%s; want forbidden/%s", ae.Code, ae.Reason, tt.reason)
			}
		})
	}

	// Bad input: a clear 4xx, nothing dispatched.
	many := make([]string, contracts.MaxDiagnoseNamespaces+1)
	for i := range many {
		many[i] = "ns" + strings.Repeat("x", i%3) + string(rune('a'+i%26))
	}
	bad := []struct {
		name string
		body any
		code contracts.ErrorCode
	}{
		{"no cluster", map[string]any{"namespace": "shop"}, contracts.CodeInvalidID},
		{"namespace and namespaces", map[string]any{"cluster_id": "dev-1", "namespace": "shop", "namespaces": []string{"a"}}, contracts.CodeBadRequest},
		{"all and namespace", map[string]any{"cluster_id": "dev-1", "namespace": "shop", "all_namespaces": true}, contracts.CodeBadRequest},
		{"too many namespaces", map[string]any{"cluster_id": "dev-1", "namespaces": many}, contracts.CodeBadRequest},
		{"bad namespace", map[string]any{"cluster_id": "dev-1", "namespace": "Shop_1"}, contracts.CodeInvalidID},
		{"unknown field", map[string]any{"cluster_id": "dev-1", "selector": "app=x"}, contracts.CodeInvalidJSON},
		{"bad timeout", map[string]any{"cluster_id": "dev-1", "namespace": "shop", "timeout_seconds": 500}, contracts.CodeInvalidTimeout},
	}
	e.mu.Lock()
	e.executes = nil
	e.mu.Unlock()
	for _, tt := range bad {
		t.Run(tt.name, func(t *testing.T) {
			r := post(adminKey, tt.body)
			if r.status < 400 || r.status >= 500 {
				t.Fatalf("got %d %s; want 4xx", r.status, r.body)
			}
			if ae := r.apiError(t); ae.Code != tt.code || ae.Message == "" {
				t.Errorf("got %s %q; want %s", ae.Code, ae.Message, tt.code)
			}
		})
	}
	e.mu.Lock()
	if len(e.executes) != 0 {
		t.Errorf("bad requests dispatched %d commands", len(e.executes))
	}
	e.mu.Unlock()

	// The executor fails, or answers without a report: 502 with the reason.
	for _, ns := range []string{"broken", "old"} {
		r := post(adminKey, map[string]any{"cluster_id": "dev-1", "namespace": ns})
		if r.status != http.StatusBadGateway || !strings.Contains(string(r.body), "cmd-"+ns) {
			t.Errorf("%s: got %d %s; want 502 naming the command", ns, r.status, r.body)
		}
	}
}
