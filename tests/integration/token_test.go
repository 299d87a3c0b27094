package integration

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"testing"
	"time"

	"k8s.io/client-go/rest"

	"kubently.io/libs/contracts"
	"kubently.io/libs/logging"
	"kubently.io/libs/testbed"
	"kubently.io/libs/testkit"
	executorapp "kubently.io/services/executor/app"
	gatewayapp "kubently.io/services/gateway/app"
	kstack "kubently.io/tests/stack"
)

const (
	tokAdminKey = "tok-admin-key-0123456789abcdef"
	// Clusters of the token tests: revoked, rotated and created through
	// the API; registered (the first two) from KUBENTLY_AGENT_TOKENS.
	tokRevoke      = "tok-revoke"
	tokRotate      = "tok-rotate"
	tokCreate      = "tok-create"
	tokRevokeToken = "tok-revoke-token-0123456789"
	tokRotateToken = "tok-rotate-token-0123456789"
)

// tokenStack is a stack with an admin key and a second gateway replica
// ("gw-b") on the same NATS server and store; the clusters have no
// executor until the test starts one against a replica of its choice.
type tokenStack struct {
	*kstack.Stack
	urlB string
	rc   *rest.Config
}

func startTokenStack(t *testing.T, jetStream bool) *tokenStack {
	t.Helper()
	rc, err := executorapp.RESTConfig(executorapp.Config{Kubeconfig: testbed.Kubeconfig(t)})
	if err != nil {
		t.Fatalf("kubeconfig: %v", err)
	}
	s := kstack.Start(t, kstack.Config{
		JetStream: jetStream,
		Clusters:  []kstack.Cluster{{ID: tokRevoke, Token: tokRevokeToken}, {ID: tokRotate, Token: tokRotateToken}},
		Gateway: func(c *gatewayapp.Config) {
			c.APIKeys = append(c.APIKeys, "adm:admin:"+tokAdminKey)
		},
	})
	return &tokenStack{Stack: s, urlB: s.StartGateway(t, "gw-b"), rc: rc}
}

// startExecutor runs an executor for cluster against the gateway at url;
// the returned channel receives RunWith's error when it stops.
func (s *tokenStack) startExecutor(t *testing.T, url, cluster, token string) <-chan error {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	cfg := executorapp.Config{APIURL: url, Cluster: cluster, Token: token, Workers: 2, Queue: 4,
		MaxOutputBytes: 256 << 10, ExecutorID: cluster + "-exec", KubeQPS: 100, KubeBurst: 100}
	log := logging.New(logging.Config{Level: "debug", Format: "json", Output: s.Logs}).With("service", "executor", "cluster", cluster)
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		done <- executorapp.RunWith(ctx, cfg, s.rc, log)
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case <-stopped:
		case <-time.After(10 * time.Second):
			t.Errorf("executor of %s did not stop", cluster)
		}
	})
	return done
}

// waitConnected waits until cluster has a stream on gateway replica gw
// (or none at all, when gw is "").
func (s *tokenStack) waitConnected(t *testing.T, cluster, gw string, total time.Duration) {
	t.Helper()
	testkit.CheckFor(t, total, 20*time.Millisecond, func() error {
		conns, err := s.Store.Connected(context.Background(), cluster)
		if err != nil {
			return err
		}
		if gw == "" {
			if len(conns) != 0 {
				return fmt.Errorf("%s still has %d streams", cluster, len(conns))
			}
			return nil
		}
		for _, c := range conns {
			if c.Gateway == gw {
				return nil
			}
		}
		return fmt.Errorf("%s not connected to %s (streams: %+v)", cluster, gw, conns)
	})
}

// streamStatus opens an executor stream on url and returns its status.
func streamStatus(t *testing.T, url, cluster, token string) int {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url+"/v1/executor/stream", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set(contracts.HeaderClusterID, cluster)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_ = res.Body.Close()
	return res.StatusCode
}

// stopsUnauthorized waits for an executor to give up after a 401.
func stopsUnauthorized(t *testing.T, done <-chan error, within time.Duration) {
	t.Helper()
	select {
	case err := <-done:
		if err == nil {
			t.Fatal("executor stopped without an error; want the 401 rejection")
		}
	case <-time.After(within):
		t.Fatalf("executor still running %s after its token was revoked", within)
	}
}

func TestTokenLifecycleAcrossReplicas(t *testing.T) {
	for _, backend := range []struct {
		name      string
		jetStream bool
	}{{"redis", false}, {"jetstream", true}} {
		t.Run(backend.name, func(t *testing.T) {
			s := startTokenStack(t, backend.jetStream)

			t.Run("RevokeClosesStreamOnOtherReplica", func(t *testing.T) {
				done := s.startExecutor(t, s.urlB, tokRevoke, tokRevokeToken)
				s.waitConnected(t, tokRevoke, "gw-b", 20*time.Second)

				r := s.Do(t, http.MethodDelete, "/v1/clusters/"+tokRevoke+"/token", tokAdminKey, nil) // replica A
				if r.Status != http.StatusOK {
					t.Fatalf("revoke = %d %s; want 200", r.Status, r.Body)
				}
				start := time.Now()
				s.waitConnected(t, tokRevoke, "", 2*time.Second)
				t.Logf("stream on gw-b closed %s after the revoke on gw-test", time.Since(start).Round(time.Millisecond))
				stopsUnauthorized(t, done, 15*time.Second)
				if got := streamStatus(t, s.urlB, tokRevoke, tokRevokeToken); got != http.StatusUnauthorized {
					t.Errorf("stream with the revoked token = %d; want 401", got)
				}
				execStart := time.Now()
				r, _ = s.Exec(t, aliceKey, tokRevoke, "get", "ns")
				if r.Status != http.StatusServiceUnavailable {
					t.Fatalf("exec on a revoked cluster = %d %s; want 503", r.Status, r.Body)
				}
				var e contracts.Error
				if err := json.Unmarshal(r.Body, &e); err != nil || e.Code != contracts.CodeExecutorUnavailable {
					t.Errorf("exec on a revoked cluster: %s; want executor_unavailable", r.Body)
				}
				// Fast: well below the 30 s default command timeout.
				if d := time.Since(execStart); d > contracts.DefaultTimeout/2 {
					t.Errorf("exec on a revoked cluster took %s; want a fast failure", d)
				}
			})

			t.Run("RotateOldTokenRefusedNewWorks", func(t *testing.T) {
				done := s.startExecutor(t, s.urlB, tokRotate, tokRotateToken)
				s.waitConnected(t, tokRotate, "gw-b", 20*time.Second)
				r := s.Do(t, http.MethodPost, "/v1/clusters/"+tokRotate+"/token/rotate", tokAdminKey, nil)
				if r.Status != http.StatusOK {
					t.Fatalf("rotate = %d %s; want 200", r.Status, r.Body)
				}
				var tok contracts.ClusterToken
				if err := json.Unmarshal(r.Body, &tok); err != nil || tok.Token == "" || tok.Cluster != tokRotate {
					t.Fatalf("rotate answer %s; want cluster_id and token", r.Body)
				}
				s.waitConnected(t, tokRotate, "", 2*time.Second)
				stopsUnauthorized(t, done, 15*time.Second)
				for _, url := range []string{s.URL, s.urlB} {
					if got := streamStatus(t, url, tokRotate, tokRotateToken); got != http.StatusUnauthorized {
						t.Errorf("old token on %s = %d; want 401", url, got)
					}
				}
				s.startExecutor(t, s.urlB, tokRotate, tok.Token)
				s.waitConnected(t, tokRotate, "gw-b", 20*time.Second)
				r, res := s.Exec(t, aliceKey, tokRotate, "get", "ns")
				if r.Status != http.StatusOK || res.Status != contracts.StatusSuccess {
					t.Errorf("exec with the rotated-in executor = %d %s; want 200 success", r.Status, r.Body)
				}
			})

			t.Run("CreateNewCluster", func(t *testing.T) {
				r := s.Do(t, http.MethodPost, "/v1/clusters/"+tokCreate+"/token", tokAdminKey, nil)
				if r.Status != http.StatusCreated {
					t.Fatalf("create = %d %s; want 201", r.Status, r.Body)
				}
				var tok contracts.ClusterToken
				if err := json.Unmarshal(r.Body, &tok); err != nil || tok.Token == "" {
					t.Fatalf("create answer %s", r.Body)
				}
				if r := s.Do(t, http.MethodPost, "/v1/clusters/"+tokCreate+"/token", tokAdminKey, nil); r.Status != http.StatusConflict {
					t.Errorf("second create = %d; want 409", r.Status)
				}
				if r := s.Do(t, http.MethodPost, "/v1/clusters/tok-other/token", aliceKey, nil); r.Status != http.StatusForbidden {
					t.Errorf("create by an operator = %d; want 403", r.Status)
				}
				s.startExecutor(t, s.urlB, tokCreate, tok.Token)
				s.waitConnected(t, tokCreate, "gw-b", 20*time.Second)
				r, res := s.Exec(t, aliceKey, tokCreate, "get", "ns")
				if r.Status != http.StatusOK || res.Status != contracts.StatusSuccess {
					t.Errorf("exec on the created cluster = %d %s; want 200 success", r.Status, r.Body)
				}
			})

			t.Run("RestartDoesNotResurrectEnvToken", func(t *testing.T) {
				// A new replica with the same KUBENTLY_AGENT_TOKENS must not
				// bring back the revoked or the rotated-out token.
				urlC := s.StartGateway(t, "gw-c")
				for _, c := range []struct{ cluster, token string }{{tokRevoke, tokRevokeToken}, {tokRotate, tokRotateToken}} {
					if got := streamStatus(t, urlC, c.cluster, c.token); got != http.StatusUnauthorized {
						t.Errorf("env token of %s after a replica start = %d; want 401", c.cluster, got)
					}
				}
			})
		})
	}
}
