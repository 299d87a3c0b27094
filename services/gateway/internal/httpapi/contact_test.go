package httpapi

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"kubently.io/libs/audit"
	"kubently.io/libs/authz"
	"kubently.io/libs/contracts"
	"kubently.io/libs/logging"
	"kubently.io/libs/testkit"
	"kubently.io/services/gateway/internal/auth"
	"kubently.io/services/gateway/internal/hub"
	"kubently.io/services/gateway/internal/liveness"
)

// Contact timing of the replicas in these tests: a stream announcing
// heartbeats is closed on the first heartbeat tick more than
// contactTimeout after its last contact. The tests assert no upper bound
// on when that happens (a busy machine delays ticks): they wait up to
// waitLong, and count the heartbeat events a stream got before its close.
const (
	contactBeat    = 200 * time.Millisecond
	contactTimeout = 600 * time.Millisecond
	waitLong       = 30 * time.Second
)

// replica is one more gateway replica on env's NATS server and store, as
// the app wires it: its own hub and contact registry, both subscribed.
type replica struct {
	name string
	srv  *Server
	url  string
	reg  *prometheus.Registry
	logs *testkit.SyncBuffer
}

func newReplica(t *testing.T, e *env, name string) *replica {
	t.Helper()
	return newReplicaTimed(t, e, name, contactBeat, contactTimeout)
}

// newReplicaTimed is newReplica with the given heartbeat interval and
// contact timeout. Presence records live long (PresenceTTL): a record that
// goes is one the stream removed on its way out, never one that expired
// because a busy machine delayed a heartbeat.
func newReplicaTimed(t *testing.T, e *env, name string, beat, timeout time.Duration) *replica {
	t.Helper()
	aw, err := audit.NewWriter(audit.WriterConfig{JS: e.js, Source: "gateway", Replica: name})
	if err != nil {
		t.Fatal(err)
	}
	ar, err := audit.NewReader(audit.ReaderConfig{JS: e.js})
	if err != nil {
		t.Fatal(err)
	}
	authn, err := auth.New(auth.Config{Keys: keyring(t)})
	if err != nil {
		t.Fatal(err)
	}
	lim, err := authz.NewLimiter(authz.LimitConfig{})
	if err != nil {
		t.Fatal(err)
	}
	r := &replica{name: name, reg: prometheus.NewRegistry(), logs: &testkit.SyncBuffer{}}
	h, contacts := hub.New(), liveness.New()
	r.srv, err = New(Config{
		Conn: e.nc, Store: e.st, Auth: authn, Limiter: lim, Audit: aw, AuditReader: ar, Hub: h, Contacts: contacts,
		Log:      logging.New(logging.Config{Level: "debug", Format: "json", Output: r.logs}),
		Registry: r.reg, Name: name, Heartbeat: beat, ContactTimeout: timeout, PresenceTTL: time.Hour, Poll: 100 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(r.srv.Close)
	for _, sub := range []func() error{
		func() error { s, err := h.Subscribe(e.nc); t.Cleanup(func() { _ = s.Unsubscribe() }); return err },
		func() error {
			s, err := contacts.Subscribe(e.nc, name, r.srv.CountRelayedContact)
			if err == nil {
				t.Cleanup(func() { _ = s.Unsubscribe() })
			}
			return err
		},
	} {
		if err := sub(); err != nil {
			t.Fatal(err)
		}
	}
	if err := e.nc.Flush(); err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(r.srv.Handler())
	t.Cleanup(hs.Close)
	r.url = hs.URL
	return r
}

// contactStream is an executor stream opened by a test.
type contactStream struct {
	connID, gateway string
	events          <-chan string // event names, "command <id>" for commands
	beats           *atomic.Int64 // heartbeat events received, none dropped
	interval        time.Duration // contact interval the connected event announced
	timeout         time.Duration // contact timeout the connected event announced
	stop            func()
}

// ended reports whether the stream ended within d.
func (s *contactStream) ended(d time.Duration) bool {
	timeout := time.After(d)
	for {
		select {
		case _, ok := <-s.events:
			if !ok {
				return true
			}
		case <-timeout:
			return false
		}
	}
}

// openContactStream opens a stream for cluster at base, announcing
// heartbeats if beats, and waits for its connected event.
func openContactStream(t *testing.T, base, cluster string, beats bool) *contactStream {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/v1/executor/stream", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+cluster+"-token-0123456789")
	req.Header.Set(contracts.HeaderClusterID, cluster)
	if beats {
		req.Header.Set(contracts.HeaderExecutorHeartbeats, "1")
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	if res.StatusCode != http.StatusOK {
		cancel()
		t.Fatalf("GET /v1/executor/stream = %d; want 200", res.StatusCode)
	}
	sc := bufio.NewScanner(res.Body)
	var hello contracts.ConnectedEvent
	for sc.Scan() {
		if data, ok := strings.CutPrefix(sc.Text(), "data: "); ok {
			if err := json.Unmarshal([]byte(data), &hello); err != nil {
				t.Fatal(err)
			}
			break
		}
	}
	if hello.ConnID == "" {
		cancel()
		t.Fatal("no connected event")
	}
	if want := int64(0); !beats && (hello.ContactIntervalMS != want || hello.ContactTimeoutMS != want) {
		t.Errorf("connected event without X-Executor-Heartbeats announces contact %d/%d ms; want none", hello.ContactIntervalMS, hello.ContactTimeoutMS)
	}
	if beats && (hello.ContactIntervalMS <= 0 || hello.ContactTimeoutMS <= 0) {
		t.Errorf("connected event announces contact %d/%d ms; want an interval and a timeout", hello.ContactIntervalMS, hello.ContactTimeoutMS)
	}
	ch := make(chan string, 64)
	heartbeats := new(atomic.Int64)
	go func() {
		defer res.Body.Close()
		defer close(ch)
		var id string
		for sc.Scan() {
			if v, ok := strings.CutPrefix(sc.Text(), "id: "); ok {
				id = v
			}
			if name, ok := strings.CutPrefix(sc.Text(), "event: "); ok {
				if name == contracts.EventHeartbeat {
					heartbeats.Add(1)
				}
				if id != "" {
					name += " " + id
				}
				select {
				case ch <- name:
				default: // nobody listens: heartbeats pile up
				}
				id = ""
			}
		}
	}()
	s := &contactStream{connID: hello.ConnID, gateway: hello.Gateway, events: ch, beats: heartbeats,
		interval: time.Duration(hello.ContactIntervalMS) * time.Millisecond, timeout: time.Duration(hello.ContactTimeoutMS) * time.Millisecond}
	s.stop = func() {
		cancel()
		for range ch {
		}
	}
	t.Cleanup(s.stop)
	return s
}

// postHeartbeat posts body to base's heartbeat route as cluster with
// token ("" for the cluster's own).
func postHeartbeat(t *testing.T, base, cluster, token string, body any) resp {
	t.Helper()
	if token == "" {
		token = cluster + "-token-0123456789"
	}
	var raw string
	switch b := body.(type) {
	case string:
		raw = b
	default:
		bb, err := json.Marshal(b)
		if err != nil {
			t.Fatal(err)
		}
		raw = string(bb)
	}
	req, err := http.NewRequest(http.MethodPost, base+"/v1/executor/heartbeat", strings.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if cluster != "" {
		req.Header.Set("Authorization", "Bearer "+token)
		req.Header.Set(contracts.HeaderClusterID, cluster)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var sb strings.Builder
	_, _ = bufio.NewReader(res.Body).WriteTo(&sb)
	return resp{status: res.StatusCode, header: res.Header, body: []byte(sb.String())}
}

func connectedCount(t *testing.T, e *env, cluster string) int {
	t.Helper()
	infos, err := e.st.Connected(t.Context(), cluster)
	if err != nil {
		t.Fatal(err)
	}
	return len(infos)
}

// TestSilentStreamClosed: a stream whose executor announced heartbeats
// and sends none is closed, not before the contact timeout and at the
// first heartbeat tick after it (so it got no more heartbeat events than
// fit in the timeout); its presence goes, and the close is logged and
// counted. A stream of an executor that never announced heartbeats
// outlives the point where it would have been closed.
func TestSilentStreamClosed(t *testing.T) {
	e := newEnv(t, envOpts{})
	a := newReplica(t, e, "gw-a")
	start := time.Now()
	silent := openContactStream(t, a.url, "dev-1", true)
	if silent.interval != contactBeat || silent.timeout != contactTimeout {
		t.Errorf("connected event announces contact every %v, timeout %v; want %v, %v", silent.interval, silent.timeout, contactBeat, contactTimeout)
	}
	// Presence is written before the connected event and removed only
	// when the stream ends (the records do not expire in this test).
	if n := connectedCount(t, e, "dev-1"); n != 1 && !silent.ended(0) {
		t.Fatalf("dev-1 presence records = %d while its stream is open; want 1", n)
	}
	legacy := openContactStream(t, a.url, "prod-1", false)
	if !silent.ended(waitLong) {
		t.Fatalf("silent stream still open after %v; want closed after the contact timeout %v", waitLong, contactTimeout)
	}
	// start is before the server registered the stream (its last contact).
	if took := time.Since(start); took < contactTimeout {
		t.Errorf("silent stream closed %v after it was opened; want not before the contact timeout %v", took, contactTimeout)
	}
	// Ticks come no sooner than every contactBeat; a late tick only finds
	// the stream silent for longer. A stream still beating after the
	// timeout was checked late or not at all.
	if n, most := silent.beats.Load(), int64(contactTimeout/contactBeat); n > most {
		t.Errorf("silent stream got %d heartbeat events before it was closed; want at most %d (closed at the first tick past the contact timeout)", n, most)
	}
	testkit.CheckFor(t, waitLong, 20*time.Millisecond, func() error {
		if n := connectedCount(t, e, "dev-1"); n != 0 {
			return fmt.Errorf("dev-1 presence records = %d after the close; want 0", n)
		}
		return nil
	})
	if got := testutil.ToFloat64(a.srv.metrics.contactTimeouts); got != 1 {
		t.Errorf("kubently_gateway_executor_contact_timeouts_total = %v; want 1", got)
	}
	if !strings.Contains(a.logs.String(), "no contact from the executor") {
		t.Errorf("no log line says why the stream was closed")
	}
	// More heartbeat ticks than fit in the contact timeout: a stream
	// held to it would have been closed by now.
	testkit.CheckFor(t, waitLong, 20*time.Millisecond, func() error {
		if legacy.ended(0) {
			t.Fatalf("the stream of an executor without heartbeats was closed after %d heartbeat events; want it open", legacy.beats.Load())
		}
		if n, want := legacy.beats.Load(), int64(contactTimeout/contactBeat)+1; n < want {
			return fmt.Errorf("the stream without heartbeats got %d heartbeat events; waiting for %d", n, want)
		}
		return nil
	})
	if n := connectedCount(t, e, "prod-1"); n != 1 {
		t.Errorf("prod-1 presence records = %d; want 1", n)
	}
}

// TestHeartbeatThroughOtherReplica: heartbeats posted to the replica that
// does not hold the stream reach the holder over NATS and keep the
// stream open past its contact timeout; when they stop, the holder closes
// it.
func TestHeartbeatThroughOtherReplica(t *testing.T) {
	// A contact timeout twenty posts long: a busy machine posting late
	// does not let the stream lapse.
	const beat, timeout = 100 * time.Millisecond, 2 * time.Second
	e := newEnv(t, envOpts{})
	a, b := newReplicaTimed(t, e, "gw-a", beat, timeout), newReplicaTimed(t, e, "gw-b", beat, timeout)
	s := openContactStream(t, a.url, "dev-1", true)
	if s.gateway != "gw-a" {
		t.Fatalf("connected event names gateway %q; want gw-a", s.gateway)
	}
	if s.interval != beat || s.timeout != timeout {
		t.Errorf("connected event announces contact every %v, timeout %v; want %v, %v", s.interval, s.timeout, beat, timeout)
	}
	// keepUp calls post every beat until the stream got more heartbeat
	// events than fit in the contact timeout (ticks come no sooner than
	// every beat, so a silent stream would have been closed by then), and
	// at least 3 times. It returns when the last post began: before the
	// last contact.
	keepUp := func(what string, post func()) (last time.Time) {
		t.Helper()
		need := s.beats.Load() + int64(timeout/beat) + 1
		for n := 0; n < 3 || s.beats.Load() < need; n++ {
			prev := last
			last = time.Now()
			post()
			if s.ended(0) {
				t.Fatalf("stream closed while %s (%v since the post before began)", what, time.Since(prev))
			}
			time.Sleep(beat)
		}
		return last
	}
	keepUp("heartbeats went to the other replica", func() {
		r := postHeartbeat(t, b.url, "dev-1", "", contracts.ExecutorHeartbeat{ConnID: s.connID, Gateway: s.gateway})
		if r.status != http.StatusOK {
			t.Fatalf("POST gw-b /v1/executor/heartbeat = %d %s; want 200", r.status, r.body)
		}
	})
	if n := connectedCount(t, e, "dev-1"); n != 1 {
		t.Errorf("dev-1 presence records = %d after relayed heartbeats; want 1", n)
	}
	if got := testutil.ToFloat64(b.srv.metrics.heartbeats.WithLabelValues("forwarded")); got < 3 {
		t.Errorf("gw-b heartbeats{outcome=forwarded} = %v; want at least 3", got)
	}
	if got := testutil.ToFloat64(a.srv.metrics.heartbeats.WithLabelValues("relayed")); got < 3 {
		t.Errorf("gw-a heartbeats{outcome=relayed} = %v; want at least 3", got)
	}
	// Posted to the holder itself: counted locally.
	if r := postHeartbeat(t, a.url, "dev-1", "", contracts.ExecutorHeartbeat{ConnID: s.connID, Gateway: s.gateway}); r.status != http.StatusOK {
		t.Fatalf("POST gw-a /v1/executor/heartbeat = %d %s; want 200", r.status, r.body)
	}
	if got := testutil.ToFloat64(a.srv.metrics.heartbeats.WithLabelValues("local")); got != 1 {
		t.Errorf("gw-a heartbeats{outcome=local} = %v; want 1", got)
	}
	// An ack naming the stream is contact too.
	lastContact := keepUp("acks named it", func() {
		r := postExecutor(t, a.url, "/v1/executor/ack", "dev-1", contracts.ExecutorAck{CommandIDs: []string{contracts.NewID()}},
			contracts.HeaderExecutorConnID, s.connID)
		if r.status != http.StatusOK {
			t.Fatalf("POST /v1/executor/ack = %d %s; want 200", r.status, r.body)
		}
	})
	if !s.ended(waitLong) {
		t.Fatalf("stream still open %v after contact stopped", waitLong)
	}
	if took := time.Since(lastContact); took < timeout {
		t.Errorf("stream closed %v after the last contact; want not before the contact timeout %v", took, timeout)
	}
	// The holder no longer knows it: the executor is told to reconnect.
	r := postHeartbeat(t, b.url, "dev-1", "", contracts.ExecutorHeartbeat{ConnID: s.connID, Gateway: s.gateway})
	if e := r.apiError(t); r.status != http.StatusNotFound || e.Reason != contracts.ReasonUnknownStream {
		t.Errorf("heartbeat for the closed stream = %d %s; want 404 reason %s", r.status, r.body, contracts.ReasonUnknownStream)
	}
}

// postExecutor posts body to path of base as cluster's executor, with
// extra header name/value pairs.
func postExecutor(t *testing.T, base, path, cluster string, body any, hdr ...string) resp {
	t.Helper()
	raw, err := json.Marshal(body)
	if err != nil {
		t.Fatal(err)
	}
	req, err := http.NewRequest(http.MethodPost, base+path, strings.NewReader(string(raw)))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+cluster+"-token-0123456789")
	req.Header.Set(contracts.HeaderClusterID, cluster)
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var sb strings.Builder
	_, _ = bufio.NewReader(res.Body).WriteTo(&sb)
	return resp{status: res.StatusCode, header: res.Header, body: []byte(sb.String())}
}

// TestHeartbeatBadInput: every bad heartbeat gets a clear 4xx JSON error
// and keeps nothing alive.
func TestHeartbeatBadInput(t *testing.T) {
	e := newEnv(t, envOpts{})
	a, b := newReplica(t, e, "gw-a"), newReplica(t, e, "gw-b")
	dev := openContactStream(t, a.url, "dev-1", true)
	prod := openContactStream(t, a.url, "prod-1", true)
	hb := func(connID string) contracts.ExecutorHeartbeat {
		return contracts.ExecutorHeartbeat{ConnID: connID, Gateway: "gw-a"}
	}
	tests := []struct {
		name       string
		base       string
		cluster    string // "" sends no credentials
		token      string
		body       any
		wantStatus int
		wantCode   contracts.ErrorCode
		wantReason string
	}{
		{name: "unknown conn id", base: a.url, cluster: "dev-1", body: hb(contracts.NewID()), wantStatus: 404, wantCode: contracts.CodeNotFound, wantReason: contracts.ReasonUnknownStream},
		{name: "unknown conn id via other replica", base: b.url, cluster: "dev-1", body: hb(contracts.NewID()), wantStatus: 404, wantCode: contracts.CodeNotFound, wantReason: contracts.ReasonUnknownStream},
		{name: "holder gone", base: b.url, cluster: "dev-1", body: contracts.ExecutorHeartbeat{ConnID: dev.connID, Gateway: "gw-gone"}, wantStatus: 404, wantCode: contracts.CodeNotFound, wantReason: contracts.ReasonUnknownStream},
		{name: "another cluster's conn id", base: a.url, cluster: "dev-1", body: hb(prod.connID), wantStatus: 404, wantCode: contracts.CodeNotFound, wantReason: contracts.ReasonUnknownStream},
		{name: "another cluster's conn id via other replica", base: b.url, cluster: "dev-1", body: hb(prod.connID), wantStatus: 404, wantCode: contracts.CodeNotFound, wantReason: contracts.ReasonUnknownStream},
		{name: "wrong token", base: a.url, cluster: "dev-1", token: "prod-1-token-0123456789", body: hb(dev.connID), wantStatus: 401, wantCode: contracts.CodeUnauthorized},
		{name: "wrong token via other replica", base: b.url, cluster: "dev-1", token: "wrong-token-0123456789", body: hb(dev.connID), wantStatus: 401, wantCode: contracts.CodeUnauthorized},
		{name: "unknown cluster", base: a.url, cluster: "nope-1", body: hb(dev.connID), wantStatus: 401, wantCode: contracts.CodeUnauthorized},
		{name: "no credentials", base: a.url, body: hb(dev.connID), wantStatus: 401, wantCode: contracts.CodeUnauthorized},
		{name: "malformed JSON", base: a.url, cluster: "dev-1", body: `{"conn_id":`, wantStatus: 400, wantCode: contracts.CodeInvalidJSON},
		{name: "empty body", base: a.url, cluster: "dev-1", body: ``, wantStatus: 400, wantCode: contracts.CodeInvalidJSON},
		{name: "oversize body", base: a.url, cluster: "dev-1", body: `{"conn_id":"` + strings.Repeat("a", contracts.MaxHeartbeatBodyBytes) + `"}`, wantStatus: 413, wantCode: contracts.CodeBodyTooLarge},
		{name: "missing conn id", base: a.url, cluster: "dev-1", body: `{}`, wantStatus: 400, wantCode: contracts.CodeInvalidID},
		{name: "malformed conn id", base: a.url, cluster: "dev-1", body: hb("a.b"), wantStatus: 400, wantCode: contracts.CodeInvalidID},
		{name: "malformed gateway", base: a.url, cluster: "dev-1", body: contracts.ExecutorHeartbeat{ConnID: dev.connID, Gateway: "gw.*"}, wantStatus: 400, wantCode: contracts.CodeInvalidID},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := postHeartbeat(t, tt.base, tt.cluster, tt.token, tt.body)
			if r.status != tt.wantStatus {
				t.Fatalf("POST /v1/executor/heartbeat = %d %s; want %d", r.status, r.body, tt.wantStatus)
			}
			got := r.apiError(t)
			if got.Code != tt.wantCode || got.Reason != tt.wantReason || got.Message == "" {
				t.Errorf("error = %+v; want code %s, reason %q and a message", got, tt.wantCode, tt.wantReason)
			}
		})
	}
	// None of that was contact: both streams close.
	for _, s := range []*contactStream{dev, prod} {
		if !s.ended(waitLong) {
			t.Errorf("stream %s kept open by bad heartbeats", s.connID)
		}
	}
}

// TestSilentStreamCommandsRedelivered: a command sent on a stream that is
// then closed for silence, and never acknowledged, goes to the next
// stream once its lease runs out.
func TestSilentStreamCommandsRedelivered(t *testing.T) {
	const visibility = time.Second
	e := newEnv(t, envOpts{visibility: visibility})
	a := newReplica(t, e, "gw-a")
	s := openContactStream(t, a.url, "dev-1", true)
	cmd := enqueue(t, e, "dev-1", time.Minute)
	a.srv.cfg.Hub.Notify("dev-1")
	if got := nextCommand(t, s.events); got != cmd.ID {
		t.Fatalf("command event id = %q; want %q", got, cmd.ID)
	}
	if !s.ended(waitLong) {
		t.Fatalf("silent stream not closed")
	}
	next := openContactStream(t, a.url, "dev-1", false)
	if got := nextCommand(t, next.events); got != cmd.ID {
		t.Fatalf("redelivered %q; want %q", got, cmd.ID)
	}
}
