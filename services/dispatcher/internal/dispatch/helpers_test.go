package dispatch

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"kubently.io/libs/audit"
	"kubently.io/libs/authz"
	"kubently.io/libs/contracts"
	"kubently.io/libs/natsutil"
	"kubently.io/libs/natsutil/natstest"
	"kubently.io/libs/store"
	"kubently.io/libs/store/backend"
	"kubently.io/libs/testkit"
)

// Clusters of the test env: online has a (fake) executor, offline is
// registered without one.
const (
	online  = "online-1"
	offline = "offline-1"
)

// env is a dispatcher on a real NATS server (JetStream: store and audit
// stream) with a fake executor for the online cluster.
type env struct {
	nc   *nats.Conn
	js   jetstream.JetStream
	st   store.Store
	d    *Dispatcher
	reg  *prometheus.Registry
	logs *testkit.SyncBuffer
	rd   *audit.Reader

	mu  sync.Mutex
	run func(contracts.Command) (contracts.ExecutorResult, bool) // false: never answer
	// claimed counts the commands the fake executor claimed.
	claimed atomic.Int64
}

func testCtx(tb testing.TB) context.Context {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	tb.Cleanup(cancel)
	return ctx
}

// newEnv starts everything on the JetStream store; mod adjusts the
// dispatcher's config.
func newEnv(tb testing.TB, mod func(*Config)) *env {
	tb.Helper()
	return newEnvOn(tb, backend.Config{}, mod)
}

// newEnvOn is newEnv on the store bcfg selects (its Conn is set here).
func newEnvOn(tb testing.TB, bcfg backend.Config, mod func(*Config)) *env {
	tb.Helper()
	ctx := testCtx(tb)
	srv := natstest.RunServer(tb)
	nc := natstest.Connect(tb, srv)
	js, err := jetstream.New(nc)
	if err != nil {
		tb.Fatal(err)
	}
	bcfg.Conn = nc
	st, err := backend.Open(ctx, bcfg)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = st.Close() })
	if err := audit.Ensure(ctx, js, audit.StreamConfig{}); err != nil {
		tb.Fatal(err)
	}
	w, err := audit.NewWriter(audit.WriterConfig{JS: js, Source: "dispatcher", Replica: "test"})
	if err != nil {
		tb.Fatal(err)
	}
	rd, err := audit.NewReader(audit.ReaderConfig{JS: js})
	if err != nil {
		tb.Fatal(err)
	}
	hash := sha256.Sum256([]byte("token"))
	for _, c := range []string{online, offline} {
		if err := st.PutCluster(ctx, store.ClusterRecord{ID: c, TokenHash: hex.EncodeToString(hash[:]), CreatedAt: time.Now()}); err != nil {
			tb.Fatal(err)
		}
	}
	now := time.Now()
	if err := st.Refresh(ctx, contracts.ExecutorInfo{Cluster: online, ConnID: "conn-1", ExecutorID: "exec-1", Gateway: "gw",
		ConnectedAt: now, LastSeen: now}, time.Hour); err != nil {
		tb.Fatal(err)
	}
	logs := &testkit.SyncBuffer{}
	e := &env{nc: nc, js: js, st: st, reg: prometheus.NewRegistry(), logs: logs, rd: rd}
	cfg := Config{Conn: nc, Store: st, Audit: w, Registerer: e.reg,
		Log: slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))}
	if mod != nil {
		mod(&cfg)
	}
	d, err := New(ctx, cfg)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = d.Stop() })
	e.d = d
	e.run = func(cmd contracts.Command) (contracts.ExecutorResult, bool) {
		return contracts.ExecutorResult{CommandID: cmd.ID, Outcome: contracts.Outcome{Status: contracts.StatusSuccess, Output: "pod-a\npod-b\n"}, ExecutedAt: time.Now()}, true
	}
	go e.executor(ctx)
	return e
}

// setRun sets how the fake executor answers.
func (e *env) setRun(f func(contracts.Command) (contracts.ExecutorResult, bool)) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.run = f
}

// executor is the fake executor of the online cluster: it claims commands
// and posts results on their result subjects, as the gateway does.
func (e *env) executor(ctx context.Context) {
	for ctx.Err() == nil {
		cmds, err := e.st.Claim(ctx, online, "fake", 8)
		if err != nil || len(cmds) == 0 {
			time.Sleep(10 * time.Millisecond)
			continue
		}
		e.claimed.Add(int64(len(cmds)))
		for _, cmd := range cmds {
			e.handle(ctx, cmd)
		}
	}
}

// handle acks and runs one command as the executor does and posts its
// result on its result subject.
func (e *env) handle(ctx context.Context, cmd contracts.Command) {
	e.mu.Lock()
	run := e.run
	e.mu.Unlock()
	// Received: acknowledged before it runs, as the executor does.
	_, _ = e.st.Ack(ctx, online, []string{cmd.ID})
	res, ok := run(cmd)
	if !ok {
		return
	}
	subj, _ := contracts.ResultSubject(cmd.Cluster, cmd.ID)
	b, _ := json.Marshal(res)
	_, _ = e.nc.Request(subj, b, 5*time.Second)
}

// exec sends in to the dispatcher over NATS, as the gateway does, with a
// fresh correlation id, which it returns.
func (e *env) exec(tb testing.TB, in contracts.ExecuteRequest) (contracts.CommandResult, *contracts.Error, string) {
	tb.Helper()
	corr := "corr-" + contracts.NewID()[:12]
	ctx := contracts.WithCorrelationID(testCtx(tb), corr)
	res, err := natsutil.Request(ctx, e.nc, contracts.DispatchExecute, in)
	if err != nil {
		return res, contracts.AsError(err), corr
	}
	return res, nil, corr
}

// records returns every audit record, oldest first.
func (e *env) records(tb testing.TB, f audit.Filter) []audit.Record {
	tb.Helper()
	var out []audit.Record
	cursor := ""
	for {
		res, err := e.rd.Query(testCtx(tb), f, audit.Page{Cursor: cursor, Limit: audit.MaxLimit})
		if err != nil {
			tb.Fatalf("Query: %v", err)
		}
		out = append(out, res.Records...)
		if res.NextCursor == "" {
			return out
		}
		cursor = res.NextCursor
	}
}

// request builds an ExecuteRequest from an identity.
func request(id authz.Identity, cluster string, argv ...string) contracts.ExecuteRequest {
	p := id.Wire()
	return contracts.ExecuteRequest{Cluster: cluster, Argv: argv, Caller: id.Principal(), Principal: &p, Gateway: "gw-0"}
}

var (
	admin    = authz.Identity{Name: "root", Role: authz.RoleAdmin, Source: authz.SourceAPIKey}
	operator = authz.Identity{Name: "alice", Role: authz.RoleOperator, Source: authz.SourceAPIKey, Scopes: authz.AllClusters()}
	shopOp   = authz.Identity{Name: "sam", Role: authz.RoleOperator, Source: authz.SourceAPIKey,
		Scopes: []authz.Scope{{Clusters: []string{"online-*"}, Namespaces: []string{"shop"}}}}
	viewer = authz.Identity{Name: "vera", Role: authz.RoleViewer, Source: authz.SourceAPIKey, Scopes: authz.AllClusters()}
)

// byCorr returns the records of one request, by correlation id.
func byCorr(recs []audit.Record, corr string) []audit.Record {
	var out []audit.Record
	for _, r := range recs {
		if r.CorrelationID == corr {
			out = append(out, r)
		}
	}
	return out
}

// final returns the one final record (executed or denied) of a request.
func final(tb testing.TB, recs []audit.Record, corr string) audit.Record {
	tb.Helper()
	var got []audit.Record
	for _, r := range byCorr(recs, corr) {
		if r.Event == audit.EventCommandExecuted || r.Event == audit.EventCommandDenied {
			got = append(got, r)
		}
	}
	if len(got) != 1 {
		tb.Fatalf("request %s has %d final records; want 1: %+v", corr, len(got), got)
	}
	return got[0]
}

func fmtErr(e *contracts.Error) string {
	if e == nil {
		return "<nil>"
	}
	return fmt.Sprintf("%s/%s: %s", e.Code, e.Reason, e.Message)
}
