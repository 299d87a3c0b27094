package integration

import (
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"kubently.io/libs/contracts"
	"kubently.io/libs/testkit"
	gatewayapp "kubently.io/services/gateway/app"
	kstack "kubently.io/tests/stack"
)

// TestMCPRefusalsAreAudited needs no Kubernetes: over /mcp, a policy denial
// (dispatcher) and a scope refusal (gateway) are tool errors with their
// reasons, a bad key is 401, and both refusals are in the audit log with
// the tool's name.
func TestMCPRefusalsAreAudited(t *testing.T) {
	keyFile := filepath.Join(t.TempDir(), "keys.yaml")
	body := "apiVersion: kubently.io/v1\nkind: APIKeys\nkeys:\n" +
		"  - {name: ns-op, role: operator, key: " + accNSKey + ", scopes: [{clusters: ['offline-*'], namespaces: [kube-system]}]}\n"
	if err := os.WriteFile(keyFile, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	st := kstack.Start(t, kstack.Config{JetStream: true, LogLevel: "info",
		Clusters: []kstack.Cluster{{ID: offline, Token: otherToken}},
		Gateway: func(c *gatewayapp.Config) {
			c.APIKeys = append(c.APIKeys, "adm:admin:"+accAdminKey)
			c.APIKeysFile = keyFile
		}})
	s := &stack{Stack: st, url: st.URL, nc: st.Conn, store: st.Store, logs: st.Logs}

	cs := mcpHTTP(t, s.url, aliceKey)
	text, out, isErr, _ := toolCall(t, cs, "command_run", map[string]any{"cluster": offline, "argv": []string{"delete", "pod", "x", "-n", "demo"}})
	if !isErr || out.Code != string(contracts.CodeCommandDenied) || out.Reason != "verb_not_allowed" || out.Hint == "" {
		t.Errorf("delete: %q %+v; want isError command_denied/verb_not_allowed with a hint", text, out)
	}
	scoped := mcpHTTP(t, s.url, accNSKey)
	text, out, isErr, _ = toolCall(t, scoped, "resources_list", map[string]any{"cluster": offline, "kind": "pods", "namespace": "demo"})
	if !isErr || out.Code != string(contracts.CodeForbidden) || out.Reason != "namespace_out_of_scope" || out.Hint == "" {
		t.Errorf("scoped key on demo: %q %+v; want isError forbidden/namespace_out_of_scope with a hint", text, out)
	}
	initBody := `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"x","version":"1"}}}`
	for _, key := range []string{"", "wrong-key-0123456789abcdef"} {
		r := s.do(t, "POST", "/mcp", key, initBody, "Accept", "application/json, text/event-stream")
		if r.status != http.StatusUnauthorized || r.apiError(t).Code != contracts.CodeUnauthorized {
			t.Errorf("key %q: got %d %s; want 401 unauthorized", key, r.status, r.body)
		}
	}
	testkit.CheckFor(t, 20*time.Second, 200*time.Millisecond, func() error {
		return auditedTools(t, s, accAdminKey, "alice", nil, "command_run", "verb_not_allowed")
	})
	testkit.CheckFor(t, 20*time.Second, 200*time.Millisecond, func() error {
		return auditedTools(t, s, accAdminKey, "ns-op", nil, "resources_list", "namespace_out_of_scope")
	})
}
