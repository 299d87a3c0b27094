package contracts

import "time"

// Bodies of the gateway's client API (paths.go) that no other file
// declares: what the gateway decodes or answers and what clients send or
// decode, one definition for both sides.

// ExecuteBody is the body of POST /v1/execute.
type ExecuteBody struct {
	Cluster   string   `json:"cluster_id"`
	SessionID string   `json:"session_id,omitempty"`
	Argv      []string `json:"argv"`
	// Command is one command line ("get pods -l 'app in (a,b)'"), split
	// by shell quoting rules without a shell; an alternative to Argv.
	Command string `json:"command,omitempty"`
	// Namespace appends -n NS unless the command names one.
	Namespace      string `json:"namespace,omitempty"`
	TimeoutSeconds int    `json:"timeout_seconds,omitempty"`
	// Tool names the MCP tool the command serves, for audit; it travels
	// as the HeaderTool header, not in the body. Empty: none.
	Tool string `json:"-"`
}

// CreateSessionBody is the body of POST /v1/sessions.
type CreateSessionBody struct {
	Cluster    string `json:"cluster_id"`
	TTLSeconds int    `json:"ttl_seconds,omitempty"`
}

// KeepaliveBody is the (optional) body of POST /v1/sessions/{id}/keepalive;
// a zero TTLSeconds keeps the session's own TTL.
type KeepaliveBody struct {
	TTLSeconds int `json:"ttl_seconds,omitempty"`
}

// ClusterInfo is one entry of GET /v1/clusters.
type ClusterInfo struct {
	ID        string         `json:"cluster_id"`
	Connected bool           `json:"connected"`
	Executors int            `json:"executors"`
	LastSeen  *time.Time     `json:"last_seen,omitempty"`
	Streams   []ExecutorInfo `json:"streams"`
	// RevokedAt is when the cluster's executor token was revoked; absent
	// while it has one.
	RevokedAt *time.Time `json:"revoked_at,omitempty"`
	// Labels are the cluster's labels (env=prod); {} if none.
	Labels map[string]string `json:"labels"`
}

// ClusterList is the body of GET /v1/clusters.
type ClusterList struct {
	Clusters []ClusterInfo `json:"clusters"`
	Count    int           `json:"count"`
}

// ClusterLabels is the answer of POST /v1/clusters/{cluster}/labels: the
// cluster's labels after the change.
type ClusterLabels struct {
	Cluster string            `json:"cluster_id"`
	Labels  map[string]string `json:"labels"`
}

// ClusterToken is the answer of creating and rotating a cluster's executor
// token (POST /v1/clusters/{cluster}/token and …/token/rotate). Token is
// shown only here, once.
type ClusterToken struct {
	Cluster string `json:"cluster_id"`
	Token   string `json:"token"`
}

// TokenRevocation is the answer of DELETE /v1/clusters/{cluster}/token.
type TokenRevocation struct {
	Cluster   string    `json:"cluster_id"`
	RevokedAt time.Time `json:"revoked_at"`
}
