package httpapi

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"kubently.io/libs/contracts"
	"kubently.io/libs/store"
	"kubently.io/libs/testkit"
)

// openStream opens an executor stream for cluster and returns its events
// as they arrive ("name" or, for events with an id, "name id"); the
// stream ends with the test or when stop is called.
func openStream(t *testing.T, e *env, cluster string) (events <-chan string, stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, e.http.URL+"/v1/executor/stream", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+cluster+"-token-0123456789")
	req.Header.Set(contracts.HeaderClusterID, cluster)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if res.StatusCode != http.StatusOK {
		t.Fatalf("GET /v1/executor/stream = %d; want 200", res.StatusCode)
	}
	ch := make(chan string, 64)
	go func() {
		defer res.Body.Close()
		defer close(ch)
		sc := bufio.NewScanner(res.Body)
		var id string
		for sc.Scan() {
			if v, ok := strings.CutPrefix(sc.Text(), "id: "); ok {
				id = v
			}
			if name, ok := strings.CutPrefix(sc.Text(), "event: "); ok {
				if id != "" {
					name += " " + id
				}
				ch <- name
				id = ""
			}
		}
	}()
	stop = func() {
		cancel()
		for range ch {
		}
	}
	t.Cleanup(stop)
	return ch, stop
}

// nextCommand waits for the next command event and returns its id.
func nextCommand(t *testing.T, events <-chan string) string {
	t.Helper()
	timeout := time.After(30 * time.Second)
	for {
		select {
		case name, ok := <-events:
			if !ok {
				t.Fatal("stream ended; want a command event")
			}
			if id, ok := strings.CutPrefix(name, "command "); ok {
				return id
			}
		case <-timeout:
			t.Fatal("no command event within 30s")
		}
	}
}

// postAck posts an executor ack as cluster.
func postAck(t *testing.T, e *env, cluster string, body any) resp {
	t.Helper()
	return e.do(t, http.MethodPost, "/v1/executor/ack", "", body,
		"Authorization", "Bearer "+cluster+"-token-0123456789", contracts.HeaderClusterID, cluster, "Content-Type", "application/json")
}

func enqueue(t *testing.T, e *env, cluster string, timeout time.Duration) contracts.Command {
	t.Helper()
	cmd := contracts.Command{ID: contracts.NewID(), Cluster: cluster, Argv: []string{"get", "pods"}, Deadline: time.Now().Add(timeout)}
	if err := e.st.Enqueue(t.Context(), cmd); err != nil {
		t.Fatal(err)
	}
	return cmd
}

func TestExecutorAck(t *testing.T) {
	e := newEnv(t, envOpts{})
	cmd := enqueue(t, e, "dev-1", time.Minute)
	events, _ := openStream(t, e, "dev-1")
	if got := nextCommand(t, events); got != cmd.ID {
		t.Fatalf("command event id = %q; want %q", got, cmd.ID)
	}
	ackOf := func(ids ...string) contracts.ExecutorAck { return contracts.ExecutorAck{CommandIDs: ids} }
	tests := []struct {
		name      string
		cluster   string
		body      any
		wantCode  int
		wantAcked int
	}{
		{name: "another cluster acks nothing", cluster: "prod-1", body: ackOf(cmd.ID), wantCode: 200, wantAcked: 0},
		{name: "own cluster", cluster: "dev-1", body: ackOf(cmd.ID), wantCode: 200, wantAcked: 1},
		{name: "again is a no-op", cluster: "dev-1", body: ackOf(cmd.ID), wantCode: 200, wantAcked: 0},
		{name: "unknown id", cluster: "dev-1", body: ackOf(contracts.NewID()), wantCode: 200, wantAcked: 0},
		{name: "no ids", cluster: "dev-1", body: ackOf(), wantCode: 400},
		{name: "bad id", cluster: "dev-1", body: ackOf("a b"), wantCode: 400},
		{name: "unknown field", cluster: "dev-1", body: `{"ids":["x"]}`, wantCode: 400},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := postAck(t, e, tt.cluster, tt.body)
			if r.status != tt.wantCode {
				t.Fatalf("POST /v1/executor/ack = %d %s; want %d", r.status, r.body, tt.wantCode)
			}
			if tt.wantCode != 200 {
				return
			}
			var got contracts.ExecutorAckResponse
			if err := json.Unmarshal(r.body, &got); err != nil {
				t.Fatal(err)
			}
			if got.Status != "acked" || got.Acked != tt.wantAcked {
				t.Errorf("ack response = %+v; want status acked, acked %d", got, tt.wantAcked)
			}
		})
	}
	r := e.do(t, http.MethodPost, "/v1/executor/ack", "", ackOf(cmd.ID))
	if r.status != http.StatusUnauthorized {
		t.Errorf("POST /v1/executor/ack without credentials = %d; want 401", r.status)
	}
}

// TestUnackedRedelivered: a command whose stream ends before the executor
// acknowledged it goes to the next stream once its lease runs out; an
// acknowledged one never does.
func TestUnackedRedelivered(t *testing.T) {
	const visibility = time.Second
	e := newEnv(t, envOpts{visibility: visibility, poll: 100 * time.Millisecond})
	lost := enqueue(t, e, "dev-1", time.Minute)
	acked := enqueue(t, e, "dev-1", time.Minute)
	events, stop := openStream(t, e, "dev-1")
	got := []string{nextCommand(t, events), nextCommand(t, events)}
	if got[0] != lost.ID || got[1] != acked.ID {
		t.Fatalf("commands = %v; want [%s %s]", got, lost.ID, acked.ID)
	}
	if r := postAck(t, e, "dev-1", contracts.ExecutorAck{CommandIDs: []string{acked.ID}}); r.status != 200 {
		t.Fatalf("POST /v1/executor/ack = %d %s; want 200", r.status, r.body)
	}
	start := time.Now()
	stop() // the executor dies before acking lost
	events, _ = openStream(t, e, "dev-1")
	if id := nextCommand(t, events); id != lost.ID {
		t.Fatalf("redelivered %s; want %s", id, lost.ID)
	}
	// Well within the command's one-minute deadline; how soon after the
	// lease ran out depends on how busy the machine is.
	if since := time.Since(start); since > visibility+20*time.Second {
		t.Errorf("redelivered after %v; want soon after the visibility timeout %v", since, visibility)
	}
	// A result acknowledges too: nothing comes back after it.
	r := e.do(t, http.MethodPost, "/v1/executor/results", "", contracts.ExecutorResult{CommandID: lost.ID, Outcome: contracts.Outcome{Status: contracts.StatusSuccess}},
		"Authorization", "Bearer dev-1-token-0123456789", contracts.HeaderClusterID, "dev-1", "Content-Type", "application/json")
	if r.status >= 500 {
		t.Fatalf("POST /v1/executor/results = %d %s", r.status, r.body)
	}
	timeout := time.After(visibility + time.Second)
	for {
		select {
		case name := <-events:
			if strings.HasPrefix(name, "command") {
				t.Fatalf("got %q after the result; want no more commands", name)
			}
		case <-timeout:
			return
		}
	}
}

// TestBridgeQueueDepthGauge: the sweep keeps the queue depth gauge of a
// cluster this replica holds a stream of current (a delivery round reads
// no depth): leased commands count until they are acked.
func TestBridgeQueueDepthGauge(t *testing.T) {
	e := newEnv(t, envOpts{poll: 20 * time.Millisecond})
	const cluster = "dev-1"
	for range 3 {
		cmd := contracts.Command{ID: contracts.NewID(), Cluster: cluster, Argv: []string{"get", "pods"}, Deadline: time.Now().Add(time.Minute)}
		if err := e.st.Enqueue(t.Context(), cmd); err != nil {
			t.Fatal(err)
		}
	}
	gauge := e.srv.metrics.queueDepth
	wantDepth := func(want float64) {
		t.Helper()
		testkit.CheckFor(t, 10*time.Second, 10*time.Millisecond, func() error {
			if got := testutil.ToFloat64(gauge.WithLabelValues(cluster)); got != want {
				return fmt.Errorf("kubently_bridge_queue_depth{cluster=%q} = %v; want %v", cluster, got, want)
			}
			return nil
		})
	}

	events, _ := openStream(t, e, cluster)
	ids := []string{nextCommand(t, events), nextCommand(t, events), nextCommand(t, events)}
	// All three are leased, none acked: all count.
	wantDepth(3)
	for i, id := range ids {
		if r := postAck(t, e, cluster, contracts.ExecutorAck{CommandIDs: []string{id}}); r.status != 200 {
			t.Fatalf("POST /v1/executor/ack = %d %s; want 200", r.status, r.body)
		}
		wantDepth(float64(len(ids) - i - 1))
	}

	// Once the last stream of the cluster ends, the series goes away.
	e.srv.Close()
	testkit.CheckFor(t, 5*time.Second, 10*time.Millisecond, func() error {
		if n := testutil.CollectAndCount(gauge); n != 0 {
			return fmt.Errorf("%d kubently_bridge_queue_depth series after the stream ended; want 0", n)
		}
		return nil
	})
}

// countingStore counts the bridge calls a Server makes.
type countingStore struct {
	Store
	claims, sweeps atomic.Int64
	// asked is the most clusters one Queues or IndexedQueues call asked
	// about.
	asked atomic.Int64
}

func (s *countingStore) Claim(ctx context.Context, cluster, consumer string, max int) ([]contracts.Command, error) {
	s.claims.Add(1)
	return s.Store.Claim(ctx, cluster, consumer, max)
}

func (s *countingStore) Queues(ctx context.Context, clusters []string) ([]store.QueueState, error) {
	s.count(clusters)
	return s.Store.Queues(ctx, clusters)
}

func (s *countingStore) IndexedQueues(ctx context.Context, clusters []string) ([]store.QueueState, error) {
	s.count(clusters)
	return s.Store.IndexedQueues(ctx, clusters)
}

func (s *countingStore) count(clusters []string) {
	s.sweeps.Add(1)
	if n := int64(len(clusters)); n > s.asked.Load() {
		s.asked.Store(n)
	}
}

// awaitConnected waits for a stream's connected event.
func awaitConnected(t *testing.T, events <-chan string) {
	t.Helper()
	select {
	case name := <-events:
		if name != "connected" {
			t.Fatalf("first event %q; want connected", name)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("no connected event within 30s")
	}
}

// TestSweep: with no poll timer per stream, an idle replica asks the
// store no more than once per interval whatever the number of streams
// and claims nothing; a command queued without a notify (a lost one) is
// found by the sweep and reaches exactly one stream. (How soon is not
// asserted: a busy machine delays sweeps.)
func TestSweep(t *testing.T) {
	const poll = 100 * time.Millisecond
	cs := &countingStore{}
	e := newEnv(t, envOpts{poll: poll, wrapStore: func(s Store) Store { cs.Store = s; return cs }})
	const perCluster = 20
	var all []<-chan string
	for _, cluster := range []string{"dev-1", "prod-1"} {
		for range perCluster {
			events, _ := openStream(t, e, cluster)
			awaitConnected(t, events)
			all = append(all, events)
		}
	}

	// Each stream claims once on connect, after its connected event:
	// let those land before the idle window.
	testkit.CheckFor(t, 5*time.Second, 10*time.Millisecond, func() error {
		if n := cs.claims.Load(); n < int64(len(all)) {
			return fmt.Errorf("%d initial claims of %d streams", n, len(all))
		}
		return nil
	})

	// Idle, for five sweeps (however long a busy machine takes for
	// them): Queues about the two clusters, no more than once per
	// interval (give or take the sweep in flight and a tick waiting); no
	// Claim.
	claims0, sweeps0 := cs.claims.Load(), cs.sweeps.Load()
	start := time.Now()
	testkit.CheckFor(t, 30*time.Second, poll, func() error {
		if got := cs.sweeps.Load() - sweeps0; got < 5 {
			return fmt.Errorf("%d sweeps while idle; waiting for 5", got)
		}
		return nil
	})
	got, elapsed := cs.sweeps.Load()-sweeps0, time.Since(start)
	if got := cs.claims.Load() - claims0; got != 0 {
		t.Errorf("idle: %d Claims by %d streams in %v; want 0", got, len(all), elapsed.Round(time.Millisecond))
	}
	if most := int64(elapsed/poll) + 2; got > most {
		t.Errorf("idle: %d Queues calls in %v; want at most one per %v (%d)", got, elapsed.Round(time.Millisecond), poll, most)
	}
	if got := cs.asked.Load(); got != 2 {
		t.Errorf("Queues asked about at most %d clusters; want 2 (dev-1, prod-1)", got)
	}

	// A lost notify: the command is queued and nobody is told.
	// Streams have no poll timer: only the sweep can deliver it.
	claims0 = cs.claims.Load()
	woken0 := testutil.ToFloat64(e.srv.metrics.sweepWakeups)
	queued := time.Now()
	cmd := enqueue(t, e, "dev-1", time.Minute)
	var delivered []string
	timeout := time.After(30 * time.Second)
	for len(delivered) == 0 {
		for _, events := range all {
			select {
			case name := <-events:
				if id, ok := strings.CutPrefix(name, "command "); ok {
					delivered = append(delivered, id)
				}
			case <-timeout:
				t.Fatal("command queued without a notify not delivered within 30s")
			default:
			}
		}
		time.Sleep(5 * time.Millisecond)
	}
	if delivered[0] != cmd.ID {
		t.Fatalf("delivered %s; want %s", delivered[0], cmd.ID)
	}
	// Counted once the sweep returns, which may be after the delivery.
	testkit.CheckFor(t, 30*time.Second, 10*time.Millisecond, func() error {
		if woken := testutil.ToFloat64(e.srv.metrics.sweepWakeups) - woken0; woken < 1 {
			return fmt.Errorf("sweep wakeups rose by %v while the lost notify was recovered; want the sweep to have woken a stream", woken)
		}
		return nil
	})
	if r := postAck(t, e, "dev-1", contracts.ExecutorAck{CommandIDs: []string{cmd.ID}}); r.status != 200 {
		t.Fatalf("POST /v1/executor/ack = %d %s; want 200", r.status, r.body)
	}
	// Exactly one stream got it, and no other stream claimed for it: the
	// Claims are those of the woken stream, one per sweep at most.
	time.Sleep(3 * poll)
	for _, events := range all {
		for len(events) > 0 {
			if name := <-events; strings.HasPrefix(name, "command") {
				t.Errorf("another stream got %q; want the command on one stream only", name)
			}
		}
	}
	if n, most := cs.claims.Load()-claims0, int64(time.Since(queued)/poll)+2; n < 1 || n > most {
		t.Errorf("%d Claims for one command on a cluster with %d streams; want 1-%d (one per sweep at most)", n, perCluster, most)
	}
	// The sweep also keeps the queue depth gauge current: the ack emptied
	// the queue, and no delivery round followed.
	testkit.CheckFor(t, 30*time.Second, 10*time.Millisecond, func() error {
		if got := testutil.ToFloat64(e.srv.metrics.queueDepth.WithLabelValues("dev-1")); got != 0 {
			return fmt.Errorf("kubently_bridge_queue_depth{cluster=\"dev-1\"} = %v after the ack; want 0", got)
		}
		return nil
	})
}

// TestAckRecordsHolder: an ack carrying X-Executor-Instance records that
// instance (with the executor id and conn id) as the command's holder, the
// first ack winning; an ack from another cluster or without an instance
// records nothing.
func TestAckRecordsHolder(t *testing.T) {
	e := newEnv(t, envOpts{})
	ack := func(t *testing.T, cluster, instance, executor string, ids ...string) {
		t.Helper()
		hdr := []string{"Authorization", "Bearer " + cluster + "-token-0123456789", contracts.HeaderClusterID, cluster,
			"Content-Type", "application/json", contracts.HeaderExecutorID, executor, contracts.HeaderExecutorConnID, "conn-1"}
		if instance != "" {
			hdr = append(hdr, contracts.HeaderExecutorInstance, instance)
		}
		if r := e.do(t, http.MethodPost, "/v1/executor/ack", "", contracts.ExecutorAck{CommandIDs: ids}, hdr...); r.status != http.StatusOK {
			t.Fatalf("POST /v1/executor/ack = %d %s; want 200", r.status, r.body)
		}
	}
	held, foreign, anonymous := enqueue(t, e, "dev-1", time.Minute), enqueue(t, e, "dev-1", time.Minute), enqueue(t, e, "dev-1", time.Minute)
	first, second := contracts.NewID(), contracts.NewID()
	ack(t, "dev-1", first, "exec-a", held.ID)
	ack(t, "dev-1", second, "exec-b", held.ID)
	ack(t, "prod-1", second, "exec-b", foreign.ID)
	ack(t, "dev-1", "", "exec-c", anonymous.ID)
	got, err := e.st.Holder(t.Context(), held.ID)
	if err != nil {
		t.Fatalf("Holder() = %v; want the first acking instance", err)
	}
	if want := (contracts.CommandHolder{ExecutorID: "exec-a", Instance: first, ConnID: "conn-1"}); got != want {
		t.Errorf("Holder() = %+v; want %+v", got, want)
	}
	for _, id := range []string{foreign.ID, anonymous.ID} {
		if h, err := e.st.Holder(t.Context(), id); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("Holder(%s) = %+v, %v; want ErrNotFound", id, h, err)
		}
	}
}

// ackUntilHangUp is a store whose Ack, once the real ack is recorded,
// waits until its context ends or a second passes (well within the
// store timeout): the window in which an executor killed right after
// posting its ack hangs up.
type ackUntilHangUp struct {
	Store
	acked chan struct{}
}

func (s ackUntilHangUp) Ack(ctx context.Context, cluster string, ids []string) (int, error) {
	n, err := s.Store.Ack(ctx, cluster, ids)
	close(s.acked)
	select {
	case <-ctx.Done():
	case <-time.After(time.Second):
	}
	return n, err
}

// TestAckHolderSurvivesHangUp: an executor that posts its ack and dies
// before the answer (the connection closes while the gateway records the
// ack) still becomes the command's holder, so its caller hears
// executor_lost instead of waiting for the deadline.
func TestAckHolderSurvivesHangUp(t *testing.T) {
	acked := make(chan struct{})
	e := newEnv(t, envOpts{wrapStore: func(s Store) Store { return ackUntilHangUp{Store: s, acked: acked} }})
	cmd := enqueue(t, e, "dev-1", time.Minute)
	body, err := json.Marshal(contracts.ExecutorAck{CommandIDs: []string{cmd.ID}})
	if err != nil {
		t.Fatal(err)
	}
	instance := contracts.NewID()
	conn, err := net.Dial("tcp", strings.TrimPrefix(e.http.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(conn, "POST /v1/executor/ack HTTP/1.1\r\nHost: gw\r\nAuthorization: Bearer dev-1-token-0123456789\r\n"+
		"%s: dev-1\r\n%s: exec-a\r\n%s: %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s",
		contracts.HeaderClusterID, contracts.HeaderExecutorID, contracts.HeaderExecutorInstance, instance, len(body), body)
	select {
	case <-acked:
	case <-time.After(30 * time.Second):
		t.Fatal("the ack never reached the store")
	}
	_ = conn.Close() // the executor dies before reading the answer
	testkit.CheckFor(t, 30*time.Second, 20*time.Millisecond, func() error {
		h, err := e.st.Holder(t.Context(), cmd.ID)
		if err != nil {
			return fmt.Errorf("Holder() = %w; want the instance whose ack was recorded", err)
		}
		if h.Instance != instance {
			return fmt.Errorf("Holder() = %+v; want instance %s", h, instance)
		}
		return nil
	})
}

// TestExecutorAuthByStream: a post naming a stream this replica holds is
// accepted with the token that stream was opened with, without a
// registry read; any other token, or another cluster's token with that
// stream's conn id, is still a 401.
func TestExecutorAuthByStream(t *testing.T) {
	e := newEnv(t, envOpts{})
	events, _ := openStream(t, e, "dev-1")
	if got := <-events; got != contracts.EventConnected {
		t.Fatalf("first event = %q; want %s", got, contracts.EventConnected)
	}
	conns, err := e.st.Connected(t.Context(), "dev-1")
	if err != nil || len(conns) != 1 {
		t.Fatalf("presence of dev-1 = %v, %v; want one stream", conns, err)
	}
	connID := conns[0].ConnID
	ack := contracts.ExecutorAck{CommandIDs: []string{contracts.NewID()}}
	tests := []struct {
		name, cluster, token string
		want                 int
	}{
		{"the stream's token", "dev-1", "dev-1-token-0123456789", http.StatusOK},
		{"a wrong token", "dev-1", "dev-1-token-9876543210", http.StatusUnauthorized},
		{"another cluster's token", "prod-1", "prod-1-token-0123456789", http.StatusOK},
		{"another cluster's id with this token", "prod-1", "dev-1-token-0123456789", http.StatusUnauthorized},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := e.do(t, http.MethodPost, "/v1/executor/ack", "", ack, "Authorization", "Bearer "+tt.token,
				contracts.HeaderClusterID, tt.cluster, contracts.HeaderExecutorConnID, connID, "Content-Type", "application/json")
			if r.status != tt.want {
				t.Fatalf("POST /v1/executor/ack as %s naming dev-1's stream = %d %s; want %d", tt.cluster, r.status, r.body, tt.want)
			}
		})
	}
}
