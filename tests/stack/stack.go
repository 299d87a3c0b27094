// Package stack starts Kubently's four services in one test process — the
// session service, the dispatcher, the gateway and one executor per cluster —
// over a real NATS server (natstest) and a real redis-server (redistest) or
// JetStream, for the end-to-end suites in tests/. The central services are
// assembled by cli/devstack, the builder `kubently dev` uses too; this
// package adds the test bus, the test credentials and the executors.
//
// # Usage
//
//	s := stack.Start(t, stack.Config{
//		Clusters: []stack.Cluster{{ID: "local", Token: tok, REST: rc}},
//	})
//	r, res := s.Exec(t, stack.AliceKey, "local", "get", "pods", "-A")
//
// Everything stops in t.Cleanup. On failure the cleanup logs the tail of the
// services' logs.
//
// # Concurrency
//
// A Stack's methods are safe for concurrent use by parallel subtests.
package stack

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/prometheus/client_golang/prometheus"
	"k8s.io/client-go/rest"

	"kubently.io/cli/devstack"
	"kubently.io/libs/contracts"
	"kubently.io/libs/logging"
	"kubently.io/libs/natsutil"
	"kubently.io/libs/natsutil/natstest"
	"kubently.io/libs/ops"
	"kubently.io/libs/redistest"
	"kubently.io/libs/store"
	"kubently.io/libs/store/backend"
	"kubently.io/libs/testkit"
	dispatchapp "kubently.io/services/dispatcher/app"
	executorapp "kubently.io/services/executor/app"
	gatewayapp "kubently.io/services/gateway/app"
)

// API keys of the two callers every Stack accepts (identities "alice" and "bob").
const (
	AliceKey = "alice-key-0123456789abcdef"
	BobKey   = "bob-key-0123456789abcdefgh"
)

// Cluster is one cluster registered with the gateway.
type Cluster struct {
	// ID is the cluster id; required.
	ID string
	// Token is the executor token registered for ID; required (≥ 16 chars).
	Token string
	// REST is the API server the cluster's executor talks to. Nil registers
	// the cluster without starting an executor, so it stays offline.
	REST *rest.Config
	// MaxOutputBytes caps each result's output; zero means 256 KiB.
	MaxOutputBytes int
	// Executors is how many executors serve the cluster (HA); zero means
	// one. Their ids are <ID>-exec, <ID>-exec-2, ...
	Executors int
}

// Config configures Start.
type Config struct {
	// JetStream stores state in the embedded NATS server's JetStream instead
	// of a real redis-server (the default).
	JetStream bool
	// Clusters are registered with the gateway; at least one is required.
	Clusters []Cluster
	// LogLevel is the services' log level; empty means "debug".
	LogLevel string
	// PolicyFile is the command policy file of the dispatcher and the
	// executors; empty means the built-in readOnly profile.
	PolicyFile string
	// PolicyReload is how often they re-read it; zero means 5s.
	PolicyReload time.Duration
	// Gateway, when set, adjusts the gateway's config before it starts
	// (keys file, OIDC, rate limits, ...).
	Gateway func(*gatewayapp.Config)
	// Executor, when set, adjusts each executor's config before it starts.
	Executor func(*executorapp.Config)
	// Dispatcher, when set, adjusts the dispatcher's dependencies (queue
	// limit, ...) before it starts.
	Dispatcher func(*dispatchapp.Deps)
}

// Stack is a running Kubently.
type Stack struct {
	// URL is the gateway's base URL, e.g. http://127.0.0.1:41234.
	URL string
	// Conn is the gateway's NATS connection.
	Conn *nats.Conn
	// Store is a store client on an unrestricted harness connection: the
	// tests read and write any part of the state through it (the services'
	// own connections may touch only their own part).
	Store store.Store
	// Logs holds every service's JSON log lines.
	Logs *testkit.SyncBuffer
	// NATSURL is the URL of the stack's NATS server (JetStream enabled).
	NATSURL string
	// Registries are the metrics registries of the central services, by
	// service name: gateway, dispatcher, session.
	Registries map[string]*prometheus.Registry

	client *http.Client
	stack  *devstack.Stack
	ctx    context.Context
	// dispatcher is the dispatcher "process"'s connection and store
	// client, replaced by RestartDispatcher.
	dispatcher struct {
		sync.Mutex
		nc *nats.Conn
		st store.Store
	}
	// gwCfg, log and redisURL start more gateway replicas (StartGateway).
	gwCfg    gatewayapp.Config
	log      *slog.Logger
	redisURL string
}

// RestartDispatcher stops the dispatcher as a process shutdown would
// (requests in flight finish, its NATS connection and store client close)
// and starts a new one on a new connection to the same NATS server and
// store. Its metrics start again from zero on the same registry.
func (s *Stack) RestartDispatcher(tb testing.TB) {
	tb.Helper()
	p := &s.dispatcher
	p.Lock()
	defer p.Unlock()
	err := s.stack.RestartDispatcher(func() (*nats.Conn, store.Store, error) {
		p.nc.Close()
		_ = p.st.Close()
		p.nc, p.st = connect(s.ctx, tb, s.NATSURL, s.redisURL, natsutil.RoleDispatcher)
		return p.nc, p.st, nil
	})
	if err != nil {
		tb.Fatalf("restart dispatcher: %v", err)
	}
}

// Start starts NATS, Redis (unless cfg.JetStream), the services and one
// executor per cluster with a REST config, and waits until those executors
// are connected. Any failure ends the test.
func Start(tb testing.TB, cfg Config) *Stack {
	tb.Helper()
	if len(cfg.Clusters) == 0 {
		tb.Fatal("stack: no clusters")
	}
	level := cfg.LogLevel
	if level == "" {
		level = "debug"
	}
	ctx, cancel := context.WithCancel(context.Background())
	ns := natstest.RunServer(tb)
	redisURL := ""
	if !cfg.JetStream {
		redisURL = redistest.Start(tb).URL()
	}
	logs := &testkit.SyncBuffer{}
	log := logging.New(logging.Config{Level: level, Format: "json", Output: logs})

	regs := map[string]*prometheus.Registry{"gateway": ops.NewRegistry(), "dispatcher": ops.NewRegistry(), "session": ops.NewRegistry()}
	tokens := map[string]string{}
	for _, c := range cfg.Clusters {
		tokens[c.ID] = c.Token
	}
	rawTokens, err := json.Marshal(tokens)
	if err != nil {
		tb.Fatal(err)
	}
	gwCfg := gatewayapp.Config{
		APIKeys:     []string{"alice:" + AliceKey, "bob:" + BobKey},
		AgentTokens: string(rawTokens),
		Name:        "gw-test",
		Heartbeat:   500 * time.Millisecond,
		// The suites scrape the gateway where they reach it.
		MetricsOnClientPort: true,
		// The suites send many bad credentials from one address; the
		// back-off has its own tests (services/gateway/internal/httpapi).
		AuthBackoffFailures: -1,
	}
	gwCfg.NATSURL = ns.ClientURL()
	if cfg.Gateway != nil {
		cfg.Gateway(&gwCfg)
	}
	s := &Stack{NATSURL: ns.ClientURL(), Registries: regs, client: &http.Client{Timeout: 60 * time.Second}, ctx: ctx,
		gwCfg: gwCfg, log: log, redisURL: redisURL, Logs: logs}
	central, err := devstack.Start(ctx, devstack.Config{
		Connect: func(r natsutil.Role) (*nats.Conn, store.Store, error) {
			nc, st := connect(ctx, tb, ns.ClientURL(), redisURL, r)
			if r == natsutil.RoleDispatcher {
				s.dispatcher.nc, s.dispatcher.st = nc, st
			}
			return nc, st, nil
		},
		Log: log, PolicyFile: cfg.PolicyFile, PolicyReload: cfg.PolicyReload,
		SessionRegistry: regs["session"], DispatcherRegistry: regs["dispatcher"], GatewayRegistry: regs["gateway"],
		Dispatcher: cfg.Dispatcher, Gateway: gwCfg, Addr: "127.0.0.1:0",
	})
	if err != nil {
		cancel()
		tb.Fatalf("stack: %v", err)
	}
	s.stack, s.URL, s.Conn = central, central.URL, central.GatewayConn
	url := central.URL

	var online []string
	for _, c := range cfg.Clusters {
		if c.REST == nil {
			continue
		}
		online = append(online, c.ID)
		maxOut := c.MaxOutputBytes
		if maxOut == 0 {
			maxOut = 256 << 10
		}
		for i := range max(c.Executors, 1) {
			id := c.ID + "-exec"
			if i > 0 {
				id = fmt.Sprintf("%s-exec-%d", c.ID, i+1)
			}
			ecfg := executorapp.Config{APIURL: url, Cluster: c.ID, Token: c.Token, Workers: 4, Queue: 16,
				MaxOutputBytes: maxOut, ExecutorID: id, KubeQPS: 1000, KubeBurst: 1000,
				PolicyFile: cfg.PolicyFile, PolicyReload: cfg.PolicyReload}
			if cfg.Executor != nil {
				cfg.Executor(&ecfg)
			}
			central.RunExecutor(ecfg, c.REST, log.With("service", "executor", "cluster", c.ID, "executor", id))
		}
	}
	tb.Cleanup(func() {
		central.Stop()
		cancel()
		for _, err := range central.Errs() {
			tb.Errorf("stack: %v", err)
		}
		if tb.Failed() {
			tb.Logf("service logs:\n%s", testkit.Tail(logs.String(), 200))
		}
	})
	s.Store = harnessStore(ctx, tb, ns.ClientURL(), redisURL)
	testkit.CheckFor(tb, 20*time.Second, 100*time.Millisecond, func() error {
		for _, c := range online {
			conns, err := central.GatewayStore.Connected(ctx, c)
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

// StartGateway starts another gateway replica called name, with the first
// one's config, on its own connection to the stack's NATS server and store,
// and returns its base URL. It stops in t.Cleanup.
func (s *Stack) StartGateway(tb testing.TB, name string) string {
	tb.Helper()
	nc, st := connect(s.ctx, tb, s.NATSURL, s.redisURL, natsutil.RoleGateway)
	cfg := s.gwCfg
	cfg.Name = name
	ctx, cancel := context.WithCancel(s.ctx)
	url, done, err := devstack.ServeGateway(ctx, cfg, gatewayapp.Deps{Conn: nc, Store: st, Log: s.log.With("service", "gateway", "replica", name)}, "127.0.0.1:0")
	if err != nil {
		cancel()
		tb.Fatalf("gateway %s: %v", name, err)
	}
	tb.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			tb.Logf("gateway %s: %v", name, err)
		}
	})
	return url
}

// connect opens a NATS connection and a store client for one "process".
// It connects with role's credentials and permissions, so every stack
// test runs under the production permission model.
func connect(ctx context.Context, tb testing.TB, url, redisURL string, role natsutil.Role) (*nats.Conn, store.Store) {
	tb.Helper()
	nc := natstest.ConnectURLAs(tb, url, role)
	st, err := backend.Open(ctx, backend.Config{RedisURL: redisURL, Conn: nc})
	if err != nil {
		tb.Fatalf("open store: %v", err)
	}
	tb.Cleanup(func() { _ = st.Close() })
	return nc, st
}

// harnessStore opens a store client on the harness user's connection.
func harnessStore(ctx context.Context, tb testing.TB, url, redisURL string) store.Store {
	tb.Helper()
	nc, err := nats.Connect(url, natstest.HarnessAuth())
	if err != nil {
		tb.Fatalf("stack: harness connection: %v", err)
	}
	tb.Cleanup(nc.Close)
	st, err := backend.Open(ctx, backend.Config{RedisURL: redisURL, Conn: nc})
	if err != nil {
		tb.Fatalf("open store: %v", err)
	}
	tb.Cleanup(func() { _ = st.Close() })
	return st
}

// Response is an HTTP response read in full.
type Response struct {
	Status int
	Header http.Header
	Body   []byte
}

// Do sends a request to the gateway with an optional API key (empty: none)
// and extra header name/value pairs. body may be nil, a string, []byte or a
// value to encode as JSON. Any transport error ends the test.
func (s *Stack) Do(tb testing.TB, method, path, key string, body any, hdr ...string) Response {
	tb.Helper()
	r, err := s.Request(method, path, key, body, hdr...)
	if err != nil {
		tb.Fatal(err)
	}
	return r
}

// Request is Do without a testing.TB, for goroutines other than the test's:
// it returns transport errors instead of failing the test.
func (s *Stack) Request(method, path, key string, body any, hdr ...string) (Response, error) {
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
			return Response{}, err
		}
		rd = bytes.NewReader(raw)
	}
	req, err := http.NewRequest(method, s.URL+path, rd)
	if err != nil {
		return Response{}, err
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
	resp, err := s.client.Do(req)
	if err != nil {
		return Response{}, fmt.Errorf("%s %s: %w", method, path, err)
	}
	defer func() { _ = resp.Body.Close() }()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return Response{}, fmt.Errorf("%s %s: read body: %w", method, path, err)
	}
	return Response{Status: resp.StatusCode, Header: resp.Header, Body: raw}, nil
}

// Exec runs argv on cluster through POST /v1/execute with the given API key.
// The CommandResult is decoded when the gateway answered with one (2xx, 502,
// 504); otherwise it is zero and the Response tells why.
func (s *Stack) Exec(tb testing.TB, key, cluster string, argv ...string) (Response, contracts.CommandResult) {
	tb.Helper()
	r, res, err := s.Execute(key, cluster, argv...)
	if err != nil {
		tb.Fatal(err)
	}
	return r, res
}

// Execute is Exec without a testing.TB, for goroutines other than the test's.
func (s *Stack) Execute(key, cluster string, argv ...string) (Response, contracts.CommandResult, error) {
	r, err := s.Request(http.MethodPost, "/v1/execute", key, map[string]any{"cluster_id": cluster, "argv": argv})
	var res contracts.CommandResult
	if err == nil && (r.Status < 300 || r.Status == http.StatusGatewayTimeout || r.Status == http.StatusBadGateway) {
		err = json.Unmarshal(r.Body, &res)
	}
	return r, res, err
}

// Blackhole returns the URL of a TCP server that accepts connections and
// never answers, standing in for an API server that hangs.
func Blackhole(tb testing.TB) string {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = ln.Close() })
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
