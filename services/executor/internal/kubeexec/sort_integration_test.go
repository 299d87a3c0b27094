package kubeexec_test

import (
	"context"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"kubently.io/libs/testbed"
	"kubently.io/services/executor/internal/kubeexec"
)

// sortFixture creates n ConfigMaps of size bytes each in a new namespace.
func sortFixture(t *testing.T, cfg *rest.Config, n, size int) string {
	t.Helper()
	setup := rest.CopyConfig(cfg)
	setup.QPS, setup.Burst = 200, 400
	cs := kubernetes.NewForConfigOrDie(setup)
	ns := "i13sort-" + randomSuffix(t)
	ctx := context.Background()
	if _, err := cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create namespace: %v", err)
	}
	t.Cleanup(func() { _ = cs.CoreV1().Namespaces().Delete(context.Background(), ns, metav1.DeleteOptions{}) })
	value := strings.Repeat("x", size)
	var wg sync.WaitGroup
	errs := make(chan error, n)
	sem := make(chan struct{}, 16)
	for i := range n {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("big-%04d", i)}, Data: map[string]string{"v": value}}
			if _, err := cs.CoreV1().ConfigMaps(ns).Create(ctx, cm, metav1.CreateOptions{}); err != nil {
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("create configmap: %v", err)
	}
	return ns
}

// peakHeap runs f and returns the most heap it saw in use while f ran,
// above what was in use before.
func peakHeap(f func()) uint64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	base := ms.HeapAlloc
	var peak atomic.Uint64
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		var ms runtime.MemStats
		for {
			runtime.ReadMemStats(&ms)
			if ms.HeapAlloc > peak.Load() {
				peak.Store(ms.HeapAlloc)
			}
			select {
			case <-done:
				return
			case <-time.After(2 * time.Millisecond):
			}
		}
	})
	f()
	close(done)
	wg.Wait()
	if p := peak.Load(); p > base {
		return p - base
	}
	return 0
}

// TestIntegrationSortBudget: get --sort-by over ~20 MB of ConfigMaps
// holds every object in memory, bounded by object count alone before
// (MaxSortBytes out of the way); with a byte budget below the list's size
// it is refused with a hint before it holds more than about the budget,
// and concurrent sorts wait for a slot. The peak heap of each run is
// logged (go test -v) for docs/operations.md.
func TestIntegrationSortBudget(t *testing.T) {
	if testing.Short() {
		t.Skip("needs the local testbed (a real kube-apiserver)")
	}
	cfg := restConfig(t, testbed.Kubeconfig(t))
	const n, size = 200, 100 << 10 // 20 MiB of values
	ns := sortFixture(t, cfg, n, size)
	argv := []string{"get", "cm", "-n", ns, "--sort-by=.metadata.name", "-o", "name"}
	newRunner := func(budget int64, sorts int) *kubeexec.Runner {
		r, err := kubeexec.New(kubeexec.Config{REST: cfg, MaxOutputBytes: 1 << 20, MaxSortBytes: budget, MaxConcurrentSorts: sorts})
		if err != nil {
			t.Fatal(err)
		}
		return r
	}

	unbounded := newRunner(1<<30, 4)
	var res kubeexec.Result
	before := peakHeap(func() { res = runLong(t, unbounded, argv...) })
	// n fixtures plus the namespace's own kube-root-ca.crt.
	if res.ExitCode != 0 || strings.Count(res.Output, "\n") != n+1 {
		t.Fatalf("unbounded sort: exit %d, %d lines, error %q; want %d names", res.ExitCode, strings.Count(res.Output, "\n"), res.Error, n+1)
	}

	bounded := newRunner(4<<20, 4)
	after := peakHeap(func() { res = runLong(t, bounded, argv...) })
	if res.ExitCode != 1 || res.Output != "" || !strings.Contains(res.Error, "sort budget of 4194304 bytes") ||
		!strings.Contains(res.Error, "--chunk-size and --continue") {
		t.Fatalf("bounded sort: exit %d output %d bytes error %q; want refused with a hint", res.ExitCode, len(res.Output), res.Error)
	}
	// Unsorted, the same list pages through (the hint's way out).
	if res := runLong(t, bounded, "get", "cm", "-n", ns, "-o", "name"); res.ExitCode != 0 || strings.Count(res.Output, "\n") != n+1 {
		t.Errorf("unsorted get: exit %d, %d lines; want %d", res.ExitCode, strings.Count(res.Output, "\n"), n+1)
	}

	// Four at once: with four slots all hold their lists together; with
	// one they take turns, and all still finish.
	four := func(r *kubeexec.Runner) uint64 {
		return peakHeap(func() {
			var wg sync.WaitGroup
			for range 4 {
				wg.Go(func() {
					ctx, cancel := context.WithTimeout(context.Background(), sortWait)
					defer cancel()
					if res := r.Run(ctx, argv); res.ExitCode != 0 {
						t.Errorf("concurrent sort: exit %d error %q", res.ExitCode, res.Error)
					}
				})
			}
			wg.Wait()
		})
	}
	fourSlots := four(newRunner(1<<30, 4))
	oneSlot := four(newRunner(1<<30, 1))
	t.Logf("peak heap over %d ConfigMaps of %d KiB: unbounded sort %.1f MiB; 4 MiB budget (refused) %.1f MiB; 4 at once with 4 slots %.1f MiB, with 1 slot %.1f MiB",
		n, size>>10, mib(before), mib(after), mib(fourSlots), mib(oneSlot))
	if after >= before {
		t.Errorf("the bounded sort peaked at %.1f MiB, no less than the unbounded %.1f MiB", mib(after), mib(before))
	}
}

// sortWait bounds each command of TestIntegrationSortBudget: a guard
// against a hang only. Under -race on a busy machine one sort of the
// fixture takes tens of seconds, and with one slot four of them take
// turns; nothing here asserts how long they take.
const sortWait = 10 * time.Minute

// runLong is run with sortWait for a timeout.
func runLong(t *testing.T, r *kubeexec.Runner, argv ...string) kubeexec.Result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), sortWait)
	defer cancel()
	return r.Run(ctx, argv)
}

func mib(b uint64) float64 { return float64(b) / (1 << 20) }
