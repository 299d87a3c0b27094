package link

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"kubently.io/libs/contracts"
	"kubently.io/libs/logging"
)

const token = "tok-0123456789abcdef"

func newClient(t *testing.T, url string, mod func(*Config)) *Client {
	t.Helper()
	cfg := Config{APIURL: url, Cluster: "c1", Token: token, ExecutorID: "e1", Log: logging.Discard(),
		MinBackoff: 10 * time.Millisecond, MaxBackoff: 50 * time.Millisecond}
	if mod != nil {
		mod(&cfg)
	}
	c, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestNewRejectsBadConfig(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
	}{
		{"no log", Config{APIURL: "http://x", Cluster: "c", Token: "t"}},
		{"bad url", Config{APIURL: "ftp://x", Cluster: "c", Token: "t", Log: logging.Discard()}},
		{"no url", Config{Cluster: "c", Token: "t", Log: logging.Discard()}},
		{"bad cluster", Config{APIURL: "http://x", Cluster: "C_1", Token: "t", Log: logging.Discard()}},
		{"no token", Config{APIURL: "http://x", Cluster: "c", Log: logging.Discard()}},
	}
	for _, tt := range tests {
		if _, err := New(tt.cfg); err == nil {
			t.Errorf("%s: New = nil error; want error", tt.name)
		}
	}
}

// sseServer serves one scripted stream per connection and accepts acks.
func sseServer(t *testing.T, script func(w http.ResponseWriter, r *http.Request, conn int)) (*httptest.Server, *atomic.Int32) {
	t.Helper()
	return sseServerAcks(t, script, nil)
}

// sseServerAcks is sseServer that sends the ids of every ack to acks.
func sseServerAcks(t *testing.T, script func(w http.ResponseWriter, r *http.Request, conn int), acks chan<- []string) (*httptest.Server, *atomic.Int32) {
	t.Helper()
	var conns atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer "+token || r.Header.Get(contracts.HeaderClusterID) != "c1" {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		if r.URL.Path == "/v1/executor/ack" {
			var a contracts.ExecutorAck
			if err := json.NewDecoder(r.Body).Decode(&a); err != nil || r.Method != http.MethodPost {
				w.WriteHeader(http.StatusBadRequest)
				return
			}
			if acks != nil {
				acks <- a.CommandIDs
			}
			_, _ = fmt.Fprint(w, `{"status":"acked","acked":1}`)
			return
		}
		n := int(conns.Add(1))
		w.Header().Set("Content-Type", "text/event-stream")
		w.WriteHeader(http.StatusOK)
		w.(http.Flusher).Flush()
		script(w, r, n)
	}))
	t.Cleanup(srv.Close)
	return srv, &conns
}

func write(w http.ResponseWriter, s string) {
	_, _ = fmt.Fprint(w, s)
	w.(http.Flusher).Flush()
}

func TestStreamDeliversCommandsAndResendsLastEventID(t *testing.T) {
	var mu sync.Mutex
	var lastIDs []string
	srv, _ := sseServer(t, func(w http.ResponseWriter, r *http.Request, n int) {
		mu.Lock()
		lastIDs = append(lastIDs, r.Header.Get(contracts.HeaderLastEventID))
		mu.Unlock()
		write(w, "event: connected\ndata: {\"heartbeat_interval_ms\":1000}\n\n")
		write(w, ": a comment\n\n")
		write(w, fmt.Sprintf("id: cmd%d\nevent: command\ndata: {\"id\":\"cmd%d\",\"cluster_id\":\"c1\",\n", n, n))
		write(w, "data: \"argv\":[\"get\",\"pods\"]}\n\n")
		write(w, "event: command\ndata: not json\n\n")
		// end the stream: the client reconnects
	})
	c := newClient(t, srv.URL, nil)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	got := make(chan contracts.Command, 10)
	go func() { _ = c.Run(ctx, func(cmd contracts.Command) { got <- cmd }) }()
	for i := 1; i <= 2; i++ {
		select {
		case cmd := <-got:
			if cmd.ID != fmt.Sprintf("cmd%d", i) || strings.Join(cmd.Argv, " ") != "get pods" {
				t.Fatalf("command %d = %+v", i, cmd)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("command %d not delivered", i)
		}
	}
	cancel()
	mu.Lock()
	defer mu.Unlock()
	if lastIDs[0] != "" || lastIDs[1] != "cmd1" {
		t.Errorf("Last-Event-ID per connection = %q; want [\"\" \"cmd1\" ...]", lastIDs)
	}
}

// TestAcksEveryCommandAfterHandingItOver: each command event is
// acknowledged once onCommand returned (it is queued), including a
// redelivered duplicate; a malformed one is not.
func TestAcksEveryCommandAfterHandingItOver(t *testing.T) {
	acks := make(chan []string, 16)
	var handed sync.Map
	srv, _ := sseServerAcks(t, func(w http.ResponseWriter, r *http.Request, n int) {
		if n > 1 {
			<-r.Context().Done()
			return
		}
		write(w, "event: connected\ndata: {}\n\n")
		for _, id := range []string{"a1", "a2", "a1"} {
			write(w, fmt.Sprintf("id: %s\nevent: command\ndata: {\"id\":%q,\"cluster_id\":\"c1\",\"argv\":[\"get\",\"pods\"]}\n\n", id, id))
		}
		write(w, "event: command\ndata: not json\n\n")
		time.Sleep(time.Second)
	}, acks)
	c := newClient(t, srv.URL, nil)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() {
		done <- c.Run(ctx, func(cmd contracts.Command) { handed.Store(cmd.ID, true) })
	}()
	var got []string
	timeout := time.After(5 * time.Second)
	for len(got) < 3 {
		select {
		case ids := <-acks:
			for _, id := range ids {
				if _, ok := handed.Load(id); !ok {
					t.Errorf("ack of %s before onCommand got it", id)
				}
			}
			got = append(got, ids...)
		case <-timeout:
			t.Fatalf("acked %v; want a1, a2, a1", got)
		}
	}
	if strings.Join(got, ",") != "a1,a2,a1" {
		t.Errorf("acked %v; want [a1 a2 a1]", got)
	}
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Errorf("Run() = %v; want %v", err, context.Canceled)
	}
}

func TestStopsOn401(t *testing.T) {
	srv, _ := sseServer(t, func(http.ResponseWriter, *http.Request, int) {})
	c := newClient(t, srv.URL, func(c *Config) { c.Token = "wrong-token-0123456789" })
	done := make(chan error, 1)
	go func() { done <- c.Run(context.Background(), func(contracts.Command) {}) }()
	select {
	case err := <-done:
		if !errors.Is(err, ErrUnauthorized) {
			t.Fatalf("Run = %v; want ErrUnauthorized", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Run kept retrying after 401")
	}
}

func TestDropsStaleStream(t *testing.T) {
	release := make(chan struct{})
	defer close(release)
	srv, conns := sseServer(t, func(w http.ResponseWriter, r *http.Request, n int) {
		// Announce 50ms heartbeats, then go silent (a half-open link).
		write(w, "event: connected\ndata: {\"heartbeat_interval_ms\":50}\n\n")
		select {
		case <-release:
		case <-r.Context().Done():
		}
	})
	c := newClient(t, srv.URL, nil)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() { _ = c.Run(ctx, func(contracts.Command) {}) }()
	deadline := time.Now().Add(10 * time.Second)
	for conns.Load() < 3 {
		if time.Now().After(deadline) {
			t.Fatalf("only %d connections; a silent stream was not dropped", conns.Load())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestPostResult(t *testing.T) {
	var calls atomic.Int32
	statuses := []int{http.StatusServiceUnavailable, http.StatusBadGateway, http.StatusOK}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := calls.Add(1)
		w.WriteHeader(statuses[min(int(n)-1, len(statuses)-1)])
	}))
	defer srv.Close()
	c := newClient(t, srv.URL, nil)
	if err := c.PostResult(context.Background(), contracts.ExecutorResult{CommandID: "x"}, time.Now().Add(time.Minute)); err != nil {
		t.Fatalf("PostResult = %v; want success after retries", err)
	}
	if calls.Load() != 3 {
		t.Errorf("calls = %d; want 3", calls.Load())
	}

	for _, tt := range []struct {
		status int
		want   error
	}{{http.StatusForbidden, ErrRejected}, {http.StatusNotFound, ErrRejected}, {http.StatusConflict, ErrRejected}, {http.StatusUnauthorized, ErrUnauthorized}} {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(tt.status) }))
		c := newClient(t, srv.URL, nil)
		err := c.PostResult(context.Background(), contracts.ExecutorResult{CommandID: "x"}, time.Now().Add(time.Minute))
		if !errors.Is(err, tt.want) {
			t.Errorf("status %d: PostResult = %v; want %v", tt.status, err, tt.want)
		}
		srv.Close()
	}

	down := newClient(t, "http://127.0.0.1:1", nil)
	if err := down.PostResult(context.Background(), contracts.ExecutorResult{CommandID: "x"}, time.Now().Add(300*time.Millisecond)); err == nil {
		t.Errorf("PostResult to a dead gateway = nil; want an error once giveUp passed")
	}
}

// TestResultPostTakesThePlaceOfTheAck: with an ack delay, a command whose
// result post is answered acked gets no separate ack; one whose post was
// not (the gateway could not record the ack, or is older) and one still
// running when the delay is up are acked together, in one POST. The test
// owns the ack loop's clock: nothing is timed.
func TestResultPostTakesThePlaceOfTheAck(t *testing.T) {
	acks := make(chan []string, 16)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case contracts.PathExecutorAck:
			var a contracts.ExecutorAck
			_ = json.NewDecoder(r.Body).Decode(&a)
			acks <- a.CommandIDs
			_, _ = fmt.Fprint(w, `{"status":"acked","acked":1}`)
		case contracts.PathExecutorResults:
			var res contracts.ExecutorResult
			_ = json.NewDecoder(r.Body).Decode(&res)
			switch res.CommandID {
			case "done":
				_, _ = fmt.Fprintf(w, `{"status":"accepted","command_id":%q,"acked":true}`, res.CommandID)
			default: // the gateway could not record the ack
				_, _ = fmt.Fprintf(w, `{"status":"accepted","command_id":%q,"acked":false}`, res.CommandID)
			}
		default:
			w.Header().Set("Content-Type", "text/event-stream")
			write(w, "event: connected\ndata: {}\n\n")
			for _, id := range []string{"done", "unrecorded", "running"} {
				write(w, fmt.Sprintf("id: %s\nevent: command\ndata: {\"id\":%q,\"cluster_id\":\"c1\",\"argv\":[\"get\",\"pods\"]}\n\n", id, id))
			}
			<-r.Context().Done()
		}
	}))
	defer srv.Close()
	c := newClient(t, srv.URL, func(cfg *Config) { cfg.AckDelay = time.Hour })
	var clock atomic.Int64
	start := time.Now()
	clock.Store(start.UnixNano())
	c.now = func() time.Time { return time.Unix(0, clock.Load()) }
	fire := make(chan time.Time)
	c.after = func(time.Duration) <-chan time.Time { return fire }
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	posted := make(chan error, 3)
	handed := make(chan string, 3)
	go func() {
		_ = c.Run(ctx, func(cmd contracts.Command) {
			handed <- cmd.ID
			if cmd.ID != "running" {
				go func() {
					posted <- c.PostResult(ctx, contracts.ExecutorResult{CommandID: cmd.ID}, time.Now().Add(time.Minute))
				}()
			}
		})
	}()
	for range 3 {
		<-handed
	}
	for range 2 {
		if err := <-posted; err != nil {
			t.Fatalf("PostResult = %v", err)
		}
	}
	select {
	case ids := <-acks:
		t.Fatalf("acked %v before the delay was up", ids)
	default:
	}
	// The delay is up: the loop's timer fires.
	clock.Store(start.Add(time.Hour + time.Second).UnixNano())
	fire <- time.Now()
	select {
	case ids := <-acks:
		if strings.Join(ids, ",") != "unrecorded,running" {
			t.Errorf("acked %v in one POST; want [unrecorded running] (done was acked by its result)", ids)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no ack after the delay")
	}
}

// TestDeferredAcksDue: the waiting acks fall due oldest first; an answered
// one is skipped, and one received again waits under its first time.
func TestDeferredAcksDue(t *testing.T) {
	d := deferredAcks{at: map[string]time.Time{}}
	t0 := time.Unix(1000, 0)
	if !d.add("a", t0) || d.add("b", t0.Add(time.Second)) || d.add("a", t0.Add(2*time.Second)) {
		t.Fatal("add: want first only for the first id waiting")
	}
	d.add("c", t0.Add(3*time.Second))
	d.answered("b")
	ids, next := d.due(t0.Add(2 * time.Second))
	if strings.Join(ids, ",") != "a" || !next.Equal(t0.Add(3*time.Second)) {
		t.Errorf("due = %v, next %v; want [a], next %v", ids, next, t0.Add(3*time.Second))
	}
	d.answered("c")
	d.add("c", t0.Add(4*time.Second)) // received again after it was answered
	ids, next = d.due(t0.Add(3 * time.Second))
	if len(ids) != 0 || !next.Equal(t0.Add(4*time.Second)) {
		t.Errorf("due = %v, next %v; want none, next %v", ids, next, t0.Add(4*time.Second))
	}
	ids, next = d.due(t0.Add(time.Minute))
	if strings.Join(ids, ",") != "c" || !next.IsZero() || len(d.at) != 0 || len(d.order) != 0 {
		t.Errorf("due = %v, next %v, left %v / %v; want [c], nothing left", ids, next, d.at, d.order)
	}
}
