package dispatch

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"kubently.io/libs/contracts"
	"kubently.io/libs/testkit"
)

// TestReplayCache: replies are kept by id, replaced by a newer one, and
// evicted oldest first past the byte bound or the TTL.
func TestReplayCache(t *testing.T) {
	now := time.Unix(1000, 0)
	c := newReplayCache(time.Minute, 10, func() time.Time { return now })
	c.put("a", []byte("aaaa"))
	c.put("b", []byte("bbbb"))
	if got, ok := c.get("a"); !ok || string(got) != "aaaa" {
		t.Fatalf("get(a) = %q, %v", got, ok)
	}
	c.put("a", []byte("AA")) // replaced: 6 bytes in all
	c.put("c", []byte("cccc"))
	if _, ok := c.get("b"); !ok {
		t.Errorf("b evicted at 10 bytes of 10")
	}
	c.put("d", []byte("d")) // 11 bytes: the oldest (b) goes
	if _, ok := c.get("b"); ok {
		t.Errorf("b kept past the byte bound")
	}
	if got, ok := c.get("a"); !ok || string(got) != "AA" {
		t.Errorf("get(a) = %q, %v; want the newer reply", got, ok)
	}
	c.put("huge", []byte(strings.Repeat("x", 11)))
	if _, ok := c.get("huge"); ok {
		t.Errorf("a reply larger than the cache was kept")
	}
	now = now.Add(2 * time.Minute)
	if _, ok := c.get("a"); ok || c.len() != 0 {
		t.Errorf("entries kept past the TTL: %d", c.len())
	}
}

// TestReplay: after a command's reply went out, a replay request gets the
// same reply again; an unknown, malformed or foreign id gets nothing
// (other replicas may have it); a stopped dispatcher replays nothing.
func TestReplay(t *testing.T) {
	e := newEnv(t, nil)
	id := contracts.NewID()
	in := request(operator, online, "get", "pods", "-n", "shop")
	in.CommandID = id
	res, cerr, _ := e.exec(t, in)
	if cerr != nil || res.Status != contracts.StatusSuccess {
		t.Fatalf("exec = %+v, %s", res, fmtErr(cerr))
	}
	ask := func(body string) (*nats.Msg, error) {
		return e.nc.Request(contracts.DispatchReplaySubject, []byte(body), 300*time.Millisecond)
	}
	msg, err := ask(`{"command_id":"` + id + `"}`)
	if err != nil {
		t.Fatalf("replay: %v", err)
	}
	var again contracts.CommandResult
	if err := contracts.Decode(msg.Data, contracts.TypeCommandResult, &again); err != nil {
		t.Fatal(err)
	}
	if again.CommandID != id || again.Output != res.Output || again.Status != res.Status {
		t.Errorf("replayed %+v; want %+v", again, res)
	}

	// A denial's reply is replayable too (as an error envelope).
	denied := request(viewer, online, "get", "pods")
	denied.CommandID = contracts.NewID()
	if _, cerr, _ := e.exec(t, denied); cerr == nil {
		t.Fatal("viewer executed a command")
	}
	msg, err = ask(`{"command_id":"` + denied.CommandID + `"}`)
	if err != nil {
		t.Fatalf("replay of a denial: %v", err)
	}
	var r contracts.Response
	if err := json.Unmarshal(msg.Data, &r); err != nil || r.Error == nil || r.Error.Code != contracts.CodeForbidden {
		t.Errorf("replayed denial %s; want a forbidden error", msg.Data)
	}

	for _, body := range []string{`{"command_id":"` + contracts.NewID() + `"}`, `{"command_id":"../x"}`, `not json`, ``} {
		if msg, err := ask(body); !errors.Is(err, nats.ErrTimeout) {
			t.Errorf("replay %q: got %v, %v; want no answer", body, msg, err)
		}
	}

	if err := e.d.Stop(); err != nil {
		t.Fatal(err)
	}
	if msg, err := ask(`{"command_id":"` + id + `"}`); err == nil {
		t.Errorf("a stopped dispatcher replayed %s", msg.Data)
	}
}

// TestReplayPending: while a command is still in progress (no reply out
// yet), a replay request is answered "pending", not left silent, so the
// gateway keeps waiting instead of declaring the reply lost.
func TestReplayPending(t *testing.T) {
	e := newEnv(t, nil)
	release := make(chan struct{})
	e.setRun(func(c contracts.Command) (contracts.ExecutorResult, bool) {
		<-release
		return contracts.ExecutorResult{CommandID: c.ID, Outcome: contracts.Outcome{Status: contracts.StatusSuccess, Output: "done"}}, true
	})
	id := contracts.NewID()
	in := request(operator, online, "get", "pods", "-n", "shop")
	in.CommandID = id
	done := make(chan contracts.CommandResult, 1)
	go func() {
		res, _, _ := e.exec(t, in)
		done <- res
	}()
	var msg *nats.Msg
	testkit.CheckFor(t, 5*time.Second, 20*time.Millisecond, func() error {
		var err error
		msg, err = e.nc.Request(contracts.DispatchReplaySubject, []byte(`{"command_id":"`+id+`"}`), 300*time.Millisecond)
		return err
	})
	var env contracts.Response
	if err := json.Unmarshal(msg.Data, &env); err != nil || env.Type != contracts.TypeReplayPending {
		t.Errorf("replay while in progress: %s; want type %s", msg.Data, contracts.TypeReplayPending)
	}
	close(release)
	if res := <-done; res.Output != "done" {
		t.Fatalf("result %+v", res)
	}
	msg, err := e.nc.Request(contracts.DispatchReplaySubject, []byte(`{"command_id":"`+id+`"}`), 300*time.Millisecond)
	if err != nil || !strings.Contains(string(msg.Data), "done") {
		t.Errorf("replay after the reply: %v, %v; want the result", msg, err)
	}
}
