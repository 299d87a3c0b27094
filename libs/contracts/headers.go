package contracts

// HTTP and NATS header names. The correlation id is set once at the gateway
// and copied into every message and log line after it.
const (
	// HeaderAPIKey carries a client's API key.
	HeaderAPIKey = "X-API-Key"
	// HeaderClusterID names the cluster an executor speaks for.
	HeaderClusterID = "X-Cluster-ID"
	// HeaderCorrelationID carries the correlation id on HTTP.
	HeaderCorrelationID = "X-Correlation-ID"
	// HeaderRequestTimeout optionally overrides a command's timeout, in seconds.
	HeaderRequestTimeout = "X-Request-Timeout"
	// HeaderLastEventID is sent by a reconnecting SSE client.
	HeaderLastEventID = "Last-Event-ID"
	// HeaderExecutorID identifies one executor process (for presence).
	HeaderExecutorID = "X-Executor-ID"
	// HeaderExecutorVersion carries the executor's build version.
	HeaderExecutorVersion = "X-Executor-Version"

	// NATSHeaderCorrelationID carries the correlation id on NATS messages.
	NATSHeaderCorrelationID = "Kubently-Correlation-Id"
	// NATSHeaderType carries a message's versioned type string.
	NATSHeaderType = "Kubently-Type"
)
