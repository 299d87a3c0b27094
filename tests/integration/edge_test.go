package integration

import (
	"bytes"
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"kubently.io/cli/command"
	"kubently.io/libs/contracts"
)

func testBadInput(t *testing.T, s *stack) {
	big := `{"cluster_id":"` + live + `","argv":["get","pods"],"pad":"` + strings.Repeat("x", contracts.MaxBodyBytes) + `"}`
	tooMany := make([]string, contracts.MaxArgs+1)
	for i := range tooMany {
		tooMany[i] = "pods"
	}
	tests := []struct {
		name   string
		method string
		path   string
		key    string
		body   any
		hdr    []string
		status int
		code   contracts.ErrorCode
	}{
		{"no key", http.MethodPost, "/v1/execute", "", map[string]any{}, nil, 401, contracts.CodeUnauthorized},
		{"wrong key", http.MethodPost, "/v1/execute", "wrong-key-0123456789", map[string]any{}, nil, 401, contracts.CodeUnauthorized},
		{"no key on clusters", http.MethodGet, "/v1/clusters", "", nil, nil, 401, contracts.CodeUnauthorized},
		{"body too large", http.MethodPost, "/v1/execute", aliceKey, big, nil, 413, contracts.CodeBodyTooLarge},
		{"malformed json", http.MethodPost, "/v1/execute", aliceKey, `{"cluster_id": `, nil, 400, contracts.CodeInvalidJSON},
		{"empty body", http.MethodPost, "/v1/execute", aliceKey, ``, nil, 400, contracts.CodeInvalidJSON},
		{"not an object", http.MethodPost, "/v1/execute", aliceKey, `["get"]`, nil, 400, contracts.CodeInvalidJSON},
		{"trailing data", http.MethodPost, "/v1/execute", aliceKey, `{"cluster_id":"live-1","argv":["get","ns"]} {}`, nil, 400, contracts.CodeInvalidJSON},
		{"unknown field", http.MethodPost, "/v1/execute", aliceKey, map[string]any{"cluster_id": live, "argv": []string{"get"}, "shell": "rm"}, nil, 400, contracts.CodeInvalidJSON},
		{"wrong type", http.MethodPost, "/v1/execute", aliceKey, `{"cluster_id": 7, "argv": "get pods"}`, nil, 400, contracts.CodeInvalidJSON},
		{"bad cluster id upper", http.MethodPost, "/v1/execute", aliceKey, map[string]any{"cluster_id": "Live", "argv": []string{"get", "ns"}}, nil, 400, contracts.CodeInvalidID},
		{"bad cluster id long", http.MethodPost, "/v1/execute", aliceKey, map[string]any{"cluster_id": strings.Repeat("a", 64), "argv": []string{"get", "ns"}}, nil, 400, contracts.CodeInvalidID},
		{"bad cluster id chars", http.MethodPost, "/v1/execute", aliceKey, map[string]any{"cluster_id": "a.b/../c", "argv": []string{"get", "ns"}}, nil, 400, contracts.CodeInvalidID},
		{"missing cluster", http.MethodPost, "/v1/execute", aliceKey, map[string]any{"argv": []string{"get", "ns"}}, nil, 400, contracts.CodeInvalidID},
		{"bad session id", http.MethodPost, "/v1/execute", aliceKey, map[string]any{"cluster_id": live, "session_id": "../x", "argv": []string{"get", "ns"}}, nil, 400, contracts.CodeInvalidID},
		{"empty argv", http.MethodPost, "/v1/execute", aliceKey, map[string]any{"cluster_id": live, "argv": []string{}}, nil, 400, contracts.CodeInvalidCommand},
		{"too many args", http.MethodPost, "/v1/execute", aliceKey, map[string]any{"cluster_id": live, "argv": append([]string{"get"}, tooMany...)}, nil, 400, contracts.CodeInvalidCommand},
		{"huge arg", http.MethodPost, "/v1/execute", aliceKey, map[string]any{"cluster_id": live, "argv": []string{"get", strings.Repeat("p", contracts.MaxArgLen+1)}}, nil, 400, contracts.CodeInvalidCommand},
		{"control char", http.MethodPost, "/v1/execute", aliceKey, map[string]any{"cluster_id": live, "argv": []string{"get", "pods\nx"}}, nil, 400, contracts.CodeInvalidCommand},
		{"timeout negative", http.MethodPost, "/v1/execute", aliceKey, map[string]any{"cluster_id": live, "argv": []string{"get", "ns"}, "timeout_seconds": -1}, nil, 400, contracts.CodeInvalidTimeout},
		{"timeout too long", http.MethodPost, "/v1/execute", aliceKey, map[string]any{"cluster_id": live, "argv": []string{"get", "ns"}, "timeout_seconds": 100000}, nil, 400, contracts.CodeInvalidTimeout},
		{"timeout header bad", http.MethodPost, "/v1/execute", aliceKey, map[string]any{"cluster_id": live, "argv": []string{"get", "ns"}}, []string{contracts.HeaderRequestTimeout, "soon"}, 400, contracts.CodeInvalidTimeout},
		{"bad namespace", http.MethodPost, "/v1/execute", aliceKey, map[string]any{"cluster_id": live, "argv": []string{"get", "pods"}, "namespace": "Not A NS"}, nil, 400, contracts.CodeInvalidID},
		{"unknown route", http.MethodGet, "/v1/nope", aliceKey, nil, nil, 404, contracts.CodeNotFound},
		{"wrong method", http.MethodGet, "/v1/execute", aliceKey, nil, nil, 405, contracts.CodeMethodNotAllowed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := s.do(t, tt.method, tt.path, tt.key, tt.body, tt.hdr...)
			if r.status != tt.status {
				t.Fatalf("status %d %s; want %d", r.status, truncate(string(r.body)), tt.status)
			}
			if got := r.apiError(t).Code; got != tt.code {
				t.Errorf("code %s; want %s", got, tt.code)
			}
			if tt.status == 401 && r.header.Get("WWW-Authenticate") == "" {
				t.Errorf("401 without WWW-Authenticate")
			}
		})
	}
}

func truncate(s string) string {
	if len(s) > 300 {
		return s[:300] + "…"
	}
	return s
}

// executorReq sends an executor-authenticated request.
func (s *stack) executorReq(t *testing.T, method, path, cluster, token string, body any) response {
	t.Helper()
	hdr := []string{}
	if cluster != "" {
		hdr = append(hdr, contracts.HeaderClusterID, cluster)
	}
	if token != "" {
		hdr = append(hdr, "Authorization", "Bearer "+token)
	}
	return s.do(t, method, path, "", body, hdr...)
}

func testExecutorEndpoints(t *testing.T, s *stack) {
	ctx := context.Background()
	// A command issued to the live cluster, straight into the bridge
	// (as the dispatcher would), so the test controls its id.
	cmd := contracts.Command{ID: contracts.NewID(), Cluster: live, Argv: []string{"get", "ns"},
		Deadline: time.Now().Add(time.Minute), IssuedAt: time.Now()}
	// Enqueue into a cluster no executor drains, then check ownership on
	// the result path: offline-1's token must not answer live-1's command.
	ownCmd := cmd
	ownCmd.Cluster = offline
	if err := s.store.Enqueue(ctx, ownCmd); err != nil {
		t.Fatal(err)
	}
	result := map[string]any{"command_id": ownCmd.ID, "status": "success", "output": "forged", "exit_code": 0}
	tests := []struct {
		name           string
		method, path   string
		cluster, token string
		body           any
		status         int
		code           contracts.ErrorCode
	}{
		{"stream no token", http.MethodGet, "/v1/executor/stream", live, "", nil, 401, contracts.CodeUnauthorized},
		{"stream no cluster", http.MethodGet, "/v1/executor/stream", "", liveToken, nil, 401, contracts.CodeUnauthorized},
		{"stream wrong token", http.MethodGet, "/v1/executor/stream", live, otherToken, nil, 401, contracts.CodeUnauthorized},
		{"stream unknown cluster", http.MethodGet, "/v1/executor/stream", "ghost", liveToken, nil, 401, contracts.CodeUnauthorized},
		{"stream bad cluster id", http.MethodGet, "/v1/executor/stream", "BAD/ID", liveToken, nil, 401, contracts.CodeUnauthorized},
		{"result wrong cluster", http.MethodPost, "/v1/executor/results", live, liveToken, result, 403, contracts.CodeResultClusterDenied},
		{"result unknown command", http.MethodPost, "/v1/executor/results", live, liveToken, map[string]any{"command_id": contracts.NewID(), "status": "success"}, 404, contracts.CodeUnknownCommand},
		{"result not awaited", http.MethodPost, "/v1/executor/results", offline, otherToken, result, 409, contracts.CodeResultNotAwaited},
		{"result bad id", http.MethodPost, "/v1/executor/results", live, liveToken, map[string]any{"command_id": "../../x", "status": "success"}, 400, contracts.CodeInvalidID},
		{"result bad status", http.MethodPost, "/v1/executor/results", live, liveToken, map[string]any{"command_id": contracts.NewID(), "status": "great"}, 400, contracts.CodeBadRequest},
		{"result malformed", http.MethodPost, "/v1/executor/results", live, liveToken, `{`, 400, contracts.CodeInvalidJSON},
		{"result with client key only", http.MethodPost, "/v1/executor/results", "", "", result, 401, contracts.CodeUnauthorized},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := s.executorReq(t, tt.method, tt.path, tt.cluster, tt.token, tt.body)
			if r.status != tt.status || r.apiError(t).Code != tt.code {
				t.Fatalf("got %d %s; want %d %s", r.status, r.body, tt.status, tt.code)
			}
		})
	}
}

func testSeedRoutes(t *testing.T, s *stack) {
	r := s.do(t, http.MethodPost, "/debug/session", aliceKey, map[string]any{"cluster_id": live, "user_id": "ignored"})
	if r.status != http.StatusCreated {
		t.Fatalf("POST /debug/session = %d %s", r.status, r.body)
	}
	var sess struct {
		SessionID string `json:"session_id"`
		Status    string `json:"status"`
		Identity  string `json:"service_identity"`
	}
	r.json(t, &sess)
	if sess.Status != "active" || sess.Identity != "alice" {
		t.Fatalf("session %+v", sess)
	}
	r = s.do(t, http.MethodGet, "/debug/session/"+sess.SessionID, aliceKey, nil)
	r.json(t, &sess)
	if r.status != http.StatusOK || sess.Status != "active" {
		t.Fatalf("GET /debug/session = %d %s; want active (the seed always said idle)", r.status, r.body)
	}

	var res struct {
		Status string `json:"status"`
		Output string `json:"output"`
		Error  string `json:"error"`
		Exit   int    `json:"exit_code"`
		MS     *int64 `json:"execution_time_ms"`
	}
	r = s.do(t, http.MethodPost, "/debug/execute", aliceKey, map[string]any{
		"cluster_id": live, "session_id": sess.SessionID, "command_type": "get", "args": []string{"pods"}, "namespace": "kube-system", "timeout_seconds": 20})
	r.json(t, &res)
	if r.status != http.StatusOK || res.Status != "success" || res.MS == nil {
		t.Fatalf("debug execute = %d %s", r.status, r.body)
	}
	r = s.do(t, http.MethodPost, "/debug/execute", aliceKey, map[string]any{"cluster_id": live, "command_type": "get", "args": []string{"pod", "nope"}})
	r.json(t, &res)
	if res.Status != "failure" || !strings.Contains(res.Error, "not found") || res.Exit != 1 {
		t.Fatalf("failed command must be failure with stderr in error; got %s", r.body)
	}
	r = s.do(t, http.MethodPost, "/debug/execute", aliceKey, map[string]any{"cluster_id": live, "command_type": "delete", "args": []string{"pod", "x"}})
	if r.status != http.StatusForbidden {
		t.Fatalf("denied command = %d %s; want 403", r.status, r.body)
	}
	r = s.do(t, http.MethodPost, "/debug/execute", aliceKey, map[string]any{"cluster_id": "ghost", "args": []string{"pods"}})
	if r.status != http.StatusNotFound {
		t.Fatalf("unknown cluster = %d %s; want 404", r.status, r.body)
	}
	r = s.do(t, http.MethodGet, "/debug/clusters", aliceKey, nil)
	if r.status != http.StatusOK || !strings.Contains(string(r.body), live) {
		t.Fatalf("GET /debug/clusters = %d %s", r.status, r.body)
	}
	r = s.do(t, http.MethodDelete, "/debug/session/"+sess.SessionID, aliceKey, nil)
	if r.status != http.StatusNoContent {
		t.Fatalf("DELETE /debug/session = %d %s; want 204", r.status, r.body)
	}
	r = s.do(t, http.MethodGet, "/debug/session/"+sess.SessionID, aliceKey, nil)
	r.json(t, &sess)
	if sess.Status != "ended" {
		t.Fatalf("after delete: %s", r.body)
	}
}

func testOps(t *testing.T, s *stack) {
	for _, p := range []string{"/healthz", "/readyz"} {
		if r := s.do(t, http.MethodGet, p, "", nil); r.status != http.StatusOK {
			t.Errorf("GET %s = %d %s", p, r.status, r.body)
		}
	}
	r := s.do(t, http.MethodGet, "/metrics", "", nil)
	for _, m := range []string{"kubently_gateway_http_request_duration_seconds", "kubently_gateway_executor_streams 2", `kubently_gateway_executor_results_total{outcome="accepted"}`} {
		if !strings.Contains(string(r.body), m) {
			t.Errorf("/metrics lacks %s", m)
		}
	}
}

func testCLI(t *testing.T, s *stack) {
	env := func(k string) (string, bool) {
		switch k {
		case "KUBENTLY_API_URL":
			return s.url, true
		case "KUBENTLY_API_KEY":
			return aliceKey, true
		case "HOME":
			return t.TempDir(), true
		}
		return "", false
	}
	tests := []struct {
		args   []string
		exit   int
		stdout string
		stderr string
	}{
		{[]string{"exec", live, "--", "get", "pods", "-A"}, command.ExitOK, "NAMESPACE", ""},
		{[]string{"exec", live, "-o", "json", "--", "get", "ns"}, command.ExitOK, `"status": "success"`, ""},
		{[]string{"exec", live, "--", "get", "pod", "nope"}, command.ExitFailure, "", "not found"},
		{[]string{"exec", live, "--", "delete", "pod", "x"}, command.ExitDenied, "", "verb_not_allowed"},
		{[]string{"exec", "ghost", "--", "get", "pods"}, command.ExitRejected, "", "unknown_cluster"},
		{[]string{"exec", offline, "--", "get", "pods"}, command.ExitRejected, "", "executor_unavailable"},
		{[]string{"exec", slow, "--timeout", "1s", "--", "get", "pods"}, command.ExitTimeout, "", "no result"},
		{[]string{"exec", live, "get", "pods"}, command.ExitUsage, "", "--"},
		{[]string{"exec"}, command.ExitUsage, "", "want a cluster"},
		{[]string{"exec", live, "--timeout", "forever", "--", "get", "ns"}, command.ExitUsage, "", "invalid argument"},
		{[]string{"clusters"}, command.ExitOK, live, ""},
		{[]string{"session", "create", live, "--ttl", "2m"}, command.ExitOK, "active", ""},
		{[]string{"session", "get", "nope"}, command.ExitRejected, "", "session_not_found"},
		{[]string{"bogus"}, command.ExitUsage, "", "unknown command"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			var out, errb bytes.Buffer
			code := command.ExecuteContext(context.Background(), "test", tt.args, env, &out, &errb)
			if code != tt.exit {
				t.Fatalf("exit %d; want %d\nstdout: %s\nstderr: %s", code, tt.exit, out.String(), errb.String())
			}
			if !strings.Contains(out.String(), tt.stdout) || !strings.Contains(errb.String(), tt.stderr) {
				t.Errorf("stdout %q want %q; stderr %q want %q", out.String(), tt.stdout, errb.String(), tt.stderr)
			}
		})
	}
	t.Run("no api url", func(t *testing.T) {
		var out, errb bytes.Buffer
		code := command.ExecuteContext(context.Background(), "test", []string{"clusters"}, func(string) (string, bool) { return "", false }, &out, &errb)
		if code != command.ExitUsage || !strings.Contains(errb.String(), "KUBENTLY_API_URL") {
			t.Fatalf("exit %d stderr %q; want usage error naming KUBENTLY_API_URL", code, errb.String())
		}
	})
	t.Run("gateway down", func(t *testing.T) {
		var out, errb bytes.Buffer
		env := func(k string) (string, bool) {
			if k == "KUBENTLY_API_URL" {
				return "http://127.0.0.1:1", true
			}
			if k == "KUBENTLY_API_KEY" {
				return aliceKey, true
			}
			return "", false
		}
		code := command.ExecuteContext(context.Background(), "test", []string{"clusters"}, env, &out, &errb)
		if code != command.ExitRejected || !strings.Contains(errb.String(), "cannot reach the gateway") {
			t.Fatalf("exit %d stderr %q", code, errb.String())
		}
	})
}
