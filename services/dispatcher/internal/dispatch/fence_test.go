package dispatch

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"kubently.io/libs/audit"
	"kubently.io/libs/contracts"
	"kubently.io/libs/logging"
	"kubently.io/libs/natsutil/natstest"
	"kubently.io/libs/store/backend"
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
		return contracts.ExecutorResult{CommandID: c.ID, Status: contracts.StatusSuccess}, true
	})
	in = request(operator, online, "get", "pods", "-n", "shop")
	in.CommandID = fenced
	start := time.Now()
	_, cerr, corr = e.exec(t, in)
	if cerr == nil || cerr.Code != contracts.CodeUnavailable || cerr.Reason != ReasonFenced {
		t.Fatalf("fenced command id: got %s; want unavailable/%s", fmtErr(cerr), ReasonFenced)
	}
	if took := time.Since(start); took > 5*time.Second {
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
