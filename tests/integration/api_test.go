package integration

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"kubently.io/libs/contracts"
	"kubently.io/libs/testkit"
)

func TestEndToEndRedis(t *testing.T) {
	s := startStack(t, false)
	t.Run("clusters", func(t *testing.T) { testClusters(t, s) })
	t.Run("commands", func(t *testing.T) { testCommands(t, s) })
	t.Run("denied", func(t *testing.T) { testDenied(t, s) })
	t.Run("routing errors", func(t *testing.T) { testRoutingErrors(t, s) })
	t.Run("sessions", func(t *testing.T) { testSessions(t, s) })
	t.Run("bad input", func(t *testing.T) { testBadInput(t, s) })
	t.Run("executor endpoints", func(t *testing.T) { testExecutorEndpoints(t, s) })
	t.Run("seed routes", func(t *testing.T) { testSeedRoutes(t, s) })
	t.Run("ops", func(t *testing.T) { testOps(t, s) })
	t.Run("cli", func(t *testing.T) { testCLI(t, s) })
	t.Run("no secrets in logs", func(t *testing.T) {
		logs := s.logs.String()
		for _, secret := range []string{aliceKey, bobKey, liveToken, otherToken, slowToken} {
			if strings.Contains(logs, secret) {
				t.Errorf("service logs contain a secret (%s…)", secret[:6])
			}
		}
	})
}

// The embedded JetStream store (what `kubently dev` uses) runs the same path.
func TestEndToEndJetStream(t *testing.T) {
	s := startStack(t, true)
	t.Run("commands", func(t *testing.T) { testCommands(t, s) })
	t.Run("routing errors", func(t *testing.T) { testRoutingErrors(t, s) })
	t.Run("sessions", func(t *testing.T) { testSessions(t, s) })
}

func testClusters(t *testing.T, s *stack) {
	r := s.do(t, http.MethodGet, "/v1/clusters", aliceKey, nil)
	if r.status != http.StatusOK {
		t.Fatalf("GET /v1/clusters = %d %s", r.status, r.body)
	}
	var body contracts.ClusterList
	r.json(t, &body)
	got := map[string]bool{}
	for _, c := range body.Clusters {
		got[c.ID] = c.Connected
		if c.ID == live && (c.Executors != 1 || len(c.Streams) != 1 || c.Streams[0].ExecutorID != live+"-exec") {
			t.Errorf("cluster %s: executors=%d streams=%+v; want one stream from %s-exec", live, c.Executors, c.Streams, live)
		}
	}
	want := map[string]bool{live: true, slow: true, offline: false}
	for id, conn := range want {
		if g, ok := got[id]; !ok || g != conn {
			t.Errorf("cluster %s connected=%v (listed %v); want %v", id, g, ok, conn)
		}
	}
	if body.Count != 3 {
		t.Errorf("count = %d; want 3", body.Count)
	}
}

func testCommands(t *testing.T, s *stack) {
	tests := []struct {
		name       string
		argv       []string
		wantStatus contracts.Status
		wantExit   int
		wantOut    string // substring of output
		wantErr    string // substring of error
	}{
		{"get pods -A", []string{"get", "pods", "-A"}, contracts.StatusSuccess, 0, "NAMESPACE", ""},
		{"get nodes", []string{"get", "nodes"}, contracts.StatusSuccess, 0, "kwok-node-0", ""},
		{"get namespaces json", []string{"get", "namespaces", "-o", "json"}, contracts.StatusSuccess, 0, `"kube-system"`, ""},
		{"get ns name", []string{"get", "ns", "-o", "name"}, contracts.StatusSuccess, 0, "namespace/default", ""},
		{"get by label", []string{"get", "pods", "-n", "demo", "-l", "app=web"}, contracts.StatusSuccess, 0, "web-", ""},
		{"describe node", []string{"describe", "node", "kwok-node-0"}, contracts.StatusSuccess, 0, "Name:", ""},
		{"events", []string{"events", "-A"}, contracts.StatusSuccess, 0, "LAST SEEN", ""},
		{"not found", []string{"get", "pod", "no-such-pod", "-n", "default"}, contracts.StatusFailure, 1, "", `"no-such-pod" not found`},
		{"unknown type", []string{"get", "foobars"}, contracts.StatusFailure, 1, "", "foobars"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, res := s.exec(t, live, tt.argv...)
			if r.status != http.StatusOK {
				t.Fatalf("status %d %s; want 200", r.status, r.body)
			}
			if res.Status != tt.wantStatus || res.ExitCode != tt.wantExit {
				t.Fatalf("got status %s exit %d (error %q); want %s exit %d", res.Status, res.ExitCode, res.Error, tt.wantStatus, tt.wantExit)
			}
			if !strings.Contains(res.Output, tt.wantOut) {
				t.Errorf("output %q does not contain %q", res.Output, tt.wantOut)
			}
			if !strings.Contains(res.Error, tt.wantErr) {
				t.Errorf("error %q does not contain %q", res.Error, tt.wantErr)
			}
			if res.CommandID == "" || res.Cluster != live || res.CorrelationID == "" {
				t.Errorf("result ids missing: %+v", res)
			}
			if r.header.Get(contracts.HeaderCorrelationID) != res.CorrelationID {
				t.Errorf("correlation id header %q != body %q", r.header.Get(contracts.HeaderCorrelationID), res.CorrelationID)
			}
		})
	}
	t.Run("json parses", func(t *testing.T) {
		_, res := s.exec(t, live, "get", "namespaces", "-o", "json")
		var list struct {
			Kind  string            `json:"kind"`
			Items []json.RawMessage `json:"items"`
		}
		if err := json.Unmarshal([]byte(res.Output), &list); err != nil || len(list.Items) == 0 {
			t.Fatalf("output is not a JSON list: %v", err)
		}
	})
	t.Run("logs", func(t *testing.T) {
		// The testbed seed gives demo pods CRI logs through kwok.
		_, res := s.exec(t, live, "get", "pods", "-n", "demo", "-l", "app=web", "-o", "name")
		pod := strings.TrimPrefix(strings.SplitN(strings.TrimSpace(res.Output), "\n", 2)[0], "pod/")
		if pod == "" {
			t.Fatalf("no demo web pod: %+v", res)
		}
		_, res = s.exec(t, live, "logs", pod, "-n", "demo", "--tail", "5")
		if res.Status != contracts.StatusSuccess || res.Output == "" {
			t.Fatalf("logs: %+v", res)
		}
	})
	t.Run("namespace field", func(t *testing.T) {
		r := s.do(t, http.MethodPost, "/v1/execute", aliceKey, map[string]any{"cluster_id": live, "argv": []string{"get", "pods"}, "namespace": "kube-system"})
		var res contracts.CommandResult
		r.json(t, &res)
		if res.Status != contracts.StatusSuccess {
			t.Fatalf("got %+v", res)
		}
	})
	t.Run("timeout", func(t *testing.T) {
		start := time.Now()
		r := s.do(t, http.MethodPost, "/v1/execute", aliceKey, map[string]any{"cluster_id": slow, "argv": []string{"get", "pods"}, "timeout_seconds": 2})
		if r.status != http.StatusGatewayTimeout {
			t.Fatalf("status %d %s; want 504", r.status, r.body)
		}
		var res contracts.CommandResult
		r.json(t, &res)
		if res.Status != contracts.StatusTimeout || res.Error == "" {
			t.Fatalf("got %+v; want status timeout with an error", res)
		}
		if el := time.Since(start); el > 20*time.Second {
			t.Errorf("timeout took %s; the 2s deadline was not honoured", el)
		}
	})
}

func testDenied(t *testing.T, s *stack) {
	tests := []struct {
		argv   []string
		reason string
	}{
		{[]string{"delete", "pod", "x"}, "verb_not_allowed"},
		{[]string{"get", "secrets", "-A"}, "restricted_resource"},
		{[]string{"get", "pods,secret"}, "restricted_resource"},
		{[]string{"get", "pods/x,secret/y"}, "bad_resource_argument"},
		{[]string{"get", "pods", "-w"}, "unbounded_command"},
		{[]string{"logs", "x", "-f"}, "unbounded_command"},
		{[]string{"get", "pods", "--token=abc"}, "credential_flag"},
		{[]string{"get", "pods", "--as", "system:admin"}, "credential_flag"},
		{[]string{"get", "pods", "--raw", "/"}, "flag_not_allowed"},
		{[]string{"get", "-f", "x.yaml"}, "file_input"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.argv, " "), func(t *testing.T) {
			r, _ := s.exec(t, live, tt.argv...)
			if r.status != http.StatusForbidden {
				t.Fatalf("status %d %s; want 403", r.status, r.body)
			}
			e := r.apiError(t)
			if e.Code != contracts.CodeCommandDenied || e.Reason != tt.reason {
				t.Errorf("got %s/%s; want command_denied/%s", e.Code, e.Reason, tt.reason)
			}
		})
	}
}

func testRoutingErrors(t *testing.T, s *stack) {
	tests := []struct {
		name    string
		cluster string
		status  int
		code    contracts.ErrorCode
	}{
		{"unknown cluster", "no-such-cluster", http.StatusNotFound, contracts.CodeUnknownCluster},
		{"executor not connected", offline, http.StatusServiceUnavailable, contracts.CodeExecutorUnavailable},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			start := time.Now()
			r, _ := s.exec(t, tt.cluster, "get", "pods")
			if r.status != tt.status || r.apiError(t).Code != tt.code {
				t.Fatalf("got %d %s; want %d %s", r.status, r.body, tt.status, tt.code)
			}
			// Fail fast: far below the 30 s default command timeout.
			if el := time.Since(start); el > 10*time.Second {
				t.Errorf("took %s; want an immediate answer", el)
			}
		})
	}
}

func testSessions(t *testing.T, s *stack) {
	ctx := context.Background()
	r := s.do(t, http.MethodPost, "/v1/sessions", aliceKey, map[string]any{"cluster_id": live, "ttl_seconds": 120})
	if r.status != http.StatusCreated {
		t.Fatalf("create = %d %s", r.status, r.body)
	}
	var sess contracts.Session
	r.json(t, &sess)
	if sess.State != contracts.SessionActive || sess.Owner != "alice" || sess.TTLSeconds != 120 || sess.Cluster != live {
		t.Fatalf("created %+v", sess)
	}
	if got := sess.ExpiresAt.Sub(sess.CreatedAt); got != 120*time.Second {
		t.Errorf("expires_at - created_at = %s; want 2m", got)
	}
	path := "/v1/sessions/" + sess.ID

	t.Run("get", func(t *testing.T) {
		var got contracts.Session
		r := s.do(t, http.MethodGet, path, aliceKey, nil)
		r.json(t, &got)
		if r.status != http.StatusOK || got.State != contracts.SessionActive {
			t.Fatalf("get = %d %+v", r.status, got)
		}
	})
	t.Run("other identity cannot see it", func(t *testing.T) {
		r := s.do(t, http.MethodGet, path, bobKey, nil)
		if r.status != http.StatusNotFound || r.apiError(t).Code != contracts.CodeSessionNotFound {
			t.Fatalf("bob get = %d %s; want 404 session_not_found", r.status, r.body)
		}
		r = s.do(t, http.MethodPost, "/v1/execute", bobKey, map[string]any{"cluster_id": live, "session_id": sess.ID, "argv": []string{"get", "pods"}})
		if r.status != http.StatusNotFound {
			t.Fatalf("bob execute in alice's session = %d %s; want 404", r.status, r.body)
		}
	})
	t.Run("keepalive extends", func(t *testing.T) {
		time.Sleep(1100 * time.Millisecond)
		var got contracts.Session
		r := s.do(t, http.MethodPost, path+"/keepalive", aliceKey, map[string]any{"ttl_seconds": 300})
		r.json(t, &got)
		if r.status != http.StatusOK || got.TTLSeconds != 300 || !got.ExpiresAt.After(sess.ExpiresAt) {
			t.Fatalf("keepalive = %d %+v; want ttl 300 and a later expires_at than %s", r.status, got, sess.ExpiresAt)
		}
	})
	t.Run("execute in session", func(t *testing.T) {
		r := s.do(t, http.MethodPost, "/v1/execute", aliceKey, map[string]any{"cluster_id": live, "session_id": sess.ID, "argv": []string{"get", "ns"}})
		var res contracts.CommandResult
		r.json(t, &res)
		if r.status != http.StatusOK || res.Status != contracts.StatusSuccess || res.SessionID != sess.ID {
			t.Fatalf("execute = %d %+v", r.status, res)
		}
	})
	t.Run("session of another cluster", func(t *testing.T) {
		r := s.do(t, http.MethodPost, "/v1/execute", aliceKey, map[string]any{"cluster_id": slow, "session_id": sess.ID, "argv": []string{"get", "ns"}})
		if r.status != http.StatusConflict || r.apiError(t).Code != contracts.CodeSessionMismatch {
			t.Fatalf("got %d %s; want 409 session_cluster_mismatch", r.status, r.body)
		}
	})
	t.Run("list", func(t *testing.T) {
		var list contracts.SessionList
		r := s.do(t, http.MethodGet, "/v1/sessions?cluster_id="+live, aliceKey, nil)
		r.json(t, &list)
		found := false
		for _, x := range list.Sessions {
			found = found || x.ID == sess.ID
		}
		if !found {
			t.Fatalf("session not listed: %s", r.body)
		}
		r = s.do(t, http.MethodGet, "/v1/sessions?cluster_id="+live, bobKey, nil)
		r.json(t, &list)
		for _, x := range list.Sessions {
			if x.ID == sess.ID {
				t.Fatalf("bob sees alice's session")
			}
		}
	})
	t.Run("end", func(t *testing.T) {
		var got contracts.Session
		r := s.do(t, http.MethodDelete, path, aliceKey, nil)
		r.json(t, &got)
		if r.status != http.StatusOK || got.State != contracts.SessionEnded {
			t.Fatalf("end = %d %+v", r.status, got)
		}
		r = s.do(t, http.MethodGet, path, aliceKey, nil)
		r.json(t, &got)
		if got.State != contracts.SessionEnded {
			t.Fatalf("after end, get = %+v; want ended", got)
		}
		r = s.do(t, http.MethodPost, "/v1/execute", aliceKey, map[string]any{"cluster_id": live, "session_id": sess.ID, "argv": []string{"get", "ns"}})
		if r.status != http.StatusGone || r.apiError(t).Code != contracts.CodeSessionEnded {
			t.Fatalf("execute in ended session = %d %s; want 410 session_ended", r.status, r.body)
		}
		r = s.do(t, http.MethodPost, path+"/keepalive", aliceKey, nil)
		if r.status != http.StatusGone {
			t.Fatalf("keepalive of ended session = %d %s; want 410", r.status, r.body)
		}
	})
	t.Run("expired", func(t *testing.T) {
		// The API's minimum TTL is a minute; write a short one straight
		// into the store to watch it expire.
		now := time.Now().UTC()
		short := contracts.Session{ID: contracts.NewID(), Cluster: live, Owner: "alice", State: contracts.SessionActive,
			CreatedAt: now, ExpiresAt: now.Add(time.Second), TTLSeconds: 1}
		if err := s.store.CreateSession(ctx, short, time.Second); err != nil {
			t.Fatal(err)
		}
		testkit.CheckFor(t, 10*time.Second, 200*time.Millisecond, func() error {
			var got contracts.Session
			r := s.do(t, http.MethodGet, "/v1/sessions/"+short.ID, aliceKey, nil)
			r.json(t, &got)
			if got.State != contracts.SessionExpired {
				return fmt.Errorf("state %s", got.State)
			}
			return nil
		})
		r := s.do(t, http.MethodPost, "/v1/execute", aliceKey, map[string]any{"cluster_id": live, "session_id": short.ID, "argv": []string{"get", "ns"}})
		if r.status != http.StatusGone || r.apiError(t).Code != contracts.CodeSessionExpired {
			t.Fatalf("execute in expired session = %d %s; want 410 session_expired", r.status, r.body)
		}
	})
	t.Run("errors", func(t *testing.T) {
		tests := []struct {
			name, method, path string
			body               any
			status             int
			code               contracts.ErrorCode
		}{
			{"unknown cluster", http.MethodPost, "/v1/sessions", map[string]any{"cluster_id": "nope"}, 404, contracts.CodeUnknownCluster},
			{"ttl too short", http.MethodPost, "/v1/sessions", map[string]any{"cluster_id": live, "ttl_seconds": 5}, 400, contracts.CodeInvalidTTL},
			{"ttl too long", http.MethodPost, "/v1/sessions", map[string]any{"cluster_id": live, "ttl_seconds": 90000}, 400, contracts.CodeInvalidTTL},
			{"bad cluster id", http.MethodPost, "/v1/sessions", map[string]any{"cluster_id": "Bad_ID"}, 400, contracts.CodeInvalidID},
			{"unknown session", http.MethodGet, "/v1/sessions/" + contracts.NewID(), nil, 404, contracts.CodeSessionNotFound},
			{"bad session id", http.MethodGet, "/v1/sessions/NOT_AN_ID", nil, 400, contracts.CodeInvalidID},
			{"list without cluster", http.MethodGet, "/v1/sessions", nil, 400, contracts.CodeInvalidID},
			{"unknown session in execute", http.MethodPost, "/v1/execute", map[string]any{"cluster_id": live, "session_id": contracts.NewID(), "argv": []string{"get", "ns"}}, 404, contracts.CodeSessionNotFound},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				r := s.do(t, tt.method, tt.path, aliceKey, tt.body)
				if r.status != tt.status || r.apiError(t).Code != tt.code {
					t.Fatalf("got %d %s; want %d %s", r.status, r.body, tt.status, tt.code)
				}
			})
		}
	})
}
