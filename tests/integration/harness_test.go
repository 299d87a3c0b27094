package integration

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"k8s.io/client-go/rest"

	"kubently.io/libs/contracts"
	"kubently.io/libs/logging"
	"kubently.io/libs/natsutil/natstest"
	"kubently.io/libs/redistest"
	"kubently.io/libs/store"
	"kubently.io/libs/store/backend"
	"kubently.io/libs/testbed"
	dispatchapp "kubently.io/services/dispatcher/app"
	executorapp "kubently.io/services/executor/app"
	gatewayapp "kubently.io/services/gateway/app"
	sessionapp "kubently.io/services/session/app"
)

// Credentials used by the stack.
const (
	aliceKey   = "alice-key-0123456789abcdef"
	bobKey     = "bob-key-0123456789abcdefgh"
	liveToken  = "live-token-0123456789abcdef"
	otherToken = "other-token-0123456789abcdef"
	slowToken  = "slow-token-0123456789abcdef"
	// Cluster ids: live has an executor on the real cluster, slow has an
	// executor whose API server never answers, offline has none.
	live    = "live-1"
	slow    = "slow-1"
	offline = "offline-1"
)

type stack struct {
	url   string
	nc    *nats.Conn
	store store.Store
	logs  *syncBuffer
}

type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// connect opens a NATS connection and a store client for one "process".
func connect(t testing.TB, ctx context.Context, url, redisURL string) (*nats.Conn, store.Store) {
	t.Helper()
	nc, err := nats.Connect(url)
	if err != nil {
		t.Fatalf("nats connect: %v", err)
	}
	t.Cleanup(nc.Close)
	st, err := backend.Open(ctx, backend.Config{RedisURL: redisURL, Conn: nc})
	if err != nil {
		t.Fatalf("open store: %v", err)
	}
	t.Cleanup(func() { _ = st.Close() })
	return nc, st
}

// blackhole returns the URL of a TCP server that accepts connections and
// never answers, standing in for an API server that hangs.
func blackhole(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ln.Close() })
	go func() {
		var held []net.Conn
		defer func() {
			for _, c := range held {
				_ = c.Close()
			}
		}()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			held = append(held, c)
		}
	}()
	return "http://" + ln.Addr().String()
}

// startStack starts NATS (and Redis unless useJetStream), the session
// service, the dispatcher, the gateway and two executors.
func startStack(t testing.TB, useJetStream bool) *stack {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	ns := natstest.RunServer(t)
	redisURL := ""
	if !useJetStream {
		redisURL = redistest.Start(t).URL()
	}
	logs := &syncBuffer{}
	log := logging.New(logging.Config{Level: "debug", Format: "json", Output: logs})

	ncS, stS := connect(t, ctx, ns.ClientURL(), redisURL)
	sess, err := sessionapp.Start(ctx, sessionapp.Deps{Conn: ncS, Store: stS, Log: log.With("service", "session")})
	if err != nil {
		t.Fatalf("session: %v", err)
	}
	t.Cleanup(func() { _ = sess.Stop() })

	ncD, stD := connect(t, ctx, ns.ClientURL(), redisURL)
	disp, err := dispatchapp.Start(ctx, dispatchapp.Deps{Conn: ncD, Store: stD, Log: log.With("service", "dispatcher")})
	if err != nil {
		t.Fatalf("dispatcher: %v", err)
	}
	t.Cleanup(func() { _ = disp.Stop() })

	ncG, stG := connect(t, ctx, ns.ClientURL(), redisURL)
	gwCfg := gatewayapp.Config{
		APIKeys:     []string{"alice:" + aliceKey, "bob:" + bobKey},
		AgentTokens: fmt.Sprintf(`{%q: %q, %q: %q, %q: %q}`, live, liveToken, offline, otherToken, slow, slowToken),
		Name:        "gw-test",
		Heartbeat:   500 * time.Millisecond,
	}
	gwCfg.NATSURL = ns.ClientURL()
	gw, err := gatewayapp.Start(ctx, gwCfg, gatewayapp.Deps{Conn: ncG, Store: stG, Log: log.With("service", "gateway")})
	if err != nil {
		t.Fatalf("gateway: %v", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	url := "http://" + ln.Addr().String()
	done := make(chan struct{})
	go func() { defer close(done); _ = gw.Serve(ctx, ln) }()

	kubeconfig := testbed.Kubeconfig(t)
	liveRC, err := executorapp.RESTConfig(executorapp.Config{Kubeconfig: kubeconfig})
	if err != nil {
		t.Fatalf("kubeconfig: %v", err)
	}
	execDone := make(chan struct{}, 2)
	runExecutor := func(cluster, token string, rc *rest.Config) {
		cfg := executorapp.Config{APIURL: url, Cluster: cluster, Token: token, Workers: 4, Queue: 16, MaxOutputBytes: 256 << 10, ExecutorID: cluster + "-exec",
			KubeQPS: 1000, KubeBurst: 1000}
		go func() {
			defer func() { execDone <- struct{}{} }()
			if err := executorapp.RunWith(ctx, cfg, rc, log.With("service", "executor", "cluster", cluster)); err != nil {
				t.Errorf("executor %s: %v", cluster, err)
			}
		}()
	}
	runExecutor(live, liveToken, liveRC)
	runExecutor(slow, slowToken, &rest.Config{Host: blackhole(t), Timeout: 0})

	t.Cleanup(func() {
		cancel()
		<-done
		<-execDone
		<-execDone
		if t.Failed() {
			t.Logf("service logs:\n%s", tail(logs.String(), 200))
		}
	})
	s := &stack{url: url, nc: ncG, store: stG, logs: logs}
	checkFor(t, 20*time.Second, 100*time.Millisecond, func() error {
		for _, c := range []string{live, slow} {
			conns, err := stG.Connected(ctx, c)
			if err != nil {
				return err
			}
			if len(conns) == 0 {
				return fmt.Errorf("executor of %s not connected yet", c)
			}
		}
		return nil
	})
	return s
}

func tail(s string, lines int) string {
	parts := strings.Split(s, "\n")
	if len(parts) > lines {
		parts = parts[len(parts)-lines:]
	}
	return strings.Join(parts, "\n")
}

// checkFor polls f until it returns nil or total passes.
func checkFor(t testing.TB, total, every time.Duration, f func() error) {
	t.Helper()
	deadline := time.Now().Add(total)
	var err error
	for time.Now().Before(deadline) {
		if err = f(); err == nil {
			return
		}
		time.Sleep(every)
	}
	t.Fatalf("condition not met after %s: %v", total, err)
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
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	case []byte:
		rd = bytes.NewReader(b)
	default:
		raw, err := json.Marshal(b)
		if err != nil {
			t.Fatal(err)
		}
		rd = bytes.NewReader(raw)
	}
	req, err := http.NewRequest(method, s.url+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	if key != "" {
		req.Header.Set(contracts.HeaderAPIKey, key)
	}
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := (&http.Client{Timeout: 60 * time.Second}).Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer func() { _ = resp.Body.Close() }()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return response{status: resp.StatusCode, header: resp.Header, body: raw}
}

// exec runs a command through POST /v1/execute as alice.
func (s *stack) exec(t testing.TB, cluster string, argv ...string) (response, contracts.CommandResult) {
	t.Helper()
	r := s.do(t, http.MethodPost, "/v1/execute", aliceKey, map[string]any{"cluster_id": cluster, "argv": argv})
	var res contracts.CommandResult
	if r.status < 300 || r.status == http.StatusGatewayTimeout || r.status == http.StatusBadGateway {
		_ = json.Unmarshal(r.body, &res)
	}
	return r, res
}
