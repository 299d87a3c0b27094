package redisstore

import (
	"context"
	"fmt"
	"time"

	"kubently.io/libs/store"
	"kubently.io/libs/store/internal/check"
)

const (
	// KEYS owner, answered; ARGV fence marker, until ms. Fences an id no
	// Enqueue recorded: {0, ''}; for a recorded one, {1, answering
	// executor or ''}.
	fenceSrc = `
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PXAT', ARGV[2]) then return {0, ''} end
if redis.call('GET', KEYS[1]) == ARGV[1] then return {0, ''} end
return {1, redis.call('GET', KEYS[2]) or ''}`
)

// fenced is the owner key's value for a fenced id; no cluster id can be it.
const fenced = "!fenced"

// Fence implements store.Bridge: one script that sets the owner key to the
// fence marker unless an Enqueue recorded it.
func (s *Store) Fence(ctx context.Context, commandID string, until time.Time) (store.CommandState, error) {
	if err := check.CommandID(commandID); err != nil {
		return store.CommandState{}, err
	}
	if !until.After(time.Now()) {
		return store.CommandState{}, fmt.Errorf("%w: fence until %s is not in the future", store.ErrInvalid, until.Format(time.RFC3339))
	}
	res, err := s.fenceScript.Run(ctx, s.rdb, []string{s.ownerKey(commandID), s.answerKey(commandID)}, fenced, until.UnixMilli()).Slice()
	if err != nil {
		return store.CommandState{}, fail("fence", err)
	}
	queued, _ := res[0].(int64)
	by, _ := res[1].(string)
	return store.CommandState{Queued: queued == 1, AnsweredBy: by}, nil
}
