package faults

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"kubently.io/libs/contracts"
	"kubently.io/libs/testbed"
	"kubently.io/libs/testkit"
)

const (
	devKey     = "dev-persist-key-0123456789abcdef"
	clusterDev = "dev-1"
	// devBridgeStream and devBridgeSubject are jsstore's bridge queue
	// (libs/store/jsstore, default prefix), read directly to show what
	// JetStream itself holds.
	devBridgeStream  = "KUBENTLY_BRIDGE"
	devBridgeSubject = "kubently.bridgeq." + clusterDev
	// devSessionsBucket is jsstore's session bucket.
	devSessionsBucket = "KUBENTLY_SESSIONS"
)

var (
	kubentlyOnce sync.Once
	kubentlyErr  error
)

// buildKubently builds the kubently CLI into binDir once.
func buildKubently(t testing.TB) {
	t.Helper()
	kubentlyOnce.Do(func() {
		if b, err := exec.Command("go", "build", "-o", filepath.Join(binDir, "kubently"), "kubently.io/cli/cmd/kubently").CombinedOutput(); err != nil {
			kubentlyErr = fmt.Errorf("go build kubently: %w\n%s", err, b)
		}
	})
	if kubentlyErr != nil {
		t.Fatal(kubentlyErr)
	}
}

// devServer is a `kubently dev --no-executor` process (embedded NATS with
// JetStream file storage and the embedded store), restartable on the same
// data dir, gateway address and NATS port.
type devServer struct {
	t        testing.TB
	dataDir  string
	addr     string
	natsPort int
	starts   int
	p        *proc
}

func startDev(t testing.TB) *devServer {
	t.Helper()
	buildKubently(t)
	d := &devServer{t: t, dataDir: t.TempDir(), addr: testkit.FreeAddr(t), natsPort: testkit.FreePort(t)}
	d.start()
	return d
}

func (d *devServer) URL() string { return "http://" + d.addr }

func (d *devServer) start() {
	d.t.Helper()
	d.starts++
	d.p = startProc(d.t, "kubently-dev-"+strconv.Itoa(d.starts), "kubently", []string{"dev",
		"--data-dir", d.dataDir, "--addr", d.addr, "--nats-port", strconv.Itoa(d.natsPort),
		"--cluster-id", clusterDev, "--no-executor", "--api-key", devKey, "--log-level", "info"}, nil)
	testkit.CheckFor(d.t, 30*time.Second, 50*time.Millisecond, func() error {
		if d.p.Exited() {
			d.t.Fatalf("kubently dev exited: %v\n%s", d.p.Err(), lastLine(d.p))
		}
		return testkit.Ready(d.URL())
	})
}

// startExecutor starts an executor binary for dev-1 against the dev
// gateway, with the token kubently dev generated, and waits until it is
// connected.
func (d *devServer) startExecutor(id string) *proc {
	d.t.Helper()
	tok, err := os.ReadFile(filepath.Join(d.dataDir, "executor-token"))
	if err != nil {
		d.t.Fatal(err)
	}
	p := startProc(d.t, id, "executor", nil, []string{
		"KUBENTLY_API_URL=" + d.URL(), "CLUSTER_ID=" + clusterDev, "KUBENTLY_TOKEN=" + strings.TrimSpace(string(tok)),
		"KUBENTLY_KUBECONFIG=" + testbed.Kubeconfig(d.t), "KUBENTLY_EXECUTOR_ID=" + id, "KUBENTLY_LOG_LEVEL=info",
	})
	testkit.CheckFor(d.t, 20*time.Second, 50*time.Millisecond, func() error {
		if p.count("connected to gateway") == 0 {
			return fmt.Errorf("%s not connected", id)
		}
		return nil
	})
	return p
}

// connected reports whether dev-1 has an executor stream (GET /v1/clusters).
func (d *devServer) connected(api apiClient) (bool, error) {
	code, raw, err := api.do(context.Background(), http.MethodGet, "/v1/clusters", nil, "")
	if err != nil {
		return false, err
	}
	if code != http.StatusOK {
		return false, fmt.Errorf("GET /v1/clusters: %d %s", code, raw)
	}
	var list contracts.ClusterList
	if err := json.Unmarshal(raw, &list); err != nil {
		return false, err
	}
	for _, c := range list.Clusters {
		if c.ID == clusterDev {
			return c.Connected, nil
		}
	}
	return false, fmt.Errorf("%s not listed: %s", clusterDev, raw)
}

// withJS runs f with a JetStream client of the embedded server.
func (d *devServer) withJS(f func(ctx context.Context, js jetstream.JetStream) error) error {
	// The embedded server lets only its services' users and this run's
	// admin (URL in the data dir) in.
	admin, err := os.ReadFile(filepath.Join(d.dataDir, "nats-admin.url"))
	if err != nil {
		return err
	}
	nc, err := nats.Connect(strings.TrimSpace(string(admin)), nats.Timeout(time.Second))
	if err != nil {
		return err
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	return f(ctx, js)
}

// queued returns how many commands dev-1's bridge queue holds in
// JetStream (the embedded server's stream, read over NATS).
func (d *devServer) queued() (int, error) {
	var n int
	err := d.withJS(func(ctx context.Context, js jetstream.JetStream) error {
		s, err := js.Stream(ctx, devBridgeStream)
		if err != nil {
			return err
		}
		info, err := s.Info(ctx, jetstream.WithSubjectFilter(devBridgeSubject))
		if err != nil {
			return err
		}
		n = int(info.State.Subjects[devBridgeSubject])
		return nil
	})
	return n, err
}

// liveKeyExpiry returns when JetStream expires session id's live key
// (jsstore: KV KUBENTLY_SESSIONS, key live.<cluster>.<id>, per-key TTL):
// the message's time plus its Nats-TTL.
func (d *devServer) liveKeyExpiry(id string) (time.Time, error) {
	var at time.Time
	err := d.withJS(func(ctx context.Context, js jetstream.JetStream) error {
		s, err := js.Stream(ctx, "KV_"+devSessionsBucket)
		if err != nil {
			return err
		}
		m, err := s.GetLastMsgForSubject(ctx, "$KV."+devSessionsBucket+".live."+clusterDev+"."+id)
		if err != nil {
			return err
		}
		h := m.Header.Get(jetstream.MsgTTLHeader)
		ttl, err := time.ParseDuration(h)
		if err != nil {
			secs, serr := strconv.Atoi(h)
			if serr != nil {
				return fmt.Errorf("live key of %s: Nats-TTL %q: %w", id, h, err)
			}
			ttl = time.Duration(secs) * time.Second
		}
		at = m.Time.Add(ttl)
		return nil
	})
	return at, err
}

// TestDevRestartKeepsState: the embedded JetStream store keeps sessions
// and queued commands across a `kubently dev` restart on the same data
// dir, clean (SIGTERM) or a crash (SIGKILL).
//
// Commands are queued for dev-1 while its executor is gone (within the
// reconnect grace), then kubently dev restarts. The queued commands' callers
// are gone with the old process (their HTTP requests ended with it), so no
// one waits for the results; what docs/delivery.md promises still holds:
// a command is delivered until an executor acks it or its deadline passes,
// it runs at most once, and never after its deadline. So, after the restart:
//
//   - each session (active, and one ended) reads back the same;
//   - the bridge queue in JetStream still holds every long-deadline
//     command; once an executor connects, each runs exactly once;
//   - each command whose deadline passed during the restart never runs.
func TestDevRestartKeepsState(t *testing.T) {
	skipShort(t)
	tests := []struct {
		name string
		down func(*proc, testing.TB)
		// caller checks what a queued command's caller got when the
		// process went away (it must not be a result: nothing ran yet).
		caller func(*queuedCmd) error
	}{
		{
			name: "SIGTERM", down: func(p *proc, t testing.TB) { p.Stop(t) },
			// A clean shutdown answers once the dispatcher's drain
			// ends: the command stays queued and says so.
			// A command whose deadline comes during the drain times out.
			caller: func(q *queuedCmd) error {
				if q.timeout == shortTimeout && q.timedOut() {
					return nil
				}
				if q.err != nil || q.code != http.StatusServiceUnavailable || q.errBody.Code != contracts.CodeUnavailable ||
					q.errBody.Reason != "dispatcher_stopped" || !strings.Contains(q.errBody.Message, "may still run") {
					return fmt.Errorf("got %s; want 503 %s reason dispatcher_stopped (or 504 timeout for a short one)", q, contracts.CodeUnavailable)
				}
				return nil
			},
		},
		{
			name: "SIGKILL", down: func(p *proc, _ testing.TB) { p.Kill() },
			// A crash answers nothing: the connection breaks.
			caller: func(q *queuedCmd) error {
				if q.err == nil {
					return fmt.Errorf("got %s; want a broken connection", q)
				}
				return nil
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			devPersist(t, tt.name, tt.down, tt.caller)
		})
	}
}

func devPersist(t *testing.T, name string, down func(*proc, testing.TB), caller func(*queuedCmd) error) {
	d := startDev(t)
	api := apiClient{base: d.URL(), key: devKey}
	exec1 := d.startExecutor("dev-exec-a")
	testkit.CheckFor(t, 20*time.Second, 100*time.Millisecond, func() error {
		q := &queuedCmd{corr: "dev-warmup", timeout: 10 * time.Second, done: make(chan struct{})}
		api.execute(q, clusterDev)
		if !q.ok() {
			return fmt.Errorf("dev-1 before the restart: %s", q)
		}
		return nil
	})
	live := api.createSession(t, clusterDev, 600)
	ended := api.createSession(t, clusterDev, 300)
	api.endSession(t, ended.ID)
	sessIDs := []string{live.ID, ended.ID}

	begin := time.Now()
	exec1.Kill()
	testkit.CheckFor(t, 10*time.Second, 50*time.Millisecond, func() error {
		ok, err := d.connected(api)
		if err == nil && ok {
			err = errors.New("dev-1 still connected")
		}
		return err
	})
	queued := queueCommands(api, clusterDev, "dev-"+strings.ToLower(name), live.ID)
	testkit.CheckFor(t, 5*time.Second, 20*time.Millisecond, func() error {
		for _, q := range queued {
			if q.finished() {
				return fmt.Errorf("command %s was not queued: %s", q.corr, q)
			}
		}
		return countIs("dev-1 bridge queue commands", d.queued, len(queued))
	})
	before := api.sessions(t, sessIDs)

	// The restart. The short commands' deadlines pass while it is down.
	fault := time.Now()
	down(d.p, t)
	stopped := time.Since(fault)
	for _, q := range queued {
		q.wait(persistTimeout + hangSlack)
	}
	for _, q := range queued {
		if !q.finished() {
			t.Fatalf("command %s: caller still waiting %v after kubently dev went away", q.corr, time.Since(fault).Round(time.Millisecond))
		}
		if err := caller(q); err != nil {
			t.Errorf("command %s, caller: %v", q.corr, err)
		}
	}
	t.Logf("callers of the queued commands got: %s (the commands stay queued)", queued[0])
	if wait := time.Until(queued[len(queued)-1].start.Add(shortTimeout + time.Second)); wait > 0 {
		time.Sleep(wait) // the short deadlines must be past; time-based on purpose
	}
	d.start()
	ready := time.Since(fault)

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
		// The live key still expires when the session says it does
		// (per-key TTLs are whole seconds, rounded up).
		at, err := d.liveKeyExpiry(s.ID)
		if err != nil || at.Before(s.ExpiresAt) || at.Sub(s.ExpiresAt) > 2*time.Second {
			t.Errorf("session %s: live key expires at %s (%v); want within 2s after expires_at %s", s.ID, at, err, s.ExpiresAt)
		}
	}
	// Long-deadline commands are all still queued; expired ones leave
	// with their message TTL (whole seconds, rounded up).
	testkit.CheckFor(t, 10*time.Second, 100*time.Millisecond, func() error {
		return countIs("dev-1 bridge queue commands after the restart", d.queued, persistLong)
	})

	exec2 := d.startExecutor("dev-exec-b")
	var execs map[string][]string
	testkit.CheckFor(t, 20*time.Second, 100*time.Millisecond, func() error {
		execs = executionsByCorrelation(exec1, exec2)
		for _, q := range queued[:persistLong] {
			if len(execs[q.corr]) == 0 {
				return fmt.Errorf("command %s not executed yet", q.corr)
			}
		}
		return nil
	})
	// Every command is acked and gone from the queue: none can be
	// delivered again.
	testkit.CheckFor(t, 10*time.Second, 100*time.Millisecond, func() error {
		return countIs("dev-1 bridge queue commands after the run", d.queued, 0)
	})
	execs = executionsByCorrelation(exec1, exec2)

	tl := persistTally{sessions: len(sessIDs), kept: kept, queued: len(queued)}
	for _, q := range queued[:persistLong] {
		ids := execs[q.corr]
		switch {
		case len(ids) == 1:
			tl.executed++
		case len(ids) > 1:
			tl.executed++
			tl.dup++
			t.Errorf("command %s executed %d times: %v", q.corr, len(ids), ids)
		default:
			tl.lost++
			t.Errorf("command %s never executed after the restart", q.corr)
		}
	}
	for _, q := range queued[:persistLong] {
		if q.ok() {
			tl.ok++ // not expected: the caller's request ended with the old process
		}
	}
	for _, q := range queued[persistLong:] {
		tl.expired++
		if ids := execs[q.corr]; len(ids) > 0 {
			tl.expiredRan++
			t.Errorf("command %s ran %d time(s) after its %v deadline passed: %v", q.corr, len(ids), q.timeout, ids)
		}
	}
	// dev-1 works normally after the restart.
	q := &queuedCmd{corr: "dev-after", session: live.ID, timeout: 10 * time.Second, done: make(chan struct{})}
	api.execute(q, clusterDev)
	if !q.ok() {
		t.Errorf("dev-1 after the restart, in session %s: %s", live.ID, q)
	}
	tl.log(t, t.Name(), stopped, ready, time.Since(begin))
}
