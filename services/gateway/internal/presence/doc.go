// Package presence keeps the presence records of the executor streams one
// gateway replica holds, under one lease per replica
// (store.Presence.Join and RenewLease): a stream is joined once when it
// opens and left when it ends, and the replica renews its one lease every
// TTL/3 for all of them. Each stream used to refresh its own record every
// heartbeat, one store call per stream per interval; the lease costs one
// store call per interval whatever the number of streams.
//
// The guarantees stay those of a refreshed record: a stream's presence
// vanishes within the TTL if the replica dies (its lease is no longer
// renewed), and at once when the stream ends (Leave). A renewal that finds
// the lease lapsed (the store was unreachable for longer than the TTL)
// joins every held stream again, as does the record's own TTL (RecordTTL),
// which bounds what a dead replica leaves behind in the store.
//
// # Usage
//
//	k, err := presence.New(presence.Config{Store: st, TTL: 15 * time.Second, Log: log})
//	if err != nil { ... }
//	go k.Run(ctx) // renews until ctx ends
//	leave, err := k.Join(ctx, info) // when a stream opens
//	defer leave(context.Background())
//
// # Concurrency
//
// A Keeper is safe for concurrent use: Join and the leave functions are
// called from the streams' goroutines while Run renews from its own.
package presence
