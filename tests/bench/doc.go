// Package bench is Kubently's end-to-end load harness: it starts the
// production topology as separate processes — nats-server, redis-server,
// session, dispatcher, gateway and one executor, once per store (Redis and
// JetStream) — against the testbed kube-apiserver, and runs interleaved
// phases of direct client-go calls (the baseline) and of the same command
// through Kubently at several client counts, plus a cheap command that never
// reaches the apiserver. It prints one table of latency, throughput, CPU per
// command and RSS per process, and Redis commands per command, each as a
// ratio against the baseline measured in the same run.
//
// # Usage
//
//	make bench-e2e                    # the full run (a few minutes)
//	go test ./tests/bench             # the smoke CI runs (seconds)
//
// The smoke fails on errors only (a failed request, a process that dies),
// never on a time. docs/performance.md explains the knobs (KUBENTLY_BENCH*)
// and keeps the latest table.
package bench
