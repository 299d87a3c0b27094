package natsutil

import (
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"

	"kubently.io/libs/contracts"
)

// Role is a Kubently service as NATS sees it: each connects as its own
// user, with the subject permissions Permissions gives its role. The
// executor is no role: it never connects to NATS.
type Role string

// The roles, one per NATS-facing service.
const (
	// RoleGateway is the gateway: the only role that may publish commands
	// (kubently.dispatch.v1.execute) and session requests, so the
	// principal those requests carry is always one a gateway
	// authenticated.
	RoleGateway Role = "gateway"
	// RoleSession is the session service.
	RoleSession Role = "session"
	// RoleDispatcher is the dispatcher: the only role that may serve the
	// dispatch subjects and receive command results.
	RoleDispatcher Role = "dispatcher"
)

// ErrUnknownRole is returned for a role outside Roles.
var ErrUnknownRole = errors.New("natsutil: unknown role")

// Roles returns every role, in a fixed order.
func Roles() []Role { return []Role{RoleGateway, RoleSession, RoleDispatcher} }

// ParseRole returns the role named s.
func ParseRole(s string) (Role, error) {
	r := Role(s)
	if !slices.Contains(Roles(), r) {
		return "", fmt.Errorf("%w: %q (want gateway, session or dispatcher)", ErrUnknownRole, s)
	}
	return r, nil
}

// ServiceName is the client name a role's connections use.
func (r Role) ServiceName() string { return "kubently-" + string(r) }

// InboxPrefix is the prefix of a role's reply inboxes (nats.go's
// CustomInboxPrefix). Each role may subscribe to its own prefix only, so
// replies meant for gateways (command output among them) reach no other
// role.
func InboxPrefix(r Role) string { return "_INBOX.kubently_" + string(r) }

// RoleOption makes a connection use r's inbox prefix; pass it to Connect
// for a connection made with r's credentials.
func RoleOption(r Role) nats.Option { return nats.CustomInboxPrefix(InboxPrefix(r)) }

// StorePrefix is the prefix of the JetStream store's buckets and stream
// (jsstore.DefaultPrefix; tests/repo checks they agree).
const StorePrefix = "KUBENTLY"

// ResponseExpires bounds how long a role may answer a request it received
// (allow_responses): past the longest command (contracts.MaxTimeout) plus
// queueing and the bridge's grace.
const ResponseExpires = 10 * time.Minute

// Permissions are a role's subject permissions: it may publish only to
// Publish and subscribe only to Subscribe (NATS wildcards), and answer
// the requests it receives (one reply each, within ResponseExpires).
// Everything else is denied.
type Permissions struct {
	// Publish lists the subjects the role may publish to.
	Publish []string
	// Subscribe lists the subjects the role may subscribe to.
	Subscribe []string
}

// Audit events each role writes (libs/audit Event values; tests/repo
// checks them against the services).
var auditEvents = map[Role][]string{
	RoleGateway:    {"command_denied", "key_changed", "auth_denied", "token_created", "token_rotated", "token_revoked", "cluster_labeled"},
	RoleSession:    {"session_created", "session_ended"},
	RoleDispatcher: {"command_dispatched", "command_executed", "command_denied", "auth_denied"},
}

// AuditEvents returns the audit events role r may write.
func AuditEvents(r Role) []string { return slices.Clone(auditEvents[r]) }

// PermissionsFor returns role r's permissions: the one source of truth for
// `kubently dev`, the test servers and `kubently nats config`.
//
// The model: only gateways publish commands, session requests, replays,
// results (kubently.bridge.v1.result, the executor's output), revocations
// and contacts; only dispatchers serve the dispatch subjects, receive
// results and publish notifies, hand-offs (commands for the stream a
// gateway replica holds, which only gateways receive) and reconnect
// announcements; only the
// session service serves the session subjects; each role reads replies
// on its own inbox prefix only; nobody subscribes to the audit subjects
// (the gateway reads the audit stream through subject-filtered
// consumers); micro's $SRV subjects are served per service name. Every
// role ensures the audit stream and the JetStream store's buckets at
// start-up (stream info, create and update by name), but reads and
// writes only its own buckets, and reads only through API subjects that
// carry the bucket's own subject filter, so reconfiguring a stream cannot
// widen what a role reads.
func PermissionsFor(r Role) (Permissions, error) {
	if _, err := ParseRole(string(r)); err != nil {
		return Permissions{}, err
	}
	p := Permissions{
		Publish:   []string{"$JS.API.INFO"},
		Subscribe: []string{InboxPrefix(r) + ".>"},
	}
	// Stream management every role needs at start-up.
	for _, s := range append([]string{contracts.AuditStreamName, storeBridge}, kvStreams(storeBuckets...)...) {
		p.Publish = append(p.Publish, "$JS.API.STREAM.INFO."+s, "$JS.API.STREAM.CREATE."+s, "$JS.API.STREAM.UPDATE."+s)
	}
	for _, e := range auditEvents[r] {
		p.Publish = append(p.Publish, contracts.AuditSubjectPrefix+"."+e+".*")
	}
	switch r {
	case RoleGateway:
		p.Publish = append(p.Publish,
			contracts.DispatchExecuteSubject,
			contracts.DispatchReplaySubject,
			contracts.SessionSubjectPrefix+".*",
			fmt.Sprintf(contracts.ResultSubjectT, "*", "*"),
			contracts.BridgeRevokeWildcard,
			fmt.Sprintf(contracts.ExecutorContactSubjectT, "*"),
		)
		p.Publish = append(p.Publish, filteredConsumer(contracts.AuditStreamName, contracts.AuditSubjectWildcard)...)
		p.Subscribe = append(p.Subscribe,
			contracts.BridgeNotifyWildcard,
			contracts.BridgeRevokeWildcard,
			fmt.Sprintf(contracts.ExecutorContactSubjectT, "*"),
			contracts.BusReconnectedSubject,
			// Commands the dispatcher hands straight to a stream this
			// replica holds.
			contracts.HandOffWildcard,
		)
		// DISCOVERY: executors' discovery summaries arrive through the gateway.
		p.Publish = append(p.Publish, kvUse("OWNERS", "PRESENCE", "CLUSTERS", "DISCOVERY")...)
		p.Publish = append(p.Publish, bridgeConsume()...)
	case RoleSession:
		p.Subscribe = append(p.Subscribe, contracts.SessionSubjectPrefix+".*")
		p.Subscribe = append(p.Subscribe, srvSubjects(contracts.SessionServiceName)...)
		p.Publish = append(p.Publish, kvUse("SESSIONS", "CLUSTERS")...)
	case RoleDispatcher:
		p.Publish = append(p.Publish,
			contracts.BridgeNotifyWildcard,
			contracts.BusReconnectedSubject,
			contracts.SessionKeepaliveSubject,
			contracts.HandOffWildcard,
			storeBridgeSubject+".*",
		)
		p.Subscribe = append(p.Subscribe,
			contracts.DispatchExecuteSubject,
			contracts.DispatchReplaySubject,
			fmt.Sprintf(contracts.ResultSubjectT, "*", "*"),
		)
		p.Subscribe = append(p.Subscribe, srvSubjects(contracts.DispatchServiceName)...)
		// It enqueues (storeBridgeSubject) and reads queue depths (stream
		// info) but never claims: only gateways consume the bridge queue.
		// It reads DISCOVERY to judge namespace-scoped callers.
		p.Publish = append(p.Publish, kvUse("OWNERS", "PRESENCE", "CLUSTERS", "DISCOVERY")...)
	}
	return p, nil
}

// The JetStream store's layout (libs/store/jsstore with StorePrefix).
var (
	storeBuckets       = []string{"SESSIONS", "OWNERS", "PRESENCE", "CLUSTERS", "DISCOVERY"}
	storeBridge        = StorePrefix + "_BRIDGE"
	storeBridgeSubject = "kubently.bridgeq"
)

func kvStreams(buckets ...string) []string {
	out := make([]string, 0, len(buckets))
	for _, b := range buckets {
		out = append(out, "KV_"+StorePrefix+"_"+b)
	}
	return out
}

// kvUse is reading and writing the store buckets named: puts on $KV,
// direct gets and consumers (watch, keys) filtered to the bucket's keys.
func kvUse(buckets ...string) []string {
	var out []string
	for _, b := range buckets {
		bucket := StorePrefix + "_" + b
		stream := "KV_" + bucket
		out = append(out, "$KV."+bucket+".>", "$JS.API.DIRECT.GET."+stream+".$KV."+bucket+".>")
		out = append(out, filteredConsumer(stream, "$KV."+bucket+".>")...)
	}
	return out
}

// filteredConsumer is creating, reading and deleting consumers of stream
// whose filter lies within filter.
func filteredConsumer(stream, filter string) []string {
	return []string{
		"$JS.API.CONSUMER.CREATE." + stream + ".*." + filter,
		"$JS.API.CONSUMER.INFO." + stream + ".*",
		"$JS.API.CONSUMER.MSG.NEXT." + stream + ".*",
		"$JS.API.CONSUMER.DELETE." + stream + ".*",
	}
}

// bridgeConsume is claiming from the store's bridge queue: one durable
// consumer per cluster, filtered to that cluster's subject, and acking
// (or dropping) the messages claimed.
func bridgeConsume() []string {
	return append(filteredConsumer(storeBridge, storeBridgeSubject+".*"), "$JS.ACK."+storeBridge+".>")
}

// srvSubjects is serving a micro service's $SRV discovery subjects.
func srvSubjects(service string) []string {
	var out []string
	for _, v := range []string{"PING", "INFO", "STATS"} {
		out = append(out, "$SRV."+v, "$SRV."+v+"."+service, "$SRV."+v+"."+service+".*")
	}
	return out
}

// server returns p as nats-server permissions, with allow_responses.
func (p Permissions) server() *server.Permissions {
	return &server.Permissions{
		Publish:   &server.SubjectPermission{Allow: slices.Clone(p.Publish)},
		Subscribe: &server.SubjectPermission{Allow: slices.Clone(p.Subscribe)},
		Response:  &server.ResponsePermission{MaxMsgs: 1, Expires: ResponseExpires},
	}
}
