package dispatch

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"

	"kubently.io/libs/ops"
	"kubently.io/libs/policy"
)

// unknownCluster is the cluster label of commands whose cluster is not (or
// not yet known to be) registered, so that made-up cluster ids cannot grow
// the metrics without bound.
const unknownCluster = "_unknown"

// metrics are the dispatcher's Prometheus collectors.
type metrics struct {
	commands    *prometheus.CounterVec
	latency     verbHistogram
	outcomes    *prometheus.CounterVec
	decisions   *prometheus.CounterVec
	natsErrors  *prometheus.CounterVec
	storeErrors *prometheus.CounterVec
	queueFull   prometheus.Counter
	graceQueued prometheus.Counter
	// executorLost counts commands answered executor_lost.
	executorLost prometheus.Counter
	auditErrors  *prometheus.CounterVec
	replays      prometheus.Counter
	// handOffs counts command hand-offs by outcome.
	handOffs *prometheus.CounterVec
}

func newMetrics() *metrics {
	return &metrics{
		commands: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "kubently_dispatcher_commands_total",
			Help: "Commands handled by the dispatcher, by cluster (_unknown if not registered), status and error code.",
		}, []string{"cluster", "status", "code"}),
		latency: verbHistogram{prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "kubently_dispatcher_command_duration_seconds",
			Help:    "Time from execute request to reply, by verb (an allow-listed verb, other or invalid), status and cluster (_unknown if not registered).",
			Buckets: prometheus.ExponentialBuckets(0.001, 2, 16),
		}, []string{"verb", "status", "cluster"})},
		outcomes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "kubently_dispatcher_command_outcomes_total",
			Help: "Final audit outcome of each command (success, failure, denied, timeout, unavailable, error) by reason code.",
		}, []string{"outcome", "reason"}),
		decisions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "kubently_dispatcher_policy_decisions_total",
			Help: "Access decisions by check (authz: role and scopes; policy: command policy) and reason (allowed or the denial reason).",
		}, []string{"check", "reason"}),
		natsErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "kubently_dispatcher_nats_errors_total",
			Help: "Failed NATS operations by operation (session_request, subscribe, flush, notify, handoff, result_wait, reply, announce, replay).",
		}, []string{"op"}),
		queueFull: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "kubently_dispatcher_queue_full_total",
			Help: "Commands refused because their cluster's bridge queue held KUBENTLY_BRIDGE_MAX_QUEUE commands not acknowledged by an executor.",
		}),
		executorLost: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "kubently_dispatcher_executor_lost_total",
			Help: "Commands answered executor_lost: the executor instance that acknowledged them had no stream for the lost grace.",
		}),
		graceQueued: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "kubently_dispatcher_grace_queued_total",
			Help: "Commands queued although no executor was connected, because their cluster's last stream ended less than KUBENTLY_BRIDGE_GRACE ago.",
		}),
		storeErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "kubently_dispatcher_store_errors_total",
			Help: "Failed store calls by operation (cluster_registry, executor_presence, enqueue, release, discovery).",
		}, []string{"op"}),
		replays: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "kubently_dispatcher_replies_replayed_total",
			Help: "Replies sent again because a gateway asked for one lost in a NATS disruption (kubently.dispatch.v1.replay).",
		}),
		handOffs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "kubently_dispatcher_handoffs_total",
			Help: "Commands queued leased to a connected stream and sent straight to the gateway replica holding it, by outcome: delivered (written to the stream), no_stream (the stream was gone: released to the queue and the gateways notified), no_responders (the replica was gone: likewise), error (no answer: claimed again when the lease runs out), not_leased (older commands filled the batch: queued and notified).",
		}, []string{"outcome"}),
		auditErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "kubently_dispatcher_audit_write_errors_total",
			Help: "Audit records that could not be stored, by event. A failed command_dispatched write stops the command.",
		}, []string{"event"}),
	}
}

// verbHistogram is the latency histogram, whose verb label is always
// policy.VerbLabel of the verb it is given: a verb of the allow-list,
// "other" or "invalid". The verb is what the caller typed as argv[0], and
// a label taken from it as is would let made-up verbs add series without
// bound.
type verbHistogram struct {
	*prometheus.HistogramVec
}

// WithLabelValues returns the observer of verb (mapped to its label),
// status and cluster.
func (h verbHistogram) WithLabelValues(verb, status, cluster string) prometheus.Observer {
	return h.HistogramVec.WithLabelValues(policy.VerbLabel([]string{verb}), status, cluster)
}

func (m *metrics) collectors() []prometheus.Collector {
	return []prometheus.Collector{m.commands, m.latency, m.outcomes, m.decisions, m.natsErrors, m.storeErrors, m.auditErrors, m.queueFull, m.graceQueued, m.replays, m.executorLost, m.handOffs}
}

// register registers every collector on r, undoing a partial registration
// on error.
func (m *metrics) register(r prometheus.Registerer) error {
	if err := ops.Register(r, m.collectors()...); err != nil {
		return fmt.Errorf("dispatch: register metrics: %w", err)
	}
	return nil
}

func (m *metrics) unregister(r prometheus.Registerer) { ops.Unregister(r, m.collectors()...) }
