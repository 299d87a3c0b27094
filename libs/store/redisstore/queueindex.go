package redisstore

import (
	"context"
	"slices"

	"github.com/redis/go-redis/v9"

	"kubently.io/libs/store"
	"kubently.io/libs/store/internal/check"
)

// The index of non-empty queues (store.Bridge.IndexedQueues) is one set of
// cluster ids, outside every cluster's hash tag, so no queue script can
// write it: Append (and AppendLeased) adds the cluster after its script (in the same
// pipeline, so in the same round trip), and IndexedQueues removes the
// clusters whose queue it finds empty. A removal is always followed by a
// second length check, which puts back a cluster an Append filled
// meanwhile: an Append's SADD comes after its XADD, so either the second
// check sees the command or the SADD lands after the removal. An entry is
// lost only if the store fails between an Append's script and its SADD;
// Queues, which checks every cluster asked about, puts it back.

// queueIndexKey is the set of clusters whose queue may hold commands.
func (s *Store) queueIndexKey() string { return s.prefix + ":bridge:nonempty" }

// runIndexed runs script (the enqueue script, or AppendLeased's) and adds
// the cluster to the queue index after it, in one pipeline, and returns
// the script's result.
func (s *Store) runIndexed(ctx context.Context, script *redis.Script, cluster string, keys []string, args ...any) *redis.Cmd {
	pipe := s.rdb.Pipeline()
	run := script.EvalSha(ctx, pipe, keys, args...)
	pipe.SAdd(ctx, s.queueIndexKey(), cluster)
	_, _ = pipe.Exec(ctx) // each command carries its own error
	if redis.HasErrorPrefix(run.Err(), "NOSCRIPT") {
		// First use on this server, or its script cache was flushed: the
		// SADD ran before the command was queued, so add it again after.
		if run = script.Run(ctx, s.rdb, keys, args...); run.Err() == nil {
			_ = s.rdb.SAdd(ctx, s.queueIndexKey(), cluster).Err()
		}
	}
	// A failed SADD after a queued command is a lost index entry, which
	// the next Queues restores: the command is queued, so no error.
	return run
}

// IndexedQueues implements store.Bridge: the index (SMEMBERS), then
// Queues' passes over the clusters asked about that the index names. The
// clusters it finds empty leave the index (see above).
func (s *Store) IndexedQueues(ctx context.Context, clusters []string) ([]store.QueueState, error) {
	for _, c := range clusters {
		if err := check.Cluster(c); err != nil {
			return nil, err
		}
	}
	if len(clusters) == 0 {
		return nil, nil
	}
	members, err := s.rdb.SMembers(ctx, s.queueIndexKey()).Result()
	if err != nil {
		return nil, fail("queues", err)
	}
	indexed := make(map[string]bool, len(members))
	for _, m := range members {
		indexed[m] = true
	}
	var asked []string
	for _, c := range clusters {
		if indexed[c] {
			asked = append(asked, c)
		}
	}
	if len(asked) == 0 {
		return nil, nil
	}
	lens, err := s.lengths(ctx, asked)
	if err != nil {
		return nil, fail("queues", err)
	}
	var empty []string
	for i, c := range asked {
		if lens[i] == 0 {
			empty = append(empty, c)
		}
	}
	if len(empty) > 0 {
		if err := s.unindex(ctx, empty, lens, asked); err != nil {
			return nil, fail("queues", err)
		}
	}
	out := make([]store.QueueState, 0, len(asked)-len(empty))
	for i, c := range asked {
		if lens[i] > 0 {
			out = append(out, store.QueueState{Cluster: c, Depth: int(lens[i])})
		}
	}
	if err := s.claimableAll(ctx, out); err != nil {
		return nil, fail("queues", err)
	}
	return out, nil
}

// unindex removes the empty clusters from the index, checks their length
// again and puts back (and records in lens, by the position of asked)
// those an Append filled meanwhile.
func (s *Store) unindex(ctx context.Context, empty []string, lens []int64, asked []string) error {
	members := make([]any, len(empty))
	for i, c := range empty {
		members[i] = c
	}
	if err := s.rdb.SRem(ctx, s.queueIndexKey(), members...).Err(); err != nil {
		return err
	}
	again, err := s.lengths(ctx, empty)
	if err != nil {
		return err
	}
	var back []any
	for i, c := range empty {
		if again[i] > 0 {
			back = append(back, c)
			lens[slices.Index(asked, c)] = again[i]
		}
	}
	if len(back) > 0 {
		return s.rdb.SAdd(ctx, s.queueIndexKey(), back...).Err()
	}
	return nil
}

// lengths is XLEN of each cluster's queue, pipelined queuesBatch at a time.
func (s *Store) lengths(ctx context.Context, clusters []string) ([]int64, error) {
	out := make([]int64, 0, len(clusters))
	for chunk := range slices.Chunk(clusters, queuesBatch) {
		pipe := s.rdb.Pipeline()
		cmds := make([]*redis.IntCmd, len(chunk))
		for i, c := range chunk {
			cmds[i] = pipe.XLen(ctx, s.queueKey(c))
		}
		if _, err := pipe.Exec(ctx); err != nil {
			return nil, err
		}
		for _, cmd := range cmds {
			out = append(out, cmd.Val())
		}
	}
	return out, nil
}

// claimableAll sets Claimable of each queue, queuesBatch at a time.
func (s *Store) claimableAll(ctx context.Context, queues []store.QueueState) error {
	for chunk := range slices.Chunk(queues, queuesBatch) {
		err := s.claimable(ctx, chunk)
		if redis.HasErrorPrefix(err, "NOSCRIPT") {
			// First use on this server, or its script cache was flushed.
			if err = s.claimableScript.Load(ctx, s.rdb).Err(); err == nil {
				err = s.claimable(ctx, chunk)
			}
		}
		if err != nil {
			return err
		}
	}
	return nil
}
