package contracts

import (
	"errors"
	"fmt"
	"net/http"
)

// ErrorCode is a stable, machine-readable error code. Clients switch on it;
// its text never changes once released.
type ErrorCode string

// The error code table. Each code maps to one HTTP status (see Status).
const (
	CodeBadRequest          ErrorCode = "bad_request"
	CodeInvalidJSON         ErrorCode = "invalid_json"
	CodeBodyTooLarge        ErrorCode = "body_too_large"
	CodeInvalidID           ErrorCode = "invalid_id"
	CodeInvalidTimeout      ErrorCode = "invalid_timeout"
	CodeInvalidTTL          ErrorCode = "invalid_ttl"
	CodeInvalidCommand      ErrorCode = "invalid_command"
	CodeUnauthorized        ErrorCode = "unauthorized"
	CodeForbidden           ErrorCode = "forbidden"
	CodeRateLimited         ErrorCode = "rate_limited"
	CodeCommandDenied       ErrorCode = "command_denied"
	CodeResultClusterDenied ErrorCode = "result_cluster_mismatch"
	CodeNotFound            ErrorCode = "not_found"
	CodeUnknownCluster      ErrorCode = "unknown_cluster"
	CodeClusterExists       ErrorCode = "cluster_exists"
	CodeUnknownCommand      ErrorCode = "unknown_command"
	CodeResultNotAwaited    ErrorCode = "result_not_awaited"
	CodeSessionNotFound     ErrorCode = "session_not_found"
	CodeSessionExpired      ErrorCode = "session_expired"
	CodeSessionEnded        ErrorCode = "session_ended"
	CodeSessionMismatch     ErrorCode = "session_cluster_mismatch"
	CodeMethodNotAllowed    ErrorCode = "method_not_allowed"
	CodeExecutorUnavailable ErrorCode = "executor_unavailable"
	// CodeExecutorLost: the executor instance that acknowledged the
	// command is gone (its stream ended and it did not come back within
	// the grace): the command may have run, at most once, and is not run
	// again. Not retried automatically. HTTP 502.
	CodeExecutorLost ErrorCode = "executor_lost"
	CodeUnavailable  ErrorCode = "unavailable"
	CodeTimeout      ErrorCode = "timeout"
	CodeInternal     ErrorCode = "internal"
	// CodeRequestTimeout: the request (headers or body) did not arrive
	// within the gateway's read timeout.
	CodeRequestTimeout ErrorCode = "request_timeout"
	// CodeHeadersTooLarge: the request's headers exceed the gateway's
	// header size limit.
	CodeHeadersTooLarge ErrorCode = "headers_too_large"
)

// Reasons of the unavailable answers that settle an execute request caught
// in a NATS disruption (docs/delivery.md).
const (
	// ReasonNotDispatched: the request was lost before any dispatcher
	// queued it, and its id is fenced: the command did not and will not
	// run. Retrying is safe; the kubently client does it.
	ReasonNotDispatched = "not_dispatched"
	// ReasonResultLost: the command ran, but its result was lost and no
	// dispatcher could send it again. Do not blindly retry; its outcome
	// is in the audit log.
	ReasonResultLost = "result_lost"
	// ReasonDispatcherLost: the command was queued, but after a NATS
	// disruption no dispatcher holds its request any more (the one that
	// did is gone): it may still run once, and its result cannot reach
	// this caller. Do not blindly retry; its outcome is in the audit log.
	ReasonDispatcherLost = "dispatcher_lost"
)

// Reasons of 429 rate_limited answers beside the rate limiter's
// (identity, cluster).
const (
	// ReasonAuthBackoff: the caller's address failed to authenticate too
	// often and is refused until Retry-After.
	ReasonAuthBackoff = "auth_backoff"
	// ReasonStreamLimit: the identity (audit stream) or cluster (executor
	// stream) holds as many streams as the gateway replica allows.
	ReasonStreamLimit = "stream_limit"
)

// ReasonUnknownStream refines not_found on POST /v1/executor/heartbeat:
// no replica holds that stream of that cluster (it was closed, or the
// conn_id belongs to another cluster). The executor reconnects.
const ReasonUnknownStream = "unknown_stream"

var codeStatus = map[ErrorCode]int{
	CodeExecutorLost:        http.StatusBadGateway,
	CodeBadRequest:          http.StatusBadRequest,
	CodeInvalidJSON:         http.StatusBadRequest,
	CodeBodyTooLarge:        http.StatusRequestEntityTooLarge,
	CodeInvalidID:           http.StatusBadRequest,
	CodeInvalidTimeout:      http.StatusBadRequest,
	CodeInvalidTTL:          http.StatusBadRequest,
	CodeInvalidCommand:      http.StatusBadRequest,
	CodeUnauthorized:        http.StatusUnauthorized,
	CodeForbidden:           http.StatusForbidden,
	CodeRateLimited:         http.StatusTooManyRequests,
	CodeCommandDenied:       http.StatusForbidden,
	CodeResultClusterDenied: http.StatusForbidden,
	CodeNotFound:            http.StatusNotFound,
	CodeUnknownCluster:      http.StatusNotFound,
	CodeClusterExists:       http.StatusConflict,
	CodeUnknownCommand:      http.StatusNotFound,
	CodeResultNotAwaited:    http.StatusConflict,
	CodeSessionNotFound:     http.StatusNotFound,
	CodeSessionExpired:      http.StatusGone,
	CodeSessionEnded:        http.StatusGone,
	CodeSessionMismatch:     http.StatusConflict,
	CodeMethodNotAllowed:    http.StatusMethodNotAllowed,
	CodeExecutorUnavailable: http.StatusServiceUnavailable,
	CodeUnavailable:         http.StatusServiceUnavailable,
	CodeTimeout:             http.StatusGatewayTimeout,
	CodeInternal:            http.StatusInternalServerError,
	CodeRequestTimeout:      http.StatusRequestTimeout,
	CodeHeadersTooLarge:     http.StatusRequestHeaderFieldsTooLarge,
}

// Status returns the HTTP status the gateway answers with for code. Unknown
// codes map to 500.
func (c ErrorCode) Status() int {
	if s, ok := codeStatus[c]; ok {
		return s
	}
	return http.StatusInternalServerError
}

// Known reports whether c is in the code table.
func (c ErrorCode) Known() bool {
	_, ok := codeStatus[c]
	return ok
}

// Error is the wire form of an error: `{"code": "...", "message": "..."}` on
// HTTP and inside a NATS Response. Reason is an optional finer-grained
// reason (for example the policy's reason code for command_denied).
type Error struct {
	// Code is the stable machine-readable code.
	Code ErrorCode `json:"code"`
	// Message is a human-readable explanation; it never contains secrets.
	Message string `json:"message"`
	// Reason refines Code where useful (policy reason codes); empty if none.
	Reason string `json:"reason,omitempty"`
}

// Error implements error.
func (e *Error) Error() string {
	if e.Reason != "" {
		return fmt.Sprintf("%s (%s): %s", e.Code, e.Reason, e.Message)
	}
	return fmt.Sprintf("%s: %s", e.Code, e.Message)
}

// Is makes errors.Is match two *Error values with the same Code.
func (e *Error) Is(target error) bool {
	var t *Error
	if errors.As(target, &t) {
		return t.Code == e.Code
	}
	return false
}

// Errorf builds an *Error with a formatted message.
func Errorf(code ErrorCode, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// AsError returns err as an *Error, wrapping unknown errors as internal.
func AsError(err error) *Error {
	if err == nil {
		return nil
	}
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	return &Error{Code: CodeInternal, Message: err.Error()}
}
