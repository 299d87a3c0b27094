package httpapi

import (
	"context"
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"kubently.io/libs/authz"
	"kubently.io/libs/contracts"
)

func TestCommandScope(t *testing.T) {
	tests := []struct {
		argv   string
		ns     string
		all    bool
		parsed bool
	}{
		{"get pods", "default", false, true},
		{"get pods -n shop", "shop", false, true},
		{"get pods --namespace=shop", "shop", false, true},
		{"get pods -A", "", true, true},
		{"get nodes", "", false, true},
		{"describe node/x", "", false, true},
		{"get ns,pods -n shop", "", false, true},
		{"get pv", "", false, true},
		{"top node", "", false, true},
		{"top pod -n shop", "shop", false, true},
		{"logs web-1 -n shop", "shop", false, true},
		{"events", "default", false, true},
		{"version", "", false, true},
		{"api-resources", "", false, true},
		{"auth can-i get pods -n shop", "shop", false, true},
		{"get widgets.example.com -n shop", "shop", false, true},
		{"delete pod x", "", false, false},
	}
	for _, tt := range tests {
		t.Run(tt.argv, func(t *testing.T) {
			ns, all, parsed := commandScope(context.Background(), parseArgv(strings.Fields(tt.argv)))
			if ns != tt.ns || all != tt.all || parsed != tt.parsed {
				t.Errorf("got ns %q all %v parsed %v; want %q %v %v", ns, all, parsed, tt.ns, tt.all, tt.parsed)
			}
		})
	}
}

// TestRoleRouteMatrix checks every client route for each role: allowed
// (the fake service answers) or 403 forbidden with reason role_forbidden.
func TestRoleRouteMatrix(t *testing.T) {
	e := newEnv(t, envOpts{})
	type route struct {
		name, method, path string
		body               any
		ok                 int
		viewer             bool // the viewer role may use it
	}
	routes := []route{
		{"execute", "POST", "/v1/execute", map[string]any{"cluster_id": "dev-1", "argv": []string{"get", "pods"}}, 200, false},
		{"create session", "POST", "/v1/sessions", map[string]any{"cluster_id": "dev-1"}, 201, false},
		{"list sessions", "GET", "/v1/sessions?cluster_id=dev-1", nil, 200, false},
		{"get session", "GET", "/v1/sessions/s1", nil, 200, false},
		{"keepalive", "POST", "/v1/sessions/s1/keepalive", nil, 200, false},
		{"end session", "DELETE", "/v1/sessions/s1", nil, 200, false},
		{"clusters", "GET", "/v1/clusters", nil, 200, true},
		{"audit", "GET", "/v1/audit", nil, 200, true},
		{"debug execute", "POST", "/debug/execute", map[string]any{"cluster_id": "dev-1", "command_type": "get", "args": []string{"pods"}}, 200, false},
		{"debug create session", "POST", "/debug/session", map[string]any{"cluster_id": "dev-1"}, 201, false},
		{"debug get session", "GET", "/debug/session/s1", nil, 200, false},
		{"debug end session", "DELETE", "/debug/session/s1", nil, 204, false},
		{"debug clusters", "GET", "/debug/clusters", nil, 200, true},
	}
	roles := []struct {
		role string
		key  string
	}{{"admin", adminKey}, {"operator", operatorKey}, {"viewer", viewerKey}}
	for _, r := range roles {
		for _, rt := range routes {
			t.Run(r.role+"/"+rt.name, func(t *testing.T) {
				got := e.do(t, rt.method, rt.path, r.key, rt.body)
				if r.role != "viewer" || rt.viewer {
					if got.status != rt.ok {
						t.Fatalf("got %d %s; want %d", got.status, got.body, rt.ok)
					}
					return
				}
				if got.status != http.StatusForbidden {
					t.Fatalf("got %d %s; want 403", got.status, got.body)
				}
				if e := got.apiError(t); e.Code != contracts.CodeForbidden || e.Reason != string(authz.ReasonRoleForbidden) {
					t.Errorf("got %+v; want forbidden/role_forbidden", e)
				}
			})
		}
	}
	// The dispatcher got the principal, the caller and the replica.
	_ = e.do(t, "POST", "/v1/execute", devKey, map[string]any{"cluster_id": "dev-1", "argv": []string{"get", "pods"}})
	req := e.lastExecute(t)
	want := &contracts.Principal{Name: "dev-op", Role: "operator", Source: "api_key", Scopes: []contracts.PrincipalScope{{Clusters: []string{"dev-*"}}}}
	if diff := cmp.Diff(want, req.Principal); diff != "" || req.Caller != "dev-op" || req.Gateway != "gw-test" || req.CorrelationID == "" {
		t.Errorf("execute request: caller %q gateway %q correlation %q principal (-want +got):\n%s", req.Caller, req.Gateway, req.CorrelationID, diff)
	}
	e.mu.Lock()
	sreq := e.sessions[len(e.sessions)-1]
	e.mu.Unlock()
	if sreq.Principal == nil || sreq.Caller != sreq.Principal.Name {
		t.Errorf("session request carries caller %q principal %+v; want the principal", sreq.Caller, sreq.Principal)
	}
}

func TestScopeDenials(t *testing.T) {
	e := newEnv(t, envOpts{})
	exec := func(key, cluster string, argv ...string) resp {
		return e.do(t, "POST", "/v1/execute", key, map[string]any{"cluster_id": cluster, "argv": argv})
	}
	tests := []struct {
		name   string
		got    func() resp
		reason authz.DenialReason // "" means allowed
	}{
		{"in scope", func() resp { return exec(nsKey, "dev-1", "get", "pods", "-n", "shop") }, ""},
		{"body namespace in scope", func() resp {
			return e.do(t, "POST", "/v1/execute", nsKey, map[string]any{"cluster_id": "dev-1", "argv": []string{"get", "pods"}, "namespace": "shop"})
		}, ""},
		{"cluster out of scope", func() resp { return exec(nsKey, "prod-1", "get", "pods", "-n", "shop") }, authz.ReasonClusterOutOfScope},
		{"namespace out of scope", func() resp { return exec(nsKey, "dev-1", "get", "pods", "-n", "kube-system") }, authz.ReasonNamespaceOutOfScope},
		{"default namespace out of scope", func() resp { return exec(nsKey, "dev-1", "get", "pods") }, authz.ReasonNamespaceOutOfScope},
		{"all namespaces", func() resp { return exec(nsKey, "dev-1", "get", "pods", "-A") }, authz.ReasonAllNamespacesOutOfScope},
		{"cluster-scoped get nodes", func() resp { return exec(nsKey, "dev-1", "get", "nodes") }, authz.ReasonNamespaceOutOfScope},
		{"dev operator -A", func() resp { return exec(devKey, "dev-1", "get", "pods", "-A") }, ""},
		{"dev operator nodes", func() resp { return exec(devKey, "dev-1", "get", "nodes") }, ""},
		{"dev operator prod", func() resp { return exec(devKey, "prod-1", "get", "pods") }, authz.ReasonClusterOutOfScope},
		{"session out of scope", func() resp {
			return e.do(t, "POST", "/v1/sessions", devKey, map[string]any{"cluster_id": "prod-1"})
		}, authz.ReasonClusterOutOfScope},
		{"list sessions out of scope", func() resp { return e.do(t, "GET", "/v1/sessions?cluster_id=prod-1", devKey, nil) }, authz.ReasonClusterOutOfScope},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := tt.got()
			if tt.reason == "" {
				if got.status >= 300 {
					t.Fatalf("got %d %s; want success", got.status, got.body)
				}
				return
			}
			if got.status != http.StatusForbidden {
				t.Fatalf("got %d %s; want 403", got.status, got.body)
			}
			if ae := got.apiError(t); ae.Code != contracts.CodeForbidden || ae.Reason != string(tt.reason) {
				t.Errorf("got %s/%s; want forbidden/%s", ae.Code, ae.Reason, tt.reason)
			}
		})
	}
	// The cluster list is filtered to the caller's scopes.
	var list contracts.ClusterList
	r := e.do(t, "GET", "/v1/clusters", devKey, nil)
	if err := json.Unmarshal(r.body, &list); err != nil {
		t.Fatal(err)
	}
	if len(list.Clusters) != 1 || list.Clusters[0].ID != "dev-1" {
		t.Errorf("dev operator sees %s; want only dev-1", r.body)
	}
	r = e.do(t, "GET", "/debug/clusters", adminKey, nil)
	if !strings.Contains(string(r.body), "prod-1") || !strings.Contains(string(r.body), "dev-1") {
		t.Errorf("admin sees %s; want every cluster", r.body)
	}
}

func TestUnauthenticated(t *testing.T) {
	e := newEnv(t, envOpts{})
	for _, key := range []string{"", "wrong-key-0123456789abcdef"} {
		r := e.do(t, "GET", "/v1/clusters", key, nil)
		if r.status != http.StatusUnauthorized || r.apiError(t).Code != contracts.CodeUnauthorized {
			t.Fatalf("key %q: got %d %s; want 401 unauthorized", key, r.status, r.body)
		}
		if !slices.ContainsFunc(r.header.Values("WWW-Authenticate"), func(v string) bool { return strings.HasPrefix(v, "ApiKey") }) {
			t.Errorf("WWW-Authenticate = %q; want an ApiKey challenge", r.header.Values("WWW-Authenticate"))
		}
	}
	if got := testutil.ToFloat64(e.srv.metrics.authFailures.WithLabelValues("invalid_api_key")); got != 1 {
		t.Errorf("auth failures{invalid_api_key} = %v; want 1", got)
	}
	// Executor routes keep their own token auth.
	if r := e.do(t, "GET", "/v1/executor/stream", adminKey, nil); r.status != http.StatusUnauthorized {
		t.Errorf("executor stream with an API key: got %d; want 401", r.status)
	}
	if strings.Contains(e.logs.String(), "wrong-key-0123456789abcdef") || strings.Contains(e.logs.String(), adminKey) {
		t.Errorf("logs contain key material")
	}
}

func TestRateLimit(t *testing.T) {
	e := newEnv(t, envOpts{limits: authz.LimitConfig{
		PerIdentity: authz.Bucket{Rate: 0.01, Burst: 3},
		PerCluster:  authz.Bucket{Rate: 0.01, Burst: 2},
	}})
	execute := func(key string) resp {
		return e.do(t, "POST", "/v1/execute", key, map[string]any{"cluster_id": "dev-1", "argv": []string{"get", "pods"}})
	}
	// The cluster bucket (2) empties first: admin twice, then operator.
	for i := range 2 {
		if r := execute(adminKey); r.status != http.StatusOK {
			t.Fatalf("request %d: got %d %s; want 200", i, r.status, r.body)
		}
	}
	r := execute(operatorKey)
	if r.status != http.StatusTooManyRequests || r.apiError(t).Code != contracts.CodeRateLimited || r.apiError(t).Reason != "cluster" {
		t.Fatalf("got %d %s; want 429 rate_limited/cluster", r.status, r.body)
	}
	if ra := r.header.Get("Retry-After"); ra == "" || ra == "0" {
		t.Errorf("Retry-After = %q; want whole seconds > 0", ra)
	}
	// The identity bucket (3): admin has used 2; one more, then 429.
	if r := e.do(t, "GET", "/v1/clusters", adminKey, nil); r.status != http.StatusOK {
		t.Fatalf("got %d; want 200", r.status)
	}
	r = e.do(t, "GET", "/v1/clusters", adminKey, nil)
	if r.status != http.StatusTooManyRequests || r.apiError(t).Reason != "identity" || r.header.Get("Retry-After") == "" {
		t.Fatalf("got %d %s %v; want 429 identity with Retry-After", r.status, r.body, r.header)
	}
	if got := testutil.ToFloat64(e.srv.metrics.rateLimited.WithLabelValues("identity")); got != 1 {
		t.Errorf("rate limited{identity} = %v; want 1", got)
	}
	if got := testutil.ToFloat64(e.srv.metrics.rateLimited.WithLabelValues("cluster")); got != 1 {
		t.Errorf("rate limited{cluster} = %v; want 1", got)
	}
}
