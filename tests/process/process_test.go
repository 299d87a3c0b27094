// Package process runs Kubently's real binaries as separate processes —
// gateway, session, dispatcher and executor, configured only through their
// environment as in production — against a real NATS server, a real
// redis-server and the real kube-apiserver.
package process

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"kubently.io/libs/contracts"
	"kubently.io/libs/natsutil"
	"kubently.io/libs/natsutil/natstest"
	"kubently.io/libs/redistest"
	"kubently.io/libs/testbed"
	"kubently.io/libs/testkit"
)

const (
	apiKey = "ops-key-0123456789abcdef"
	token  = "proc-token-0123456789abcdef"
	// metricsToken guards the gateway's /metrics.
	metricsToken = "metrics-token-0123456789abcdef"
)

// build compiles the service binaries into a temp dir.
func build(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	if err := testkit.Build(dir, "", testkit.ServiceCommands...); err != nil {
		t.Fatal(err)
	}
	return dir
}

// start runs the binary name from bin with env on top of PATH, a fresh
// HOME and debug JSON logs.
func start(t *testing.T, bin, name string, env ...string) *testkit.Proc {
	t.Helper()
	return testkit.StartProc(t, testkit.ProcConfig{Name: name, Path: filepath.Join(bin, name), TailLines: 60,
		Env: append([]string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir(), "KUBENTLY_LOG_LEVEL=debug", "KUBENTLY_LOG_FORMAT=json"}, env...)})
}

func post(url string, body any) (int, []byte, error) {
	b, _ := json.Marshal(body)
	req, _ := http.NewRequest(http.MethodPost, url, bytes.NewReader(b))
	req.Header.Set(contracts.HeaderAPIKey, apiKey)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer func() { _ = resp.Body.Close() }()
	raw, err := io.ReadAll(resp.Body)
	return resp.StatusCode, raw, err
}

func TestBinaries(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the real binaries")
	}
	kubeconfig := testbed.Kubeconfig(t)
	bin := build(t)
	ns := natstest.RunServer(t)
	redis := redistest.Start(t)
	common := []string{"KUBENTLY_NATS_URL=" + ns.ClientURL(), "KUBENTLY_REDIS_URL=" + redis.URL()}

	gwAddr, dispOps, gwOps := testkit.FreeAddr(t), testkit.FreeAddr(t), testkit.FreeAddr(t)
	// Each process connects as its own NATS user (natstest's permission model).
	start(t, bin, "session", append(common, natstest.Env(natsutil.RoleSession)...)...)
	start(t, bin, "dispatcher", append(append(common, natstest.Env(natsutil.RoleDispatcher)...), "KUBENTLY_OPS_ADDR="+dispOps)...)
	gw := start(t, bin, "gateway", append(append(common, natstest.Env(natsutil.RoleGateway)...), "KUBENTLY_GATEWAY_ADDR="+gwAddr, "KUBENTLY_OPS_ADDR="+gwOps, "KUBENTLY_METRICS_TOKEN="+metricsToken,
		"KUBENTLY_API_KEYS=ops:"+apiKey, "KUBENTLY_AGENT_TOKENS=proc-1:"+token, "KUBENTLY_SSE_HEARTBEAT=1s")...)
	url := "http://" + gwAddr
	testkit.CheckFor(t, 20*time.Second, 100*time.Millisecond, func() error { return testkit.Ready(url) })
	start(t, bin, "executor", "KUBENTLY_API_URL="+url, "CLUSTER_ID=proc-1", "KUBENTLY_TOKEN="+token, "KUBENTLY_KUBECONFIG="+kubeconfig)

	var res contracts.CommandResult
	testkit.CheckFor(t, 30*time.Second, 200*time.Millisecond, func() error {
		code, body, err := post(url+"/v1/execute", map[string]any{"cluster_id": "proc-1", "argv": []string{"get", "nodes"}})
		if err != nil {
			return err
		}
		if code != http.StatusOK {
			return fmt.Errorf("%d %s", code, body)
		}
		return json.Unmarshal(body, &res)
	})
	if res.Status != contracts.StatusSuccess || !strings.Contains(res.Output, "kwok-node-0") {
		t.Fatalf("get nodes through the binaries: %+v", res)
	}

	t.Run("dispatcher ops endpoint", func(t *testing.T) {
		resp, err := http.Get("http://" + dispOps + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		defer func() { _ = resp.Body.Close() }()
		b, _ := io.ReadAll(resp.Body)
		if !strings.Contains(string(b), `kubently_dispatcher_commands_total{cluster="proc-1",code="",status="success"}`) {
			t.Errorf("dispatcher metrics lack the success counter:\n%s", testkit.Tail(string(b), 20))
		}
	})

	t.Run("gateway metrics on the ops address only, behind the token", func(t *testing.T) {
		get := func(u, token string) (int, string) {
			t.Helper()
			req, _ := http.NewRequest(http.MethodGet, u, nil)
			if token != "" {
				req.Header.Set("Authorization", "Bearer "+token)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer func() { _ = resp.Body.Close() }()
			b, _ := io.ReadAll(resp.Body)
			return resp.StatusCode, string(b)
		}
		if code, _ := get(url+"/metrics", metricsToken); code != http.StatusNotFound {
			t.Errorf("GET /metrics on the client port = %d; want 404", code)
		}
		if code, _ := get("http://"+gwOps+"/metrics", ""); code != http.StatusUnauthorized {
			t.Errorf("GET /metrics on the ops port without the token = %d; want 401", code)
		}
		if code, body := get("http://"+gwOps+"/metrics", metricsToken); code != http.StatusOK || !strings.Contains(body, "kubently_gateway_http_request_duration_seconds") {
			t.Errorf("GET /metrics on the ops port with the token = %d; want 200 with the gateway's metrics", code)
		}
	})

	t.Run("bad config exits non-zero with a clear message", func(t *testing.T) {
		tests := []struct {
			name string
			env  []string
			want string
		}{
			{"gateway", []string{"KUBENTLY_NATS_URL=nats://127.0.0.1:1", "KUBENTLY_API_KEYS=short:key"}, "KUBENTLY_API_KEYS"},
			{"gateway", []string{"KUBENTLY_SSE_HEARTBEAT=forever"}, "KUBENTLY_SSE_HEARTBEAT"},
			{"dispatcher", []string{"KUBENTLY_REDIS_URL=http://x"}, "KUBENTLY_REDIS_URL"},
			{"executor", []string{"CLUSTER_ID=proc-1"}, "KUBENTLY_API_URL is required"},
			{"session", []string{"KUBENTLY_LOG_LEVEL=loud"}, "KUBENTLY_LOG_LEVEL"},
		}
		for _, tt := range tests {
			cmd := exec.Command(filepath.Join(bin, tt.name))
			cmd.Env = append([]string{"PATH=" + os.Getenv("PATH")}, tt.env...)
			out, err := cmd.CombinedOutput()
			var ee *exec.ExitError
			if err == nil || !errors.As(err, &ee) || ee.ExitCode() == 0 {
				t.Errorf("%s %v: exit %v; want non-zero", tt.name, tt.env, err)
			}
			if !strings.Contains(string(out), tt.want) {
				t.Errorf("%s %v: output %q does not name %s", tt.name, tt.env, out, tt.want)
			}
		}
	})

	t.Run("executor with a wrong token stops", func(t *testing.T) {
		cmd := exec.Command(filepath.Join(bin, "executor"))
		cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "KUBENTLY_API_URL=" + url, "CLUSTER_ID=proc-1",
			"KUBENTLY_TOKEN=wrong-token-0123456789", "KUBENTLY_KUBECONFIG=" + kubeconfig}
		done := make(chan error, 1)
		var out testkit.SyncBuffer
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		go func() { done <- cmd.Wait() }()
		select {
		case err := <-done:
			if err == nil || !strings.Contains(out.String(), "401") {
				t.Fatalf("exit %v, output %q; want a non-zero exit naming the 401", err, out.String())
			}
		case <-time.After(15 * time.Second):
			_ = cmd.Process.Kill()
			t.Fatal("executor kept retrying with a rejected token")
		}
	})

	t.Run("tokens and keys never logged", func(t *testing.T) {
		if strings.Contains(gw.Out.String(), token) || strings.Contains(gw.Out.String(), apiKey) || strings.Contains(gw.Out.String(), metricsToken) {
			t.Errorf("gateway output contains a secret")
		}
	})
}
