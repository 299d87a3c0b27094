// Package audit writes Kubently's audit log to a JetStream stream and
// reads it back.
//
// Every decision is a Record: a command dispatched (written before it is
// handed to an executor), executed or denied, a session
// created or ended, a token created, rotated or revoked, a key changed,
// an authentication denied. A Record holds who, where, what (argv), how it
// ended and how big the output was, never the output itself.
//
// # Usage
//
//	err := audit.Ensure(ctx, js, audit.StreamConfig{}) // at start-up, every replica
//	w, err := audit.NewWriter(audit.WriterConfig{JS: js, Source: "dispatcher", Replica: pod})
//	err = w.Write(ctx, audit.Record{Event: audit.EventCommandExecuted, ...})
//
//	r, err := audit.NewReader(audit.ReaderConfig{JS: js})
//	res, err := r.Query(ctx, audit.Filter{Cluster: "prod"}, audit.Page{Limit: 100})
//	res, err = r.Query(ctx, audit.Filter{Cluster: "prod"}, audit.Page{Cursor: res.NextCursor})
//	err = r.Follow(ctx, audit.Filter{Outcome: audit.OutcomeDenied}, func(rec audit.Record) error { ... })
//
// # Layout
//
// Stream StreamName (KUBENTLY_AUDIT) holds subjects
// kubently.audit.v1.<event>.<cluster or "_"> (see Subject), with file
// storage, limits retention by age (StreamConfig.MaxAge, default 90 days),
// the replication factor StreamConfig.Replicas, and deletes and purges
// denied: records leave only by age (or StreamConfig.MaxBytes). Event and
// cluster filters become consumer subject filters, so the server skips
// other records without sending them.
//
// # Guarantees
//
// Write is synchronous: it returns nil only after JetStream acknowledged
// that the record is stored, on all replicas of a clustered stream. The
// dispatcher writes the record on the dispatch path and replies to the
// client only after Write returns, so a crash between executing and
// auditing cannot drop a record silently: either the client got no reply,
// or the record is stored.
//
// Delivery is at least once, deduplicated: each record's ID is its
// Nats-Msg-Id, and the stream drops a repeated ID within its duplicate
// window (StreamConfig.Duplicates, default 2 minutes). Write retries
// transient failures with the same ID until its ctx ends; a caller that
// retries a failed Write must reuse the record's ID (fill it before the
// first Write) to stay deduplicated. A retry later than the window is
// stored twice, with the same ID, which readers can collapse.
//
// auth_denied records are rate limited per source (identity, else remote
// address): beyond WriterConfig.AuthDeniedLimit per window, Write drops
// them and counts them, and the first Write or Flush after the window
// writes a summary record (Reason ReasonRateLimited, Suppressed = count).
// The limiter's memory is bounded by WriterConfig.MaxTrackedKeys; sources
// beyond it share one budget. Summaries are written on a best-effort
// basis: if that write fails, the error is returned and the count lost.
//
// Query reads only what was stored when it started and examines at most
// ReaderConfig.ScanBudget records per call, so it answers promptly over
// any range; a page may then be short, even empty, with a NextCursor.
// Cursors are opaque stream positions; paging with them never repeats or
// skips a record. Time ranges are positioned by the server's storage time
// and then filtered on Record.Time, exact as long as the two differ by
// less than ClockSlack.
//
// # Concurrency
//
// Writer and Reader are safe for concurrent use by many goroutines; any
// number of replicas may write to and read from one stream.
package audit
