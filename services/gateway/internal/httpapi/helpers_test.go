package httpapi

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"kubently.io/libs/audit"
	"kubently.io/libs/authz"
	"kubently.io/libs/contracts"
	"kubently.io/libs/logging"
	"kubently.io/libs/natsutil/natstest"
	"kubently.io/libs/store"
	"kubently.io/libs/store/backend"
	"kubently.io/libs/testkit"
	"kubently.io/services/gateway/internal/auth"
	"kubently.io/services/gateway/internal/backoff"
	"kubently.io/services/gateway/internal/hub"
)

// Keys of the test identities.
const (
	adminKey    = "admin-key-0123456789"
	operatorKey = "operator-key-0123456789"
	viewerKey   = "viewer-key-0123456789"
	// nsKey is an operator limited to namespace shop of dev-* clusters.
	nsKey = "ns-operator-key-0123456789"
	// devKey is an operator on dev-* clusters, all namespaces.
	devKey = "dev-operator-key-0123456789"
)

// env is a Server over a real NATS server (JetStream: the audit log and
// the store) with fake session and dispatcher responders.
type env struct {
	srv  *Server
	http *httptest.Server
	nc   *nats.Conn
	js   jetstream.JetStream
	st   store.Store
	reg  *prometheus.Registry
	logs *testkit.SyncBuffer

	dispatcher nats.MsgHandler
	ns         *server.Server

	mu       sync.Mutex
	executes []contracts.ExecuteRequest
	sessions []contracts.SessionRequest
}

type envOpts struct {
	limits    authz.LimitConfig
	auditPing time.Duration
	// wrapStore, if set, wraps the store the server uses.
	wrapStore func(Store) Store
	// poll is Config.Poll.
	poll time.Duration
	// visibility is the store's visibility timeout; zero means the
	// default.
	visibility time.Duration
	// dispatcher, if set, answers the dispatcher's execute subject
	// instead of the fake that says success at once.
	dispatcher nats.MsgHandler
	// mod, if set, adjusts the server's Config.
	mod func(*Config)
	// realServer serves e.http with the server's own http.Server and
	// listener (its connection limits), not httptest's defaults.
	realServer bool
}

// modConfig applies mod (if any) to cfg.
func modConfig(cfg Config, mod func(*Config)) Config {
	if mod != nil {
		mod(&cfg)
	}
	return cfg
}

func keyring(t testing.TB) *authz.Keyring {
	t.Helper()
	env, err := authz.ParseEnvKeys([]string{"admin:admin:" + adminKey, "operator:operator:" + operatorKey, "viewer:viewer:" + viewerKey})
	if err != nil {
		t.Fatal(err)
	}
	file, err := authz.ParseKeyFile([]byte(`apiVersion: kubently.io/v1
kind: APIKeys
keys:
  - name: ns-op
    role: operator
    key: ` + nsKey + `
    scopes: [{clusters: ["dev-*"], namespaces: ["shop"]}]
  - name: dev-op
    role: operator
    key: ` + devKey + `
    scopes: [{clusters: ["dev-*"]}]
`))
	if err != nil {
		t.Fatal(err)
	}
	k, err := env.Merge(file)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func newEnv(t *testing.T, o envOpts) *env {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	ns := natstest.RunServer(t)
	nc := natstest.Connect(t, ns)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	if err := audit.Ensure(ctx, js, audit.StreamConfig{}); err != nil {
		t.Fatal(err)
	}
	aw, err := audit.NewWriter(audit.WriterConfig{JS: js, Source: "gateway", Replica: "gw-test"})
	if err != nil {
		t.Fatal(err)
	}
	ar, err := audit.NewReader(audit.ReaderConfig{JS: js})
	if err != nil {
		t.Fatal(err)
	}
	st, err := backend.Open(ctx, backend.Config{Conn: nc, Visibility: o.visibility})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	for _, id := range []string{"dev-1", "prod-1"} {
		if err := st.PutCluster(ctx, store.ClusterRecord{ID: id, TokenHash: auth.HashToken(id + "-token-0123456789"), CreatedAt: time.Now(), UpdatedAt: time.Now()}); err != nil {
			t.Fatal(err)
		}
	}
	authn, err := auth.New(auth.Config{Keys: keyring(t)})
	if err != nil {
		t.Fatal(err)
	}
	lim, err := authz.NewLimiter(o.limits)
	if err != nil {
		t.Fatal(err)
	}
	logs := &testkit.SyncBuffer{}
	e := &env{nc: nc, js: js, st: st, reg: prometheus.NewRegistry(), logs: logs, dispatcher: o.dispatcher, ns: ns}
	var serverStore Store = st
	if o.wrapStore != nil {
		serverStore = o.wrapStore(st)
	}
	srv, err := New(modConfig(Config{
		Conn: nc, Store: serverStore, Poll: o.poll, Auth: authn, Limiter: lim, Audit: aw, AuditReader: ar, AuditPing: o.auditPing,
		Hub: hub.New(), Log: logging.New(logging.Config{Level: "debug", Format: "json", Output: logs}),
		Registry: e.reg, Name: "gw-test",
		// Tests that send bad keys or hold many streams (TestSweep: 20
		// per cluster) turn these on only when they test them.
		Limits: Limits{AuthBackoff: backoff.Config{Failures: -1}, ExecutorStreamsPerCluster: -1},
	}, o.mod))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Close)
	e.srv = srv
	if o.realServer {
		e.http = httptest.NewUnstartedServer(nil)
		e.http.Config = srv.HTTPServer()
		e.http.Listener = Listener(e.http.Listener)
		e.http.Start()
	} else {
		e.http = httptest.NewServer(srv.Handler())
	}
	t.Cleanup(e.http.Close)
	e.fakeServices(t)
	return e
}

// fakeServices answers the dispatcher's and session service's subjects:
// every command succeeds; every session lives on cluster dev-1 and
// belongs to whoever asks.
func (e *env) fakeServices(t *testing.T) {
	t.Helper()
	reply := func(m *nats.Msg, typ string, v any) {
		r, err := contracts.NewResponse(typ, v)
		if err != nil {
			t.Error(err)
			return
		}
		b, _ := json.Marshal(r)
		_ = m.Respond(b)
	}
	sess := func(id, owner string) contracts.Session {
		return contracts.Session{ID: id, Cluster: "dev-1", Owner: owner, State: contracts.SessionActive,
			CreatedAt: time.Now(), ExpiresAt: time.Now().Add(time.Hour), TTLSeconds: 3600}
	}
	subs := map[string]nats.MsgHandler{
		contracts.DispatchExecuteSubject: func(m *nats.Msg) {
			var req contracts.ExecuteRequest
			_ = json.Unmarshal(m.Data, &req)
			e.mu.Lock()
			e.executes = append(e.executes, req)
			e.mu.Unlock()
			reply(m, contracts.TypeCommandResult, contracts.CommandResult{CommandID: "c1", Cluster: req.Cluster, Outcome: contracts.Outcome{Status: contracts.StatusSuccess, Output: "ok"}})
		},
		contracts.SessionCreateSubject: func(m *nats.Msg) {
			var req contracts.CreateSessionRequest
			_ = json.Unmarshal(m.Data, &req)
			s := sess("s1", req.Caller)
			s.Cluster = req.Cluster
			reply(m, contracts.TypeSession, s)
		},
		contracts.SessionListSubject: func(m *nats.Msg) {
			reply(m, contracts.TypeSessionList, contracts.SessionList{Sessions: []contracts.Session{}})
		},
	}
	for _, subj := range []string{contracts.SessionGetSubject, contracts.SessionEndSubject, contracts.SessionKeepaliveSubject} {
		subs[subj] = func(m *nats.Msg) {
			var req contracts.SessionRequest
			_ = json.Unmarshal(m.Data, &req)
			e.mu.Lock()
			e.sessions = append(e.sessions, req)
			e.mu.Unlock()
			reply(m, contracts.TypeSession, sess(req.ID, req.Caller))
		}
	}
	if e.dispatcher != nil {
		subs[contracts.DispatchExecuteSubject] = e.dispatcher
	}
	for subj, h := range subs {
		sub, err := e.nc.Subscribe(subj, h)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = sub.Unsubscribe() })
	}
	if err := e.nc.Flush(); err != nil {
		t.Fatal(err)
	}
}

func (e *env) lastExecute(t *testing.T) contracts.ExecuteRequest {
	t.Helper()
	return lastRequest(t, &e.mu, &e.executes)
}

// lastRequest returns the last of the execute requests a fake dispatcher
// recorded in reqs under mu; it fails t when there is none.
func lastRequest(t *testing.T, mu *sync.Mutex, reqs *[]contracts.ExecuteRequest) contracts.ExecuteRequest {
	t.Helper()
	mu.Lock()
	defer mu.Unlock()
	if len(*reqs) == 0 {
		t.Fatal("no execute request reached the dispatcher")
	}
	return (*reqs)[len(*reqs)-1]
}

type resp struct {
	status int
	header http.Header
	body   []byte
}

func (r resp) apiError(t *testing.T) contracts.Error {
	t.Helper()
	var e contracts.Error
	if err := json.Unmarshal(r.body, &e); err != nil || e.Code == "" {
		t.Fatalf("want a JSON error; got %d %s", r.status, r.body)
	}
	return e
}

// do sends a request; key "" sends none; hdr are extra name/value pairs.
func (e *env) do(t *testing.T, method, path, key string, body any, hdr ...string) resp {
	t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	default:
		raw, err := json.Marshal(b)
		if err != nil {
			t.Fatal(err)
		}
		rd = strings.NewReader(string(raw))
	}
	req, err := http.NewRequest(method, e.http.URL+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	if key != "" {
		req.Header.Set(contracts.HeaderAPIKey, key)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return resp{status: res.StatusCode, header: res.Header, body: b}
}
