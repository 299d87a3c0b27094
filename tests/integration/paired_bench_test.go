package integration

import (
	"context"
	"encoding/json"
	"net/http"
	"slices"
	"testing"
	"time"
)

// BenchmarkRoundTripPaired is BenchmarkRoundTrip with the two paths
// alternating in one loop: each iteration makes the direct client-go read,
// then the same read through Kubently, and the benchmark reports the
// median of the per-iteration differences (added-ms) and ratios. A stall
// of the machine hits one pair, not the median, so the numbers hold up on
// a loaded machine where two separate loops would not.
func BenchmarkRoundTripPaired(b *testing.B) {
	s := startStack(b, false)
	cs := directClient(b)
	body, err := json.Marshal(map[string]any{"cluster_id": live, "argv": []string{"get", "namespaces"}})
	if err != nil {
		b.Fatal(err)
	}
	hc := &http.Client{}
	ctx := context.Background()
	var added, ratio, direct []float64
	for b.Loop() {
		t0 := time.Now()
		if _, err := directGetNamespaces(ctx, cs); err != nil {
			b.Fatal(err)
		}
		t1 := time.Now()
		postExecute(b, hc, s.url, body)
		t2 := time.Now()
		d, k := t1.Sub(t0).Seconds()*1000, t2.Sub(t1).Seconds()*1000
		added, ratio, direct = append(added, k-d), append(ratio, k/d), append(direct, d)
	}
	b.ReportMetric(median(direct), "direct-ms")
	b.ReportMetric(median(added), "added-ms")
	b.ReportMetric(median(ratio), "x-direct")
}

func median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	slices.Sort(v)
	return v[len(v)/2]
}
