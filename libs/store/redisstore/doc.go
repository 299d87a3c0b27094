// Package redisstore implements store.Store on Redis (7.0 or later), the
// production backend.
//
// # Usage
//
//	st, err := redisstore.New(ctx, redisstore.Config{URL: "redis://redis:6379/0"})
//	if err != nil { ... }
//	defer st.Close()
//
// NewFromClient wraps a client the caller owns (Close then leaves it open).
//
// # Key layout
//
// Every key starts with Config.Prefix (p, default "kubently"). Keys that
// one script touches together share a hash tag, so each script stays in
// one slot:
//
//	p:session:{id}          live session JSON, PX ttl; exists iff active
//	p:session:rec:{id}      session record JSON, PX ttl+store.SessionTombstone
//	                        (after EndSession: state ended, PX SessionTombstone)
//	p:sessions:{cluster}    ZSET id -> live key's expiry (unix ms); a superset
//	                        of the cluster's active sessions, pruned on list
//	p:bridge:{cluster}      STREAM of commands (fields "c" = JSON, "i" = id,
//	                        "d" = deadline unix ms), consumer group
//	                        "executors", MAXLEN ~ Config.MaxQueueLen
//	p:bridge:ids:{cluster}  HASH command id -> stream entry id, for Ack;
//	                        PXAT the latest deadline+grace of its commands
//	p:cmd:id                command owner: the cluster, PXAT deadline+grace
//	{p:cmd:id}:answered     executor id of the command's first result (SET
//	                        NX), with the owner key's remaining TTL; its
//	                        hash tag is the owner key, so both share a slot
//	p:presence:{cluster}    ZSET connID -> record expiry (unix ms)
//	p:presence:info:{cluster} HASH connID -> ExecutorInfo JSON
//	p:presence:seen:{cluster} last Refresh or Leave of any stream (unix
//	                        ms; only ever raised), PX store.SeenRetention
//
// A session's state is computed on read: live key present means active; a
// record in state ended means ended; a record alone means expired. Create,
// touch and end are Lua scripts over the live key and the record, so a
// touch racing an end or an expiry never brings a session back.
//
// Claim is one Lua script: XAUTOCLAIM of entries idle (leased and not
// acknowledged) longer than Config.Visibility, then XREADGROUP
// (non-blocking) of new ones; both leave the entry pending in the group,
// leased to the consumer. Ack is a script that maps command ids to entry
// ids and XACKs and XDELs them. Entries past their deadline are dropped
// (XACK, XDEL) by the claim that meets them. Commands trimmed by MAXLEN
// leave their id in the hash until it expires.
//
// # Concurrency
//
// A Store is safe for concurrent use by many goroutines and processes.
package redisstore
