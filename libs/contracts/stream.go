package contracts

import "time"

// SSE event names. The executor stream (GET /v1/executor/stream) opens
// with EventConnected, then carries EventHeartbeat every heartbeat
// interval and one EventCommand per delivered command (its SSE id is the
// command id, its data a Command). The audit stream (GET
// /v1/audit/stream) carries one EventRecord per audit record and ": ping"
// comments.
const (
	EventConnected = "connected"
	EventHeartbeat = "heartbeat"
	EventCommand   = "command"
	EventRecord    = "record"
)

// ConnectedEvent is the data of EventConnected, the first event on an
// executor stream.
type ConnectedEvent struct {
	// Type is TypeConnectedEvent.
	Type string `json:"type"`
	// Cluster is the cluster the stream serves.
	Cluster string `json:"cluster_id"`
	// ConnID names the stream; the executor sends it back in
	// HeaderExecutorConnID and in its heartbeats.
	ConnID string `json:"conn_id"`
	// Gateway is the name of the replica holding the stream.
	Gateway string `json:"gateway"`
	// ProtocolVersion is the gateway's ProtocolVersion.
	ProtocolVersion int `json:"protocol_version"`
	// IntervalMS is how often the gateway sends EventHeartbeat, so the
	// executor can detect a dead stream.
	IntervalMS int64 `json:"heartbeat_interval_ms"`
	// ContactIntervalMS and ContactTimeoutMS are set only for an executor
	// that announced heartbeats (HeaderExecutorHeartbeats): post one
	// every ContactIntervalMS; the stream is closed after ContactTimeoutMS
	// without any.
	ContactIntervalMS int64 `json:"contact_interval_ms,omitempty"`
	ContactTimeoutMS  int64 `json:"contact_timeout_ms,omitempty"`
}

// HeartbeatEvent is the data of EventHeartbeat.
type HeartbeatEvent struct {
	// Type is TypeHeartbeatEvent.
	Type string `json:"type"`
	// Time is when the gateway sent it.
	Time time.Time `json:"time"`
	// IntervalMS tells the executor how often to expect heartbeats, so it
	// can detect a dead stream.
	IntervalMS int64 `json:"interval_ms"`
}
