package integration

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"kubently.io/libs/audit"
	"kubently.io/libs/authz"
	"kubently.io/libs/authz/oidctest"
	"kubently.io/libs/contracts"
	"kubently.io/libs/testbed"
	"kubently.io/libs/testkit"
	executorapp "kubently.io/services/executor/app"
	gatewayapp "kubently.io/services/gateway/app"
	kstack "kubently.io/tests/stack"
)

// Keys of the access tests: three env keys (one per role) and, in the key
// file, an operator limited to namespace kube-system of live-* clusters.
const (
	accAdminKey    = "acc-admin-key-0123456789"
	accOperatorKey = "acc-operator-key-0123456789"
	accViewerKey   = "acc-viewer-key-0123456789"
	accNSKey       = "acc-ns-operator-key-0123456789"
	accLateKey     = "acc-late-key-0123456789"
)

type accessStack struct {
	*stack
	keyFile string
	issuer  *oidctest.Issuer
}

func writeKeyFile(t *testing.T, path, entries string) {
	t.Helper()
	body := "apiVersion: kubently.io/v1\nkind: APIKeys\nkeys:\n" + entries
	if err := os.WriteFile(path+".tmp", []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(path+".tmp", path); err != nil {
		t.Fatal(err)
	}
}

const nsEntry = "  - {name: ns-op, role: operator, key: " + accNSKey + ", scopes: [{clusters: ['live-*'], namespaces: [kube-system]}]}\n"

func startAccessStack(t *testing.T, adjust func(*gatewayapp.Config)) *accessStack {
	t.Helper()
	liveRC, err := executorapp.RESTConfig(executorapp.Config{Kubeconfig: testbed.Kubeconfig(t)})
	if err != nil {
		t.Fatalf("kubeconfig: %v", err)
	}
	a := &accessStack{keyFile: filepath.Join(t.TempDir(), "keys.yaml"), issuer: oidctest.New(t)}
	writeKeyFile(t, a.keyFile, nsEntry)
	s := kstack.Start(t, kstack.Config{
		JetStream: true,
		Clusters: []kstack.Cluster{
			{ID: live, Token: liveToken, REST: liveRC},
			{ID: offline, Token: otherToken},
		},
		Gateway: func(c *gatewayapp.Config) {
			c.APIKeys = []string{"adm:admin:" + accAdminKey, "op:operator:" + accOperatorKey, "view:viewer:" + accViewerKey, "alice:" + aliceKey}
			c.APIKeysFile = a.keyFile
			c.APIKeysReload = 100 * time.Millisecond
			c.OIDCIssuer = a.issuer.URL()
			c.OIDCAudience = oidctest.DefaultAudience
			if adjust != nil {
				adjust(c)
			}
		},
	})
	a.stack = &stack{Stack: s, url: s.URL, nc: s.Conn, store: s.Store, logs: s.Logs}
	return a
}

func execBody(cluster string, argv ...string) map[string]any {
	return map[string]any{"cluster_id": cluster, "argv": argv}
}

// TestAccessRoleMatrix runs every client route as admin, operator and
// viewer: allowed, or 403 forbidden (role_forbidden).
func TestAccessRoleMatrix(t *testing.T) {
	s := startAccessStack(t, nil)
	for _, role := range []struct {
		name, key string
		viewer    bool
	}{{"admin", accAdminKey, false}, {"operator", accOperatorKey, false}, {"viewer", accViewerKey, true}} {
		t.Run(role.name, func(t *testing.T) {
			want := func(r response, ok int, viewerAllowed bool) {
				t.Helper()
				if role.viewer && !viewerAllowed {
					if r.status != http.StatusForbidden {
						t.Fatalf("got %d %s; want 403", r.status, r.body)
					}
					if e := r.apiError(t); e.Code != contracts.CodeForbidden || e.Reason != string(authz.ReasonRoleForbidden) {
						t.Fatalf("got %+v; want forbidden/role_forbidden", e)
					}
					return
				}
				if r.status != ok {
					t.Fatalf("got %d %s; want %d", r.status, r.body, ok)
				}
			}
			want(s.do(t, "POST", "/v1/execute", role.key, execBody(live, "get", "pods", "-n", "default")), 200, false)
			want(s.do(t, "POST", "/debug/execute", role.key, map[string]any{"cluster_id": live, "command_type": "get", "args": []string{"pods"}}), 200, false)
			want(s.do(t, "GET", "/v1/clusters", role.key, nil), 200, true)
			want(s.do(t, "GET", "/debug/clusters", role.key, nil), 200, true)
			want(s.do(t, "GET", "/v1/audit", role.key, nil), 200, true)

			// Sessions: the viewer uses an operator's session id.
			sid := ""
			r := s.do(t, "POST", "/v1/sessions", role.key, map[string]any{"cluster_id": live})
			want(r, 201, false)
			if role.viewer {
				r = s.do(t, "POST", "/v1/sessions", accOperatorKey, map[string]any{"cluster_id": live})
			}
			var sess contracts.Session
			r.json(t, &sess)
			sid = sess.ID
			want(s.do(t, "GET", "/v1/sessions?cluster_id="+live, role.key, nil), 200, false)
			want(s.do(t, "GET", "/v1/sessions/"+sid, role.key, nil), 200, false)
			want(s.do(t, "POST", "/v1/sessions/"+sid+"/keepalive", role.key, nil), 200, false)
			want(s.do(t, "GET", "/debug/session/"+sid, role.key, nil), 200, false)
			want(s.do(t, "DELETE", "/v1/sessions/"+sid, role.key, nil), 200, false)
			r = s.do(t, "POST", "/debug/session", role.key, map[string]any{"cluster_id": live})
			want(r, 201, false)
			if !role.viewer {
				var ds struct {
					ID string `json:"session_id"`
				}
				r.json(t, &ds)
				want(s.do(t, "DELETE", "/debug/session/"+ds.ID, role.key, nil), 204, false)
			} else {
				want(s.do(t, "DELETE", "/debug/session/"+sid, role.key, nil), 204, false)
			}
		})
	}
}

func TestAccessScopes(t *testing.T) {
	s := startAccessStack(t, nil)
	tests := []struct {
		name    string
		cluster string
		argv    []string
		reason  authz.DenialReason
	}{
		{"in scope", live, []string{"get", "pods", "-n", "kube-system"}, ""},
		{"cluster out of scope", offline, []string{"get", "pods", "-n", "kube-system"}, authz.ReasonClusterOutOfScope},
		{"namespace out of scope", live, []string{"get", "pods", "-n", "default"}, authz.ReasonNamespaceOutOfScope},
		{"all namespaces", live, []string{"get", "pods", "-A"}, authz.ReasonAllNamespacesOutOfScope},
		{"cluster-scoped get nodes", live, []string{"get", "nodes"}, authz.ReasonNamespaceOutOfScope},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := s.do(t, "POST", "/v1/execute", accNSKey, execBody(tt.cluster, tt.argv...))
			if tt.reason == "" {
				if r.status != http.StatusOK {
					t.Fatalf("got %d %s; want 200", r.status, r.body)
				}
				return
			}
			if r.status != http.StatusForbidden {
				t.Fatalf("got %d %s; want 403", r.status, r.body)
			}
			if e := r.apiError(t); e.Code != contracts.CodeForbidden || e.Reason != string(tt.reason) {
				t.Errorf("got %s/%s; want forbidden/%s", e.Code, e.Reason, tt.reason)
			}
		})
	}
	var list contracts.ClusterList
	s.do(t, "GET", "/v1/clusters", accNSKey, nil).json(t, &list)
	if len(list.Clusters) != 1 || list.Clusters[0].ID != live {
		t.Errorf("scoped key sees %+v; want only %s", list.Clusters, live)
	}
}

func TestAccessKeyFileReload(t *testing.T) {
	s := startAccessStack(t, nil)
	if r := s.do(t, "GET", "/v1/clusters", accLateKey, nil); r.status != http.StatusUnauthorized {
		t.Fatalf("late key before it exists: got %d; want 401", r.status)
	}
	writeKeyFile(t, s.keyFile, "  - {name: late, role: viewer, sha256: '"+authz.HashKey(accLateKey)+"', scopes: [{clusters: ['*']}]}\n")
	testkit.CheckFor(t, 10*time.Second, 50*time.Millisecond, func() error {
		if s.do(t, "GET", "/v1/clusters", accLateKey, nil).status != http.StatusOK {
			return errors.New("added key not accepted yet")
		}
		if s.do(t, "GET", "/v1/clusters", accNSKey, nil).status != http.StatusUnauthorized {
			return errors.New("removed key still accepted")
		}
		return nil
	})
	testkit.CheckFor(t, 10*time.Second, 100*time.Millisecond, func() error {
		recs := queryAudit(t, s, accAdminKey, "?event=key_changed")
		var got []string
		for _, r := range recs {
			got = append(got, r.Target+":"+r.Reason+":"+r.Role)
		}
		if strings.Join(got, ",") != "late:added:viewer,ns-op:removed:operator" {
			return fmt.Errorf("key_changed records %v", got)
		}
		return nil
	})
	assertNoSecrets(t, s)
}

func TestAccessOIDC(t *testing.T) {
	s := startAccessStack(t, nil)
	bearer := func(tok string) []string { return []string{"Authorization", "Bearer " + tok} }
	scoped := s.issuer.Issue(map[string]any{"sub": "erin", "kubently_role": "operator",
		"kubently_scopes": []map[string]any{{"clusters": []string{live}, "namespaces": []string{"kube-system"}}}}, time.Minute)
	r := s.do(t, "POST", "/v1/execute", "", execBody(live, "get", "pods", "-n", "kube-system"), bearer(scoped)...)
	if r.status != http.StatusOK {
		t.Fatalf("valid token: got %d %s; want 200", r.status, r.body)
	}
	r = s.do(t, "POST", "/v1/execute", "", execBody(live, "get", "pods", "-n", "default"), bearer(scoped)...)
	if r.status != http.StatusForbidden || r.apiError(t).Reason != string(authz.ReasonNamespaceOutOfScope) {
		t.Errorf("scopes from claims: got %d %s; want 403 namespace_out_of_scope", r.status, r.body)
	}
	viewer := s.issuer.Issue(map[string]any{"sub": "vic", "kubently_role": "viewer", "kubently_scopes": []map[string]any{{"clusters": []string{"*"}}}}, time.Minute)
	if r := s.do(t, "POST", "/v1/execute", "", execBody(live, "get", "pods"), bearer(viewer)...); r.status != http.StatusForbidden || r.apiError(t).Reason != string(authz.ReasonRoleForbidden) {
		t.Errorf("role from claims: got %d %s; want 403 role_forbidden", r.status, r.body)
	}
	for name, tok := range map[string]string{
		"expired":        s.issuer.Issue(map[string]any{"kubently_role": "admin"}, -time.Minute),
		"wrong audience": s.issuer.Issue(map[string]any{"kubently_role": "admin", "aud": "someone-else"}, time.Minute),
	} {
		r := s.do(t, "GET", "/v1/clusters", "", nil, bearer(tok)...)
		if r.status != http.StatusUnauthorized || r.apiError(t).Code != contracts.CodeUnauthorized {
			t.Errorf("%s token: got %d %s; want 401", name, r.status, r.body)
		}
		if !strings.Contains(strings.Join(r.header.Values("WWW-Authenticate"), ";"), "Bearer") {
			t.Errorf("%s token: WWW-Authenticate %q; want a Bearer challenge", name, r.header.Values("WWW-Authenticate"))
		}
	}
	assertNoSecrets(t, s, scoped, viewer)
}

func TestAccessRateLimit(t *testing.T) {
	s := startAccessStack(t, func(c *gatewayapp.Config) {
		c.RateLimitPerIdentity, c.RateLimitIdentityBurst = 0.01, 3
	})
	var last response
	for range 4 {
		last = s.do(t, "GET", "/v1/clusters", accViewerKey, nil)
	}
	if last.status != http.StatusTooManyRequests || last.apiError(t).Code != contracts.CodeRateLimited {
		t.Fatalf("4th request: got %d %s; want 429 rate_limited", last.status, last.body)
	}
	if ra := last.header.Get("Retry-After"); ra == "" || ra == "0" {
		t.Errorf("Retry-After = %q; want seconds", ra)
	}
	// Other identities are not affected.
	if r := s.do(t, "GET", "/v1/clusters", accAdminKey, nil); r.status != http.StatusOK {
		t.Errorf("admin: got %d; want 200", r.status)
	}
}

func TestAccessAudit(t *testing.T) {
	s := startAccessStack(t, nil)
	const badKey = "definitely-not-a-key-0123456789"
	if r := s.do(t, "GET", "/v1/clusters", badKey, nil); r.status != http.StatusUnauthorized {
		t.Fatalf("bad key: got %d; want 401", r.status)
	}
	recs := queryAudit(t, s, accAdminKey, "?event=auth_denied")
	if len(recs) == 0 || recs[0].Reason != "invalid_api_key" || recs[0].Remote == "" {
		t.Fatalf("auth_denied records %+v; want one for the bad key", recs)
	}
	// Viewers and operators see only their own records; admins all.
	for _, rec := range queryAudit(t, s, accViewerKey, "") {
		if rec.Identity != "view" {
			t.Errorf("viewer sees a record of %q", rec.Identity)
		}
	}
	if r := s.do(t, "GET", "/v1/audit?identity=op", accViewerKey, nil); r.status != http.StatusForbidden {
		t.Errorf("viewer asking for op: got %d %s; want 403", r.status, r.body)
	}
	if r := s.do(t, "GET", "/v1/audit?identity=op", accAdminKey, nil); r.status != http.StatusOK {
		t.Errorf("admin asking for op: got %d %s; want 200", r.status, r.body)
	}
	if r := s.do(t, "GET", "/v1/audit?since=yesterday", accAdminKey, nil); r.status != http.StatusBadRequest {
		t.Errorf("bad since: got %d; want 400", r.status)
	}
	if r := s.do(t, "GET", "/v1/openapi.yaml", "", nil); r.status != http.StatusOK || !strings.Contains(string(r.body), "/v1/audit/stream") {
		t.Errorf("openapi.yaml: got %d; want the document", r.status)
	}
	if r := s.do(t, "GET", "/v1/openapi.json", "", nil); r.status != http.StatusOK || !json.Valid(r.body) {
		t.Errorf("openapi.json: got %d; want JSON", r.status)
	}
	assertNoSecrets(t, s, badKey)
}

func queryAudit(t *testing.T, s *accessStack, key, query string) []audit.Record {
	t.Helper()
	r := s.do(t, "GET", "/v1/audit"+query, key, nil)
	if r.status != http.StatusOK {
		t.Fatalf("GET /v1/audit%s: %d %s", query, r.status, r.body)
	}
	var page audit.Result
	r.json(t, &page)
	return page.Records
}

// assertNoSecrets greps the services' logs for every key, token and
// hash the stack knows, plus extra.
func assertNoSecrets(t *testing.T, s *accessStack, extra ...string) {
	t.Helper()
	logs := s.logs.String()
	secrets := append([]string{accAdminKey, accOperatorKey, accViewerKey, accNSKey, accLateKey, aliceKey, liveToken, otherToken,
		authz.HashKey(accNSKey), authz.HashKey(accLateKey)}, extra...)
	for _, sec := range secrets {
		if strings.Contains(logs, sec) {
			t.Errorf("service logs contain secret material %.8s…", sec)
		}
	}
}
