package link

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"kubently.io/libs/contracts"
	"kubently.io/libs/testkit"
)

// beatGateway is a fake gateway: each stream announces contactMS (0: no
// heartbeats asked) under its own conn id; heartbeats are recorded and
// answered by answer (nil: 200).
type beatGateway struct {
	contactMS int64
	answer    func(w http.ResponseWriter, hb contracts.ExecutorHeartbeat) bool

	mu        sync.Mutex
	announced []bool      // X-Executor-Heartbeats of each stream request
	connIDs   []string    // conn ids handed out, in order
	connected []time.Time // when each stream's connected event was written
	beats     []beat      // heartbeats received
	ackConnID []string    // X-Executor-Conn-ID of each ack
}

type beat struct {
	at time.Time
	hb contracts.ExecutorHeartbeat
}

func (g *beatGateway) start(t *testing.T) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer "+token || r.Header.Get(contracts.HeaderClusterID) != "c1" {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		switch r.URL.Path {
		case "/v1/executor/heartbeat":
			var hb contracts.ExecutorHeartbeat
			if err := json.NewDecoder(r.Body).Decode(&hb); err != nil {
				w.WriteHeader(http.StatusBadRequest)
				return
			}
			g.mu.Lock()
			g.beats = append(g.beats, beat{at: time.Now(), hb: hb})
			g.mu.Unlock()
			if g.answer != nil && g.answer(w, hb) {
				return
			}
			_, _ = fmt.Fprint(w, `{"status":"ok"}`)
		case "/v1/executor/ack":
			g.mu.Lock()
			g.ackConnID = append(g.ackConnID, r.Header.Get(contracts.HeaderExecutorConnID))
			g.mu.Unlock()
			_, _ = fmt.Fprint(w, `{"status":"acked","acked":1}`)
		case "/v1/executor/stream":
			connID := contracts.NewID()
			g.mu.Lock()
			g.announced = append(g.announced, r.Header.Get(contracts.HeaderExecutorHeartbeats) == "1")
			g.connIDs = append(g.connIDs, connID)
			g.connected = append(g.connected, time.Now())
			n := len(g.connIDs)
			g.mu.Unlock()
			w.Header().Set("Content-Type", "text/event-stream")
			w.WriteHeader(http.StatusOK)
			hello := fmt.Sprintf(`{"type":%q,"cluster_id":"c1","conn_id":%q,"gateway":"gw-a","protocol_version":1,"heartbeat_interval_ms":1000`,
				contracts.TypeConnectedEvent, connID)
			if g.contactMS > 0 {
				hello += fmt.Sprintf(`,"contact_interval_ms":%d,"contact_timeout_ms":%d`, g.contactMS, 3*g.contactMS)
			}
			write(w, "event: connected\ndata: "+hello+"}\n\n")
			if n == 1 {
				write(w, "id: cmd-1\nevent: command\ndata: {\"id\":\"cmd-1\",\"cluster_id\":\"c1\",\"argv\":[\"get\",\"pods\"]}\n\n")
			}
			<-r.Context().Done()
		default:
			w.WriteHeader(http.StatusNotFound)
		}
	}))
	t.Cleanup(srv.Close)
	return srv
}

func (g *beatGateway) snapshot() (announced []bool, connIDs []string, beats []beat, acks []string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	return append([]bool(nil), g.announced...), append([]string(nil), g.connIDs...),
		append([]beat(nil), g.beats...), append([]string(nil), g.ackConnID...)
}

func runClient(t *testing.T, c *Client) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = c.Run(ctx, func(contracts.Command) {})
	}()
	t.Cleanup(func() { cancel(); <-done })
}

// waitLong bounds the waits of these tests for something that should
// happen at once: generous, so that a busy machine does not fail them.
const waitLong = 30 * time.Second

// manualBeats replaces c's heartbeat ticker (before Run): the heartbeat
// loops of c's streams take their ticks from the test (tick), and the
// intervals they asked for are recorded.
type manualBeats struct {
	c         chan time.Time
	mu        sync.Mutex
	intervals []time.Duration
}

func newManualBeats(c *Client) *manualBeats {
	m := &manualBeats{c: make(chan time.Time)}
	c.beatTicker = func(d time.Duration) (<-chan time.Time, func()) {
		m.mu.Lock()
		m.intervals = append(m.intervals, d)
		m.mu.Unlock()
		return m.c, func() {}
	}
	return m
}

// tick hands one tick to whichever heartbeat loop waits for one; the
// channel is unbuffered, so tick returns once a loop took it.
func (m *manualBeats) tick(t *testing.T) {
	t.Helper()
	select {
	case m.c <- time.Now():
	case <-time.After(waitLong):
		t.Fatalf("no heartbeat loop took a tick in %v", waitLong)
	}
}

func (m *manualBeats) asked() []time.Duration {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]time.Duration(nil), m.intervals...)
}

// waitBeats waits until g received n heartbeats, failing if it received
// more (each tick posts exactly one), and returns them.
func (g *beatGateway) waitBeats(t *testing.T, n int) []beat {
	t.Helper()
	var beats []beat
	testkit.CheckFor(t, waitLong, 5*time.Millisecond, func() error {
		_, _, beats, _ = g.snapshot()
		if len(beats) > n {
			t.Fatalf("%d heartbeats after %d ticks; want one per tick", len(beats), n)
		}
		if len(beats) < n {
			return fmt.Errorf("%d heartbeats; want %d", len(beats), n)
		}
		return nil
	})
	return beats
}

// noStale keeps the client from dropping the fake gateway's streams,
// which send nothing after their first events, as stale.
func noStale(cfg *Config) { cfg.StaleAfter = time.Hour }

// TestHeartbeatsAtAnnouncedInterval: the executor announces heartbeats,
// asks its ticker for the interval of the connected event (not the
// gateway's own heartbeat interval, nor the 100ms floor), posts one
// heartbeat per tick with the stream's conn id and gateway, and names
// the stream on its acks. The ticks are the test's: nothing is timed.
func TestHeartbeatsAtAnnouncedInterval(t *testing.T) {
	const interval = 7 * time.Second // also each beat's timeout
	g := &beatGateway{contactMS: interval.Milliseconds()}
	srv := g.start(t)
	c := newClient(t, srv.URL, noStale)
	beats := newManualBeats(c)
	runClient(t, c)
	for i := 1; i <= 5; i++ {
		beats.tick(t)
		g.waitBeats(t, i)
	}
	if got := beats.asked(); len(got) != 1 || got[0] != interval {
		t.Errorf("heartbeat ticker intervals %v; want [%v], the announced contact interval", got, interval)
	}
	var acks []string
	testkit.CheckFor(t, waitLong, 5*time.Millisecond, func() error {
		if _, _, _, acks = g.snapshot(); len(acks) == 0 {
			return fmt.Errorf("no ack yet")
		}
		return nil
	})
	announced, connIDs, got, _ := g.snapshot()
	if len(announced) != 1 || !announced[0] {
		t.Fatalf("stream requests announced heartbeats %v; want [true]", announced)
	}
	for _, b := range got {
		if b.hb.ConnID != connIDs[0] || b.hb.Gateway != "gw-a" {
			t.Fatalf("heartbeat %+v; want conn_id %s, gateway gw-a", b.hb, connIDs[0])
		}
	}
	if len(acks) != 1 || acks[0] != connIDs[0] {
		t.Errorf("ack X-Executor-Conn-ID = %v; want [%s]", acks, connIDs[0])
	}
}

// TestHeartbeatsOnTheClock: on the real clock, heartbeats keep coming,
// and none comes early: the k-th is posted no sooner than k announced
// intervals after the connected event. (Late beats are no failure: a
// busy machine delays them, and the gateway's contact timeout allows for
// that.)
func TestHeartbeatsOnTheClock(t *testing.T) {
	const interval = 100 * time.Millisecond
	g := &beatGateway{contactMS: interval.Milliseconds()}
	srv := g.start(t)
	runClient(t, newClient(t, srv.URL, noStale))
	const n = 5
	var beats []beat
	testkit.CheckFor(t, waitLong, 10*time.Millisecond, func() error {
		if _, _, beats, _ = g.snapshot(); len(beats) < n {
			return fmt.Errorf("%d heartbeats; want %d", len(beats), n)
		}
		return nil
	})
	g.mu.Lock()
	connected := g.connected[0]
	g.mu.Unlock()
	for k, b := range beats {
		if earliest := connected.Add(time.Duration(k+1) * interval); b.at.Before(earliest) {
			t.Errorf("heartbeat %d came %v after the connected event; want no sooner than %v", k+1, b.at.Sub(connected), earliest.Sub(connected))
		}
	}
}

// TestNoHeartbeatsUnlessAsked: a gateway that does not ask for heartbeats
// (an older one) gets none.
func TestNoHeartbeatsUnlessAsked(t *testing.T) {
	g := &beatGateway{}
	srv := g.start(t)
	c := newClient(t, srv.URL, nil)
	runClient(t, c)
	testkit.CheckFor(t, 5*time.Second, 10*time.Millisecond, func() error {
		if _, _, _, acks := g.snapshot(); len(acks) == 0 {
			return fmt.Errorf("no ack yet")
		}
		return nil
	})
	time.Sleep(300 * time.Millisecond) // nothing to wait for: no beat must come
	if _, _, beats, _ := g.snapshot(); len(beats) != 0 {
		t.Errorf("%d heartbeats to a gateway that asked for none; want 0", len(beats))
	}
}

// TestUnknownStreamReconnects: a heartbeat answered 404 unknown_stream
// ends the stream and the executor connects again; a 404 without that
// reason (a gateway without the route) does not. The test delivers each
// tick, so each beat is known to come from the stream's own loop.
func TestUnknownStreamReconnects(t *testing.T) {
	g := &beatGateway{contactMS: 7000} // a beat's timeout: ample on a busy machine
	var mu sync.Mutex
	answered := 0
	g.answer = func(w http.ResponseWriter, _ contracts.ExecutorHeartbeat) bool {
		mu.Lock()
		defer mu.Unlock()
		answered++
		switch answered {
		case 1:
			w.WriteHeader(http.StatusNotFound)
			_, _ = fmt.Fprint(w, `{"code":"not_found","message":"Not Found"}`)
			return true
		case 3:
			w.WriteHeader(http.StatusNotFound)
			_, _ = fmt.Fprint(w, `{"code":"not_found","reason":"unknown_stream","message":"no open stream"}`)
			return true
		}
		return false
	}
	srv := g.start(t)
	c := newClient(t, srv.URL, noStale)
	beats := newManualBeats(c)
	runClient(t, c)
	// Beat 1 (bare 404), beat 2 (200), beat 3 (unknown_stream): each tick
	// is taken once the previous beat was answered, by the loop of the
	// stream then open. Had the bare 404 ended the first stream, beat 2
	// would name a second one.
	for i := 1; i <= 3; i++ {
		beats.tick(t)
		g.waitBeats(t, i)
	}
	testkit.CheckFor(t, waitLong, 10*time.Millisecond, func() error {
		if _, connIDs, _, _ := g.snapshot(); len(connIDs) < 2 {
			return fmt.Errorf("%d streams; want a second one after unknown_stream", len(connIDs))
		}
		return nil
	})
	_, connIDs, got, _ := g.snapshot()
	for i, b := range got {
		if b.hb.ConnID != connIDs[0] {
			t.Errorf("heartbeat %d names %s; want the first stream %s (a bare 404 is not the end of the stream)", i+1, b.hb.ConnID, connIDs[0])
		}
	}
	// The second stream beats; the first stream's loop is gone.
	for i := 4; i <= 5; i++ {
		beats.tick(t)
		got = g.waitBeats(t, i)
		if last := got[i-1]; last.hb.ConnID != connIDs[1] {
			t.Errorf("heartbeat %d names %s; want the new stream %s", i, last.hb.ConnID, connIDs[1])
		}
	}
	if _, connIDs, _, _ := g.snapshot(); len(connIDs) != 2 {
		t.Errorf("%d streams; want 2 (only unknown_stream ends one)", len(connIDs))
	}
}
