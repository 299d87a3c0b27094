package dispatch

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"kubently.io/libs/audit"
	"kubently.io/libs/contracts"
	"kubently.io/libs/logging"
	"kubently.io/libs/natsutil/natstest"
	"kubently.io/libs/store/backend"
	"kubently.io/libs/testkit"
)

// TestCommandID: the gateway's command id is the command's id end to end;
// a malformed one is refused before anything runs; a fenced one (the
// gateway gave up on the request) is refused, never queued, and audited.
func TestCommandID(t *testing.T) {
	e := newEnv(t, nil)

	id := contracts.NewID()
	in := request(operator, online, "get", "pods", "-n", "shop")
	in.CommandID = id
	res, cerr, corr := e.exec(t, in)
	if cerr != nil || res.CommandID != id || res.Status != contracts.StatusSuccess {
		t.Fatalf("exec with command id = %+v, %s; want success as %s", res, fmtErr(cerr), id)
	}
	if rec := final(t, e.records(t, audit.Filter{}), corr); rec.CommandID != id {
		t.Errorf("final record command id %q; want %q", rec.CommandID, id)
	}

	for _, bad := range []string{"../x", "a b", string(make([]byte, 65))} {
		in := request(operator, online, "get", "pods", "-n", "shop")
		in.CommandID = bad
		_, cerr, corr := e.exec(t, in)
		if cerr == nil || cerr.Code != contracts.CodeInvalidID {
			t.Errorf("command id %q: got %s; want invalid_id", bad, fmtErr(cerr))
			continue
		}
		if rec := final(t, e.records(t, audit.Filter{}), corr); rec.Event != audit.EventCommandDenied {
			t.Errorf("command id %q: final record %s; want command_denied", bad, rec.Event)
		}
	}

	fenced := contracts.NewID()
	if st, err := e.st.Fence(testCtx(t), fenced, time.Now().Add(time.Minute)); err != nil || st.Queued {
		t.Fatalf("Fence = %+v, %v", st, err)
	}
	ran := 0
	e.setRun(func(c contracts.Command) (contracts.ExecutorResult, bool) {
		ran++
		return contracts.ExecutorResult{CommandID: c.ID, Outcome: contracts.Outcome{Status: contracts.StatusSuccess}}, true
	})
	in = request(operator, online, "get", "pods", "-n", "shop")
	in.CommandID = fenced
	start := time.Now()
	_, cerr, corr = e.exec(t, in)
	if cerr == nil || cerr.Code != contracts.CodeUnavailable || cerr.Reason != ReasonFenced {
		t.Fatalf("fenced command id: got %s; want unavailable/%s", fmtErr(cerr), ReasonFenced)
	}
	// Bounded by half the command's default 30 s timeout: at once, not
	// after waiting for a result, on however busy a machine.
	if took := time.Since(start); took > contracts.DefaultTimeout/2 {
		t.Errorf("fenced command refused after %v; want at once", took)
	}
	rec := final(t, e.records(t, audit.Filter{}), corr)
	if rec.Outcome != audit.OutcomeUnavailable || rec.Reason != ReasonFenced {
		t.Errorf("fenced command's final record %s/%s; want unavailable/%s", rec.Outcome, rec.Reason, ReasonFenced)
	}
	if d, err := e.st.Depth(testCtx(t), online); err != nil || d != 0 {
		t.Errorf("queue depth after the fenced command %d, %v; want 0", d, err)
	}
	if _, err := e.st.Owner(testCtx(t), fenced); err == nil {
		t.Errorf("Owner(fenced id) found it; want not found")
	}
	if ran != 0 {
		t.Errorf("the fenced command ran %d times; want 0", ran)
	}
}

// TestAnnounceReconnect: when the dispatcher's NATS connection drops and
// comes back it publishes BusReconnected, with the time the connection
// dropped, for the gateways; a stopped dispatcher does not.
func TestAnnounceReconnect(t *testing.T) {
	srv := natstest.RunServer(t)
	nc := natstest.Connect(t, srv)
	watcher := natstest.Connect(t, srv)
	st, err := backend.Open(testCtx(t), backend.Config{Conn: nc})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	d, err := New(testCtx(t), Config{Conn: nc, Store: st, Audit: nopAuditor{}, Log: logging.Discard()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = d.Stop() })
	sub, err := watcher.SubscribeSync(contracts.BusReconnectedSubject)
	if err != nil {
		t.Fatal(err)
	}
	if err := watcher.Flush(); err != nil {
		t.Fatal(err)
	}

	before := time.Now()
	if err := nc.ForceReconnect(); err != nil {
		t.Fatal(err)
	}
	msg, err := sub.NextMsg(10 * time.Second)
	if err != nil {
		t.Fatalf("no BusReconnected within 10s of the reconnect: %v", err)
	}
	var got contracts.BusReconnected
	if err := json.Unmarshal(msg.Data, &got); err != nil {
		t.Fatal(err)
	}
	if got.Type != contracts.TypeBusReconnected || got.Service != "dispatcher" || got.Instance == "" ||
		got.DisconnectedAt.Before(before.Add(-time.Millisecond)) || got.DisconnectedAt.After(time.Now()) {
		t.Errorf("BusReconnected = %+v; want its type, service dispatcher, an instance and a drop after %v", got, before)
	}

	_ = d.Stop()
	if err := nc.ForceReconnect(); err != nil {
		t.Fatal(err)
	}
	if msg, err := sub.NextMsg(time.Second); err == nil {
		t.Errorf("a stopped dispatcher announced a reconnect: %s", msg.Data)
	}
}

// nopAuditor stores nothing.
type nopAuditor struct{}

func (nopAuditor) Write(context.Context, audit.Record) error { return nil }

// TestStopDrains: stopping the dispatcher (a rolling restart) lets a
// command in flight finish and answers it; one whose result does not come
// within StopTimeout is answered unavailable/dispatcher_stopped, naming
// its command, and audited — not cut off the moment the service's context
// ends.
func TestStopDrains(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.StopTimeout = 1500 * time.Millisecond })
	release := make(chan struct{})
	e.setRun(func(c contracts.Command) (contracts.ExecutorResult, bool) {
		if c.Argv[len(c.Argv)-1] == "never" {
			return contracts.ExecutorResult{}, false
		}
		<-release
		return contracts.ExecutorResult{CommandID: c.ID, Outcome: contracts.Outcome{Status: contracts.StatusSuccess, Output: "drained"}}, true
	})
	type reply struct {
		res  contracts.CommandResult
		err  *contracts.Error
		corr string
	}
	send := func(name string) <-chan reply {
		ch := make(chan reply, 1)
		go func() {
			res, err, corr := e.exec(t, request(operator, online, "get", "pods", "-n", "shop", name))
			ch <- reply{res, err, corr}
		}()
		return ch
	}
	slow, never := send("slow"), send("never")
	testkit.CheckFor(t, 5*time.Second, 20*time.Millisecond, func() error {
		if n := len(e.records(t, audit.Filter{Event: audit.EventCommandDispatched})); n < 2 {
			return fmt.Errorf("%d dispatched records; want 2", n)
		}
		return nil
	})
	stopped := make(chan error, 1)
	start := time.Now()
	go func() { stopped <- e.d.Stop() }()
	time.Sleep(300 * time.Millisecond) // Stop has begun; time-based on purpose
	close(release)

	r := <-slow
	if r.err != nil || r.res.Status != contracts.StatusSuccess || r.res.Output != "drained" {
		t.Errorf("command in flight during Stop: %+v, %s; want its result", r.res, fmtErr(r.err))
	}
	r = <-never
	if r.err == nil || r.err.Code != contracts.CodeUnavailable || r.err.Reason != ReasonDispatcherStopped || !strings.Contains(r.err.Message, "may still run") {
		t.Fatalf("command without a result during Stop: %s; want unavailable/%s", fmtErr(r.err), ReasonDispatcherStopped)
	}
	// Not before the StopTimeout (start is before Stop began); well
	// before the command's own 30 s timeout.
	if took := time.Since(start); took < 1500*time.Millisecond || took > contracts.DefaultTimeout/2 {
		t.Errorf("answered %v after Stop began; want after the 1.5s StopTimeout, not at the command's timeout", took)
	}
	rec := final(t, e.records(t, audit.Filter{}), r.corr)
	if rec.Outcome != audit.OutcomeUnavailable || rec.Reason != ReasonDispatcherStopped || !strings.Contains(r.err.Message, rec.CommandID) {
		t.Errorf("final record %s/%s for %s; want unavailable/%s and the message naming it", rec.Outcome, rec.Reason, rec.CommandID, ReasonDispatcherStopped)
	}
	select {
	case err := <-stopped:
		if err != nil {
			t.Errorf("Stop = %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Stop did not return")
	}
}

// slowAuditor holds every command_executed write until `until` (an audit
// outage such as a JetStream leader election), then stores it.
type slowAuditor struct {
	Auditor
	until time.Time
}

func (a slowAuditor) Write(ctx context.Context, rec audit.Record) error {
	if rec.Event == audit.EventCommandExecuted {
		select {
		case <-time.After(time.Until(a.until)):
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return a.Auditor.Write(ctx, rec)
}

// TestFinalRecordOutlivesShortOutage: a command that ran keeps its result
// through an audit outage longer than AuditTimeout but within its own
// deadline — the final record is written late, not given up on — and an
// outage past the deadline still withholds it.
func TestFinalRecordOutlivesShortOutage(t *testing.T) {
	var slow *slowAuditor
	e := newEnv(t, func(c *Config) {
		slow = &slowAuditor{Auditor: c.Audit}
		c.Audit = slow
		c.AuditTimeout = 300 * time.Millisecond
	})
	slow.until = time.Now().Add(1500 * time.Millisecond)
	in := request(operator, online, "get", "pods", "-n", "shop")
	in.TimeoutSeconds = 5
	res, cerr, corr := e.exec(t, in)
	if cerr != nil || res.Status != contracts.StatusSuccess {
		t.Fatalf("got %+v, %s; want the result once the audit log is back", res, fmtErr(cerr))
	}
	if rec := final(t, e.records(t, audit.Filter{}), corr); rec.Outcome != audit.OutcomeSuccess {
		t.Errorf("final record %s; want success", rec.Outcome)
	}

	slow.until = time.Now().Add(time.Hour)
	in.TimeoutSeconds = 1
	start := time.Now()
	_, cerr, _ = e.exec(t, in)
	if cerr == nil || cerr.Code != contracts.CodeUnavailable || !strings.Contains(cerr.Message, "withheld") {
		t.Fatalf("got %s; want unavailable: result withheld", fmtErr(cerr))
	}
	// By the deadline plus finalWriteSlack, with room for a busy
	// machine; the outage itself lasts an hour.
	if took := time.Since(start); took > 1*time.Second+finalWriteSlack+10*time.Second {
		t.Errorf("withheld after %v; want by the deadline plus %v", took, finalWriteSlack)
	}
}
