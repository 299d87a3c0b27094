package command

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"kubently.io/cli/internal/auditfake"
	"kubently.io/libs/contracts"
	"kubently.io/libs/testkit"
)

// tokenGateway fakes the token routes: cluster "taken" already has a
// token, "gone" is not registered; any other key than auditfake.Key is a
// viewer (403).
func tokenGateway(t *testing.T) *httptest.Server {
	t.Helper()
	apiErr := func(w http.ResponseWriter, code contracts.ErrorCode, msg string) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(code.Status())
		_ = json.NewEncoder(w).Encode(contracts.Error{Code: code, Message: msg})
	}
	mux := http.NewServeMux()
	guard := func(h func(w http.ResponseWriter, cluster string)) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			if r.Header.Get(contracts.HeaderAPIKey) != auditfake.Key {
				apiErr(w, contracts.CodeForbidden, "role viewer may not tokens:admin")
				return
			}
			cluster := r.PathValue("cluster")
			if cluster == "gone" {
				apiErr(w, contracts.CodeUnknownCluster, "cluster \"gone\" is not registered")
				return
			}
			h(w, cluster)
		}
	}
	mux.HandleFunc("POST /v1/clusters/{cluster}/token", guard(func(w http.ResponseWriter, cluster string) {
		if cluster == "taken" {
			apiErr(w, contracts.CodeClusterExists, "cluster \"taken\" already has a token")
			return
		}
		w.WriteHeader(http.StatusCreated)
		_ = json.NewEncoder(w).Encode(map[string]string{"cluster_id": cluster, "token": "kbt_created-" + cluster})
	}))
	mux.HandleFunc("POST /v1/clusters/{cluster}/token/rotate", guard(func(w http.ResponseWriter, cluster string) {
		_ = json.NewEncoder(w).Encode(map[string]string{"cluster_id": cluster, "token": "kbt_rotated-" + cluster})
	}))
	mux.HandleFunc("DELETE /v1/clusters/{cluster}/token", guard(func(w http.ResponseWriter, cluster string) {
		_ = json.NewEncoder(w).Encode(map[string]string{"cluster_id": cluster, "revoked_at": "2026-05-01T11:00:00Z"})
	}))
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv
}

func TestTokenCommands(t *testing.T) {
	srv := tokenGateway(t)
	tests := []struct {
		name       string
		args       []string
		code       int
		stdout     []string
		stderr     string
		noStdout   bool
		jsonOutput map[string]string
	}{
		{name: "create", args: []string{"token", "create", "prod-1"}, code: ExitOK,
			stdout: []string{"kbt_created-prod-1", "KUBENTLY_TOKEN", "shown only once", "CLUSTER_ID=prod-1"}},
		{name: "rotate", args: []string{"token", "rotate", "prod-1"}, code: ExitOK,
			stdout: []string{"kbt_rotated-prod-1", "KUBENTLY_TOKEN"}},
		{name: "revoke", args: []string{"token", "revoke", "prod-1"}, code: ExitOK,
			stdout: []string{"prod-1 revoked at 2026-05-01T11:00:00Z", "kubently token create prod-1"}},
		{name: "create json", args: []string{"token", "create", "prod-1", "-o", "json"}, code: ExitOK,
			jsonOutput: map[string]string{"cluster_id": "prod-1", "token": "kbt_created-prod-1"}},
		{name: "create taken", args: []string{"token", "create", "taken"}, code: ExitRejected, stderr: "cluster_exists", noStdout: true},
		{name: "rotate unknown", args: []string{"token", "rotate", "gone"}, code: ExitRejected, stderr: "unknown_cluster", noStdout: true},
		{name: "no cluster", args: []string{"token", "revoke"}, code: ExitUsage, stderr: "accepts 1 arg", noStdout: true},
		{name: "two clusters", args: []string{"token", "create", "a", "b"}, code: ExitUsage, noStdout: true},
		{name: "bad output", args: []string{"token", "rotate", "prod-1", "-o", "yaml"}, code: ExitUsage, stderr: "--output", noStdout: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, stdout, stderr := runCLI(t, context.Background(), srv.URL, tt.args...)
			if code != tt.code {
				t.Fatalf("exit %d; want %d (stderr %q)", code, tt.code, stderr)
			}
			wantContains(t, "stdout", stdout, tt.stdout...)
			wantContains(t, "stderr", stderr, tt.stderr)
			if tt.noStdout && stdout != "" {
				t.Errorf("stdout = %q; want nothing", stdout)
			}
			if tt.jsonOutput != nil {
				var got map[string]string
				if err := json.Unmarshal([]byte(stdout), &got); err != nil {
					t.Fatalf("stdout is not JSON: %v\n%s", err, stdout)
				}
				for k, v := range tt.jsonOutput {
					if got[k] != v {
						t.Errorf("json %s = %q; want %q", k, got[k], v)
					}
				}
			}
		})
	}
}

func TestTokenCommandForbidden(t *testing.T) {
	srv := tokenGateway(t)
	var stdout, stderr testkit.SyncBuffer
	env := func(k string) (string, bool) {
		switch k {
		case "KUBENTLY_API_URL":
			return srv.URL, true
		case "KUBENTLY_API_KEY":
			return "viewer-key", true
		}
		return "", false
	}
	code := ExecuteContext(context.Background(), "test", []string{"token", "revoke", "prod-1"}, env, &stdout, &stderr)
	if code != ExitRejected || !strings.Contains(stderr.String(), "forbidden") {
		t.Errorf("exit %d, stderr %q; want %d and forbidden", code, stderr.String(), ExitRejected)
	}
}
