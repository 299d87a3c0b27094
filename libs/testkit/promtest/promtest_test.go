package promtest

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

func TestValueAndSeries(t *testing.T) {
	reg := prometheus.NewRegistry()
	c := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "kubently_x_total", Help: "x"}, []string{"outcome", "cluster"})
	g := prometheus.NewGauge(prometheus.GaugeOpts{Name: "kubently_g", Help: "g"})
	h := prometheus.NewHistogram(prometheus.HistogramOpts{Name: "other_seconds", Help: "h"})
	reg.MustRegister(c, g, h)
	c.WithLabelValues("ok", "a").Add(2)
	c.WithLabelValues("ok", "b").Add(3)
	c.WithLabelValues("lost", "a").Inc()
	g.Set(7)
	h.Observe(1)
	h.Observe(2)
	for _, tt := range []struct {
		name   string
		labels []string
		want   float64
		found  bool
	}{
		{"kubently_x_total", nil, 6, true},
		{"kubently_x_total", []string{"outcome", "ok"}, 5, true},
		{"kubently_x_total", []string{"outcome", "ok", "cluster", "a"}, 2, true},
		{"kubently_x_total", []string{"outcome", "none"}, 0, false},
		{"kubently_g", nil, 7, true},
		{"other_seconds", nil, 2, true},
		{"absent", nil, 0, false},
	} {
		if got, found := Value(t, reg, tt.name, tt.labels...); got != tt.want || found != tt.found {
			t.Errorf("Value(%s, %q) = %v, %t; want %v, %t", tt.name, tt.labels, got, found, tt.want, tt.found)
		}
	}
	if got := Sum(t, reg, "kubently_x_total", "cluster", "a"); got != 3 {
		t.Errorf("Sum(cluster=a) = %v; want 3", got)
	}
	if got := Series(t, reg, "kubently_"); got != 4 {
		t.Errorf("Series(kubently_) = %v; want 4", got)
	}
}
