package contracts

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"time"
)

// Versioned type strings of every message. A receiver checks the type of an
// envelope before it trusts the payload.
const (
	TypeSession        = "io.kubently.session.v1.session"
	TypeSessionList    = "io.kubently.session.v1.session_list"
	TypeCommandResult  = "io.kubently.dispatch.v1.command_result"
	TypeSessionRequest = "io.kubently.session.v1.request"
	TypeExecuteRequest = "io.kubently.dispatch.v1.execute_request"
	TypeCreateSession  = "io.kubently.session.v1.create_request"
	TypeListSessions   = "io.kubently.session.v1.list_request"
	TypeHeartbeatEvent = "io.kubently.stream.v1.heartbeat"
	TypeConnectedEvent = "io.kubently.stream.v1.connected"
	TypeBusReconnected = "io.kubently.bus.v1.reconnected"
	// TypeReplayPending answers a replay request for a command whose
	// dispatcher is still working on it (its reply is not out yet).
	TypeReplayPending = "io.kubently.dispatch.v1.replay_pending"
)

// Response is the envelope of every NATS reply: exactly one of Error and
// Data is set.
type Response struct {
	// Type is the versioned type string of Data.
	Type string `json:"type"`
	// Error is set when the request failed; Data is then empty.
	Error *Error `json:"error,omitempty"`
	// Data is the payload, a JSON document of type Type.
	Data json.RawMessage `json:"data,omitempty"`
}

// SessionState is what a client sees of a session.
type SessionState string

// Session states.
const (
	SessionActive  SessionState = "active"
	SessionExpired SessionState = "expired"
	SessionEnded   SessionState = "ended"
)

// Session is a debugging session on one cluster, owned by one identity.
type Session struct {
	ID            string       `json:"session_id"`
	Cluster       string       `json:"cluster_id"`
	Owner         string       `json:"owner"`
	State         SessionState `json:"status"`
	CreatedAt     time.Time    `json:"created_at"`
	ExpiresAt     time.Time    `json:"expires_at"`
	TTLSeconds    int          `json:"ttl_seconds"`
	CorrelationID string       `json:"correlation_id,omitempty"`
	// EndedAt is set once the session was ended; nil otherwise.
	EndedAt *time.Time `json:"ended_at,omitempty"`
}

// SessionList is the reply to a list request.
type SessionList struct {
	Sessions []Session `json:"sessions"`
}

// CreateSessionRequest asks the session service for a new session.
type CreateSessionRequest struct {
	Cluster       string `json:"cluster_id"`
	TTLSeconds    int    `json:"ttl_seconds,omitempty"`
	Caller        string `json:"caller"`
	CorrelationID string `json:"correlation_id,omitempty"`
	// Principal is the authenticated caller; when set, the session
	// service checks that Caller is its id and audits it. Nil from callers
	// that predate roles: Caller alone then names the owner.
	Principal *Principal `json:"principal,omitempty"`
}

// SessionRequest names one session, on behalf of Caller.
type SessionRequest struct {
	ID     string `json:"session_id"`
	Caller string `json:"caller"`
	// TTLSeconds is the new TTL for keepalive; 0 keeps the session's own.
	TTLSeconds int `json:"ttl_seconds,omitempty"`
	// Principal is the authenticated caller. An admin principal may get,
	// keep alive and end anyone's session; nil (or any other role) limits
	// Caller to its own sessions.
	Principal *Principal `json:"principal,omitempty"`
}

// ListSessionsRequest lists the caller's sessions on a cluster.
type ListSessionsRequest struct {
	Cluster string `json:"cluster_id"`
	Caller  string `json:"caller"`
	// Principal is the authenticated caller; when set, Caller must be its
	// id. The list holds only Caller's own sessions, for admins too.
	Principal *Principal `json:"principal,omitempty"`
}

// Principal is the authenticated caller as the gateway established it:
// its name, role and scopes. It travels with requests so that the services
// behind the gateway re-check what the caller may do and audit who did it.
// Its JSON shape is that of authz.Identity.
type Principal struct {
	// Name is the key name or the OIDC user.
	Name string `json:"name"`
	// Role is admin, operator or viewer.
	Role string `json:"role"`
	// Scopes limit the clusters and namespaces the caller may reach.
	Scopes []PrincipalScope `json:"scopes,omitempty"`
	// Source is how the caller authenticated: api_key, env or oidc.
	Source string `json:"source"`
}

// PrincipalScope is one scope of a Principal: cluster globs and, if set,
// the only namespaces of those clusters the caller may read.
type PrincipalScope struct {
	Clusters   []string `json:"clusters"`
	Namespaces []string `json:"namespaces,omitempty"`
}

// ExecuteRequest asks the dispatcher to run one command on one cluster.
type ExecuteRequest struct {
	Cluster        string   `json:"cluster_id"`
	SessionID      string   `json:"session_id,omitempty"`
	Argv           []string `json:"argv"`
	TimeoutSeconds int      `json:"timeout_seconds,omitempty"`
	// Caller is the principal's stable id (Principal.Name, prefixed
	// "oidc:" for OIDC users): the owner of sessions and audit records.
	Caller        string `json:"caller"`
	CorrelationID string `json:"correlation_id,omitempty"`
	// Principal is the authenticated caller; the dispatcher re-checks its
	// role and scopes. Nil only from callers that predate roles, which
	// the dispatcher refuses.
	Principal *Principal `json:"principal,omitempty"`
	// Gateway is the gateway replica that took the request (for audit).
	Gateway string `json:"gateway,omitempty"`
	// CommandID is the id the command gets, chosen by the gateway so it
	// can settle the request's fate after a bus reconnect (store Fence);
	// empty: the dispatcher picks one.
	CommandID string `json:"command_id,omitempty"`
	// Tool is the MCP tool the command serves (e.g. resources_list), for
	// audit; empty for commands that did not come through MCP. It passes
	// ValidateTool.
	Tool string `json:"tool,omitempty"`
	// FanoutID names the fleet fan-out (POST /v1/fleet/*) the command is
	// part of, for audit; empty for a single command. It passes ValidateID
	// rules of audit ids ([A-Za-z0-9_-], at most 64).
	FanoutID string `json:"fanout_id,omitempty"`
}

// ReplayRequest is the body of DispatchReplaySubject.
type ReplayRequest struct {
	CommandID string `json:"command_id"`
}

// BusReconnected is the body of BusReconnectedSubject.
type BusReconnected struct {
	Type string `json:"type"`
	// Service and Instance name the publisher (e.g. dispatcher, its
	// replica name).
	Service  string `json:"service"`
	Instance string `json:"instance,omitempty"`
	// DisconnectedAt is when its connection dropped, by its clock.
	DisconnectedAt time.Time `json:"disconnected_at"`
}

// Command is what travels through the bridge queue to an executor.
type Command struct {
	ID            string    `json:"id"`
	Cluster       string    `json:"cluster_id"`
	Argv          []string  `json:"argv"`
	Deadline      time.Time `json:"deadline"`
	IssuedAt      time.Time `json:"issued_at"`
	Caller        string    `json:"caller,omitempty"`
	SessionID     string    `json:"session_id,omitempty"`
	CorrelationID string    `json:"correlation_id,omitempty"`
	// TraceParent is the W3C traceparent of the span that enqueued the
	// command (telemetry.InjectCommand), so the executor's span joins the
	// caller's trace; empty when there is none.
	TraceParent string `json:"traceparent,omitempty"`
	// TraceState is the W3C tracestate that goes with TraceParent; empty
	// when there is none.
	TraceState string `json:"tracestate,omitempty"`
	// Scope is the caller's namespace scope on this cluster, so that the
	// executor enforces it again after its own discovery; nil for a
	// caller that may read the whole cluster.
	Scope *CommandScope `json:"scope,omitempty"`
}

// CommandScope limits what a command may read on its cluster: only
// namespaced resources, and only in Namespaces.
type CommandScope struct {
	// Namespaces are the only namespaces the command may read; never
	// empty.
	Namespaces []string `json:"namespaces"`
}

// Expired reports whether the command's deadline has passed at now.
func (c Command) Expired(now time.Time) bool { return !now.Before(c.Deadline) }

// Status is the outcome of a command.
type Status string

// Command outcomes. Only StatusSuccess means the command ran and succeeded.
const (
	StatusSuccess Status = "success"
	StatusFailure Status = "failure"
	StatusDenied  Status = "denied"
	StatusTimeout Status = "timeout"
	StatusError   Status = "error"
)

// Outcome is how a command ended. Every type that carries a command's
// result embeds it (its fields appear inline in the JSON, in this order).
type Outcome struct {
	Status Status `json:"status"`
	// Output is the command's stdout, cut at the executor's byte cap.
	Output string `json:"output"`
	// Error is its stderr, or what went wrong when it could not run.
	Error    string `json:"error,omitempty"`
	ExitCode int    `json:"exit_code"`
	// Truncated reports that Output was cut.
	Truncated bool `json:"truncated"`
	// DurationMS is how long it took.
	DurationMS int64 `json:"duration_ms"`
}

// ExecutorResult is what an executor posts back for a command.
type ExecutorResult struct {
	CommandID string `json:"command_id"`
	Outcome
	ExecutedAt time.Time `json:"executed_at"`
	ExecutorID string    `json:"executor_id,omitempty"`
	// Reason is the policy reason code when Status is denied.
	Reason string `json:"reason,omitempty"`
	// Structured is the command's objects as one JSON document (the
	// `-o json` shape) when the executor could produce it within the output
	// byte cap; nil otherwise. It is always valid JSON when set.
	Structured json.RawMessage `json:"structured,omitempty"`
	// Continue resumes a list cut at the byte cap: pass it to the same
	// get as --continue=<token> to read the next page.
	Continue string `json:"continue,omitempty"`
	// Deadline is the command's deadline as the executor received it. The
	// gateway uses it to tell a late result (refused for good) from one
	// whose dispatcher is momentarily unreachable (503, retried).
	Deadline time.Time `json:"deadline,omitzero"`
}

// ExecutorResultResponse is the gateway's 200 answer to an ExecutorResult.
type ExecutorResultResponse struct {
	// Status is "accepted" (the waiting dispatcher took the result) or
	// "duplicate" (the same executor's result was delivered before).
	Status    string `json:"status"`
	CommandID string `json:"command_id"`
	// Acked reports that the post also acknowledged the command in the
	// store, so the executor need not send a separate ack for it. False
	// (or absent, from an older gateway) means the ack may not have been
	// recorded: the executor acks the command itself.
	Acked bool `json:"acked,omitempty"`
}

// CommandResult is the dispatcher's answer to an ExecuteRequest and the
// body of POST /v1/execute.
type CommandResult struct {
	CommandID     string `json:"command_id"`
	Cluster       string `json:"cluster_id"`
	SessionID     string `json:"session_id,omitempty"`
	CorrelationID string `json:"correlation_id,omitempty"`
	Outcome
	ExecutedAt time.Time `json:"executed_at,omitzero"`
	Reason     string    `json:"reason,omitempty"`
	// Structured is copied from ExecutorResult.Structured: the objects as
	// one JSON document, or nil when the executor did not produce one.
	Structured json.RawMessage `json:"structured,omitempty"`
	// Continue is copied from ExecutorResult.Continue: when a list was cut
	// at the byte cap, the token that reads its next page (get --continue).
	Continue string `json:"continue,omitempty"`
}

// NewID returns a random 128-bit id in lower-case hex, usable as a command,
// session or correlation id.
func NewID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// ExecutorInfo describes one connected executor stream, as recorded by the
// gateway replica that holds it.
type ExecutorInfo struct {
	Cluster string `json:"cluster_id"`
	// ConnID identifies this one stream (a new one per connection).
	ConnID string `json:"conn_id"`
	// ExecutorID identifies the executor process (stable across reconnects).
	ExecutorID string `json:"executor_id"`
	// Instance identifies one run of the executor process (a new one per
	// start, kept across reconnects; contracts.HeaderExecutorInstance);
	// empty for executors that send none.
	Instance string `json:"instance,omitempty"`
	// Version is the executor's build version; empty if it sent none.
	Version     string    `json:"version,omitempty"`
	Gateway     string    `json:"gateway"`
	ConnectedAt time.Time `json:"connected_at"`
	LastSeen    time.Time `json:"last_seen"`
}

// CommandHolder names the executor instance that acknowledged a command
// (store.Bridge.Hold): the one that holds it, and with which it may die.
type CommandHolder struct {
	// ExecutorID is the acknowledging executor's id (X-Executor-ID).
	ExecutorID string `json:"executor_id"`
	// Instance is its process instance (X-Executor-Instance).
	Instance string `json:"instance"`
	// ConnID is the stream it named when it acknowledged (X-Executor-Conn-ID);
	// empty if none.
	ConnID string `json:"conn_id,omitempty"`
}
