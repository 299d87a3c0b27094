package fleet

import (
	"context"
	"sync"
	"time"

	"kubently.io/libs/contracts"
)

// Job runs the fan-out's command on one cluster and returns its result
// with Cluster, Outcome, Reason, Message and Result or Report set (Run
// fills in the rest). It must return when ctx ends.
type Job func(ctx context.Context, cluster string) contracts.FleetResult

// Run runs job on each cluster, at most concurrency at once (at least 1),
// and calls emit with each result as soon as it is there, one call at a
// time, with FanoutID, Type, DurationMS and the progress set. A job that
// has not started when ctx ends is not started: its cluster is reported
// failed with reason "canceled". An emit error (the client went away)
// cancels the jobs not started yet; Run still returns the summary of all
// clusters.
func Run(ctx context.Context, fanoutID string, clusters []string, concurrency int, job Job, emit func(contracts.FleetResult) error) contracts.FleetSummary {
	start := time.Now()
	concurrency = max(1, min(concurrency, len(clusters)))
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	sum := contracts.FleetSummary{Type: contracts.TypeFleetSummary, FanoutID: fanoutID, Total: len(clusters), Failures: []contracts.FleetFailure{}}
	results := make(chan contracts.FleetResult)
	work := make(chan string)
	var wg sync.WaitGroup
	for range concurrency {
		wg.Go(func() {
			for cluster := range work {
				t := time.Now()
				var r contracts.FleetResult
				if ctx.Err() != nil {
					r = contracts.FleetResult{Cluster: cluster, Outcome: contracts.FleetFailed, Reason: "canceled",
						Message: "the fan-out ended before this cluster's turn"}
				} else {
					r = job(ctx, cluster)
					r.Cluster = cluster
				}
				r.DurationMS = time.Since(t).Milliseconds()
				results <- r
			}
		})
	}
	go func() {
		for _, c := range clusters {
			work <- c
		}
		close(work)
		wg.Wait()
		close(results)
	}()
	emitting := true
	for r := range results {
		r.Type, r.FanoutID, r.Total = contracts.TypeFleetResult, fanoutID, len(clusters)
		sum.Add(r)
		r.Done = sum.Succeeded + sum.Failed + sum.Denied + sum.Unreachable + sum.TimedOut
		if emitting {
			if err := emit(r); err != nil {
				emitting = false
				cancel()
			}
		}
	}
	sum.DurationMS = time.Since(start).Milliseconds()
	return sum
}

// Classify turns one cluster's command outcome (what the /v1/execute path
// returned) into a fleet outcome, a machine-readable reason and a
// message.
func Classify(res contracts.CommandResult, err error) (contracts.FleetOutcome, string, string) {
	if err != nil {
		e := contracts.AsError(err)
		reason := e.Reason
		if reason == "" {
			reason = string(e.Code)
		}
		switch e.Code {
		case contracts.CodeForbidden, contracts.CodeCommandDenied, contracts.CodeRateLimited:
			return contracts.FleetDenied, reason, e.Message
		case contracts.CodeUnknownCluster, contracts.CodeExecutorUnavailable, contracts.CodeExecutorLost:
			return contracts.FleetUnreachable, reason, e.Message
		case contracts.CodeTimeout:
			return contracts.FleetTimedOut, reason, e.Message
		}
		return contracts.FleetFailed, reason, e.Message
	}
	switch res.Status {
	case contracts.StatusSuccess:
		return contracts.FleetSucceeded, "", ""
	case contracts.StatusDenied:
		return contracts.FleetDenied, res.Reason, res.Error
	case contracts.StatusTimeout:
		return contracts.FleetTimedOut, string(contracts.CodeTimeout), res.Error
	case contracts.StatusFailure:
		msg := res.Error
		if msg == "" {
			msg = "the command exited non-zero"
		}
		return contracts.FleetFailed, "exit_code", msg
	}
	reason := res.Reason
	if reason == "" {
		reason = string(contracts.CodeInternal)
	}
	return contracts.FleetFailed, reason, res.Error
}

// Cut returns res with its output cut to at most n bytes (at a UTF-8
// boundary) and marked truncated, and its structured form dropped when it
// is larger than n: a fleet stream carries bounded results.
func Cut(res contracts.CommandResult, n int) contracts.CommandResult {
	if len(res.Output) > n {
		i := n
		for i > 0 && i < len(res.Output) && res.Output[i]&0xC0 == 0x80 {
			i--
		}
		res.Output, res.Truncated = res.Output[:i], true
	}
	if len(res.Structured) > n {
		res.Structured, res.Truncated = nil, true
	}
	return res
}
