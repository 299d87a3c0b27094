package sessionsvc

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"

	"kubently.io/libs/ops"
)

// metrics are the session service's Prometheus collectors.
type metrics struct {
	created     prometheus.Counter
	ended       prometheus.Counter
	expired     prometheus.Counter
	storeErrors *prometheus.CounterVec
	auditErrors *prometheus.CounterVec
}

func newMetrics() *metrics {
	return &metrics{
		created: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "kubently_session_sessions_created_total",
			Help: "Sessions created (and audited).",
		}),
		ended: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "kubently_session_sessions_ended_total",
			Help: "Active sessions ended by a client.",
		}),
		expired: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "kubently_session_sessions_expired_total",
			Help: "Requests (get, keepalive, end, commands) that found their session expired; a session used again after expiry counts again.",
		}),
		storeErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "kubently_session_store_errors_total",
			Help: "Requests that failed because the session store was unavailable or slow, by subject.",
		}, []string{"subject"}),
		auditErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "kubently_session_audit_write_errors_total",
			Help: "Session audit records that could not be stored, by event.",
		}, []string{"event"}),
	}
}

func (m *metrics) collectors() []prometheus.Collector {
	return []prometheus.Collector{m.created, m.ended, m.expired, m.storeErrors, m.auditErrors}
}

func (m *metrics) register(r prometheus.Registerer) error {
	if err := ops.Register(r, m.collectors()...); err != nil {
		return fmt.Errorf("sessionsvc: register metrics: %w", err)
	}
	return nil
}

func (m *metrics) unregister(r prometheus.Registerer) { ops.Unregister(r, m.collectors()...) }
