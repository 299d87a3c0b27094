// Package httpapi is the gateway's HTTP edge (echo v4): the client API
// (/v1/sessions, /v1/execute, /v1/clusters), the seed-compatible /debug
// routes, the executor's SSE stream and result intake, and /healthz,
// /readyz and /metrics. It authenticates every caller, validates every input
// (bodies ≤ 1 MiB, ids, timeouts) and answers errors as JSON
// `{"code": ..., "message": ...}`. It holds no state of its own beyond the
// live executor streams.
//
// # Concurrency
//
// A Server is safe for concurrent use; each executor stream runs in its own
// request goroutine and is woken through the hub.
package httpapi
