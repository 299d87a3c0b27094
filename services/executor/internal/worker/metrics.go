package worker

import (
	"github.com/prometheus/client_golang/prometheus"

	"kubently.io/libs/contracts"
	"kubently.io/libs/ops"
)

// metrics are the pool's Prometheus metrics. They always exist; New
// registers them only when Config.Registerer is set.
type metrics struct {
	commands   *prometheus.CounterVec
	duration   *prometheus.HistogramVec
	queue      prometheus.GaugeFunc
	busy       prometheus.Counter
	duplicates prometheus.Counter
	expired    prometheus.Counter
	postErrors prometheus.Counter
}

func newMetrics(queueLen func() int) *metrics {
	return &metrics{
		commands: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "kubently_executor_commands_total",
			Help: "Commands answered by this executor, by verb (policy.VerbLabel: an allow-listed verb, \"other\" or \"invalid\") and result status.",
		}, []string{"verb", "status"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "kubently_executor_command_duration_seconds",
			Help:    "Time from a worker taking a command to its result, by verb and result status.",
			Buckets: prometheus.ExponentialBuckets(0.001, 2, 16),
		}, []string{"verb", "status"}),
		queue: prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "kubently_executor_queue_depth",
			Help: "Commands received and waiting for a free worker.",
		}, func() float64 { return float64(queueLen()) }),
		busy: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "kubently_executor_busy_total",
			Help: "Commands refused with status error because the queue was full.",
		}),
		duplicates: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "kubently_executor_duplicates_total",
			Help: "Repeated deliveries of a command id already received, ignored.",
		}),
		expired: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "kubently_executor_expired_total",
			Help: "Commands skipped unanswered because their deadline passed before a worker took them.",
		}),
		postErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "kubently_executor_result_post_errors_total",
			Help: "Results that could not be delivered to the gateway (rejected, or retries ran out).",
		}),
	}
}

func (m *metrics) collectors() []prometheus.Collector {
	return []prometheus.Collector{m.commands, m.duration, m.queue, m.busy, m.duplicates, m.expired, m.postErrors}
}

// register registers every metric with reg, or none if one fails.
func (m *metrics) register(reg prometheus.Registerer) error {
	return ops.Register(reg, m.collectors()...)
}

// answered counts a result; ran says whether it came from a worker
// (then its duration, in seconds, is observed too).
func (m *metrics) answered(verb string, status contracts.Status, ran bool, seconds float64) {
	m.commands.WithLabelValues(verb, string(status)).Inc()
	if ran {
		m.duration.WithLabelValues(verb, string(status)).Observe(seconds)
	}
}
