// Package fleet fans one read or diagnosis out to many clusters: it
// resolves the clusters a request selects (a label selector over the
// registry's cluster labels, or a list), runs one job per cluster with
// bounded concurrency, and streams each cluster's result to the client as
// it arrives (NDJSON, or SSE when the client accepts text/event-stream),
// then a summary counting every outcome with its reason.
//
// # Usage
//
// The gateway's HTTP layer decodes and validates a fleet request, then
// calls Select for the clusters and Run with a Job that sends the command
// to one cluster through the same path as POST /v1/execute (role, scopes,
// rate limits, policy, audit), and a Stream as the sink.
//
// # Concurrency
//
// Run calls the job from up to its concurrency goroutines at once and the
// emit function from one goroutine at a time, in the order results
// arrive: a slow or dead cluster holds back only its own result.
package fleet
