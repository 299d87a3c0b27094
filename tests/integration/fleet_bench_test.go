package integration

import (
	"context"
	"fmt"
	"net"
	"os"
	"runtime"
	"slices"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"k8s.io/client-go/rest"

	"kubently.io/libs/contracts"
	"kubently.io/libs/logging"
	"kubently.io/libs/testkit"
	executorapp "kubently.io/services/executor/app"
	gatewayapp "kubently.io/services/gateway/app"
	kstack "kubently.io/tests/stack"
)

// envFleetBenchClusters sets how many clusters BenchmarkFleetFanout
// connects; default 1000.
const envFleetBenchClusters = "KUBENTLY_FLEET_BENCH_CLUSTERS"

// BenchmarkFleetFanout sends `version --client` to every one of N
// connected clusters (real executor links over SSE, one executor each;
// the command needs no API server, so theirs refuses connections) through POST
// /v1/fleet/execute, and reports per fan-out: the time to the first and
// to the last result, the median arrival of a result, the median time one
// cluster's command took inside the fan-out, the CPU the process spent per
// fan-out, and its heap: once the services (gateway, dispatcher, session
// service, NATS, with the N clusters registered) are up and before any
// executor starts (heap-services-MiB), and after the fan-outs with the N
// executors, which share the process, connected (heap-MiB).
func BenchmarkFleetFanout(b *testing.B) {
	n := 1000
	if v := os.Getenv(envFleetBenchClusters); v != "" {
		var err error
		if n, err = strconv.Atoi(v); err != nil || n < 1 || n > contracts.MaxFleetClusters {
			b.Fatalf("%s=%q: want 1-%d", envFleetBenchClusters, v, contracts.MaxFleetClusters)
		}
	}
	clusters := make([]kstack.Cluster, n)
	for i := range clusters {
		clusters[i] = kstack.Cluster{ID: fmt.Sprintf("bench-%04d", i), Token: fmt.Sprintf("bench-token-%04d-0123456789abcdef", i)}
	}
	s := kstack.Start(b, kstack.Config{LogLevel: "error", Clusters: clusters,
		// The product's heartbeat (5s), not the suites' 500ms: each stream
		// costs a presence write and an executor heartbeat post per
		// interval, and at 500ms a thousand of them on this shared
		// machine miss their 1.5s windows and reconnect in a loop.
		Gateway: func(c *gatewayapp.Config) { c.Heartbeat = 5 * time.Second }})
	hole := &rest.Config{Host: refused(b), Timeout: 5 * time.Second}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	b.Cleanup(func() {
		cancel()
		wg.Wait()
	})
	heapServices := heapInuse()
	log := logging.New(logging.Config{Level: "error", Format: "json", Output: s.Logs})
	for _, c := range clusters {
		cfg := executorapp.Config{APIURL: s.URL, Cluster: c.ID, Token: c.Token, Workers: 1, Queue: 4,
			MaxOutputBytes: 64 << 10, ExecutorID: c.ID + "-exec", KubeQPS: 100, KubeBurst: 100}
		wg.Go(func() { _ = executorapp.RunWith(ctx, cfg, hole, log) })
	}
	connStart, lastLog := time.Now(), time.Now()
	testkit.CheckFor(b, 10*time.Minute, time.Second, func() error {
		connected := 0
		for _, c := range clusters {
			conns, err := s.Store.Connected(ctx, c.ID)
			if err != nil {
				return err
			}
			if len(conns) > 0 {
				connected++
			}
		}
		if connected < n {
			if time.Since(lastLog) >= 5*time.Second {
				lastLog = time.Now()
				b.Logf("%d of %d executors connected after %s", connected, n, time.Since(connStart).Round(time.Second))
			}
			return fmt.Errorf("%d of %d executors connected", connected, n)
		}
		return nil
	})
	b.Logf("%d executors connected in %s", n, time.Since(connStart).Round(100*time.Millisecond))
	for _, c := range clusters {
		if _, err := s.Store.LabelCluster(ctx, c.ID, map[string]string{"bench": "yes"}, nil); err != nil {
			b.Fatalf("label %s: %v", c.ID, err)
		}
	}
	body := contracts.FleetExecuteRequest{FleetTarget: contracts.FleetTarget{Selector: "bench=yes", Concurrency: contracts.MaxFleetConcurrency, TimeoutSeconds: 60},
		Argv: []string{"version", "--client"}}
	st := &stack{Stack: s, url: s.URL}
	var firsts, lasts, medians, jobs []time.Duration
	cpu0 := cpuTime(b)
	b.ResetTimer()
	for b.Loop() {
		start := time.Now()
		var arrivals []time.Duration
		_, _, sum := fleetStream(b, st, "/v1/fleet/execute", kstack.AliceKey, body, false, func(r contracts.FleetResult) {
			arrivals = append(arrivals, time.Since(start))
			jobs = append(jobs, time.Duration(r.DurationMS)*time.Millisecond)
		})
		if sum.Succeeded != n {
			b.Fatalf("summary %+v; want %d succeeded", sum, n)
		}
		firsts = append(firsts, arrivals[0])
		lasts = append(lasts, arrivals[len(arrivals)-1])
		medians = append(medians, arrivals[len(arrivals)/2])
	}
	b.StopTimer()
	// The CPU the whole process (every service and executor) spent per
	// fan-out: unlike the times, it does not depend on how much of the
	// machine other work leaves to the benchmark.
	cpuPer := float64(cpuTime(b)-cpu0) / float64(time.Millisecond) / float64(len(lasts))
	heap := heapInuse()
	med := func(d []time.Duration) float64 {
		slices.Sort(d)
		return float64(d[len(d)/2]) / float64(time.Millisecond)
	}
	b.ReportMetric(med(firsts), "first-ms")
	b.ReportMetric(med(lasts), "last-ms")
	b.ReportMetric(med(medians), "p50-result-ms")
	b.ReportMetric(med(jobs), "p50-cluster-ms")
	b.ReportMetric(heapServices, "heap-services-MiB")
	b.ReportMetric(heap, "heap-MiB")
	b.ReportMetric(float64(runtime.NumGoroutine()), "goroutines")
	b.ReportMetric(float64(n), "clusters")
	b.ReportMetric(cpuPer, "cpu-ms/fanout")
}

// heapInuse is the process's heap in use after a collection, in MiB.
func heapInuse() float64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return float64(ms.HeapInuse) / (1 << 20)
}

// cpuTime is the user and system CPU time the process has used.
func cpuTime(tb testing.TB) time.Duration {
	tb.Helper()
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		tb.Fatalf("getrusage: %v", err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// refused returns the URL of a local port nothing listens on: every
// connection to it is refused at once.
func refused(tb testing.TB) string {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	addr := ln.Addr().String()
	_ = ln.Close()
	return "http://" + addr
}
