package stack_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"kubently.io/libs/contracts"
	"kubently.io/tests/stack"

	"kubently.io/libs/testkit"
	gatewayapp "kubently.io/services/gateway/app"
)

const (
	adminKey = "admin-key-0123456789abcdef"
	token    = "fake-exec-token-0123456789"
)

// fakeExecutor serves cluster's executor stream over HTTP as the executor
// does, answering every command with output naming it, so the whole NATS
// path runs without a Kubernetes API server.
func fakeExecutor(t *testing.T, ctx context.Context, url, cluster string) {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url+"/v1/executor/stream", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set(contracts.HeaderClusterID, cluster)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("executor stream: %v", err)
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("executor stream: %d", resp.StatusCode)
	}
	go func() {
		defer func() { _ = resp.Body.Close() }()
		sc := bufio.NewScanner(resp.Body)
		sc.Buffer(make([]byte, 1<<20), 4<<20)
		event := ""
		for sc.Scan() {
			line := sc.Text()
			if name, ok := strings.CutPrefix(line, "event: "); ok {
				event = name
				continue
			}
			data, ok := strings.CutPrefix(line, "data: ")
			if !ok || event != "command" {
				continue
			}
			var cmd contracts.Command
			if json.Unmarshal([]byte(data), &cmd) != nil {
				continue
			}
			b, _ := json.Marshal(contracts.ExecutorResult{CommandID: cmd.ID, Outcome: contracts.Outcome{Status: contracts.StatusSuccess,
				Output: "output of " + strings.Join(cmd.Argv, " ")}, ExecutedAt: time.Now(), ExecutorID: "fake-exec", Deadline: cmd.Deadline})
			preq, _ := http.NewRequestWithContext(ctx, http.MethodPost, url+"/v1/executor/results", bytes.NewReader(b))
			preq.Header.Set(contracts.HeaderClusterID, cluster)
			preq.Header.Set("Authorization", "Bearer "+token)
			preq.Header.Set("Content-Type", "application/json")
			if presp, err := http.DefaultClient.Do(preq); err == nil {
				_ = presp.Body.Close()
			}
		}
	}()
}

// TestPermissionModel runs the stack's flows with every service on its
// own NATS user (natstest fails the test on any permission violation):
// commands and their results, sessions, the audit log, token revocation,
// on both stores.
func TestPermissionModel(t *testing.T) {
	for _, js := range []bool{true, false} {
		name := "redis"
		if js {
			name = "jetstream"
		}
		t.Run(name, func(t *testing.T) {
			s := stack.Start(t, stack.Config{
				JetStream: js,
				Clusters:  []stack.Cluster{{ID: "c1", Token: token}},
				Gateway:   func(c *gatewayapp.Config) { c.APIKeys = append(c.APIKeys, "root:admin:"+adminKey) },
			})
			ctx, cancel := context.WithCancel(context.Background())
			t.Cleanup(cancel)
			fakeExecutor(t, ctx, s.URL, "c1")

			var sess contracts.Session
			r := s.Do(t, http.MethodPost, "/v1/sessions", stack.AliceKey, map[string]any{"cluster_id": "c1"})
			if r.Status != http.StatusCreated && r.Status != http.StatusOK {
				t.Fatalf("create session: %d %s", r.Status, r.Body)
			}
			if err := json.Unmarshal(r.Body, &sess); err != nil {
				t.Fatal(err)
			}
			if r := s.Do(t, http.MethodGet, "/v1/sessions/"+sess.ID, stack.AliceKey, nil); r.Status != http.StatusOK {
				t.Fatalf("get session: %d %s", r.Status, r.Body)
			}

			testkit.CheckFor(t, 60*time.Second, 200*time.Millisecond, func() error {
				_, _, err := s.Execute(stack.AliceKey, "c1", "get", "pods")
				return err
			})
			r, res := s.Exec(t, stack.AliceKey, "c1", "get", "pods", "-n", "shop")
			if r.Status != http.StatusOK || res.Output != "output of get pods -n shop" {
				t.Fatalf("execute: %d %s", r.Status, r.Body)
			}
			if r, _ := s.Exec(t, stack.AliceKey, "c1", "delete", "pods", "x"); r.Status != http.StatusForbidden {
				t.Fatalf("denied command: %d %s", r.Status, r.Body)
			}

			if r := s.Do(t, http.MethodDelete, "/v1/sessions/"+sess.ID, stack.AliceKey, nil); r.Status != http.StatusOK {
				t.Fatalf("end session: %d %s", r.Status, r.Body)
			}
			testkit.CheckFor(t, 30*time.Second, 200*time.Millisecond, func() error {
				r := s.Do(t, http.MethodGet, "/v1/audit?cluster=c1", adminKey, nil)
				if r.Status != http.StatusOK || !bytes.Contains(r.Body, []byte("command_executed")) || !bytes.Contains(r.Body, []byte("session_created")) {
					return &httpError{r}
				}
				return nil
			})
			if r := s.Do(t, http.MethodPost, "/v1/clusters/c1/token/rotate", adminKey, nil); r.Status != http.StatusOK && r.Status != http.StatusCreated {
				t.Fatalf("rotate: %d %s", r.Status, r.Body)
			}
		})
	}
}

type httpError struct{ r stack.Response }

func (e *httpError) Error() string { return string(e.r.Body) }
