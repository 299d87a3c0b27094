package dispatch

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"kubently.io/libs/contracts"
	"kubently.io/libs/store"
)

// addCluster registers cluster; revoked registers it with its token
// revoked.
func addCluster(t *testing.T, e *env, cluster string, revoked bool) {
	t.Helper()
	rec := store.ClusterRecord{ID: cluster, TokenHash: strings.Repeat("0", 64), CreatedAt: time.Now()}
	if revoked {
		now := time.Now()
		rec.TokenHash, rec.RevokedAt = "", &now
	}
	if err := e.st.PutCluster(testCtx(t), rec); err != nil {
		t.Fatal(err)
	}
}

// connect records an executor stream of cluster, as the gateway does.
func connect(t *testing.T, e *env, cluster, conn string) {
	t.Helper()
	now := time.Now()
	if err := e.st.Refresh(testCtx(t), contracts.ExecutorInfo{Cluster: cluster, ConnID: conn, ExecutorID: "exec-" + cluster, Gateway: "gw",
		ConnectedAt: now, LastSeen: now}, time.Minute); err != nil {
		t.Fatal(err)
	}
}

// drop ends an executor stream of cluster, as the gateway does.
func drop(t *testing.T, e *env, cluster, conn string) {
	t.Helper()
	if err := e.st.Leave(testCtx(t), cluster, conn); err != nil {
		t.Fatal(err)
	}
}

// serve is a reconnected executor of cluster: it claims its commands and
// posts a success for each until ctx ends.
func serve(ctx context.Context, e *env, cluster string) {
	for ctx.Err() == nil {
		cmds, err := e.st.Claim(ctx, cluster, "back", 8)
		if err != nil || len(cmds) == 0 {
			time.Sleep(10 * time.Millisecond)
			continue
		}
		for _, cmd := range cmds {
			_, _ = e.st.Ack(ctx, cluster, []string{cmd.ID})
			subj, _ := contracts.ResultSubject(cmd.Cluster, cmd.ID)
			b, _ := json.Marshal(contracts.ExecutorResult{CommandID: cmd.ID, Outcome: contracts.Outcome{Status: contracts.StatusSuccess, Output: "back\n"}})
			_, _ = e.nc.Request(subj, b, 5*time.Second)
		}
	}
}

// TestBridgeGrace: with no executor connected, a command is refused at
// once (503 executor_unavailable) unless the cluster's last stream ended
// less than BridgeGrace ago; then it is queued and delivered when an
// executor connects again.
//
// Two dispatchers: one whose grace outlasts the test, so that "at once"
// (well within the grace) and "within the grace" hold however busy the
// machine is; one whose short grace the test waits out.
func TestBridgeGrace(t *testing.T) {
	const grace, short = time.Minute, 500 * time.Millisecond
	e := newEnv(t, func(c *Config) { c.BridgeGrace = grace })
	es := newEnv(t, func(c *Config) { c.BridgeGrace = short })
	for _, c := range []string{"never-1", "back-1", "revoked-1"} {
		addCluster(t, e, c, c == "revoked-1")
	}
	addCluster(t, es, "gone-1", false)
	connect(t, es, "gone-1", "conn-g")
	drop(t, es, "gone-1", "conn-g")
	connect(t, e, "revoked-1", "conn-r") // a stale record: never waited on

	refused := func(t *testing.T, e *env, cluster, wantMsg string) {
		t.Helper()
		start := time.Now()
		_, err, _ := e.exec(t, request(operator, cluster, "get", "pods"))
		if err == nil || err.Code != contracts.CodeExecutorUnavailable || !strings.Contains(err.Message, wantMsg) {
			t.Fatalf("got %s; want %s containing %q", fmtErr(err), contracts.CodeExecutorUnavailable, wantMsg)
		}
		if took := time.Since(start); took > grace/2 {
			t.Errorf("refused after %v; want at once, not after waiting", took)
		}
	}

	t.Run("never connected", func(t *testing.T) {
		refused(t, e, "never-1", `no executor is connected for cluster "never-1"`)
	})
	t.Run("token revoked", func(t *testing.T) {
		refused(t, e, "revoked-1", "revoked")
	})
	t.Run("beyond grace", func(t *testing.T) {
		seen, err := es.st.LastSeen(testCtx(t), "gone-1")
		if err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Until(seen.Add(short + 50*time.Millisecond)))
		refused(t, es, "gone-1", "last seen")
	})
	t.Run("within grace, executor comes back", func(t *testing.T) {
		connect(t, e, "back-1", "conn-b1")
		drop(t, e, "back-1", "conn-b1")
		before := testutil.ToFloat64(e.d.m.graceQueued)
		type reply struct {
			res contracts.CommandResult
			err *contracts.Error
		}
		done := make(chan reply, 1)
		go func() {
			res, err, _ := e.exec(t, withTimeout(request(operator, "back-1", "get", "pods"), 10))
			done <- reply{res, err}
		}()
		// Queued, not refused: nothing comes back while nobody serves.
		select {
		case r := <-done:
			t.Fatalf("got %s %s within the grace; want the command queued", r.res.Status, fmtErr(r.err))
		case <-time.After(300 * time.Millisecond):
		}
		ctx, cancel := context.WithCancel(testCtx(t))
		defer cancel()
		connect(t, e, "back-1", "conn-b2")
		go serve(ctx, e, "back-1")
		select {
		case r := <-done:
			if r.err != nil || r.res.Status != contracts.StatusSuccess || r.res.Output != "back\n" {
				t.Fatalf("got %s %s %q; want success from the reconnected executor", r.res.Status, fmtErr(r.err), r.res.Output)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("no reply after the executor reconnected")
		}
		if got := testutil.ToFloat64(e.d.m.graceQueued) - before; got != 1 {
			t.Errorf("kubently_dispatcher_grace_queued_total rose by %v; want 1", got)
		}
	})
}

// TestBridgeGraceDisabled: with BridgeGrace zero, a cluster whose stream
// ended a moment ago is refused at once.
func TestBridgeGraceDisabled(t *testing.T) {
	e := newEnv(t, nil)
	addCluster(t, e, "gone-1", false)
	connect(t, e, "gone-1", "conn-g")
	drop(t, e, "gone-1", "conn-g")
	_, err, _ := e.exec(t, request(operator, "gone-1", "get", "pods"))
	if err == nil || err.Code != contracts.CodeExecutorUnavailable {
		t.Fatalf("got %s; want %s", fmtErr(err), contracts.CodeExecutorUnavailable)
	}
}
