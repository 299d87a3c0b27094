// Package contracts is the wire contract between Kubently's services: NATS
// subjects, message types, HTTP header names, error codes and the protocol
// version. It has no dependencies beyond the standard library so that every
// service, the executor and the CLI can import it.
//
// # Usage
//
// Build subjects with the validating builders (DispatchExecuteSubject,
// BridgeNotifySubject, ResultSubject) instead of formatting strings at call
// sites. Every reply on NATS is a Response envelope; errors travel as *Error,
// which carries a stable machine-readable Code and the HTTP status the
// gateway maps it to.
//
// # Concurrency
//
// The package holds only constants, types and pure functions; everything is
// safe for concurrent use.
package contracts
