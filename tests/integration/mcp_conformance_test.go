package integration

import (
	"context"
	"encoding/json"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"kubently.io/libs/contracts"
	kstack "kubently.io/tests/stack"
)

// EnvMCPClients names the directory hack/mcp/install.sh prints: the pinned
// MCP conformance suite and MCP Inspector CLI (node_modules/.bin). hack/test.sh
// sets it; without it the external-client tests skip.
const EnvMCPClients = "KUBENTLY_MCP_CLIENTS"

// mcpClients returns the .bin directory of the external MCP clients, or
// skips the test.
func mcpClients(t *testing.T) string {
	t.Helper()
	dir := os.Getenv(EnvMCPClients)
	if dir == "" {
		t.Skipf("%s is not set: run with %s=$(hack/mcp/install.sh) (hack/test.sh does)", EnvMCPClients, EnvMCPClients)
	}
	bin := filepath.Join(dir, "node_modules", ".bin")
	if _, err := os.Stat(filepath.Join(bin, "conformance")); err != nil {
		t.Fatalf("%s=%s: %v", EnvMCPClients, dir, err)
	}
	return bin
}

// keyProxy serves a reverse proxy to the gateway on a loopback port that
// adds key to every request, for clients that cannot send headers (the
// conformance suite). It keeps the client's Host header, so the gateway
// sees what the client sent.
func keyProxy(t *testing.T, gateway, key string) string {
	t.Helper()
	target, err := url.Parse(gateway)
	if err != nil {
		t.Fatal(err)
	}
	p := &httputil.ReverseProxy{Rewrite: func(r *httputil.ProxyRequest) {
		r.SetURL(target)
		r.Out.Host = r.In.Host
		r.Out.Header.Set(contracts.HeaderAPIKey, key)
	}, FlushInterval: -1}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: p, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	return "http://" + ln.Addr().String()
}

// conformanceScenarios are the server scenarios of the pinned suite that
// apply to Kubently. The others test features Kubently does not offer
// (docs/mcp.md lists them with the reasons): tools, prompts and resources
// with fixed names of the suite's reference server (test_simple_text,
// test_image_content, ...), completions, resources, sampling, elicitation,
// progress and logging notifications, and SSE streams tied to session ids
// (the endpoint is stateless: server-sse-polling and
// server-sse-multiple-streams only warn that there is no session id).
var conformanceScenarios = []string{
	"server-initialize", "ping", "tools-list", "prompts-list", "logging-set-level", "dns-rebinding-protection",
}

// TestMCPConformance runs the MCP conformance suite's applicable server
// scenarios against the gateway's /mcp, through a proxy that adds an API
// key (the suite sends no credentials).
func TestMCPConformance(t *testing.T) {
	bin := mcpClients(t)
	s := kstack.Start(t, kstack.Config{JetStream: true, LogLevel: "info",
		Clusters: []kstack.Cluster{{ID: offline, Token: otherToken}}})
	proxy := keyProxy(t, s.URL, aliceKey)
	for _, sc := range conformanceScenarios {
		t.Run(sc, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
			defer cancel()
			out := t.TempDir()
			cmd := exec.CommandContext(ctx, filepath.Join(bin, "conformance"), "server",
				"--url", proxy+"/mcp", "--scenario", sc, "--output-dir", out)
			cmd.Dir = out
			b, err := cmd.CombinedOutput()
			if err != nil {
				t.Fatalf("conformance %s: %v\n%s", sc, err, b)
			}
			checks := readChecks(t, out)
			if len(checks) == 0 {
				t.Fatalf("conformance %s ran no checks:\n%s", sc, b)
			}
			passed := 0
			for _, c := range checks {
				switch c.Status {
				case "SUCCESS":
					passed++
				case "FAILURE", "WARNING":
					t.Errorf("%s: %s: %s %s", sc, c.ID, c.Status, c.ErrorMessage)
				}
			}
			if passed == 0 {
				t.Errorf("conformance %s: no check passed:\n%s", sc, b)
			}
			t.Logf("%s: %d checks passed", sc, passed)
		})
	}
}

// check is one result in the suite's checks.json.
type check struct {
	ID           string `json:"id"`
	Status       string `json:"status"`
	ErrorMessage string `json:"errorMessage"`
}

// readChecks reads every checks.json under dir.
func readChecks(t *testing.T, dir string) []check {
	t.Helper()
	var all []check
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || d.Name() != "checks.json" {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		var cs []check
		if err := json.Unmarshal(b, &cs); err != nil {
			return err
		}
		all = append(all, cs...)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return all
}

// TestMCPInspector lists the tools and calls one with the MCP Inspector
// CLI, a real external client, over Streamable HTTP with an API key header.
func TestMCPInspector(t *testing.T) {
	bin := mcpClients(t)
	s := kstack.Start(t, kstack.Config{JetStream: true, LogLevel: "info",
		Clusters: []kstack.Cluster{{ID: offline, Token: otherToken}}})
	inspect := func(args ...string) string {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		base := []string{"--cli", s.URL + "/mcp", "--transport", "http", "--header", contracts.HeaderAPIKey + ": " + aliceKey}
		cmd := exec.CommandContext(ctx, filepath.Join(bin, "mcp-inspector-cli"), append(base, args...)...)
		// inspector-cli finds its own package.json by testing a path
		// relative to the working directory and importing it relative to
		// its module: run it where both agree (<dir>/node_modules, whose
		// parent holds a package.json).
		cmd.Dir = filepath.Dir(bin)
		b, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("inspector %v: %v\n%s", args, err, b)
		}
		return string(b)
	}
	list := inspect("--method", "tools/list")
	for _, name := range []string{"clusters_list", "resources_list", "pods_log", "command_run"} {
		if !strings.Contains(list, `"name": "`+name+`"`) {
			t.Errorf("tools/list lacks %s:\n%s", name, list)
		}
	}
	got := inspect("--method", "tools/call", "--tool-name", "clusters_list")
	if !strings.Contains(got, offline) {
		t.Errorf("clusters_list: want %s in\n%s", offline, got)
	}
	// A tool error comes back as a result with isError, not a failure.
	got = inspect("--method", "tools/call", "--tool-name", "resources_list", "--tool-arg", "cluster="+offline, "--tool-arg", "kind=pods")
	if !strings.Contains(got, `"isError": true`) || !strings.Contains(got, "executor_unavailable") {
		t.Errorf("resources_list on an offline cluster: want isError with executor_unavailable in\n%s", got)
	}
}
