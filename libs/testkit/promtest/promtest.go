// Package promtest reads metrics back from a Prometheus registry in tests:
// the value of a metric's series picked by labels, and how many series a
// set of metrics holds (to prove label sets stay bounded).
package promtest

import (
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// Value sums the series of name in g whose labels include every pair of
// labels (name, value, name, value, ...): counters, gauges and untyped
// values, and the sample counts of histograms and summaries. found reports
// whether any series matched.
func Value(tb testing.TB, g prometheus.Gatherer, name string, labels ...string) (sum float64, found bool) {
	tb.Helper()
	if len(labels)%2 != 0 {
		tb.Fatalf("promtest: labels %q are not name, value pairs", labels)
	}
	for _, mf := range gather(tb, g) {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			if has(m, labels) {
				sum += value(m)
				found = true
			}
		}
	}
	return sum, found
}

// Sum is Value's sum: 0 when no series matched.
func Sum(tb testing.TB, g prometheus.Gatherer, name string, labels ...string) float64 {
	tb.Helper()
	v, _ := Value(tb, g, name, labels...)
	return v
}

// Series is the number of series of the metrics in g whose names start
// with prefix.
func Series(tb testing.TB, g prometheus.Gatherer, prefix string) int {
	tb.Helper()
	n := 0
	for _, mf := range gather(tb, g) {
		if strings.HasPrefix(mf.GetName(), prefix) {
			n += len(mf.GetMetric())
		}
	}
	return n
}

func gather(tb testing.TB, g prometheus.Gatherer) []*dto.MetricFamily {
	tb.Helper()
	mfs, err := g.Gather()
	if err != nil {
		tb.Fatalf("promtest: gather: %v", err)
	}
	return mfs
}

// has reports whether m carries every name=value pair of labels.
func has(m *dto.Metric, labels []string) bool {
	for i := 0; i < len(labels); i += 2 {
		ok := false
		for _, lp := range m.GetLabel() {
			if lp.GetName() == labels[i] && lp.GetValue() == labels[i+1] {
				ok = true
				break
			}
		}
		if !ok {
			return false
		}
	}
	return true
}

func value(m *dto.Metric) float64 {
	switch {
	case m.Counter != nil:
		return m.GetCounter().GetValue()
	case m.Gauge != nil:
		return m.GetGauge().GetValue()
	case m.Untyped != nil:
		return m.GetUntyped().GetValue()
	case m.Histogram != nil:
		return float64(m.GetHistogram().GetSampleCount())
	case m.Summary != nil:
		return float64(m.GetSummary().GetSampleCount())
	}
	return 0
}
