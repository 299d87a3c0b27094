package audit

import (
	"fmt"
	"regexp"
	"strings"
	"time"
	"unicode/utf8"

	"kubently.io/libs/contracts"
)

// RecordType is the versioned type string of Record.
const RecordType = "io.kubently.audit.v1.record"

// Bounds on a record. Write rejects a record beyond them; Clamp cuts one
// down to them.
const (
	// MaxArgs is the most argv entries a record keeps.
	MaxArgs = 64
	// MaxArgLen is the longest argv entry a record keeps, in bytes.
	MaxArgLen = 1024
	// MaxFieldLen is the longest string field, in bytes, other than argv
	// entries, Message and the id fields.
	MaxFieldLen = 256
	// MaxMessageLen is the longest Message, in bytes.
	MaxMessageLen = 512
	// MaxIDLen is the longest ID, CommandID, SessionID or CorrelationID.
	MaxIDLen = 64
	// MaxClusterLen is the longest cluster id (a DNS label).
	MaxClusterLen = 63
)

// ReasonRateLimited is the Reason of the summary record that stands for
// auth_denied records the Writer's rate limit dropped.
const ReasonRateLimited = "rate_limited"

// Event says what a record is about.
type Event string

// The events. Their names are subject tokens: lower case, no dots.
const (
	// EventCommandDispatched is written (acknowledged) by the dispatcher
	// before it hands a command to the executor bridge; the command's
	// command_executed record follows. A dispatched record without one
	// means the dispatcher stopped before the command's outcome was known.
	EventCommandDispatched Event = "command_dispatched"
	EventCommandExecuted   Event = "command_executed"
	EventCommandDenied     Event = "command_denied"
	EventSessionCreated    Event = "session_created"
	EventSessionEnded      Event = "session_ended"
	EventTokenCreated      Event = "token_created"
	EventTokenRotated      Event = "token_rotated"
	EventTokenRevoked      Event = "token_revoked"
	EventKeyChanged        Event = "key_changed"
	EventAuthDenied        Event = "auth_denied"
	// EventClusterLabeled is an admin's change of a cluster's labels
	// (Target holds the change: "env=prod region-").
	EventClusterLabeled Event = "cluster_labeled"
)

// Events lists every event, in a stable order.
var Events = []Event{
	EventCommandDispatched, EventCommandExecuted, EventCommandDenied, EventSessionCreated,
	EventSessionEnded, EventTokenCreated, EventTokenRotated,
	EventTokenRevoked, EventKeyChanged, EventAuthDenied, EventClusterLabeled,
}

// Known reports whether e is one of Events.
func (e Event) Known() bool {
	for _, k := range Events {
		if e == k {
			return true
		}
	}
	return false
}

// Outcome is how a command (or another audited action) ended.
type Outcome string

// The outcomes.
const (
	OutcomeSuccess     Outcome = "success"
	OutcomeFailure     Outcome = "failure"
	OutcomeDenied      Outcome = "denied"
	OutcomeTimeout     Outcome = "timeout"
	OutcomeUnavailable Outcome = "unavailable"
	// OutcomeError: the executor could not run the command (an internal
	// error, not the command's own failure).
	OutcomeError Outcome = "error"
)

// Known reports whether o is one of the outcome constants.
func (o Outcome) Known() bool {
	switch o {
	case OutcomeSuccess, OutcomeFailure, OutcomeDenied, OutcomeTimeout, OutcomeUnavailable, OutcomeError:
		return true
	}
	return false
}

// Record is one audit record. It never holds command output: only its size
// (Bytes) and whether it was cut (Truncated). Zero fields are omitted from
// the JSON form, so a zero ExitCode, Bytes or DurationMS reads as absent.
type Record struct {
	// Type is RecordType; Write sets it when empty.
	Type string `json:"type"`
	// ID identifies the record and is its Nats-Msg-Id, so a retried write
	// is stored once. Write fills a random id when empty; callers that
	// retry a Write must fill it themselves so the retries share it.
	ID string `json:"id"`
	// Time is when the audited thing happened; Write sets the current time
	// when zero.
	Time time.Time `json:"time"`
	// Event says what happened; required.
	Event Event `json:"event"`

	// Identity is the caller (API key name, executor cluster); empty if
	// unknown, as for a denied authentication without a name.
	Identity string `json:"identity,omitempty"`
	// Role is the caller's role (admin, operator, viewer); empty if none.
	Role string `json:"role,omitempty"`
	// Remote is the caller's network address; empty if unknown.
	Remote string `json:"remote,omitempty"`

	// Cluster is the cluster acted on; empty if none. It must be a valid
	// cluster id: it is a subject token.
	Cluster string `json:"cluster,omitempty"`
	// Namespace is the namespace a command targeted; empty if none.
	Namespace string `json:"namespace,omitempty"`
	// Argv is the command as the caller sent it; nil for other events.
	Argv []string `json:"argv,omitempty"`
	// Target is what a token or key event acted on (key name, token id);
	// empty if none. Never a secret.
	Target string `json:"target,omitempty"`
	// Tool is the MCP tool a command served (e.g. resources_list); empty
	// for commands that did not come through MCP and for other events.
	Tool string `json:"tool,omitempty"`

	// Outcome is how the action ended; empty for events without one.
	Outcome Outcome `json:"outcome,omitempty"`
	// Reason is a machine-readable reason code (a policy reason, an error
	// code); empty if none.
	Reason string `json:"reason,omitempty"`
	// ExitCode is the command's exit code; zero (or absent) on success and
	// for other events.
	ExitCode int `json:"exit_code,omitempty"`
	// DurationMS is how long the command ran, in milliseconds; never
	// negative.
	DurationMS int64 `json:"duration_ms,omitempty"`
	// Bytes is the size of the output returned; never negative.
	Bytes int64 `json:"bytes,omitempty"`
	// Truncated reports that the output was cut at the byte cap.
	Truncated bool `json:"truncated,omitempty"`

	// CommandID is the command's id; empty for other events.
	CommandID string `json:"command_id,omitempty"`
	// SessionID is the session the command ran in; empty if none.
	SessionID string `json:"session_id,omitempty"`
	// CorrelationID is the request's correlation id; empty if none.
	CorrelationID string `json:"correlation_id,omitempty"`
	// FanoutID links the records of one fleet fan-out (POST /v1/fleet/*):
	// every command of it carries the same id; empty otherwise.
	FanoutID string `json:"fanout_id,omitempty"`

	// Gateway is the gateway replica that took the client's request; empty
	// if none.
	Gateway string `json:"gateway,omitempty"`
	// Source is the service that wrote the record (dispatcher, gateway,
	// session); the Writer sets WriterConfig.Source when empty.
	Source string `json:"source,omitempty"`
	// Replica is the replica of Source that wrote the record; the Writer
	// sets WriterConfig.Replica when empty.
	Replica string `json:"replica,omitempty"`

	// Message is a short human-readable note; empty if none.
	Message string `json:"message,omitempty"`
	// Suppressed, on an auth_denied summary record, counts the records the
	// Writer's rate limit dropped; zero on every other record.
	Suppressed int `json:"suppressed,omitempty"`
}

var clusterRE = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]*[a-z0-9])?$`)

// Validate checks that r is complete and within the bounds; the error
// wraps ErrInvalid.
func (r *Record) Validate() error {
	switch {
	case r.Type != RecordType:
		return invalid("type %q: want %q", clip(r.Type, 64), RecordType)
	case !contracts.IsID(r.ID):
		return invalid("id %q: want 1-%d characters of [A-Za-z0-9_-]", clip(r.ID, 80), MaxIDLen)
	case r.Time.IsZero():
		return invalid("zero time")
	case !r.Event.Known():
		return invalid("unknown event %q", clip(string(r.Event), 64))
	case r.Outcome != "" && !r.Outcome.Known():
		return invalid("unknown outcome %q", clip(string(r.Outcome), 64))
	case r.DurationMS < 0:
		return invalid("negative duration_ms %d", r.DurationMS)
	case r.Bytes < 0:
		return invalid("negative bytes %d", r.Bytes)
	case r.Suppressed < 0:
		return invalid("negative suppressed %d", r.Suppressed)
	case len(r.Argv) > MaxArgs:
		return invalid("argv has %d entries: want at most %d", len(r.Argv), MaxArgs)
	}
	if r.Cluster != "" {
		if err := validateCluster(r.Cluster); err != nil {
			return err
		}
	}
	for i, a := range r.Argv {
		if len(a) > MaxArgLen {
			return invalid("argv[%d] is %d bytes: want at most %d", i, len(a), MaxArgLen)
		}
		if !utf8.ValidString(a) {
			return invalid("argv[%d] is not valid UTF-8", i)
		}
	}
	for _, f := range r.optionalIDs() {
		if *f.v != "" && !contracts.IsID(*f.v) {
			return invalid("%s %q: want 1-%d characters of [A-Za-z0-9_-]", f.name, clip(*f.v, 80), MaxIDLen)
		}
	}
	for _, f := range r.texts() {
		if len(*f.v) > f.max {
			return invalid("%s is %d bytes: want at most %d", f.name, len(*f.v), f.max)
		}
		if !utf8.ValidString(*f.v) {
			return invalid("%s is not valid UTF-8", f.name)
		}
	}
	return nil
}

// Clamp returns a copy of r cut down to the bounds: long strings and argv
// entries are cut at a rune boundary, excess argv entries dropped, invalid
// UTF-8 replaced and negative counts zeroed. Identifier-shaped fields
// (ID, Cluster, CommandID, SessionID, CorrelationID) are left alone: a
// clipped id would name something else. Use it on records built from
// untrusted input, such as a denied authentication's claimed identity.
func (r Record) Clamp() Record {
	if len(r.Argv) > 0 {
		argv := r.Argv[:min(len(r.Argv), MaxArgs)]
		r.Argv = make([]string, len(argv))
		for i, a := range argv {
			r.Argv[i] = clip(strings.ToValidUTF8(a, "\uFFFD"), MaxArgLen)
		}
	}
	for _, f := range r.texts() {
		*f.v = clip(strings.ToValidUTF8(*f.v, "\uFFFD"), f.max)
	}
	r.DurationMS = max(r.DurationMS, 0)
	r.Bytes = max(r.Bytes, 0)
	r.Suppressed = max(r.Suppressed, 0)
	return r
}

type field struct {
	name string
	v    *string
	max  int
}

func (r *Record) optionalIDs() []field {
	return []field{
		{"command_id", &r.CommandID, MaxIDLen},
		{"session_id", &r.SessionID, MaxIDLen},
		{"correlation_id", &r.CorrelationID, MaxIDLen},
		{"fanout_id", &r.FanoutID, MaxIDLen},
	}
}

func (r *Record) texts() []field {
	return []field{
		{"identity", &r.Identity, MaxFieldLen},
		{"role", &r.Role, MaxFieldLen},
		{"remote", &r.Remote, MaxFieldLen},
		{"namespace", &r.Namespace, MaxFieldLen},
		{"target", &r.Target, MaxFieldLen},
		{"tool", &r.Tool, MaxFieldLen},
		{"reason", &r.Reason, MaxFieldLen},
		{"gateway", &r.Gateway, MaxFieldLen},
		{"source", &r.Source, MaxFieldLen},
		{"replica", &r.Replica, MaxFieldLen},
		{"message", &r.Message, MaxMessageLen},
	}
}

func validateCluster(c string) error {
	if len(c) > MaxClusterLen || !clusterRE.MatchString(c) {
		return invalid("cluster %q: want 1-%d characters of [a-z0-9-], starting and ending alphanumeric", clip(c, 80), MaxClusterLen)
	}
	return nil
}

func invalid(format string, args ...any) error {
	return fmt.Errorf("%w: audit: "+format, append([]any{ErrInvalid}, args...)...)
}

// clip cuts s to at most n bytes at a rune boundary.
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}
