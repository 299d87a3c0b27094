package redisstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/redis/go-redis/v9"

	"kubently.io/libs/contracts"
	"kubently.io/libs/store"
	"kubently.io/libs/store/internal/check"
)

const (
	// KEYS owner, holder; ARGV cluster, holder JSON. Records the holder
	// (NX) expiring at the owner key's expiry time (the same millisecond)
	// if the owner is cluster: 1 recorded or already held, 0 unknown or
	// another cluster's.
	holdSrc = `
local at = redis.call('PEXPIRETIME', KEYS[1])
if at <= 0 or redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[2], ARGV[2], 'NX', 'PXAT', at)
return 1`
)

// Hold implements store.Bridge: one script that sets the holder key (SET
// NX) with the owner key's remaining TTL, if the owner is cluster.
func (s *Store) Hold(ctx context.Context, cluster, commandID string, holder contracts.CommandHolder) error {
	if err := check.Cluster(cluster); err != nil {
		return err
	}
	if err := check.CommandID(commandID); err != nil {
		return err
	}
	if err := check.Holder(holder); err != nil {
		return err
	}
	b, err := json.Marshal(holder)
	if err != nil {
		return fmt.Errorf("redisstore: encode holder: %w", err)
	}
	ok, err := s.holdScript.Run(ctx, s.rdb, []string{s.ownerKey(commandID), s.holderKey(commandID)}, cluster, b).Int()
	if err != nil {
		return fail("hold", err)
	}
	if ok != 1 {
		return fmt.Errorf("%w: command %s of cluster %s", store.ErrNotFound, commandID, cluster)
	}
	return nil
}

// Holder implements store.Bridge.
func (s *Store) Holder(ctx context.Context, commandID string) (contracts.CommandHolder, error) {
	if err := check.CommandID(commandID); err != nil {
		return contracts.CommandHolder{}, err
	}
	b, err := s.rdb.Get(ctx, s.holderKey(commandID)).Bytes()
	if errors.Is(err, redis.Nil) {
		return contracts.CommandHolder{}, fmt.Errorf("%w: no holder of command %s", store.ErrNotFound, commandID)
	}
	if err != nil {
		return contracts.CommandHolder{}, fail("holder", err)
	}
	var h contracts.CommandHolder
	if err := json.Unmarshal(b, &h); err != nil {
		return contracts.CommandHolder{}, fmt.Errorf("redisstore: decode holder of %s: %w", commandID, err)
	}
	return h, nil
}
