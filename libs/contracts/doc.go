// Package contracts is the wire contract between Kubently's services and
// their clients: NATS subjects and endpoints, message types, HTTP paths,
// request and response bodies, SSE events, header names, error and reason
// codes and the protocol version. It has no dependencies beyond the
// standard library so that every service, the executor and the CLI can
// import it. A body the gateway and a client both handle is declared here
// once; a command's result is carried as an embedded Outcome.
//
// # Usage
//
// Call NATS request-reply endpoints through their typed values
// (DispatchExecute, CreateSession, ...) with natsutil.Request. Build other
// subjects with the validating builders (BridgeNotifySubject,
// ResultSubject) instead of formatting strings at call sites. Every reply
// on NATS is a Response envelope; errors travel as *Error, which carries a
// stable machine-readable Code and the HTTP status the gateway maps it to.
//
// # Concurrency
//
// The package holds only constants, types and pure functions; everything is
// safe for concurrent use.
package contracts
