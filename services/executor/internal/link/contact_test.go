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
	announced []bool   // X-Executor-Heartbeats of each stream request
	connIDs   []string // conn ids handed out, in order
	beats     []beat   // heartbeats received
	ackConnID []string // X-Executor-Conn-ID of each ack
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

// TestHeartbeatsAtAnnouncedInterval: the executor announces heartbeats,
// posts them at the interval of the connected event with the stream's
// conn id and gateway, and names the stream on its acks.
func TestHeartbeatsAtAnnouncedInterval(t *testing.T) {
	const interval = 100 * time.Millisecond
	g := &beatGateway{contactMS: interval.Milliseconds()}
	srv := g.start(t)
	runClient(t, newClient(t, srv.URL, nil))
	var beats []beat
	testkit.CheckFor(t, 5*time.Second, 10*time.Millisecond, func() error {
		_, _, beats, _ = g.snapshot()
		if len(beats) < 11 {
			return fmt.Errorf("%d heartbeats; want 11", len(beats))
		}
		return nil
	})
	announced, connIDs, _, acks := g.snapshot()
	if len(announced) != 1 || !announced[0] {
		t.Fatalf("stream requests announced heartbeats %v; want [true]", announced)
	}
	for _, b := range beats {
		if b.hb.ConnID != connIDs[0] || b.hb.Gateway != "gw-a" {
			t.Fatalf("heartbeat %+v; want conn_id %s, gateway gw-a", b.hb, connIDs[0])
		}
	}
	// Ten intervals between the first and the eleventh beat.
	span := beats[10].at.Sub(beats[0].at)
	if span < 9*interval || span > 15*interval {
		t.Errorf("10 heartbeat intervals took %v; want about %v", span, 10*interval)
	}
	if len(acks) != 1 || acks[0] != connIDs[0] {
		t.Errorf("ack X-Executor-Conn-ID = %v; want [%s]", acks, connIDs[0])
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
// reason (a gateway without the route) does not.
func TestUnknownStreamReconnects(t *testing.T) {
	g := &beatGateway{contactMS: 50}
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
	runClient(t, newClient(t, srv.URL, nil))
	testkit.CheckFor(t, 5*time.Second, 10*time.Millisecond, func() error {
		if _, connIDs, _, _ := g.snapshot(); len(connIDs) < 2 {
			return fmt.Errorf("%d streams; want a second one after unknown_stream", len(connIDs))
		}
		return nil
	})
	_, connIDs, beats, _ := g.snapshot()
	first := 0
	for _, b := range beats {
		if b.hb.ConnID == connIDs[0] {
			first++
		}
	}
	if first != 3 {
		t.Errorf("%d heartbeats on the first stream; want 3 (a bare 404 is not the end of the stream, unknown_stream is)", first)
	}
	testkit.CheckFor(t, 5*time.Second, 10*time.Millisecond, func() error {
		_, connIDs, beats, _ := g.snapshot()
		if last := beats[len(beats)-1]; last.hb.ConnID != connIDs[1] {
			return fmt.Errorf("last heartbeat for %s; want the new stream %s", last.hb.ConnID, connIDs[1])
		}
		return nil
	})
}
