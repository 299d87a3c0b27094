// Package sweep is a gateway replica's safety net for executor streams:
// one goroutine per replica that, every interval, asks the store which of
// the clusters the replica holds streams of have a command to hand out
// (store.Bridge.IndexedQueues or Queues, one batched call) and wakes one local stream of
// each through the hub. It recovers commands whose NATS notify was lost
// and commands whose lease ran out without an ack (redelivery sends no
// notify), within about one interval.
//
// It replaces a poll ticker in every stream, which cost one Claim per
// stream per interval even when nothing was queued: the sweep costs one
// store call per interval however many streams the replica holds, and
// one Claim per cluster that has work. Most sweeps ask only about the
// clusters the store's index of non-empty queues names
// (store.Bridge.IndexedQueues); every FullEvery-th asks about every held
// cluster (Queues), which restores an index entry the store lost.
//
// # Usage
//
//	sw, err := sweep.New(sweep.Config{Store: st, Hub: h, Interval: 2 * time.Second, Log: log})
//	if err != nil { ... }
//	go sw.Run(ctx) // until ctx ends
//
// # Concurrency
//
// Run sweeps from one goroutine; Sweep may also be called directly (tests)
// and is safe for concurrent use with Run, the hub and the store.
package sweep
