package dispatch

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"kubently.io/libs/audit"
	"kubently.io/libs/contracts"
	"kubently.io/libs/testkit"
)

// stream records an executor stream of instance on cluster, as the
// gateway does.
func stream(t *testing.T, e *env, cluster, conn, executor, instance string) {
	t.Helper()
	now := time.Now()
	if err := e.st.Refresh(testCtx(t), contracts.ExecutorInfo{Cluster: cluster, ConnID: conn, ExecutorID: executor, Instance: instance,
		Gateway: "gw", ConnectedAt: now, LastSeen: now}, time.Minute); err != nil {
		t.Fatal(err)
	}
}

// holdNext claims the cluster's next command and acknowledges it as the
// executor instance would through the gateway (Ack, then Hold).
func holdNext(t *testing.T, e *env, cluster string, h contracts.CommandHolder) contracts.Command {
	t.Helper()
	var cmd contracts.Command
	testkit.CheckFor(t, 10*time.Second, 20*time.Millisecond, func() error {
		cmds, err := e.st.Claim(testCtx(t), cluster, h.ConnID, 1)
		if err != nil {
			return err
		}
		if len(cmds) == 0 {
			return errors.New("nothing to claim yet")
		}
		cmd = cmds[0]
		return nil
	})
	if _, err := e.st.Ack(testCtx(t), cluster, []string{cmd.ID}); err != nil {
		t.Fatal(err)
	}
	if err := e.st.Hold(testCtx(t), cluster, cmd.ID, h); err != nil {
		t.Fatal(err)
	}
	return cmd
}

// TestExecutorLost: a command acknowledged by an executor instance whose
// stream then ends for good is answered 502 executor_lost, naming the
// executor and the command, within the grace plus a check, not at its
// deadline; the audit log records outcome unavailable, reason
// executor_lost. An instance whose stream ends and comes back within the
// grace (a gateway hand-off) keeps the command and its result reaches the
// caller.
func TestExecutorLost(t *testing.T) {
	const grace = time.Second
	e := newEnv(t, func(c *Config) { c.ExecutorLostGrace, c.LostCheckInterval = grace, 50*time.Millisecond })
	addCluster(t, e, "lost-1", false)

	type reply struct {
		res  contracts.CommandResult
		err  *contracts.Error
		corr string
		took time.Duration
	}
	send := func() <-chan reply {
		ch := make(chan reply, 1)
		go func() {
			start := time.Now()
			res, err, corr := e.exec(t, withTimeout(request(operator, "lost-1", "get", "pods"), 60))
			ch <- reply{res, err, corr, time.Since(start)}
		}()
		return ch
	}
	wait := func(t *testing.T, ch <-chan reply) reply {
		t.Helper()
		select {
		case r := <-ch:
			return r
		case <-time.After(30 * time.Second):
			t.Fatal("no reply within 30s")
			return reply{}
		}
	}

	t.Run("dies holding it", func(t *testing.T) {
		h := contracts.CommandHolder{ExecutorID: "exec-a", Instance: contracts.NewID(), ConnID: "conn-a"}
		stream(t, e, "lost-1", h.ConnID, h.ExecutorID, h.Instance)
		ch := send()
		cmd := holdNext(t, e, "lost-1", h)
		died := time.Now()
		drop(t, e, "lost-1", h.ConnID) // kill -9: the gateway sees the stream end
		r := wait(t, ch)
		if r.err == nil || r.err.Code != contracts.CodeExecutorLost {
			t.Fatalf("got %s %s; want %s", r.res.Status, fmtErr(r.err), contracts.CodeExecutorLost)
		}
		if got := r.err.Code.Status(); got != 502 {
			t.Errorf("status of %s = %d; want 502", r.err.Code, got)
		}
		for _, want := range []string{"exec-a", h.Instance, cmd.ID, "may have run"} {
			if !strings.Contains(r.err.Message, want) {
				t.Errorf("message %q does not name %q", r.err.Message, want)
			}
		}
		if since := time.Since(died); since < grace {
			t.Errorf("answered %v after the stream ended; want not before the %v grace", since, grace)
		}
		rec := final(t, e.records(t, audit.Filter{}), r.corr)
		if rec.Outcome != audit.OutcomeUnavailable || rec.Reason != string(contracts.CodeExecutorLost) {
			t.Errorf("final record %s/%s; want %s/%s", rec.Outcome, rec.Reason, audit.OutcomeUnavailable, contracts.CodeExecutorLost)
		}
		if got := testutil.ToFloat64(e.d.m.executorLost); got != 1 {
			t.Errorf("kubently_dispatcher_executor_lost_total = %v; want 1", got)
		}
	})

	t.Run("comes back within the grace", func(t *testing.T) {
		h := contracts.CommandHolder{ExecutorID: "exec-b", Instance: contracts.NewID(), ConnID: "conn-b1"}
		stream(t, e, "lost-1", h.ConnID, h.ExecutorID, h.Instance)
		ch := send()
		cmd := holdNext(t, e, "lost-1", h)
		left := time.Now()
		drop(t, e, "lost-1", "conn-b1") // the gateway shut down
		time.Sleep(grace / 4)           // reconnecting; time-based on purpose
		stream(t, e, "lost-1", "conn-b2", h.ExecutorID, h.Instance)
		subj, _ := contracts.ResultSubject("lost-1", cmd.ID)
		b, _ := json.Marshal(contracts.ExecutorResult{CommandID: cmd.ID, Outcome: contracts.Outcome{Status: contracts.StatusSuccess, Output: "still here\n"}})
		if away := time.Since(left); away >= grace*3/4 {
			// A machine too busy to bring the instance back well within
			// the grace cannot tell this case from the one above: answer
			// the command, whatever became of it, and say so.
			_, _ = e.nc.Request(subj, b, 5*time.Second)
			wait(t, ch)
			drop(t, e, "lost-1", "conn-b2")
			t.Skipf("the instance took %v of the %v grace to come back: too busy a machine for this case", away, grace)
		}
		time.Sleep(2 * grace) // past the grace: still held; time-based on purpose
		if _, err := e.nc.Request(subj, b, 5*time.Second); err != nil {
			t.Fatalf("posting the result: %v (the dispatcher stopped waiting)", err)
		}
		r := wait(t, ch)
		if r.err != nil || r.res.Output != "still here\n" {
			t.Fatalf("got %s %s %q; want the reconnected instance's result", r.res.Status, fmtErr(r.err), r.res.Output)
		}
		drop(t, e, "lost-1", "conn-b2")
	})

	t.Run("restarted executor is another instance", func(t *testing.T) {
		h := contracts.CommandHolder{ExecutorID: "exec-c", Instance: contracts.NewID(), ConnID: "conn-c1"}
		stream(t, e, "lost-1", h.ConnID, h.ExecutorID, h.Instance)
		ch := send()
		holdNext(t, e, "lost-1", h)
		drop(t, e, "lost-1", "conn-c1")
		// The same executor id back, but a new process: it does not hold
		// the command.
		stream(t, e, "lost-1", "conn-c2", h.ExecutorID, contracts.NewID())
		r := wait(t, ch)
		if r.err == nil || r.err.Code != contracts.CodeExecutorLost {
			t.Fatalf("got %s %s; want %s", r.res.Status, fmtErr(r.err), contracts.CodeExecutorLost)
		}
		drop(t, e, "lost-1", "conn-c2")
	})

	t.Run("presence without instances is not judged", func(t *testing.T) {
		// A gateway older than instances writes presence without one.
		h := contracts.CommandHolder{ExecutorID: "exec-d", Instance: contracts.NewID(), ConnID: "conn-d"}
		stream(t, e, "lost-1", h.ConnID, h.ExecutorID, "")
		ch := send()
		cmd := holdNext(t, e, "lost-1", h)
		time.Sleep(2 * grace) // time-based on purpose: nothing may be declared
		subj, _ := contracts.ResultSubject("lost-1", cmd.ID)
		b, _ := json.Marshal(contracts.ExecutorResult{CommandID: cmd.ID, Outcome: contracts.Outcome{Status: contracts.StatusSuccess, Output: "old gateway\n"}})
		if _, err := e.nc.Request(subj, b, 5*time.Second); err != nil {
			t.Fatalf("posting the result: %v (the dispatcher stopped waiting)", err)
		}
		if r := wait(t, ch); r.err != nil || r.res.Output != "old gateway\n" {
			t.Fatalf("got %s %s %q; want the result", r.res.Status, fmtErr(r.err), r.res.Output)
		}
		drop(t, e, "lost-1", h.ConnID)
	})
}

// TestExecutorLostDisabled: with ExecutorLostGrace zero, a command whose
// holder died waits for its deadline (status timeout).
func TestExecutorLostDisabled(t *testing.T) {
	e := newEnv(t, nil)
	addCluster(t, e, "lost-1", false)
	h := contracts.CommandHolder{ExecutorID: "exec-a", Instance: contracts.NewID(), ConnID: "conn-a"}
	stream(t, e, "lost-1", h.ConnID, h.ExecutorID, h.Instance)
	ch := make(chan *contracts.Error, 1)
	var res contracts.CommandResult
	go func() {
		var err *contracts.Error
		res, err, _ = e.exec(t, withTimeout(request(operator, "lost-1", "get", "pods"), 2))
		ch <- err
	}()
	holdNext(t, e, "lost-1", h)
	drop(t, e, "lost-1", h.ConnID)
	select {
	case err := <-ch:
		if err != nil || res.Status != contracts.StatusTimeout {
			t.Fatalf("got %s %s; want status timeout", res.Status, fmtErr(err))
		}
	case <-time.After(20 * time.Second):
		t.Fatal("no reply")
	}
}
