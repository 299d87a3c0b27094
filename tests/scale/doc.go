// Package scale benchmarks how many executor streams one gateway replica
// holds and how quickly it still delivers commands to any of them.
//
// # Usage
//
//	cd tests && go test -run '^$' -bench Streams -benchtime 1x ./scale
//
// BenchmarkStreams runs the gateway in the benchmark process over a real
// NATS server (in-process) and a real redis-server, and re-executes the test
// binary as a load client (KUBENTLY_SCALE_CLIENT=1) that opens one SSE
// stream per cluster, so the streams' client sockets do not count against
// the gateway process's file descriptors. KUBENTLY_SCALE_STREAMS sets the
// number of streams (default 10000). Each size runs twice: with quiet
// streams, and with the client posting executor heartbeats
// (POST /v1/executor/heartbeat) for every stream at the interval the
// gateway announces (KUBENTLY_SCALE_HEARTBEAT, default 5s, the gateway's
// default). KUBENTLY_SCALE_CPUPROFILE=<dir> writes a CPU profile
// of the gateway process during the idle window of each N-stream phase
// (idle-<N>.pprof, idle-<N>-hb.pprof). It is skipped with -short and, being a
// benchmark, never runs under plain `go test`. See docs/scale.md.
//
// # Concurrency
//
// The package has no API; the benchmark's helpers are used from the
// benchmark goroutine and the client process's reader goroutine only.
package scale
