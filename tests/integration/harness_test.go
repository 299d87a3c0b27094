package integration

import (
	"encoding/json"
	"net/http"
	"testing"

	"github.com/nats-io/nats.go"
	"k8s.io/client-go/rest"

	"kubently.io/libs/contracts"
	"kubently.io/libs/store"
	"kubently.io/libs/testbed"
	"kubently.io/libs/testkit"
	executorapp "kubently.io/services/executor/app"
	kstack "kubently.io/tests/stack"
)

// Credentials used by the stack.
const (
	aliceKey   = kstack.AliceKey
	bobKey     = kstack.BobKey
	liveToken  = "live-token-0123456789abcdef"
	otherToken = "other-token-0123456789abcdef"
	slowToken  = "slow-token-0123456789abcdef"
	// Cluster ids: live has an executor on the real cluster, slow has an
	// executor whose API server never answers, offline has none.
	live    = "live-1"
	slow    = "slow-1"
	offline = "offline-1"
)

// stack adapts kstack.Stack to the field and method names these tests use.
type stack struct {
	*kstack.Stack
	url   string
	nc    *nats.Conn
	store store.Store
	logs  *testkit.SyncBuffer
}

// startStack starts NATS (and Redis unless useJetStream), the session
// service, the dispatcher, the gateway and two executors.
func startStack(t testing.TB, useJetStream bool) *stack {
	t.Helper()
	liveRC, err := executorapp.RESTConfig(executorapp.Config{Kubeconfig: testbed.Kubeconfig(t)})
	if err != nil {
		t.Fatalf("kubeconfig: %v", err)
	}
	s := kstack.Start(t, kstack.Config{
		JetStream: useJetStream,
		Clusters: []kstack.Cluster{
			{ID: live, Token: liveToken, REST: liveRC},
			{ID: slow, Token: slowToken, REST: &rest.Config{Host: kstack.Blackhole(t), Timeout: 0}},
			{ID: offline, Token: otherToken},
		},
	})
	return &stack{Stack: s, url: s.URL, nc: s.Conn, store: s.Store, logs: s.Logs}
}

type response struct {
	status int
	header http.Header
	body   []byte
}

func (r response) json(t testing.TB, v any) {
	t.Helper()
	if err := json.Unmarshal(r.body, v); err != nil {
		t.Fatalf("decode %s: %v", r.body, err)
	}
}

func (r response) apiError(t testing.TB) contracts.Error {
	t.Helper()
	var e contracts.Error
	r.json(t, &e)
	if e.Code == "" || e.Message == "" {
		t.Fatalf("want a JSON error {code, message}; got %d %s", r.status, r.body)
	}
	return e
}

// do sends a request with optional API key and headers.
func (s *stack) do(t testing.TB, method, path, key string, body any, hdr ...string) response {
	t.Helper()
	r := s.Do(t, method, path, key, body, hdr...)
	return response{status: r.Status, header: r.Header, body: r.Body}
}

// exec runs a command through POST /v1/execute as alice.
func (s *stack) exec(t testing.TB, cluster string, argv ...string) (response, contracts.CommandResult) {
	t.Helper()
	r, res := s.Exec(t, aliceKey, cluster, argv...)
	return response{status: r.Status, header: r.Header, body: r.Body}, res
}
