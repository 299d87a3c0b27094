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
	// HeaderExecutorInstance identifies one run of an executor process: a
	// random id drawn at start, sent on every executor request, so that
	// the instance that acknowledged a command can be told apart from a
	// restart of the same executor (executor_lost).
	HeaderExecutorInstance = "X-Executor-Instance"
	// HeaderExecutorVersion carries the executor's build version.
	HeaderExecutorVersion = "X-Executor-Version"
	// HeaderTool names the MCP tool a POST /v1/execute serves (sent by
	// `kubently mcp`); the gateway copies it into ExecuteRequest.Tool and
	// so into the command's audit records. It must pass ValidateTool.
	HeaderTool = "X-Kubently-Tool"

	// NATSHeaderCorrelationID carries the correlation id on NATS messages.
	NATSHeaderCorrelationID = "Kubently-Correlation-Id"
	// NATSHeaderType carries a message's versioned type string.
	NATSHeaderType = "Kubently-Type"
)
