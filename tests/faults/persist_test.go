package faults

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"kubently.io/libs/contracts"
	"kubently.io/libs/redistest"
	"kubently.io/libs/testkit"
)

// The persistence scenarios queue commands that cannot run yet (their
// cluster's only executor is gone, within the dispatcher's reconnect
// grace), take the store down and bring it back, then let an executor
// return. What the store had persisted — sessions and queued commands —
// must still be there.
const (
	// persistTimeout is the timeout_seconds of the queued commands that
	// must outlive the outage: far beyond it, yet bounding the scenario.
	persistTimeout = 45 * time.Second
	// shortTimeout is the timeout_seconds of the queued commands whose
	// deadline passes during the outage: they must never run.
	shortTimeout = 3 * time.Second
	// persistLong and persistShort are how many of each are queued.
	persistLong, persistShort = 4, 2
)

// Redis keys of redisstore's layout (libs/store/redisstore, default
// prefix), read directly to show what Redis itself holds.
func redisQueueKey(cluster string) string { return "kubently:bridge:{" + cluster + "}" }
func redisSessionKey(id string) string    { return "kubently:session:{" + id + "}" }

// TestRedisRestartKeepsState: sessions and queued commands that Redis
// persisted (append-only file, fsync always) survive a redis-server
// restart, clean (SIGTERM) or a crash (SIGKILL):
//
//   - sessions created before (active on both clusters, and one ended) read
//     back the same (status, expires_at, ttl_seconds, created_at,
//     ended_at), and the live keys keep their expiry;
//   - commands queued for solo-1 while it had no executor (within the
//     reconnect grace) are still in the bridge queue; once an executor
//     returns, each long-deadline one runs exactly once and its waiting
//     caller gets the result; each one whose deadline passed during the
//     outage never runs and its caller got a timeout at the deadline;
//   - the dispatcher's /readyz is false while Redis is down and true
//     after; session reads fail with 503 unavailable meanwhile.
func TestRedisRestartKeepsState(t *testing.T) {
	skipShort(t)
	tests := []struct {
		name string
		down func(*redistest.Server)
	}{
		{name: "SIGTERM", down: (*redistest.Server).Stop},
		{name: "SIGKILL", down: (*redistest.Server).Kill},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarnessWith(t, options{visibility: storeVisibility})
			redisPersist(t, h, tt.name, tt.down)
		})
	}
}

func redisPersist(t *testing.T, h *Harness, name string, down func(*redistest.Server)) {
	api := apiClient{base: h.Client.URL(), key: adminKey}
	// Sessions first: active ones on both clusters, and an ended one.
	soloSess := api.createSession(t, clusterSolo, 600)
	haSess := api.createSession(t, clusterHA, 900)
	ended := api.createSession(t, clusterSolo, 300)
	api.endSession(t, ended.ID)
	sessIDs := []string{soloSess.ID, haSess.ID, ended.ID}

	begin := time.Now()
	// solo-1's only executor goes away: its commands now queue, within
	// the reconnect grace, instead of running.
	h.Executors["solo-1-a"].Kill()
	testkit.CheckFor(t, 5*time.Second, 50*time.Millisecond, func() error {
		if n := h.streamsOn("gw-a", "solo-1-a") + h.streamsOn("gw-b", "solo-1-a"); n != 0 {
			return fmt.Errorf("gateways still hold %d solo-1-a stream(s)", n)
		}
		return nil
	})
	queued := queueCommands(api, clusterSolo, "redis-"+strings.ToLower(name), soloSess.ID)
	depth := func() (int, error) { return redisInt(h.Redis.Addr(), "XLEN", redisQueueKey(clusterSolo)) }
	testkit.CheckFor(t, 5*time.Second, 20*time.Millisecond, func() error {
		for _, q := range queued {
			if q.finished() {
				return fmt.Errorf("command %s was not queued: %s", q.corr, q)
			}
		}
		return countIs("solo-1 bridge queue entries", depth, len(queued))
	})
	before := api.sessions(t, sessIDs)

	// The outage.
	outage := time.Now()
	down(h.Redis)
	testkit.CheckFor(t, 15*time.Second, 50*time.Millisecond, func() error {
		if h.ready(h.DispOps) == nil {
			return errors.New("dispatcher /readyz still 200 with Redis down")
		}
		return nil
	})
	unready := time.Since(outage)
	code, raw, err := api.do(context.Background(), http.MethodGet, "/v1/sessions/"+soloSess.ID, nil, "")
	if e := decodeError(raw); err != nil || code != http.StatusServiceUnavailable || e.Code != contracts.CodeUnavailable {
		t.Errorf("GET session with Redis down: %d %s (%v); want 503 %s", code, raw, err, contracts.CodeUnavailable)
	}
	h.Redis.Restart(t)
	testkit.CheckFor(t, 30*time.Second, 50*time.Millisecond, func() error { return h.ready(h.DispOps) })
	ready := time.Since(outage)

	// What Redis persisted is back: the queue, and each session as it was.
	if err := countIs("solo-1 bridge queue entries after the restart", depth, len(queued)); err != nil {
		t.Error(err)
	}
	after := api.sessions(t, sessIDs)
	if diff := cmp.Diff(before, after); diff != "" {
		t.Errorf("sessions changed across the restart (-before +after):\n%s", diff)
	}
	kept := 0
	for i, s := range after {
		if cmp.Equal(s, before[i]) {
			kept++
		}
		if s.State != contracts.SessionActive {
			continue
		}
		// The live key still expires when the session says it does.
		ms, err := redisInt(h.Redis.Addr(), "PTTL", redisSessionKey(s.ID))
		left := time.Until(s.ExpiresAt)
		if err != nil || ms <= 0 || (time.Duration(ms)*time.Millisecond-left).Abs() > 2*time.Second {
			t.Errorf("session %s: live key PTTL %dms (%v); want about %v (expires_at %s)", s.ID, ms, err, left.Round(time.Millisecond), s.ExpiresAt)
		}
	}

	// The short commands' deadlines pass before any executor returns.
	for _, q := range queued[persistLong:] {
		q.wait(shortTimeout + hangSlack)
	}
	h.startExecutor(clusterSolo, "solo-1-b", soloToken)
	for _, q := range queued[:persistLong] {
		q.wait(persistTimeout + hangSlack)
	}
	// Every command is acked or, past its deadline, dropped: none is left
	// to be delivered again.
	testkit.CheckFor(t, 10*time.Second, 100*time.Millisecond, func() error {
		return countIs("solo-1 bridge queue entries after the run", depth, 0)
	})
	execs := executionsByCorrelation(h.Executors["solo-1-a"], h.Executors["solo-1-b"])
	tl := checkQueued(t, queued, execs)
	tl.sessions, tl.kept = len(sessIDs), kept
	tl.log(t, t.Name(), unready, ready, time.Since(begin))
}

// ---------------------------------------------------------------------------
// Queued commands

// queuedCmd is one command sent from its own goroutine; its fields are
// valid once done is closed.
type queuedCmd struct {
	corr    string // X-Correlation-ID, which the executor logs
	session string
	timeout time.Duration
	start   time.Time
	done    chan struct{}

	code    int
	res     contracts.CommandResult
	errBody contracts.Error
	err     error // transport error
	took    time.Duration
}

func (q *queuedCmd) finished() bool {
	select {
	case <-q.done:
		return true
	default:
		return false
	}
}

// wait waits for q's answer up to total (the HTTP client gives up before).
func (q *queuedCmd) wait(total time.Duration) {
	select {
	case <-q.done:
	case <-time.After(total):
	}
}

func (q *queuedCmd) String() string {
	if !q.finished() {
		return "no answer yet"
	}
	if q.err != nil {
		return fmt.Sprintf("transport error after %v: %v", q.took.Round(time.Millisecond), q.err)
	}
	if q.code == http.StatusOK {
		return fmt.Sprintf("200 %s (command %s) after %v", q.res.Status, q.res.CommandID, q.took.Round(time.Millisecond))
	}
	reason := ""
	if q.errBody.Reason != "" {
		reason = " reason " + q.errBody.Reason
	}
	return fmt.Sprintf("%d %s%s %q (command %q) after %v", q.code, q.errBody.Code, reason, q.errBody.Message, q.res.CommandID, q.took.Round(time.Millisecond))
}

// ok reports whether q's caller got a successful result of `get ns`.
func (q *queuedCmd) ok() bool {
	return q.finished() && q.err == nil && q.code == http.StatusOK &&
		q.res.Status == contracts.StatusSuccess && strings.Contains(q.res.Output, "namespace/")
}

// timedOut reports whether q's caller got the timeout answer (504).
func (q *queuedCmd) timedOut() bool {
	return q.finished() && q.err == nil && q.code == http.StatusGatewayTimeout
}

// queueCommands sends persistLong commands with persistTimeout (every
// other one in session, if set) and then persistShort with shortTimeout
// to cluster, each from its own goroutine with correlation id
// <prefix>-<kind>-<i>; long ones come first in the result.
func queueCommands(api apiClient, cluster, prefix, session string) []*queuedCmd {
	var qs []*queuedCmd
	for i := range persistLong + persistShort {
		q := &queuedCmd{corr: fmt.Sprintf("%s-long-%d", prefix, i), timeout: persistTimeout, done: make(chan struct{})}
		if i%2 == 1 {
			q.session = session
		}
		if i >= persistLong {
			q.corr, q.timeout, q.session = fmt.Sprintf("%s-short-%d", prefix, i-persistLong), shortTimeout, ""
		}
		qs = append(qs, q)
		go api.execute(q, cluster)
	}
	return qs
}

// execute sends q's `get ns -o name` and records the answer.
func (c apiClient) execute(q *queuedCmd, cluster string) {
	defer close(q.done)
	body := map[string]any{"cluster_id": cluster, "argv": []string{"get", "ns", "-o", "name"},
		"timeout_seconds": int(q.timeout / time.Second)}
	if q.session != "" {
		body["session_id"] = q.session
	}
	q.start = time.Now()
	code, raw, err := c.do(context.Background(), http.MethodPost, "/v1/execute", body, q.corr)
	q.took, q.code, q.err = time.Since(q.start), code, err
	if err != nil {
		return
	}
	_ = json.Unmarshal(raw, &q.res) // a 504 carries the command id too
	if code != http.StatusOK {
		q.errBody = decodeError(raw)
	}
}

// executionsByCorrelation returns, per correlation id, the command id of
// each "command executed" log record of ps (one entry per execution).
func executionsByCorrelation(ps ...*proc) map[string][]string {
	m := map[string][]string{}
	for _, p := range ps {
		for _, r := range p.logLines("command executed") {
			corr, _ := r["correlation_id"].(string)
			id, _ := r["command_id"].(string)
			if corr != "" {
				m[corr] = append(m[corr], id)
			}
		}
	}
	return m
}

// persistTally summarises one persistence scenario.
type persistTally struct {
	sessions, kept      int // sessions created before the outage; read back unchanged
	queued              int // commands queued before the outage
	executed, ok, dup   int // long-deadline commands run; their callers got that run's result; run more than once
	lost                int // long-deadline commands not run, or whose caller did not get the result
	expired, expiredRan int // short-deadline commands; of those, run anyway
}

// checkQueued asserts each long-deadline command of qs (the first
// persistLong) ran exactly once — the run its caller got — and each
// short-deadline one never ran and timed out at its deadline.
func checkQueued(t *testing.T, qs []*queuedCmd, execs map[string][]string) persistTally {
	t.Helper()
	tl := persistTally{queued: len(qs)}
	for _, q := range qs[:persistLong] {
		ids := execs[q.corr]
		if len(ids) > 0 {
			tl.executed++
		}
		switch {
		case len(ids) > 1:
			tl.dup++
			t.Errorf("command %s executed %d times: %v", q.corr, len(ids), ids)
		case len(ids) == 0:
			t.Errorf("command %s never executed; its caller got %s", q.corr, q)
		}
		if q.ok() && len(ids) == 1 && ids[0] == q.res.CommandID {
			tl.ok++
		} else {
			tl.lost++
			t.Errorf("command %s (executed as %v): caller got %s; want 200 success of that run", q.corr, ids, q)
		}
		if q.took > q.timeout+requestMargin {
			t.Errorf("command %s outlived its %v timeout: %s", q.corr, q.timeout, q)
		}
	}
	for _, q := range qs[persistLong:] {
		tl.expired++
		if ids := execs[q.corr]; len(ids) > 0 {
			tl.expiredRan++
			t.Errorf("command %s ran %d time(s) after its %v deadline passed: %v", q.corr, len(ids), q.timeout, ids)
		}
		if !q.timedOut() || q.took > q.timeout+2*time.Second {
			t.Errorf("command %s (timeout %v): caller got %s; want 504 timeout at the deadline", q.corr, q.timeout, q)
		}
	}
	return tl
}

// log prints tl as a table row. unready is how long after the fault the
// store was seen down (the dispatcher's /readyz false; for kubently dev,
// the process gone), ready how long after it everything was ready again,
// and took the scenario's time from the executor's loss to the end.
func (tl persistTally) log(t *testing.T, scenario string, unready, ready, took time.Duration) {
	t.Helper()
	t.Logf("\n%-34s %8s %4s %6s %8s %4s %4s %4s %7s %11s %9s %7s %6s\n%-34s %8d %4d %6d %8d %4d %4d %4d %7d %11d %9v %7v %6v",
		"scenario", "sessions", "kept", "queued", "executed", "ok", "dup", "lost", "expired", "expired_ran", "unready", "ready", "took",
		scenario, tl.sessions, tl.kept, tl.queued, tl.executed, tl.ok, tl.dup, tl.lost, tl.expired, tl.expiredRan,
		unready.Round(time.Millisecond), ready.Round(time.Millisecond), took.Round(time.Second))
}

// ---------------------------------------------------------------------------
// API client

// apiClient calls the client API at base with an API key.
type apiClient struct{ base, key string }

// persistHTTP outlasts the longest queued command.
var persistHTTP = &http.Client{Timeout: persistTimeout + hangSlack}

// do sends body (JSON, nil for none) with corr as X-Correlation-ID (if
// set) and returns the status and body.
func (c apiClient) do(ctx context.Context, method, path string, body any, corr string) (int, []byte, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return 0, nil, err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, rd)
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set(contracts.HeaderAPIKey, c.key)
	req.Header.Set("Content-Type", "application/json")
	if corr != "" {
		req.Header.Set(contracts.HeaderCorrelationID, corr)
	}
	resp, err := persistHTTP.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer func() { _ = resp.Body.Close() }()
	raw, err := io.ReadAll(resp.Body)
	return resp.StatusCode, raw, err
}

func decodeError(raw []byte) contracts.Error {
	var e contracts.Error
	_ = json.Unmarshal(raw, &e)
	return e
}

// session calls method path and decodes the Session answered with want.
func (c apiClient) session(t testing.TB, method, path string, body any, want int) contracts.Session {
	t.Helper()
	code, raw, err := c.do(context.Background(), method, path, body, "")
	if err != nil || code != want {
		t.Fatalf("%s %s: %d %s (%v); want %d", method, path, code, raw, err, want)
	}
	var s contracts.Session
	if err := json.Unmarshal(raw, &s); err != nil {
		t.Fatalf("%s %s: %v: %s", method, path, err, raw)
	}
	return s
}

func (c apiClient) createSession(t testing.TB, cluster string, ttlSeconds int) contracts.Session {
	t.Helper()
	return c.session(t, http.MethodPost, "/v1/sessions", map[string]any{"cluster_id": cluster, "ttl_seconds": ttlSeconds}, http.StatusCreated)
}

func (c apiClient) endSession(t testing.TB, id string) {
	t.Helper()
	if s := c.session(t, http.MethodDelete, "/v1/sessions/"+id, nil, http.StatusOK); s.State != contracts.SessionEnded {
		t.Fatalf("DELETE session %s: status %s; want %s", id, s.State, contracts.SessionEnded)
	}
}

// sessions reads each session (GET /v1/sessions/{id}).
func (c apiClient) sessions(t testing.TB, ids []string) []contracts.Session {
	t.Helper()
	out := make([]contracts.Session, 0, len(ids))
	for _, id := range ids {
		out = append(out, c.session(t, http.MethodGet, "/v1/sessions/"+id, nil, http.StatusOK))
	}
	return out
}

// countIs checks that get counts want of what.
func countIs(what string, get func() (int, error), want int) error {
	n, err := get()
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	if n != want {
		return fmt.Errorf("%s: got %d; want %d", what, n, want)
	}
	return nil
}

// ---------------------------------------------------------------------------
// Redis

// redisInt sends one command to the Redis at addr and returns its integer
// reply.
func redisInt(addr string, args ...string) (int, error) {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return 0, err
	}
	defer func() { _ = c.Close() }()
	_ = c.SetDeadline(time.Now().Add(2 * time.Second))
	var b strings.Builder
	fmt.Fprintf(&b, "*%d\r\n", len(args))
	for _, a := range args {
		fmt.Fprintf(&b, "$%d\r\n%s\r\n", len(a), a)
	}
	if _, err := io.WriteString(c, b.String()); err != nil {
		return 0, err
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return 0, err
	}
	line = strings.TrimSpace(line)
	if !strings.HasPrefix(line, ":") {
		return 0, fmt.Errorf("%v: unexpected reply %q", args, line)
	}
	return strconv.Atoi(line[1:])
}
