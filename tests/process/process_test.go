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
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"kubently.io/libs/contracts"
	"kubently.io/libs/natsutil/natstest"
	"kubently.io/libs/redistest"
	"kubently.io/libs/testbed"
	"kubently.io/tests/stack"
)

const (
	apiKey = "ops-key-0123456789abcdef"
	token  = "proc-token-0123456789abcdef"
)

// build compiles the service binaries once into a temp dir.
func build(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	for _, pkg := range []string{
		"kubently.io/services/gateway/cmd/gateway",
		"kubently.io/services/session/cmd/session",
		"kubently.io/services/dispatcher/cmd/dispatcher",
		"kubently.io/services/executor/cmd/executor",
	} {
		out, err := exec.Command("go", "build", "-o", dir+"/", pkg).CombinedOutput()
		if err != nil {
			t.Fatalf("go build %s: %v\n%s", pkg, err, out)
		}
	}
	return dir
}

type proc struct {
	name string
	cmd  *exec.Cmd
	out  *stack.SyncBuffer
}

func start(t *testing.T, bin, name string, env ...string) *proc {
	t.Helper()
	p := &proc{name: name, out: &stack.SyncBuffer{}}
	p.cmd = exec.Command(filepath.Join(bin, name))
	p.cmd.Env = append([]string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir(), "KUBENTLY_LOG_LEVEL=debug", "KUBENTLY_LOG_FORMAT=json"}, env...)
	p.cmd.Stdout, p.cmd.Stderr = p.out, p.out
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	t.Cleanup(func() {
		_ = p.cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() { _ = p.cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(15 * time.Second):
			_ = p.cmd.Process.Kill()
			t.Errorf("%s did not stop within 15s of SIGTERM", name)
		}
		if t.Failed() {
			t.Logf("--- %s output:\n%s", name, stack.Tail(p.out.String(), 60))
		}
	})
	return p
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = ln.Close() }()
	return ln.Addr().String()
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

	gwAddr, dispOps := freeAddr(t), freeAddr(t)
	start(t, bin, "session", common...)
	start(t, bin, "dispatcher", append(common, "KUBENTLY_OPS_ADDR="+dispOps)...)
	gw := start(t, bin, "gateway", append(common, "KUBENTLY_GATEWAY_ADDR="+gwAddr,
		"KUBENTLY_API_KEYS=ops:"+apiKey, "KUBENTLY_AGENT_TOKENS=proc-1:"+token, "KUBENTLY_SSE_HEARTBEAT=1s")...)
	url := "http://" + gwAddr
	stack.CheckFor(t, 20*time.Second, 100*time.Millisecond, func() error {
		resp, err := http.Get(url + "/readyz")
		if err != nil {
			return err
		}
		_ = resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("readyz %d", resp.StatusCode)
		}
		return nil
	})
	start(t, bin, "executor", "KUBENTLY_API_URL="+url, "CLUSTER_ID=proc-1", "KUBENTLY_TOKEN="+token, "KUBENTLY_KUBECONFIG="+kubeconfig)

	var res contracts.CommandResult
	stack.CheckFor(t, 30*time.Second, 200*time.Millisecond, func() error {
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
			t.Errorf("dispatcher metrics lack the success counter:\n%s", stack.Tail(string(b), 20))
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
		var out stack.SyncBuffer
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
		if strings.Contains(gw.out.String(), token) || strings.Contains(gw.out.String(), apiKey) {
			t.Errorf("gateway output contains a secret")
		}
	})
}
