package bench

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// processes in the order the cost table shows them.
var processes = []string{"gateway", "dispatcher", "session", "executor", "nats-server", "redis"}

// cell is one row's medians over the repetitions.
type cell struct {
	command, target string
	clients         int
	p50, p99        time.Duration
	rate            float64 // commands per second
	errs, n         int
	cpuPerCmd       map[string]time.Duration // CPU per command, per process
	rss             map[string]int64
	redisCalls      float64 // per command; -1 without Redis
	redisScripts    float64
}

type key struct {
	command, target string
	clients         int
}

// aggregate folds the repetitions of each (command, target, clients)
// into medians, in the order they first ran.
func aggregate(results []phaseResult) ([]key, map[key]cell) {
	var order []key
	groups := map[key][]phaseResult{}
	for _, r := range results {
		k := key{r.command, r.target, r.clients}
		if _, ok := groups[k]; !ok {
			order = append(order, k)
		}
		groups[k] = append(groups[k], r)
	}
	cells := map[key]cell{}
	for k, rs := range groups {
		c := cell{command: k.command, target: k.target, clients: k.clients,
			cpuPerCmd: map[string]time.Duration{}, rss: map[string]int64{}, redisCalls: -1}
		var p50s, p99s []time.Duration
		var rates, calls, scripts []float64
		cpu := map[string][]time.Duration{}
		rss := map[string][]int64{}
		for _, r := range rs {
			p50s = append(p50s, quantile(r.lat, 0.50))
			p99s = append(p99s, quantile(r.lat, 0.99))
			rates = append(rates, float64(r.n)/r.elapsed.Seconds())
			c.errs += r.errs
			c.n += r.n
			done := max(r.n, 1)
			for name, d := range r.cpu {
				cpu[name] = append(cpu[name], d/time.Duration(done))
			}
			for name, b := range r.rss {
				rss[name] = append(rss[name], b)
			}
			if r.redis != nil {
				calls = append(calls, float64(r.redis.calls)/float64(done))
				scripts = append(scripts, float64(r.redis.scripts)/float64(done))
			}
		}
		c.p50, c.p99, c.rate = median(p50s), median(p99s), median(rates)
		for name, v := range cpu {
			c.cpuPerCmd[name] = median(v)
		}
		for name, v := range rss {
			c.rss[name] = median(v)
		}
		if len(calls) > 0 {
			c.redisCalls, c.redisScripts = median(calls), median(scripts)
		}
		cells[k] = c
	}
	return order, cells
}

func median[T int64 | float64 | time.Duration](v []T) T {
	s := slices.Clone(v)
	slices.Sort(s)
	return s[len(s)/2]
}

func ms(d time.Duration) string { return fmt.Sprintf("%.1f", float64(d.Microseconds())/1000) }

// render prints the report: latency and throughput against the direct
// baseline, cost per command per process, and the issue 17 goals.
func render(set settings, results []phaseResult) string {
	order, cells := aggregate(results)
	var b strings.Builder
	mode := "smoke"
	if set.full {
		mode = "full"
	}
	fmt.Fprintf(&b, "Kubently end-to-end load (%s run, %s): %d repetition(s) of %s per phase, medians; "+
		"direct = client-go from the harness to the same apiserver, phases interleaved.\n\n",
		mode, time.Now().UTC().Format("2006-01-02 15:04 UTC"), set.reps, set.duration)

	b.WriteString("| command | clients | path | p50 ms | p99 ms | added p50 / p99 ms | commands/s | × direct | errors |\n")
	b.WriteString("|---|---:|---|---:|---:|---:|---:|---:|---:|\n")
	for _, k := range order {
		c := cells[k]
		added, ratio := "—", "—"
		if d, ok := cells[key{k.command, "direct", k.clients}]; ok && k.target != "direct" {
			added = fmt.Sprintf("%+.1f / %+.1f", float64((c.p50-d.p50).Microseconds())/1000, float64((c.p99-d.p99).Microseconds())/1000)
			if d.rate > 0 {
				ratio = fmt.Sprintf("%.2f×", c.rate/d.rate)
			}
		}
		fmt.Fprintf(&b, "| `%s` | %d | %s | %s | %s | %s | %.0f | %s | %d |\n",
			k.command, k.clients, k.target, ms(c.p50), ms(c.p99), added, c.rate, ratio, c.errs)
	}

	b.WriteString("\nCost per command (CPU ms per command = CPU s per 1,000 commands; RSS at the end of the phase; " +
		"Redis: calls counted by commandstats, including those inside scripts, and scripts run):\n\n")
	b.WriteString("| command | clients | store |")
	for _, p := range processes {
		fmt.Fprintf(&b, " %s CPU |", p)
	}
	b.WriteString(" total CPU | RSS MiB gw / disp / exec | Redis calls / scripts per command |\n|---|---:|---|")
	for range processes {
		b.WriteString("---:|")
	}
	b.WriteString("---:|---:|---:|\n")
	for _, k := range order {
		if k.target == "direct" {
			continue
		}
		c := cells[k]
		fmt.Fprintf(&b, "| `%s` | %d | %s |", k.command, k.clients, k.target)
		var total time.Duration
		for _, p := range processes {
			d, ok := c.cpuPerCmd[p]
			if !ok {
				b.WriteString(" — |")
				continue
			}
			total += d
			fmt.Fprintf(&b, " %.2f |", float64(d.Microseconds())/1000)
		}
		fmt.Fprintf(&b, " %.2f | %.0f / %.0f / %.0f |", float64(total.Microseconds())/1000,
			mib(c.rss["gateway"]), mib(c.rss["dispatcher"]), mib(c.rss["executor"]))
		if c.redisCalls >= 0 {
			fmt.Fprintf(&b, " %.1f / %.1f |\n", c.redisCalls, c.redisScripts)
		} else {
			b.WriteString(" — |\n")
		}
	}

	b.WriteString("\nGoals (issue 17), from the largest and smallest client counts of this run:\n\n")
	lo, hi := slices.Min(set.clients), slices.Max(set.clients)
	for _, st := range set.stores {
		d1, ok1 := cells[key{"get namespaces", "direct", lo}]
		s1, ok2 := cells[key{"get namespaces", st, lo}]
		if ok1 && ok2 {
			goal(&b, fmt.Sprintf("%s, %d client(s): added p50 ≤ 1 ms", st, lo), float64((s1.p50-d1.p50).Microseconds())/1000, 1, "ms", false)
			goal(&b, fmt.Sprintf("%s, %d client(s): added p99 ≤ 5 ms", st, lo), float64((s1.p99-d1.p99).Microseconds())/1000, 5, "ms", false)
		}
		dh, ok1 := cells[key{"get namespaces", "direct", hi}]
		sh, ok2 := cells[key{"get namespaces", st, hi}]
		if ok1 && ok2 && dh.rate > 0 {
			goal(&b, fmt.Sprintf("%s, %d clients: throughput ≥ 0.8× direct", st, hi), sh.rate/dh.rate, 0.8, "×", true)
			goal(&b, fmt.Sprintf("%s, %d clients: p99 ≤ 2× direct p99", st, hi), float64(sh.p99)/float64(max(dh.p99, 1)), 2, "×", false)
		}
		if ch, ok := cells[key{"version --client", st, set.cheapClients}]; ok {
			goal(&b, fmt.Sprintf("%s, cheapest command: ≥ 5,000 commands/s", st), ch.rate, 5000, "/s", true)
			var total time.Duration
			for _, p := range processes {
				total += ch.cpuPerCmd[p]
			}
			goal(&b, fmt.Sprintf("%s, cheapest command: Kubently's processes ≤ 0.4 CPU-ms per command", st), float64(total.Microseconds())/1000, 0.4, "ms", false)
		}
	}
	return b.String()
}

func mib(b int64) float64 { return float64(b) / (1 << 20) }

// goal writes one goal line: met when got ≥ want (atLeast) or got ≤ want.
func goal(b *strings.Builder, what string, got, want float64, unit string, atLeast bool) {
	met := got <= want
	if atLeast {
		met = got >= want
	}
	mark := "NOT MET"
	if met {
		mark = "met"
	}
	fmt.Fprintf(b, "- %s: %.2f%s — %s\n", what, got, unit, mark)
}

// profile takes a CPU profile of every service of tg's topology while
// tg runs at the largest client count, into KUBENTLY_BENCH_PPROF_DIR
// (default: a temp dir, printed).
func profile(t *testing.T, tg *target, set settings) {
	t.Helper()
	dir := os.Getenv("KUBENTLY_BENCH_PPROF_DIR")
	if dir == "" {
		dir = filepath.Join(os.TempDir(), "kubently-bench-pprof")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	secs := max(int(set.duration.Seconds()), 1)
	var wg sync.WaitGroup
	for name, addr := range tg.topo.ops {
		wg.Go(func() {
			for _, kind := range []string{"profile?seconds=" + fmt.Sprint(secs), "allocs"} {
				ctx, cancel := context.WithTimeout(context.Background(), time.Duration(secs+30)*time.Second)
				req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+"/debug/pprof/"+kind, nil)
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					cancel()
					t.Errorf("pprof %s %s: %v", name, kind, err)
					return
				}
				raw, err := io.ReadAll(resp.Body)
				_ = resp.Body.Close()
				cancel()
				if err != nil || resp.StatusCode != http.StatusOK {
					t.Errorf("pprof %s %s: HTTP %d %v", name, kind, resp.StatusCode, err)
					return
				}
				base := strings.SplitN(kind, "?", 2)[0]
				f := filepath.Join(dir, fmt.Sprintf("%s-%s-%s.pb.gz", tg.name, name, base))
				if err := os.WriteFile(f, raw, 0o644); err != nil {
					t.Error(err)
				}
			}
		})
	}
	runPhase(t, tg, "get namespaces (profiled)", slices.Max(set.clients), set.duration+time.Second)
	wg.Wait()
	fmt.Printf("pprof profiles of %s in %s\n", tg.name, dir)
}
