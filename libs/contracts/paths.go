package contracts

import "net/url"

// HTTP paths of the gateway. A path with a ":name" segment is the route
// pattern the gateway registers; clients build the concrete path with the
// matching …Path func, which escapes the parameter.
const (
	// PathSessions: POST creates a session, GET lists them.
	PathSessions = "/v1/sessions"
	// PathSession: GET reads a session, DELETE ends it.
	PathSession = "/v1/sessions/:id"
	// PathSessionKeepalive: POST extends a session's TTL.
	PathSessionKeepalive = "/v1/sessions/:id/keepalive"
	// PathExecute: POST runs one command.
	PathExecute = "/v1/execute"
	// PathDiagnose: POST diagnoses a workload.
	PathDiagnose = "/v1/diagnose"
	// PathClusters: GET lists the clusters.
	PathClusters = "/v1/clusters"
	// PathClusterToken: POST issues a cluster's executor token, DELETE
	// revokes it.
	PathClusterToken = "/v1/clusters/:cluster/token"
	// PathClusterTokenRotate: POST rotates a cluster's executor token.
	PathClusterTokenRotate = "/v1/clusters/:cluster/token/rotate"
	// PathClusterLabels: POST sets and removes a cluster's labels.
	PathClusterLabels = "/v1/clusters/:cluster/labels"
	// PathFleetExecute: POST runs one read on many clusters, streamed.
	PathFleetExecute = "/v1/fleet/execute"
	// PathFleetDiagnose: POST diagnoses many clusters, streamed.
	PathFleetDiagnose = "/v1/fleet/diagnose"
	// PathAudit: GET queries the audit log.
	PathAudit = "/v1/audit"
	// PathAuditStream: GET follows the audit log as SSE (EventRecord).
	PathAuditStream = "/v1/audit/stream"
	// PathMCP: the MCP endpoint (streamable HTTP).
	PathMCP = "/mcp"
	// PathOpenAPIYAML and PathOpenAPIJSON serve the API description.
	PathOpenAPIYAML = "/v1/openapi.yaml"
	PathOpenAPIJSON = "/v1/openapi.json"

	// PathExecutorStream: GET opens an executor's SSE stream
	// (EventConnected, EventHeartbeat, EventCommand).
	PathExecutorStream = "/v1/executor/stream"
	// PathExecutorResults: POST delivers an ExecutorResult.
	PathExecutorResults = "/v1/executor/results"
	// PathExecutorAck: POST acknowledges received commands.
	PathExecutorAck = "/v1/executor/ack"
	// PathExecutorDiscovery: POST reports an ExecutorDiscovery.
	PathExecutorDiscovery = "/v1/executor/discovery"
	// PathExecutorHeartbeat: POST reports an ExecutorHeartbeat.
	PathExecutorHeartbeat = "/v1/executor/heartbeat"
)

// SessionPath is PathSession for session id.
func SessionPath(id string) string { return PathSessions + "/" + url.PathEscape(id) }

// SessionKeepalivePath is PathSessionKeepalive for session id.
func SessionKeepalivePath(id string) string { return SessionPath(id) + "/keepalive" }

// ClusterTokenPath is PathClusterToken for cluster.
func ClusterTokenPath(cluster string) string {
	return PathClusters + "/" + url.PathEscape(cluster) + "/token"
}

// ClusterTokenRotatePath is PathClusterTokenRotate for cluster.
func ClusterTokenRotatePath(cluster string) string { return ClusterTokenPath(cluster) + "/rotate" }

// ClusterLabelsPath is PathClusterLabels for cluster.
func ClusterLabelsPath(cluster string) string {
	return PathClusters + "/" + url.PathEscape(cluster) + "/labels"
}
