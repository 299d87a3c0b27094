package kubeexec_test

import (
	"context"
	"runtime/metrics"
	"slices"
	"syscall"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/client-go/kubernetes"

	"kubently.io/libs/testbed"
	"kubently.io/services/executor/internal/kubeexec"
)

// tableAccept is the Accept header kubectl get sends for table output.
const tableAccept = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json"

// BenchmarkExecutorAdded measures what the executor adds to the client-go
// call a command makes: each iteration makes the direct call as kubectl
// makes it (for get, the Table request; for describe, the object and its
// events) and then runs the same command through the Runner, which also
// redacts, decodes and prints. The process's CPU time (utime + stime,
// all goroutines, GC included), wall time and heap allocations are taken
// around each half, so a stall of the shared machine or of the
// apiserver hits one pair, not the median. It reports, per command:
//
//   - added-cpu-us: the median over pairs of the Runner's CPU minus the
//     direct call's, and added-cpu-us-mean: the same from the totals (GC
//     work lands in whichever call triggered it, so the mean counts it
//     fairly and the median is the steadier figure);
//   - direct-cpu-us: the median CPU of the direct call alone;
//   - added-wall-us: the median of the per-pair wall time difference;
//   - added-allocs and added-B: the Runner's heap allocations (objects,
//     bytes) per command minus the direct call's, from the totals.
//
// It needs the testbed (KUBENTLY_TEST_KUBECONFIG); -short skips it:
//
//	go test -run '^$' -bench BenchmarkExecutorAdded -benchtime 200x ./internal/kubeexec
func BenchmarkExecutorAdded(b *testing.B) {
	cfg := restConfig(b, testbed.Kubeconfig(b))
	testbed.Seed(b)
	cfg.QPS, cfg.Burst = 1000, 1000
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		b.Fatal(err)
	}
	r, err := kubeexec.New(kubeexec.Config{REST: cfg})
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	pods, err := cs.CoreV1().Pods(testbed.SeedNamespace).List(ctx, metav1.ListOptions{Limit: 1})
	if err != nil || len(pods.Items) == 0 {
		b.Fatalf("listing seeded pods: %v (%d found)", err, len(pods.Items))
	}
	pod := pods.Items[0]

	table := func(path string) func() error {
		return func() error {
			return cs.CoreV1().RESTClient().Get().AbsPath(path).Param("limit", "500").
				SetHeader("Accept", tableAccept).Do(ctx).Error()
		}
	}
	benches := []struct {
		name   string
		direct func() error
		argv   []string
	}{
		{name: "get namespaces", direct: table("/api/v1/namespaces"), argv: []string{"get", "namespaces"}},
		{name: "get pods -A", direct: table("/api/v1/pods"), argv: []string{"get", "pods", "-A"}},
		{
			name: "describe pod",
			direct: func() error {
				// What kubectl describe pod reads: the pod, then its events.
				p, err := cs.CoreV1().Pods(pod.Namespace).Get(ctx, pod.Name, metav1.GetOptions{})
				if err != nil {
					return err
				}
				sel := fields.Set{"involvedObject.name": p.Name, "involvedObject.namespace": p.Namespace, "involvedObject.uid": string(p.UID)}
				_, err = cs.CoreV1().Events(p.Namespace).List(ctx, metav1.ListOptions{FieldSelector: sel.AsSelector().String(), Limit: 500})
				return err
			},
			argv: []string{"describe", "pod", pod.Name, "-n", pod.Namespace},
		},
	}
	for _, bb := range benches {
		b.Run(bb.name, func(b *testing.B) {
			run := func() error {
				res := r.Run(ctx, bb.argv)
				if res.ExitCode != 0 || res.Output == "" {
					b.Fatalf("%v: exit %d, stderr %q", bb.argv, res.ExitCode, res.Error)
				}
				return nil
			}
			// Warm up discovery, connections and caches on both paths.
			for range 5 {
				if err := bb.direct(); err != nil {
					b.Fatal(err)
				}
				_ = run()
			}
			var direct, kubently sample
			var addedCPU, addedWall, directCPU []float64
			b.ReportAllocs()
			for b.Loop() {
				d := measure(b, bb.direct)
				k := measure(b, run)
				direct.add(d)
				kubently.add(k)
				addedCPU = append(addedCPU, float64(k.cpu-d.cpu)/1e3)
				addedWall = append(addedWall, float64(k.wall-d.wall)/1e3)
				directCPU = append(directCPU, float64(d.cpu)/1e3)
			}
			n := float64(direct.n)
			b.ReportMetric(medianOf(addedCPU), "added-cpu-us")
			b.ReportMetric(float64(kubently.cpu-direct.cpu)/1e3/n, "added-cpu-us-mean")
			b.ReportMetric(medianOf(directCPU), "direct-cpu-us")
			b.ReportMetric(medianOf(addedWall), "added-wall-us")
			b.ReportMetric(float64(kubently.objects-direct.objects)/n, "added-allocs")
			b.ReportMetric(float64(kubently.bytes-direct.bytes)/n, "added-B")
		})
	}
}

// cost is what one call used: process CPU and wall time in nanoseconds,
// heap objects and bytes allocated.
type cost struct {
	cpu, wall, objects, bytes int64
}

// sample sums costs.
type sample struct {
	cost
	n int
}

func (s *sample) add(c cost) {
	s.cpu += c.cpu
	s.wall += c.wall
	s.objects += c.objects
	s.bytes += c.bytes
	s.n++
}

// measure runs f and returns its cost.
func measure(b *testing.B, f func() error) cost {
	before := snapshot()
	if err := f(); err != nil {
		b.Fatal(err)
	}
	after := snapshot()
	return cost{
		cpu:     after.cpu - before.cpu,
		wall:    after.wall - before.wall,
		objects: after.objects - before.objects,
		bytes:   after.bytes - before.bytes,
	}
}

// snapshot reads the process's CPU time, the clock and the heap's
// cumulative allocation counters.
func snapshot() cost {
	ms := []metrics.Sample{{Name: "/gc/heap/allocs:objects"}, {Name: "/gc/heap/allocs:bytes"}}
	metrics.Read(ms)
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return cost{
		cpu:     ru.Utime.Nano() + ru.Stime.Nano(),
		wall:    time.Now().UnixNano(),
		objects: int64(ms[0].Value.Uint64()),
		bytes:   int64(ms[1].Value.Uint64()),
	}
}

func medianOf(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	slices.Sort(v)
	return v[len(v)/2]
}
