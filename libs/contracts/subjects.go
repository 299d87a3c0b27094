package contracts

import "fmt"

// Subject prefixes and names. Parameterised subjects have a …T format twin
// and a validating builder; call the builder, never Sprintf the twin.
const (
	// SessionServiceName is the micro service name of the session service.
	SessionServiceName = "kubently-session"
	// SessionSubjectPrefix groups the session service's endpoints.
	SessionSubjectPrefix = "kubently.session.v1"
	// SessionCreateSubject creates a session (CreateSessionRequest → Session).
	SessionCreateSubject = SessionSubjectPrefix + ".create"
	// SessionGetSubject reads a session (SessionRequest → Session).
	SessionGetSubject = SessionSubjectPrefix + ".get"
	// SessionKeepaliveSubject extends a session's TTL (SessionRequest → Session).
	SessionKeepaliveSubject = SessionSubjectPrefix + ".keepalive"
	// SessionEndSubject ends a session (SessionRequest → Session).
	SessionEndSubject = SessionSubjectPrefix + ".end"
	// SessionListSubject lists a cluster's sessions (ListSessionsRequest → SessionList).
	SessionListSubject = SessionSubjectPrefix + ".list"

	// DispatchServiceName is the micro service name of the dispatcher.
	DispatchServiceName = "kubently-dispatcher"
	// DispatchSubjectPrefix groups the dispatcher's endpoints.
	DispatchSubjectPrefix = "kubently.dispatch.v1"
	// DispatchExecuteSubject runs one command (ExecuteRequest → CommandResult).
	DispatchExecuteSubject = DispatchSubjectPrefix + ".execute"
	// DispatchReplaySubject asks every dispatcher replica (no queue group)
	// for the reply it recently sent for a command (ReplayRequest → the
	// same Response envelope); only the replica that has it answers. The
	// gateway asks when a reply was lost in a NATS disruption.
	DispatchReplaySubject = DispatchSubjectPrefix + ".replay"

	// BridgeNotifySubjectT is the format twin of BridgeNotifySubject: the
	// dispatcher publishes on it after enqueuing a command so that the
	// gateway replica holding the cluster's executor stream reads the queue.
	BridgeNotifySubjectT = "kubently.bridge.v1.notify.%s"
	// BridgeNotifyWildcard matches every cluster's notify subject.
	BridgeNotifyWildcard = "kubently.bridge.v1.notify.*"

	// BridgeRevokeSubjectT is the format twin of BridgeRevokeSubject: the
	// gateway replica that rotated or revoked a cluster's executor token
	// publishes on it (empty body; the subject names the cluster) after the
	// registry changed, and every gateway replica closes the executor
	// streams it holds for that cluster at once.
	BridgeRevokeSubjectT = "kubently.bridge.v1.revoke.%s"
	// BridgeRevokeWildcard matches every cluster's revoke subject; each
	// gateway replica holds one subscription on it (no queue group: every
	// replica must see every revocation).
	BridgeRevokeWildcard = "kubently.bridge.v1.revoke.*"

	// AuditStreamName is the JetStream stream that holds the audit log.
	AuditStreamName = "KUBENTLY_AUDIT"
	// AuditSubjectPrefix starts every audit subject.
	AuditSubjectPrefix = "kubently.audit.v1"
	// AuditSubjectT is the format twin of audit.Subject:
	// kubently.audit.v1.<event>.<cluster or _>.
	AuditSubjectT = AuditSubjectPrefix + ".%s.%s"
	// AuditSubjectWildcard matches every audit subject; it is the audit
	// stream's only subject.
	AuditSubjectWildcard = AuditSubjectPrefix + ".>"

	// BusReconnectedSubject is where a dispatcher announces that its NATS
	// connection dropped and came back (BusReconnected). Replies and
	// requests in flight across the gap may be lost, so every gateway
	// replica then settles its requests in flight (docs/delivery.md).
	BusReconnectedSubject = "kubently.bus.v1.reconnected"

	// ResultSubjectT is the format twin of ResultSubject: the gateway
	// publishes an executor's CommandResult on it; the dispatcher subscribes
	// before it enqueues the command.
	ResultSubjectT = "kubently.bridge.v1.result.%s.%s"
)

// BridgeNotifySubject returns the notify subject of a cluster.
func BridgeNotifySubject(cluster string) (string, error) {
	if err := ValidateID("cluster", cluster); err != nil {
		return "", err
	}
	return fmt.Sprintf(BridgeNotifySubjectT, cluster), nil
}

// BridgeRevokeSubject returns the revoke subject of a cluster.
func BridgeRevokeSubject(cluster string) (string, error) {
	if err := ValidateID("cluster", cluster); err != nil {
		return "", err
	}
	return fmt.Sprintf(BridgeRevokeSubjectT, cluster), nil
}

// ResultSubject returns the subject a command's result is published on.
func ResultSubject(cluster, commandID string) (string, error) {
	if err := ValidateID("cluster", cluster); err != nil {
		return "", err
	}
	if err := ValidateCommandID(commandID); err != nil {
		return "", err
	}
	return fmt.Sprintf(ResultSubjectT, cluster, commandID), nil
}

// Endpoint is one NATS request-reply endpoint: its subject and the
// versioned type strings of its request (Req) and its reply (Resp), so a
// caller names the endpoint once (natsutil.Request) and the compiler
// checks what it sends and decodes.
type Endpoint[Req, Resp any] struct {
	// Subject is where requests go.
	Subject string
	// ReqType is the type string of Req (NATSHeaderType).
	ReqType string
	// RespType is the type string of the Response's Data.
	RespType string
}

// The request-reply endpoints of the session service and the dispatcher.
var (
	// CreateSession creates a session.
	CreateSession = Endpoint[CreateSessionRequest, Session]{SessionCreateSubject, TypeCreateSession, TypeSession}
	// GetSession reads a session.
	GetSession = Endpoint[SessionRequest, Session]{SessionGetSubject, TypeSessionRequest, TypeSession}
	// KeepSessionAlive extends a session's TTL.
	KeepSessionAlive = Endpoint[SessionRequest, Session]{SessionKeepaliveSubject, TypeSessionRequest, TypeSession}
	// EndSession ends a session.
	EndSession = Endpoint[SessionRequest, Session]{SessionEndSubject, TypeSessionRequest, TypeSession}
	// ListSessions lists a caller's sessions on a cluster.
	ListSessions = Endpoint[ListSessionsRequest, SessionList]{SessionListSubject, TypeListSessions, TypeSessionList}
	// DispatchExecute runs one command.
	DispatchExecute = Endpoint[ExecuteRequest, CommandResult]{DispatchExecuteSubject, TypeExecuteRequest, TypeCommandResult}
)
