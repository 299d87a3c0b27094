package scale

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/prometheus/client_golang/prometheus"

	"kubently.io/libs/contracts"
	"kubently.io/libs/logging"
	"kubently.io/libs/natsutil/natstest"
	"kubently.io/libs/redistest"
	"kubently.io/libs/store"
	"kubently.io/libs/store/backend"
	"kubently.io/libs/testkit"
	"kubently.io/libs/testkit/promtest"
	gatewayapp "kubently.io/services/gateway/app"
)

// TestMain turns the test binary into the load client when it is started
// as one (see startClient).
func TestMain(m *testing.M) {
	if os.Getenv(envClient) == "1" {
		os.Exit(runClient())
	}
	os.Exit(m.Run())
}

const (
	// envStreams sets how many streams (one per cluster) the benchmark
	// opens; default defaultStreams.
	envStreams     = "KUBENTLY_SCALE_STREAMS"
	defaultStreams = 10000
	// baseStreams is the baseline the latency is compared against.
	baseStreams = 10
	// commands is how many commands each phase delivers.
	commands = 1000
	// idleWindow is how long the steady-state CPU and Redis load are
	// measured with all streams connected and no commands: two
	// heartbeats (and two rounds of executor heartbeats) and five sweeps.
	idleWindow = 10 * time.Second
	// fdMargin is what this process needs besides the streams' sockets
	// (NATS, Redis pool, listener, files).
	fdMargin = 512
	// gatewayRedisName is the client name of the gateway's Redis pool.
	gatewayRedisName = "kubently-gateway"
	// envHeartbeat sets the gateway's SSE heartbeat (a Go duration);
	// default the gateway's default, 5s.
	envHeartbeat = "KUBENTLY_SCALE_HEARTBEAT"
	// envProfile, if set, names a directory for CPU profiles of the
	// gateway process during the idle windows with N streams
	// (profileIdle).
	envProfile = "KUBENTLY_SCALE_CPUPROFILE"
)

// heartbeat is the gateway's SSE heartbeat (its default unless
// envHeartbeat sets it), and so the interval at which executors that
// announce heartbeats post them. BenchmarkStreams sets it before any
// phase.
var heartbeat = 5 * time.Second

// BenchmarkStreams holds N executor streams (one per cluster) on one
// gateway replica and reports what each costs and how quickly commands
// still reach random streams, against a baseline of 10 streams measured
// in the same run. Run it once: -benchtime 1x.
func BenchmarkStreams(b *testing.B) {
	if testing.Short() {
		b.Skip("scale benchmark: skipped with -short")
	}
	n := defaultStreams
	if v := os.Getenv(envStreams); v != "" {
		var err error
		if n, err = strconv.Atoi(v); err != nil || n < baseStreams {
			b.Fatalf("%s=%q: want an integer ≥ %d", envStreams, v, baseStreams)
		}
	}
	if v := os.Getenv(envHeartbeat); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d < time.Second {
			b.Fatalf("%s=%q: want a duration of at least 1s", envHeartbeat, v)
		}
		heartbeat = d
	}
	checkLimits(b, n)
	e := startGateway(b, n)
	rng := rand.New(rand.NewPCG(1, uint64(n)))

	// Quiet streams first (no executor heartbeats), then streams whose
	// executors post heartbeats, each against its own 10-stream baseline.
	base := e.phase(b, baseStreams, false, rng)
	big := e.phase(b, n, false, rng)
	baseHB := e.phase(b, baseStreams, true, rng)
	bigHB := e.phase(b, n, true, rng)

	b.ReportMetric(float64(big.held), "streams")
	b.ReportMetric(big.connect.Seconds(), "connect-s")
	b.ReportMetric(float64(big.goroutines)/float64(n), "goroutines/stream")
	b.ReportMetric(float64(big.heap)/float64(n), "heap-B/stream")
	b.ReportMetric(float64(big.stack)/float64(n), "stack-B/stream")
	b.ReportMetric(float64(big.redisMax), "redis-conns-max")
	for _, p := range []struct {
		prefix    string
		base, big result
	}{{"", base, big}, {"hb-", baseHB, bigHB}} {
		b.ReportMetric(ms(p.big.p50), p.prefix+"p50-ms")
		b.ReportMetric(ms(p.big.p99), p.prefix+"p99-ms")
		b.ReportMetric(ms(p.big.p50)/ms(p.base.p50), p.prefix+"p50-ratio")
		b.ReportMetric(ms(p.big.p99)/ms(p.base.p99), p.prefix+"p99-ratio")
		b.ReportMetric(p.big.gwCPU*100, p.prefix+"idle-gw-cpu-%")
		b.ReportMetric(p.base.gwCPU*100, p.prefix+"base-idle-gw-cpu-%")
		b.ReportMetric(p.big.redisCPU*100, p.prefix+"idle-redis-cpu-%")
		b.ReportMetric(p.big.redisOps, p.prefix+"idle-redis-cmds/s")
		b.ReportMetric(p.base.redisOps, p.prefix+"base-idle-redis-cmds/s")
	}
	b.ReportMetric(bigHB.beatRate, "hb-heartbeats/s")
	b.ReportMetric(float64(big.dropped+bigHB.dropped), "dropped")
	b.ReportMetric(float64(big.warnings+bigHB.warnings), "gw-warnings-held")

	for _, r := range []struct {
		name string
		r    result
	}{{"baseline, no heartbeats", base}, {"no heartbeats", big}, {"baseline, heartbeats", baseHB}, {"heartbeats", bigHB}} {
		b.Logf("%d streams, %s: %s", r.r.streams, r.name, r.r)
	}
	if w := e.warnings.count(); w > 0 {
		b.Logf("gateway warnings: %d in all, %d while the %d streams were held; last ones:\n%s", w, big.warnings+bigHB.warnings, n, e.warnings.tail())
	}
	for _, r := range []result{base, big, baseHB, bigHB} {
		if r.dropped > 0 || r.contactTimeouts > 0 || r.beatsFailed > 0 {
			b.Errorf("%d streams (heartbeats %v): %d streams ended while held, %.0f closed for want of contact, %d heartbeats failed (first: %s)",
				r.streams, r.beats, r.dropped, r.contactTimeouts, r.beatsFailed, r.beatErr)
		}
	}
}

// checkLimits fails the benchmark when this process cannot hold n sockets
// (the Go runtime has already raised the soft fd limit to the hard one) or
// the kernel lacks the ephemeral ports for n client connections.
func checkLimits(tb testing.TB, n int) {
	tb.Helper()
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
		tb.Fatalf("read fd limit: %v", err)
	}
	if need := uint64(n + fdMargin); rl.Cur < need {
		tb.Fatalf("fd limit too low: RLIMIT_NOFILE is %d (hard %d) but %d streams need at least %d descriptors "+
			"in the gateway process (and as many in the load client): raise it (ulimit -n %d) or lower %s",
			rl.Cur, rl.Max, n, need, need, envStreams)
	}
	if raw, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range"); err == nil {
		f := strings.Fields(string(raw))
		if len(f) == 2 {
			lo, _ := strconv.Atoi(f[0])
			hi, _ := strconv.Atoi(f[1])
			if hi-lo+1 < n+fdMargin {
				tb.Fatalf("ephemeral port range %d-%d too small for %d streams: widen net.ipv4.ip_local_port_range or lower %s",
					lo, hi, n, envStreams)
			}
		}
	}
}

// env is a gateway with NATS and Redis, and the dispatcher's side of the
// bridge (its own store client and NATS connection).
type env struct {
	addr      string
	redisAddr string
	reg       *prometheus.Registry
	disp      store.Bridge
	dispNC    *nats.Conn
	warnings  *lineLog
}

// startGateway starts NATS, redis-server and a gateway with clusters
// c00000.. registered, listening on loopback.
func startGateway(tb testing.TB, clusters int) *env {
	tb.Helper()
	ns := natstest.RunServer(tb)
	rs := redistest.Start(tb)
	ctx, cancel := context.WithCancel(context.Background())
	tb.Cleanup(cancel)
	open := func(name string) store.Store {
		st, err := backend.Open(ctx, backend.Config{RedisURL: rs.URL() + "?client_name=" + name})
		if err != nil {
			tb.Fatalf("open store: %v", err)
		}
		tb.Cleanup(func() { _ = st.Close() })
		return st
	}
	gwNC, dispNC := natstest.Connect(tb, ns), natstest.Connect(tb, ns)
	gwStore, dispStore := open(gatewayRedisName), open("scale-dispatcher")

	tokens := make(map[string]string, clusters)
	for i := range clusters {
		tokens[clusterID(i)] = tokenOf(clusterID(i))
	}
	raw, err := json.Marshal(tokens)
	if err != nil {
		tb.Fatal(err)
	}
	warnings := &lineLog{}
	reg := prometheus.NewRegistry()
	cfg := gatewayapp.Config{
		APIKeys:     []string{"scale:scale-key-0123456789abcdef"},
		AgentTokens: string(raw),
		Name:        "gw-scale",
		Heartbeat:   heartbeat,
	}
	cfg.NATSURL = ns.ClientURL()
	cfg.RedisURL = rs.URL()
	start := time.Now()
	gw, err := gatewayapp.Start(ctx, cfg, gatewayapp.Deps{Conn: gwNC, Store: gwStore, Registry: reg,
		Log: logging.New(logging.Config{Level: "warn", Format: "json", Output: warnings})})
	if err != nil {
		tb.Fatalf("gateway: %v", err)
	}
	tb.Logf("gateway started with %d clusters registered in %s", clusters, time.Since(start).Round(time.Millisecond))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	var wg sync.WaitGroup
	wg.Go(func() {
		if err := gw.Serve(ctx, ln); err != nil {
			tb.Errorf("gateway serve: %v", err)
		}
	})
	tb.Cleanup(func() {
		cancel()
		wg.Wait()
	})
	return &env{addr: ln.Addr().String(), redisAddr: rs.Addr(), reg: reg, disp: dispStore, dispNC: dispNC, warnings: warnings}
}

// result is what one phase measured.
type result struct {
	streams                int           // streams the phase opened
	beats                  bool          // the client posted heartbeats
	held                   int           // streams the gateway reported holding
	connect                time.Duration // client's first dial to its last connected event
	goroutines             int           // gateway process goroutines added by the streams
	heap, stack            int64         // HeapInuse and StackInuse added by the streams
	redisBefore            int           // gateway Redis connections before the streams
	redisAfter             int           // ... with all streams held, after the idle window
	redisMax               int           // ... most seen while connecting and delivering
	p50, p90, p99, pmax    time.Duration // enqueue → client receive
	gwCPU, redisCPU        float64       // CPU seconds per second in the idle window
	redisOps               float64       // Redis commands per second in the idle window
	redisTop               []string      // ... by command, busiest first
	beatRate               float64       // heartbeats the gateway counted per second in the idle window
	sweepWakeups           float64       // streams the sweep woke, whole phase
	beatsSent, beatsFailed int           // the client's heartbeat posts, whole phase
	beatErr                string        // the first failed one
	contactTimeouts        float64       // streams the gateway closed for want of contact
	dropped                int64         // streams that ended while held
	warnings               int           // gateway warnings while the streams were held
	goroutinesLeft, closed int           // after the client left: goroutines above before, streams held
}

func (r result) String() string {
	top := r.redisTop
	if len(top) > 6 {
		top = top[:6]
	}
	return fmt.Sprintf("held=%d connect=%s goroutines=+%d heap=+%dKiB stack=+%dKiB redis conns %d→%d (max %d) "+
		"latency p50=%s p90=%s p99=%s max=%s; warnings=%d; idle: gateway cpu=%.1f%% redis cpu=%.1f%% redis cmds/s=%.0f [%s] heartbeats/s=%.0f; "+
		"phase: sweep wakeups=%.0f heartbeats sent=%d failed=%d contact timeouts=%.0f; after close: streams=%d goroutines left=%+d",
		r.held, r.connect.Round(time.Millisecond), r.goroutines, r.heap>>10, r.stack>>10, r.redisBefore, r.redisAfter, r.redisMax,
		r.p50.Round(10*time.Microsecond), r.p90.Round(10*time.Microsecond), r.p99.Round(10*time.Microsecond),
		r.pmax.Round(10*time.Microsecond), r.warnings, r.gwCPU*100, r.redisCPU*100, r.redisOps, strings.Join(top, " "), r.beatRate,
		r.sweepWakeups, r.beatsSent, r.beatsFailed, r.contactTimeouts, r.closed, r.goroutinesLeft)
}

// phase connects count streams (clusters c00000..), their executors
// posting heartbeats if beats, measures them at rest, delivers commands
// to random ones, and closes them again.
func (e *env) phase(tb testing.TB, count int, beats bool, rng *rand.Rand) result {
	tb.Helper()
	r := result{streams: count, beats: beats}
	g0, mem0 := settle()
	w0 := e.warnings.count()
	r.redisBefore = e.redisConns(tb)
	wake0, ct0 := promtest.Sum(tb, e.reg, "kubently_gateway_sweep_wakeups_total"), promtest.Sum(tb, e.reg, "kubently_gateway_executor_contact_timeouts_total")

	sampleCtx, stopSampling := context.WithCancel(context.Background())
	var maxConns int
	var sampler sync.WaitGroup
	sampler.Go(func() {
		t := time.NewTicker(250 * time.Millisecond)
		defer t.Stop()
		for {
			if c, err := redisClients(e.redisAddr, gatewayRedisName); err == nil {
				maxConns = max(maxConns, c)
			}
			select {
			case <-sampleCtx.Done():
				return
			case <-t.C:
			}
		}
	})

	cl := startClient(tb, e.addr, 0, count, beats)
	r.connect = cl.awaitReady(tb, 5*time.Minute)
	testkit.CheckFor(tb, time.Minute, 100*time.Millisecond, func() error {
		if got := e.streams(tb); got != count {
			return fmt.Errorf("gateway holds %d streams; want %d", got, count)
		}
		return nil
	})
	r.held = e.streams(tb)
	if beats {
		// Every stream's heartbeat is being posted: one interval passed
		// since the last one connected.
		time.Sleep(heartbeat)
	}

	// Steady state: everything connected, nothing to deliver.
	// The CPU time is read inside the metric reads: gathering the
	// gateway's registry (series per held cluster) is the benchmark's
	// cost, not the idle gateway's.
	hb0, rs0 := promtest.Sum(tb, e.reg, "kubently_gateway_executor_heartbeats_total", "outcome", "local"), e.redisStats(tb)
	stopProfile := profileIdle(tb, count, beats)
	ru0, t0 := cpuTime(), time.Now()
	time.Sleep(idleWindow)
	ru1, win := cpuTime(), time.Since(t0).Seconds()
	stopProfile()
	rs1, hb1 := e.redisStats(tb), promtest.Sum(tb, e.reg, "kubently_gateway_executor_heartbeats_total", "outcome", "local")
	r.gwCPU = (ru1 - ru0).Seconds() / win
	r.redisCPU = (rs1.cpu - rs0.cpu).Seconds() / win
	r.redisOps = float64(rs1.commands-rs0.commands) / win
	r.redisTop = rates(rs0, rs1, win)
	r.beatRate = (hb1 - hb0) / win
	r.redisAfter = e.redisConns(tb)
	g1, mem1 := settle()
	r.goroutines = g1 - g0
	r.heap = int64(mem1.HeapInuse) - int64(mem0.HeapInuse)
	r.stack = int64(mem1.StackInuse) - int64(mem0.StackInuse)

	lat := e.deliver(tb, cl, count, rng)
	stopSampling()
	sampler.Wait()
	r.redisMax = max(maxConns, r.redisAfter)
	slices.Sort(lat)
	r.p50, r.p90, r.p99, r.pmax = percentile(lat, 0.50), percentile(lat, 0.90), percentile(lat, 0.99), percentile(lat, 1)

	r.dropped = cl.dropped.Load()
	r.warnings = e.warnings.count() - w0
	r.sweepWakeups = promtest.Sum(tb, e.reg, "kubently_gateway_sweep_wakeups_total") - wake0
	r.contactTimeouts = promtest.Sum(tb, e.reg, "kubently_gateway_executor_contact_timeouts_total") - ct0
	cl.stop(tb)
	r.beatsSent, r.beatsFailed, r.beatErr = cl.beats.N, int(cl.beats.MS), cl.beats.Err
	testkit.CheckFor(tb, time.Minute, 100*time.Millisecond, func() error {
		if got := e.streams(tb); got != 0 {
			return fmt.Errorf("gateway still holds %d streams after the client left", got)
		}
		return nil
	})
	r.closed = e.streams(tb)
	// The gauge drops before each stream's deferred presence Leave has
	// run; give those (and net/http's connection goroutines) time to end.
	deadline := time.Now().Add(30 * time.Second)
	for {
		g2, _ := settle()
		r.goroutinesLeft = g2 - g0
		if r.goroutinesLeft <= 5 || time.Now().After(deadline) {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	return r
}

// deliver enqueues commands for random clusters of [0, count) exactly as
// the dispatcher does (store enqueue, then a notify on the cluster's
// bridge subject), one at a time, and returns each enqueue → receive time.
func (e *env) deliver(tb testing.TB, cl *client, count int, rng *rand.Rand) []time.Duration {
	tb.Helper()
	out := make([]time.Duration, 0, commands)
	for range commands {
		cluster := clusterID(rng.IntN(count))
		now := time.Now()
		cmd := contracts.Command{ID: contracts.NewID(), Cluster: cluster, Argv: []string{"get", "pods"},
			Deadline: now.Add(time.Minute).UTC(), IssuedAt: now.UTC()}
		subj, err := contracts.BridgeNotifySubject(cluster)
		if err != nil {
			tb.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		err = e.disp.Enqueue(ctx, cmd)
		cancel()
		if err != nil {
			tb.Fatalf("enqueue: %v", err)
		}
		if err := e.dispNC.Publish(subj, []byte(cmd.ID)); err != nil {
			tb.Fatalf("notify: %v", err)
		}
		timeout := time.After(10 * time.Second)
	wait:
		for {
			select {
			case ev := <-cl.commands:
				if ev.ID != cmd.ID {
					tb.Logf("unexpected command %s on %s", ev.ID, ev.Cluster)
					continue
				}
				if ev.Cluster != cluster {
					tb.Fatalf("command for %s arrived on the stream of %s", cluster, ev.Cluster)
				}
				out = append(out, time.Unix(0, ev.At).Sub(now))
				// Ack as an executor does on receipt, after the clock
				// stopped, so the lease ends and nothing is redelivered.
				actx, acancel := context.WithTimeout(context.Background(), 5*time.Second)
				_, err := e.disp.Ack(actx, cluster, []string{cmd.ID})
				acancel()
				if err != nil {
					tb.Fatalf("ack: %v", err)
				}
				break wait
			case <-timeout:
				tb.Fatalf("command %s for %s not received within 10s (of %d streams)", cmd.ID, cluster, count)
			}
		}
	}
	return out
}

// profileIdle starts a CPU profile of this process (the gateway) for the
// idle window of a phase with more than baseStreams streams if
// envProfile names a directory (as idle-<streams>[-hb].pprof), and
// returns the function that stops it. Do not combine it with go test
// -cpuprofile: one profile runs at a time.
func profileIdle(tb testing.TB, count int, beats bool) (stop func()) {
	tb.Helper()
	dir := os.Getenv(envProfile)
	if dir == "" || count <= baseStreams {
		return func() {}
	}
	name := fmt.Sprintf("idle-%d.pprof", count)
	if beats {
		name = fmt.Sprintf("idle-%d-hb.pprof", count)
	}
	f, err := os.Create(filepath.Join(dir, name))
	if err != nil {
		tb.Fatalf("cpu profile: %v", err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		_ = f.Close()
		tb.Fatalf("cpu profile: %v", err)
	}
	return func() {
		pprof.StopCPUProfile()
		if err := f.Close(); err != nil {
			tb.Errorf("cpu profile: %v", err)
		}
		tb.Logf("idle CPU profile written to %s", f.Name())
	}
}

// streams is the gateway's own count of executor streams it holds.
func (e *env) streams(tb testing.TB) int {
	return int(promtest.Sum(tb, e.reg, "kubently_gateway_executor_streams"))
}

func (e *env) redisConns(tb testing.TB) int {
	tb.Helper()
	n, err := redisClients(e.redisAddr, gatewayRedisName)
	if err != nil {
		tb.Fatalf("redis CLIENT LIST: %v", err)
	}
	return n
}

func (e *env) redisStats(tb testing.TB) redisStats {
	tb.Helper()
	st, err := readRedisStats(e.redisAddr)
	if err != nil {
		tb.Fatalf("redis INFO: %v", err)
	}
	return st
}

// settle collects garbage and returns the goroutine count and memory
// statistics of this process.
func settle() (int, runtime.MemStats) {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return runtime.NumGoroutine(), m
}

// cpuTime is this process's user + system CPU time.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// percentile is the nearest-rank percentile of sorted d.
func percentile(d []time.Duration, p float64) time.Duration {
	if len(d) == 0 {
		return 0
	}
	i := int(float64(len(d))*p+0.999999) - 1
	return d[min(max(i, 0), len(d)-1)]
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// lineLog counts the gateway's log lines (warnings and errors: the
// benchmark logs at warn) and keeps the last few.
type lineLog struct {
	mu    sync.Mutex
	n     int
	lines [][]byte
}

func (l *lineLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.n += bytes.Count(p, []byte("\n"))
	l.lines = append(l.lines, bytes.Clone(p))
	if len(l.lines) > 10 {
		l.lines = l.lines[len(l.lines)-10:]
	}
	return len(p), nil
}

func (l *lineLog) count() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.n
}

func (l *lineLog) tail() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return string(bytes.Join(l.lines, nil))
}
