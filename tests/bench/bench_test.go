package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"maps"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	"kubently.io/libs/contracts"
	"kubently.io/libs/redistest"
	"kubently.io/libs/testbed"
	"kubently.io/libs/testkit"
)

// binDir holds the binaries TestMain builds.
var binDir string

func TestMain(m *testing.M) {
	flag.Parse()
	if testing.Short() {
		// -short (make test-unit) runs no stack.
		os.Exit(m.Run())
	}
	// The smoke needs a running testbed; the full run (make bench-e2e)
	// starts one through testbed.Kubeconfig if none runs.
	if os.Getenv("KUBENTLY_TEST_KUBECONFIG") == "" && os.Getenv("KUBENTLY_BENCH") != "full" {
		if _, err := os.Stat("/tmp/kubently-testbed/kubeconfig"); err != nil {
			fmt.Println("bench: no kube-apiserver testbed; skipping (set KUBENTLY_TEST_KUBECONFIG)")
			os.Exit(0)
		}
	}
	os.Exit(testkit.MainWithBinaries(m, "bench", &binDir, testkit.StackCommands()...))
}

// settings are the knobs of one run (docs/performance.md lists them).
type settings struct {
	full         bool
	duration     time.Duration
	reps         int
	clients      []int
	cheapClients int
	stores       []string
	pprof        bool
	out          string
}

func loadSettings(t *testing.T) settings {
	t.Helper()
	s := settings{duration: time.Second, reps: 1, clients: []int{1, 4}, cheapClients: 4,
		stores: []string{"redis", "jetstream"}}
	if os.Getenv("KUBENTLY_BENCH") == "full" {
		s = settings{full: true, duration: 8 * time.Second, reps: 3, clients: []int{1, 16, 64}, cheapClients: 64,
			stores: []string{"redis", "jetstream"}}
	}
	if v := os.Getenv("KUBENTLY_BENCH_DURATION"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			t.Fatalf("KUBENTLY_BENCH_DURATION=%q: want a positive duration", v)
		}
		s.duration = d
	}
	if v := os.Getenv("KUBENTLY_BENCH_REPS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 100 {
			t.Fatalf("KUBENTLY_BENCH_REPS=%q: want 1..100", v)
		}
		s.reps = n
	}
	if v := os.Getenv("KUBENTLY_BENCH_CLIENTS"); v != "" {
		s.clients = nil
		for f := range strings.SplitSeq(v, ",") {
			n, err := strconv.Atoi(strings.TrimSpace(f))
			if err != nil || n < 1 || n > 1024 {
				t.Fatalf("KUBENTLY_BENCH_CLIENTS=%q: want a comma-separated list of 1..1024", v)
			}
			s.clients = append(s.clients, n)
		}
		s.cheapClients = slices.Max(s.clients)
	}
	if v := os.Getenv("KUBENTLY_BENCH_STORES"); v != "" {
		s.stores = nil
		for f := range strings.SplitSeq(v, ",") {
			f = strings.TrimSpace(f)
			if f != "redis" && f != "jetstream" {
				t.Fatalf("KUBENTLY_BENCH_STORES=%q: want redis and/or jetstream", v)
			}
			s.stores = append(s.stores, f)
		}
	}
	s.pprof = os.Getenv("KUBENTLY_BENCH_PPROF") == "true"
	s.out = os.Getenv("KUBENTLY_BENCH_OUT")
	return s
}

// Commands a phase runs.
var (
	cmdGetNS = []string{"get", "namespaces"}
	cmdCheap = []string{"version", "--client"}
)

// target is one way of running a command: direct client-go or through one
// topology.
type target struct {
	name string
	topo *topology                   // nil for direct
	do   func(context.Context) error // one command
	with func(argv []string) *target // the same target running argv
}

// TestE2E runs the load harness: the smoke by default, the full run with
// KUBENTLY_BENCH=full (make bench-e2e). It fails on errors only.
func TestE2E(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the whole topology; not in -short")
	}
	set := loadSettings(t)
	kubeconfig := testbed.Kubeconfig(t)

	direct := directTarget(t, kubeconfig)
	var systems []*target
	for _, st := range set.stores {
		var tp *topology
		if st == "redis" {
			srv := redistest.Start(t)
			tp = startTopology(t, binDir, st, kubeconfig, srv.URL(), srv.Addr(), set.pprof)
			pid, err := redisPID(srv.Addr())
			if err != nil {
				t.Fatal(err)
			}
			tp.pids["redis"] = pid
		} else {
			tp = startTopology(t, binDir, st, kubeconfig, "", "", set.pprof)
		}
		systems = append(systems, systemTarget(tp, cmdGetNS))
	}

	// Warm every path (connections, caches, JIT-free but lazy inits).
	for _, tg := range append([]*target{direct}, systems...) {
		if r := runPhase(t, tg, "warmup", 4, min(set.duration, time.Second)); r.errs > 0 && !set.full {
			t.Fatalf("warmup %s: %d errors, first: %s", tg.name, r.errs, r.firstErr)
		}
	}

	var results []phaseResult
	var roundTrips string
	for rep := range set.reps {
		for _, n := range set.clients {
			for _, tg := range append([]*target{direct}, systems...) {
				r := runPhase(t, tg, "get namespaces", n, set.duration)
				r.rep = rep
				results = append(results, r)
			}
		}
		for _, sys := range systems {
			r := runPhase(t, sys.with(cmdCheap), "version --client", set.cheapClients, set.duration)
			r.rep = rep
			results = append(results, r)
		}
		for _, sys := range systems {
			if err := sys.topo.alive(); err != nil {
				t.Fatal(err)
			}
		}
	}
	// Round trips to Redis per command, seen by MONITOR (which slows Redis
	// down, so it runs in a phase of its own, after the measured ones).
	for _, sys := range systems {
		if sys.topo.redisAddr == "" {
			continue
		}
		before, err := readRedis(sys.topo.redisAddr)
		if err != nil {
			t.Fatal(err)
		}
		stop, err := startMonitor(sys.topo.redisAddr)
		if err != nil {
			t.Fatal(err)
		}
		r := runPhase(t, sys, "monitored", 1, min(set.duration, 2*time.Second))
		mc, _ := stop()
		after, err := readRedis(sys.topo.redisAddr)
		if err != nil {
			t.Fatal(err)
		}
		if r.n > 0 {
			// Read events in the phase, less the MONITOR and INFO
			// requests: Kubently's round trips, and the few of its
			// background work (sweeps, lease renewals) in the phase.
			trips := float64(after.reads-before.reads-2) / float64(r.n)
			var b strings.Builder
			fmt.Fprintf(&b, "\nRedis round trips per `get namespaces` (read events Redis processed, INFO stats total_reads_processed; 1 client, %d commands, background work included): %.1f.\n",
				r.n, trips)
			goal(&b, "redis: Redis round trips per command ≤ 8", trips, 8, "", false)
			fmt.Fprintf(&b, "Redis commands sent by Kubently's processes per `get namespaces` (MONITOR; a pipeline sends several in one round trip): %.1f, plus %.1f run inside scripts.\n",
				float64(mc.client)/float64(r.n), float64(mc.lua)/float64(r.n))
			names := slices.Sorted(maps.Keys(mc.byName))
			b.WriteString("  by name, per command:")
			for _, n := range names {
				fmt.Fprintf(&b, " %s %.1f", n, float64(mc.byName[n])/float64(r.n))
			}
			b.WriteString("\n")
			roundTrips = b.String()
		}
	}
	if set.pprof {
		for _, sys := range systems {
			profile(t, sys.with(cmdGetNS), set)
		}
	}

	report := render(set, results) + roundTrips
	fmt.Println(report)
	if set.out != "" {
		if err := os.WriteFile(set.out, []byte(report), 0o644); err != nil {
			t.Errorf("write %s: %v", set.out, err)
		}
	}
	if !set.full {
		for _, r := range results {
			if r.errs > 0 {
				t.Errorf("%s %s at %d clients: %d of %d commands failed; first: %s", r.target, r.command, r.clients, r.errs, r.n, r.firstErr)
			}
			if r.n == 0 {
				t.Errorf("%s %s at %d clients: no command finished", r.target, r.command, r.clients)
			}
		}
	}
}

// directTarget lists namespaces as kubectl does (a Table), with client-go
// straight against the apiserver and no client-side rate limit.
func directTarget(t *testing.T, kubeconfig string) *target {
	t.Helper()
	cfg, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	cfg.QPS, cfg.Burst = -1, 0
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	rc := cs.CoreV1().RESTClient()
	return &target{name: "direct", do: func(ctx context.Context) error {
		_, err := rc.Get().Resource("namespaces").
			SetHeader("Accept", "application/json;as=Table;v=v1;g=meta.k8s.io,application/json").
			Do(ctx).Raw()
		return err
	}}
}

// systemTarget runs argv through tp's gateway as an admin client.
func systemTarget(tp *topology, argv []string) *target {
	hc := &http.Client{Timeout: 60 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 1024, MaxIdleConns: 1024}}
	body, _ := json.Marshal(map[string]any{"cluster_id": cluster, "argv": argv, "timeout_seconds": 30})
	tg := &target{name: tp.name, topo: tp}
	tg.do = func(ctx context.Context) error {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, tp.gateway+"/v1/execute", bytes.NewReader(body))
		if err != nil {
			return err
		}
		req.Header.Set(contracts.HeaderAPIKey, adminKey)
		req.Header.Set("Content-Type", "application/json")
		resp, err := hc.Do(req)
		if err != nil {
			return err
		}
		raw, err := io.ReadAll(resp.Body)
		_ = resp.Body.Close()
		if err != nil {
			return err
		}
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("HTTP %d: %s", resp.StatusCode, truncate(raw))
		}
		var res contracts.CommandResult
		if err := json.Unmarshal(raw, &res); err != nil {
			return fmt.Errorf("decode result: %w", err)
		}
		if res.Status != contracts.StatusSuccess {
			return fmt.Errorf("status %s: %s", res.Status, res.Error)
		}
		return nil
	}
	tg.with = func(a []string) *target { return systemTarget(tp, a) }
	return tg
}

func truncate(b []byte) string {
	if len(b) > 200 {
		return string(b[:200]) + "…"
	}
	return string(b)
}

// phaseResult is one phase's measurements.
type phaseResult struct {
	target, command string
	clients, rep    int
	lat             []time.Duration // sorted
	n, errs         int
	firstErr        string
	elapsed         time.Duration
	cpu             map[string]time.Duration // per process, over the phase
	rss             map[string]int64         // per process, at the end
	redis           *redisCounts             // delta over the phase; nil without Redis
}

// runPhase runs tg with clients closed-loop clients for d.
func runPhase(t *testing.T, tg *target, command string, clients int, d time.Duration) phaseResult {
	t.Helper()
	r := phaseResult{target: tg.name, command: command, clients: clients, cpu: map[string]time.Duration{}, rss: map[string]int64{}}
	var pids map[string]int
	before := map[string]procSample{}
	var redisBefore redisCounts
	if tg.topo != nil {
		pids = tg.topo.measured()
		for name, pid := range pids {
			s, err := sampleProc(pid)
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			before[name] = s
		}
		if tg.topo.redisAddr != "" {
			var err error
			if redisBefore, err = readRedis(tg.topo.redisAddr); err != nil {
				t.Fatal(err)
			}
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), d+90*time.Second)
	defer cancel()
	var (
		mu   sync.Mutex
		wg   sync.WaitGroup
		lats = make([][]time.Duration, clients)
	)
	start := time.Now()
	end := start.Add(d)
	for i := range clients {
		wg.Go(func() {
			for time.Now().Before(end) {
				t0 := time.Now()
				err := tg.do(ctx)
				took := time.Since(t0)
				if err != nil {
					mu.Lock()
					r.errs++
					if r.firstErr == "" {
						r.firstErr = err.Error()
					}
					mu.Unlock()
					continue
				}
				lats[i] = append(lats[i], took)
			}
		})
	}
	wg.Wait()
	r.elapsed = time.Since(start)
	for _, l := range lats {
		r.lat = append(r.lat, l...)
	}
	slices.Sort(r.lat)
	r.n = len(r.lat)
	for name, pid := range pids {
		s, err := sampleProc(pid)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		r.cpu[name] = s.cpu - before[name].cpu
		r.rss[name] = s.rss
	}
	if tg.topo != nil && tg.topo.redisAddr != "" {
		after, err := readRedis(tg.topo.redisAddr)
		if err != nil {
			t.Fatal(err)
		}
		r.redis = &redisCounts{calls: after.calls - redisBefore.calls, scripts: after.scripts - redisBefore.scripts}
	}
	t.Logf("%-9s %-16s %3d clients: %6d ok, %d errors, %.0f/s", r.target, r.command, clients, r.n, r.errs, float64(r.n)/r.elapsed.Seconds())
	return r
}

// quantile of sorted durations.
func quantile(s []time.Duration, q float64) time.Duration {
	if len(s) == 0 {
		return 0
	}
	i := int(q * float64(len(s)-1))
	return s[i]
}
