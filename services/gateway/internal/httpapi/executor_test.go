package httpapi

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"kubently.io/libs/contracts"
)

// oneAtATime claims at most one command per Claim, so every delivery
// round leaves the rest queued.
type oneAtATime struct{ Store }

func (s oneAtATime) Claim(ctx context.Context, cluster, consumer string, _ int) ([]contracts.Command, error) {
	return s.Store.Claim(ctx, cluster, consumer, 1)
}

// openStream opens an executor stream for cluster and returns the names
// of its events as they arrive; the stream ends with the test.
func openStream(t *testing.T, e *env, cluster string) <-chan string {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, e.http.URL+"/v1/executor/stream", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+cluster+"-token-0123456789")
	req.Header.Set(contracts.HeaderClusterID, cluster)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if res.StatusCode != http.StatusOK {
		t.Fatalf("GET /v1/executor/stream = %d; want 200", res.StatusCode)
	}
	events := make(chan string, 64)
	go func() {
		defer res.Body.Close()
		defer close(events)
		sc := bufio.NewScanner(res.Body)
		for sc.Scan() {
			if name, ok := strings.CutPrefix(sc.Text(), "event: "); ok {
				events <- name
			}
		}
	}()
	t.Cleanup(func() {
		cancel()
		for range events {
		}
	})
	return events
}

func nextCommand(t *testing.T, events <-chan string) {
	t.Helper()
	timeout := time.After(5 * time.Second)
	for {
		select {
		case name, ok := <-events:
			if !ok {
				t.Fatal("stream ended; want a command event")
			}
			if name == "command" {
				return
			}
		case <-timeout:
			t.Fatal("no command event within 5s")
		}
	}
}

func TestBridgeQueueDepthGauge(t *testing.T) {
	e := newEnv(t, envOpts{wrapStore: func(s Store) Store { return oneAtATime{s} }, poll: time.Hour})
	const cluster = "dev-1"
	for range 3 {
		cmd := contracts.Command{ID: contracts.NewID(), Cluster: cluster, Argv: []string{"get", "pods"}, Deadline: time.Now().Add(time.Minute)}
		if err := e.st.Enqueue(t.Context(), cmd); err != nil {
			t.Fatal(err)
		}
	}
	gauge := e.srv.metrics.queueDepth
	wantDepth := func(want float64) {
		t.Helper()
		checkFor(t, 5*time.Second, 10*time.Millisecond, func() error {
			if got := testutil.ToFloat64(gauge.WithLabelValues(cluster)); got != want {
				return fmt.Errorf("kubently_bridge_queue_depth{cluster=%q} = %v; want %v", cluster, got, want)
			}
			return nil
		})
	}

	events := openStream(t, e, cluster)
	nextCommand(t, events) // the round on connect claims one of three
	wantDepth(2)
	for _, want := range []float64{1, 0} {
		e.srv.cfg.Hub.Notify(cluster)
		nextCommand(t, events)
		wantDepth(want)
	}

	// Once the last stream of the cluster ends, the series goes away.
	e.srv.Close()
	checkFor(t, 5*time.Second, 10*time.Millisecond, func() error {
		if n := testutil.CollectAndCount(gauge); n != 0 {
			return fmt.Errorf("%d kubently_bridge_queue_depth series after the stream ended; want 0", n)
		}
		return nil
	})
}
