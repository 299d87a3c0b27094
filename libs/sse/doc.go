// Package sse reads and writes text/event-stream (Server-Sent Events)
// bodies: the one implementation the gateway (executor and audit streams),
// the executor's link and the CLI share.
//
// The Reader is bounded: a line longer than its limit, or an event whose
// data grows past it, is an error rather than unbounded memory. It
// implements the parsing rules of the WHATWG HTML "server-sent events"
// section that a Kubently client needs: "event", "data" (multi-line, joined
// with "\n"), "id" and "retry" fields, comment lines (": ping") and LF,
// CRLF or CR line endings. An event is dispatched at a blank line; an event
// with no data lines is not dispatched, but a comment is reported as a
// Comment so callers can treat it as a heartbeat.
//
// The Writer frames events and comments, flushes after each and bounds
// each write with a deadline, so a peer that stopped reading fails the
// write instead of blocking the stream for good.
//
// # Concurrency
//
// A Reader is not safe for concurrent use. A Writer is: its writes are
// serialised, so a pinger and an event loop may share one.
package sse
