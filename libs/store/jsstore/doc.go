// Package jsstore implements store.Store on NATS JetStream, the embedded
// default (`kubently dev`, single-binary installs). It needs a server with
// per-message TTLs (nats-server 2.11 or later).
//
// # Usage
//
//	st, err := jsstore.New(ctx, jsstore.Config{Conn: nc})
//	if err != nil { ... }
//
// New creates or updates its buckets and stream idempotently, so every
// replica of every service may call it at start-up. The connection stays
// the caller's: Close does not close it.
//
// # Layout
//
// With Config.Prefix P (default "KUBENTLY") and p its lower-case form:
//
//	KV P_SESSIONS  live.<cluster>.<id>  session JSON, per-key TTL ttl;
//	                                    exists iff active (until ended)
//	               rec.<id>             session record JSON, TTL
//	                                    ttl+store.SessionTombstone (after
//	                                    EndSession: state ended, TTL
//	                                    SessionTombstone)
//	KV P_OWNERS    <command id>         {cluster, until}, TTL until deadline+grace
//	               ans.<command id>     {executor_id, until}: who answered
//	                                    first (KV Create), same TTL
//	KV P_PRESENCE  <cluster>.<connID>   {info, expires_at}, TTL ttl
//	               _seen.<cluster>      {seen}: last Refresh or Leave of
//	                                    any stream, TTL store.SeenRetention
//	stream P_BRIDGE  work-queue, subjects p.bridgeq.<cluster>; one durable
//	                 pull consumer per cluster (named after it); each
//	                 command carries a TTL until its deadline
//
// A session's state is computed on read: a record in state ended means
// ended; otherwise a live key means active and its absence expired. Touch
// and end are compare-and-set writes (Nats-Expected-Last-Subject-Sequence)
// in an order that never revives a session: touch writes the live key then
// the record, end writes the record then purges the live key, and each
// retries from a fresh read when the other got in between.
//
// Per-key TTLs have whole-second resolution; the store rounds them up, and
// Owner and Connected also compare the recorded expiry with the clock, so
// they are exact.
//
// Claim fetches without waiting and acknowledges (and so removes) each
// command before returning it; a command whose acknowledgement failed is
// not returned and is redelivered after the consumer's AckWait (30s).
//
// # Concurrency
//
// A Store is safe for concurrent use by many goroutines and processes.
package jsstore
