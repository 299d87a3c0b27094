// Package faults injects faults into a deployment of Kubently's real
// binaries and checks the delivery contract of docs/architecture.md
// ("Delivery semantics") while commands flow.
//
// The harness (harness_test.go) builds the gateway, session, dispatcher
// and executor binaries and nats-server once (TestMain), then each test
// starts its own stack of separate processes, configured only through
// their environment: a nats-server with JetStream, a redis-server with an
// append-only file (libs/redistest; Redis is the store and bridge), one
// session and one dispatcher, two gateway replicas (gw-a, gw-b) behind two
// in-test round-robin TCP proxies — one for executors, one for clients, so
// either side can be cut alone — two executors for cluster ha-1 and one
// for solo-1, all against the kube-apiserver testbed (libs/testbed).
// Gateways run with a 1s SSE heartbeat and a 3s visibility timeout (10s,
// the default, in the outage scenarios, which outlast 3s: there an ack that
// could not land during the outage must not let a second executor run the
// command).
//
// Four client goroutines send `get ns -o name` (timeout 30s) to ha-1 while
// each fault is injected; every test logs a table. Its counts rest on the
// executors' own receipts, not on what the services claim: each executor
// logs "command received" when a command arrives, before it is handed on
// to run, and "command executed" when it finishes. Columns: commands sent
// by the load, probes (requests the scenario sent itself, e.g. "does it
// work again"; their commands are among executed), executed (distinct
// command ids with a finish receipt), ok, duplicates (an id run twice, or
// received by two executors that both live on; must be 0 — except a
// command the killed executor ran before it was acked, run again by a
// survivor: at least once up to the ack, logged as rerun), lost
// (timeouts, executor_unavailable outside the fault window, executor_lost
// without cause; must be 0), died_with (executor_lost answers naming the
// killed executor, each backed by its arrival receipt there), dropped (a
// survivor ran it, the caller timed out), not_dis (settled not_dispatched)
// and ranNd (of those, received by an executor all the same; must be 0),
// refused (executor_unavailable while no executor was connected), the
// clear failures by kind, and unanswered (commands that ran whose caller
// never learnt the id; at most the requests whose own connection broke).
// Errors about a command name its id, so a failed request is matched to
// its receipts.
//
// Scenarios:
//
//   - TestExecutorKilled: SIGKILL one of ha-1's two executors; its unacked
//     leases are redelivered to the other; the commands it had acked are
//     answered executor_lost (naming it, backed by its receipts) within
//     the dispatcher's lost grace, never a timeout; no loss, no duplicate.
//     A command it ran within its ack delay and never acked may run again
//     on the survivor (counted as rerun: at least once up to the ack).
//
//   - TestExecutorKilledAckOnReceipt: the same with the victim acking on
//     receipt (KUBENTLY_EXECUTOR_ACK_DELAY negative): no rerun; what it
//     held is answered executor_lost.
//
//   - TestStreamsCut: reset every executor TCP connection at the proxy;
//     executors reconnect; no loss, no duplicate.
//
//   - TestStreamsFrozen (halfopen_test.go): black-hole every executor TCP
//     connection at the proxy (open, passing nothing either way, not even
//     a close); executors drop their silent streams and reconnect, the
//     gateways close the frozen streams for want of executor heartbeats
//     within seconds (presence lists exactly the live streams); no loss,
//     no duplicate.
//
//   - TestGatewayKilled: SIGKILL the replica holding streams; executors
//     reconnect to the survivor, leases on the dead replica are
//     redelivered; no loss. Client requests that ran through the dead
//     replica break with it (transport errors, only at the kill).
//
//   - TestRedisRestart, TestNATSRestart: stop the server, restart it on the
//     same port and data; requests fail with a clear error or succeed,
//     never outlive their timeout; the dispatcher's /readyz goes false and
//     back to true; no process exits or needs a restart; every command
//     sent after recovery succeeds.
//
//   - TestNATSNodeLost: a 3-node JetStream cluster (audit stream with 3
//     replicas) loses, by SIGKILL, the node with the most clients; the
//     services fail over; same checks as the restarts, without requiring
//     the dispatcher to go unready (it may not have been on that node).
//
//   - TestTokenRevoked: revoke solo-1's token through the admin API on the
//     replica not holding its stream; the executor's stream closes and it
//     exits non-zero naming the 401; solo-1 then fails fast with
//     executor_unavailable; ha-1 does not notice.
//
//   - TestRedisRestartKeepsState (persist_test.go): with sessions created
//     and solo-1's only executor killed, queue commands for solo-1 within
//     the reconnect grace (callers waiting), then stop (SIGTERM) or kill
//     (SIGKILL) redis-server and restart it; sessions read back unchanged
//     with their keys' expiry, the queue is intact, each long-deadline
//     command runs exactly once when an executor returns and its caller
//     gets the result, commands whose deadline passed never run; the
//     dispatcher's /readyz goes false and back to true.
//
//   - TestDevRestartKeepsState (devrestart_test.go): the same with the
//     `kubently dev` binary (embedded JetStream store) stopped or killed
//     and restarted on the same data dir; the callers go with the process,
//     the commands stay queued and each still runs exactly once.
//
//   - TestNATSKilledBusy (moment_test.go): SIGKILL nats-server and restart
//     it while eight clients send in a tight loop (requests before,
//     during and after the kill) and a CPU hog spins on every core; no
//     request waits out its timeout, some were in flight at the kill, and
//     every not_dispatched answer has no receipt anywhere.
//
// A request in flight when NATS goes away is settled by the gateway
// within seconds of the reconnect (not_dispatched, a replayed reply, or
// result_lost/dispatcher_lost if its dispatcher is gone); a request still
// waiting at its 30s timeout is a failure in every outage scenario.
//
// The tests need redis-server on PATH and the testbed
// (KUBENTLY_TEST_KUBECONFIG or /tmp/kubently-testbed/kubeconfig); TestMain
// skips the package without the testbed and -short skips every test. Run:
//
//	go test -race -count=1 -v ./faults
//
// FAULTS_LOG_DIR=<dir> keeps every process's output there, passing or not.
package faults
