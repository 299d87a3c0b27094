// Package httpapi is the gateway's HTTP edge (echo v4): the client API
// (/v1/sessions, /v1/execute, /v1/clusters, /v1/audit, /v1/audit/stream),
// the seed-compatible /debug routes, the executor's SSE stream and result
// intake, the OpenAPI document (/v1/openapi.yaml, embedded from
// openapi.yaml) and /healthz, /readyz and /metrics. It authenticates every
// caller (API key or OIDC token), authorises it by role and scope
// (libs/authz), rate-limits it per identity and per cluster, audits failed
// authentications, validates every input
// (bodies ≤ 1 MiB, ids, timeouts) and answers errors as JSON
// `{"code": ..., "message": ...}`. It holds no state of its own beyond the
// live executor streams.
//
// # Concurrency
//
// A Server is safe for concurrent use; each executor stream runs in its own
// request goroutine and is woken through the hub.
package httpapi
