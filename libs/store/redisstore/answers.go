package redisstore

import (
	"context"
	"errors"
	"fmt"

	"github.com/redis/go-redis/v9"

	"kubently.io/libs/store"
	"kubently.io/libs/store/internal/check"
)

const (
	// KEYS owner, answered; ARGV executor id. Records the executor as the
	// command's answerer unless one is recorded, for as long as the owner
	// key lives. Returns {1, id} first, {0, earlier id} after, nil if the
	// owner is gone.
	answerSrc = `
local ttl = redis.call('PTTL', KEYS[1])
if ttl <= 0 or redis.call('GET', KEYS[1]) == ARGV[2] then return false end
if redis.call('SET', KEYS[2], ARGV[1], 'NX', 'PX', ttl) then return {1, ARGV[1]} end
return {0, redis.call('GET', KEYS[2])}`
)

// Owner implements store.Bridge.
func (s *Store) Owner(ctx context.Context, commandID string) (string, error) {
	if err := check.CommandID(commandID); err != nil {
		return "", err
	}
	cluster, err := s.rdb.Get(ctx, s.ownerKey(commandID)).Result()
	if errors.Is(err, redis.Nil) || cluster == fenced {
		return "", fmt.Errorf("%w: command %s", store.ErrNotFound, commandID)
	}
	if err != nil {
		return "", fail("owner", err)
	}
	return cluster, nil
}

// MarkAnswered implements store.Bridge: one script that sets the answered
// key (SET NX) with the owner key's remaining TTL.
func (s *Store) MarkAnswered(ctx context.Context, commandID, executorID string) (bool, string, error) {
	if err := check.CommandID(commandID); err != nil {
		return false, "", err
	}
	if err := check.ExecutorID(executorID); err != nil {
		return false, "", err
	}
	res, err := s.answerScript.Run(ctx, s.rdb, []string{s.ownerKey(commandID), s.answerKey(commandID)}, executorID, fenced).Slice()
	if errors.Is(err, redis.Nil) {
		return false, "", fmt.Errorf("%w: command %s", store.ErrNotFound, commandID)
	}
	if err != nil {
		return false, "", fail("mark answered", err)
	}
	first, _ := res[0].(int64)
	prev, _ := res[1].(string)
	return first == 1, prev, nil
}
