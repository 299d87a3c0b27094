package faults

import (
	"context"
	"runtime"
	"sync"
	"testing"
	"time"
)

// cpuHog keeps every CPU busy with spinning goroutines until the test
// ends, so the services (and the test's clients) run on a machine loaded
// like a busy CI runner.
func cpuHog(t testing.TB) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for range runtime.NumCPU() {
		wg.Go(func() {
			n := 0
			for ctx.Err() == nil {
				n++ // spin
			}
			_ = n
		})
	}
	t.Cleanup(func() {
		cancel()
		wg.Wait()
	})
}

// 8. NATS dies (SIGKILL) and comes back while clients send in a tight
// loop and a CPU hog runs: requests are sent just before, during and
// just after the disruption. None may wait out its timeout: each is
// answered, settled (not_dispatched, replayed) or refused within seconds
// of the reconnect, and the receipts back every claim.
func TestNATSKilledBusy(t *testing.T) {
	skipShort(t)
	h := newHarnessWith(t, options{visibility: storeVisibility})
	cpuHog(t)
	var recovered time.Time
	results, tl, w := scenarioWith(t, h, "", 2*workers, 0, func() window {
		w := window{from: time.Now()}
		h.NATS.p.Kill()
		time.Sleep(2 * time.Second) // stay down a while; time-based on purpose
		h.NATS.start()
		recovered = h.waitRecovered(t, 60*time.Second, w.from, "the kill")
		w.to = recovered
		return w
	})
	checkOutage(t, h, results, tl, recovered)
	// The scenario must have exercised the window: requests in flight at
	// the moment NATS died.
	across := 0
	for _, o := range results {
		if !o.start.After(w.from) && !o.start.Add(o.took).Before(w.from) {
			across++
		}
	}
	t.Logf("requests in flight when NATS died: %d", across)
	if across == 0 {
		t.Errorf("no request was in flight when NATS died; the scenario did not test the window")
	}
	if tl.maxTook >= cmdTimeout {
		t.Errorf("a request took %v; want every one answered before its %v timeout", tl.maxTook, cmdTimeout)
	}
}
