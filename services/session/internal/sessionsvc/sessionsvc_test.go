package sessionsvc

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"kubently.io/libs/audit"
	"kubently.io/libs/authz"
	"kubently.io/libs/contracts"
	"kubently.io/libs/natsutil"
	"kubently.io/libs/natsutil/natstest"
	"kubently.io/libs/redistest"
	"kubently.io/libs/store"
	"kubently.io/libs/store/backend"
)

const cluster = "prod-1"

type env struct {
	nc  *nats.Conn
	svc *Service
	rd  *audit.Reader
}

func testCtx(tb testing.TB) context.Context {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	tb.Cleanup(cancel)
	return ctx
}

// newEnv starts the service on a real NATS server with the audit stream,
// over Redis (redisURL set) or the JetStream store.
func newEnv(tb testing.TB, redisURL string, aud func(jetstream.JetStream) Auditor) *env {
	tb.Helper()
	ctx := testCtx(tb)
	nc := natstest.Connect(tb, natstest.RunServer(tb))
	js, err := jetstream.New(nc)
	if err != nil {
		tb.Fatal(err)
	}
	st, err := backend.Open(ctx, backend.Config{RedisURL: redisURL, Conn: nc})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = st.Close() })
	h := sha256.Sum256([]byte("t"))
	if err := st.PutCluster(ctx, store.ClusterRecord{ID: cluster, TokenHash: hex.EncodeToString(h[:]), CreatedAt: time.Now()}); err != nil {
		tb.Fatal(err)
	}
	if err := audit.Ensure(ctx, js, audit.StreamConfig{}); err != nil {
		tb.Fatal(err)
	}
	var a Auditor
	if aud != nil {
		a = aud(js)
	} else if a, err = audit.NewWriter(audit.WriterConfig{JS: js, Source: "session"}); err != nil {
		tb.Fatal(err)
	}
	rd, err := audit.NewReader(audit.ReaderConfig{JS: js})
	if err != nil {
		tb.Fatal(err)
	}
	svc, err := New(ctx, Config{Conn: nc, Store: st, Log: slog.New(slog.NewJSONHandler(io.Discard, nil)), Audit: a,
		Registerer: prometheus.NewRegistry(), AuditTimeout: time.Second})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = svc.Stop() })
	return &env{nc: nc, svc: svc, rd: rd}
}

func wire(id authz.Identity) *contracts.Principal {
	p := id.Wire()
	return &p
}

var (
	alice = authz.Identity{Name: "alice", Role: authz.RoleOperator, Source: authz.SourceAPIKey, Scopes: authz.AllClusters()}
	bob   = authz.Identity{Name: "bob", Role: authz.RoleOperator, Source: authz.SourceAPIKey, Scopes: authz.AllClusters()}
	root  = authz.Identity{Name: "root", Role: authz.RoleAdmin, Source: authz.SourceEnv}
	vera  = authz.Identity{Name: "vera", Role: authz.RoleViewer, Source: authz.SourceAPIKey, Scopes: authz.AllClusters()}
	dev   = authz.Identity{Name: "dave", Role: authz.RoleOperator, Source: authz.SourceAPIKey, Scopes: []authz.Scope{{Clusters: []string{"dev-*"}}}}
)

func (e *env) create(tb testing.TB, id authz.Identity) (contracts.Session, *contracts.Error) {
	tb.Helper()
	s, err := natsutil.Request(contracts.WithCorrelationID(testCtx(tb), "corr-create"), e.nc, contracts.CreateSession,
		contracts.CreateSessionRequest{Cluster: cluster, Caller: id.Principal(), Principal: wire(id)})
	return s, contracts.AsError(err)
}

func (e *env) call(tb testing.TB, ep contracts.Endpoint[contracts.SessionRequest, contracts.Session], req contracts.SessionRequest) (contracts.Session, *contracts.Error) {
	tb.Helper()
	s, err := natsutil.Request(testCtx(tb), e.nc, ep, req)
	return s, contracts.AsError(err)
}

func as(id authz.Identity, sessionID string) contracts.SessionRequest {
	return contracts.SessionRequest{ID: sessionID, Caller: id.Principal(), Principal: wire(id)}
}

func TestSessionAccess(t *testing.T) {
	for _, backendName := range []string{"jetstream", "redis"} {
		t.Run(backendName, func(t *testing.T) {
			url := ""
			if backendName == "redis" {
				url = redistest.Start(t).URL()
			}
			e := newEnv(t, url, nil)
			sess, err := e.create(t, alice)
			if err != nil {
				t.Fatalf("create: %v", err)
			}
			if _, err := e.create(t, vera); err == nil || err.Code != contracts.CodeForbidden || err.Reason != string(authz.ReasonRoleForbidden) {
				t.Errorf("viewer create: %v; want forbidden/role_forbidden", err)
			}
			if _, err := e.create(t, dev); err == nil || err.Code != contracts.CodeForbidden || err.Reason != string(authz.ReasonClusterOutOfScope) {
				t.Errorf("out-of-scope create: %v; want forbidden/cluster_out_of_scope", err)
			}
			mismatch := as(alice, sess.ID)
			mismatch.Caller = "root"
			legacy := contracts.SessionRequest{ID: sess.ID, Caller: "alice"}
			legacyOther := contracts.SessionRequest{ID: sess.ID, Caller: "bob"}
			tests := []struct {
				name string
				ep   contracts.Endpoint[contracts.SessionRequest, contracts.Session]
				req  contracts.SessionRequest
				code contracts.ErrorCode
			}{
				{"owner get", contracts.GetSession, as(alice, sess.ID), ""},
				{"owner keepalive", contracts.KeepSessionAlive, as(alice, sess.ID), ""},
				{"other operator get", contracts.GetSession, as(bob, sess.ID), contracts.CodeSessionNotFound},
				{"other operator keepalive", contracts.KeepSessionAlive, as(bob, sess.ID), contracts.CodeSessionNotFound},
				{"other operator end", contracts.EndSession, as(bob, sess.ID), contracts.CodeSessionNotFound},
				{"caller is not the principal", contracts.GetSession, mismatch, contracts.CodeUnauthorized},
				{"no principal, owner", contracts.GetSession, legacy, ""},
				{"no principal, other", contracts.GetSession, legacyOther, contracts.CodeSessionNotFound},
				{"admin get", contracts.GetSession, as(root, sess.ID), ""},
				{"admin keepalive", contracts.KeepSessionAlive, as(root, sess.ID), ""},
				{"admin end", contracts.EndSession, as(root, sess.ID), ""},
				{"owner keepalive after end", contracts.KeepSessionAlive, as(alice, sess.ID), contracts.CodeSessionEnded},
			}
			for _, tt := range tests {
				t.Run(tt.name, func(t *testing.T) {
					got, err := e.call(t, tt.ep, tt.req)
					if tt.code == "" {
						if err != nil || got.ID != sess.ID {
							t.Fatalf("got %+v, %v; want the session", got, err)
						}
						return
					}
					if err == nil || err.Code != tt.code {
						t.Fatalf("got %v; want %s", err, tt.code)
					}
				})
			}
			res, qerr := e.rd.Query(testCtx(t), audit.Filter{Cluster: cluster}, audit.Page{})
			if qerr != nil {
				t.Fatal(qerr)
			}
			if len(res.Records) != 2 {
				t.Fatalf("got %d records; want created and ended: %+v", len(res.Records), res.Records)
			}
			c, d := res.Records[0], res.Records[1]
			if c.Event != audit.EventSessionCreated || c.Identity != "alice" || c.Role != "operator" || c.SessionID != sess.ID ||
				c.ID != sess.ID+"-created" || c.CorrelationID != "corr-create" || c.Source != "session" {
				t.Errorf("created record %+v", c)
			}
			if d.Event != audit.EventSessionEnded || d.Identity != "root" || d.Role != "admin" || d.Target != "alice" || d.SessionID != sess.ID {
				t.Errorf("ended record %+v; want ended by root, target alice", d)
			}
			if got := testutil.ToFloat64(e.svc.m.created); got != 1 {
				t.Errorf("created = %v; want 1", got)
			}
			if got := testutil.ToFloat64(e.svc.m.ended); got != 1 {
				t.Errorf("ended = %v; want 1", got)
			}
		})
	}
}

// failingAuditor stands for an audit log that does not answer.
type failingAuditor struct{}

func (failingAuditor) Write(context.Context, audit.Record) error { return audit.ErrUnavailable }

func TestCreateUnaudited(t *testing.T) {
	e := newEnv(t, "", func(jetstream.JetStream) Auditor { return failingAuditor{} })
	if _, err := e.create(t, alice); err == nil || err.Code != contracts.CodeUnavailable {
		t.Fatalf("create: %v; want unavailable", err)
	}
	list, err := natsutil.Request(testCtx(t), e.nc, contracts.ListSessions,
		contracts.ListSessionsRequest{Cluster: cluster, Caller: "alice", Principal: wire(alice)})
	if err != nil {
		t.Fatal(err)
	}
	if len(list.Sessions) != 0 {
		t.Errorf("an unaudited session is active: %+v", list.Sessions)
	}
	if got := testutil.ToFloat64(e.svc.m.auditErrors.WithLabelValues(string(audit.EventSessionCreated))); got != 1 {
		t.Errorf("audit errors = %v; want 1", got)
	}
}
