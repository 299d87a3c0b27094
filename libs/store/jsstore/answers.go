package jsstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"kubently.io/libs/store"
	"kubently.io/libs/store/internal/check"
)

// Owner implements store.Bridge.
func (s *Store) Owner(ctx context.Context, commandID string) (string, error) {
	if err := check.CommandID(commandID); err != nil {
		return "", err
	}
	if err := s.ready(); err != nil {
		return "", err
	}
	o, err := s.getOwner(ctx, commandID)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return "", fmt.Errorf("%w: command %s", store.ErrNotFound, commandID)
	}
	if err != nil {
		return "", fail("owner", err)
	}
	// The key's TTL has whole-second resolution; the recorded time is exact.
	if !time.Now().Before(o.Until) || o.Fenced {
		return "", fmt.Errorf("%w: command %s", store.ErrNotFound, commandID)
	}
	return o.Cluster, nil
}

// answer is the value of an answers key (ans.<command id>).
type answer struct {
	Executor string    `json:"executor_id"`
	Until    time.Time `json:"until"`
}

// MarkAnswered implements store.Bridge: a KV Create (atomic
// create-if-absent) of ans.<command id> that lives as long as the owner.
func (s *Store) MarkAnswered(ctx context.Context, commandID, executorID string) (bool, string, error) {
	if err := check.CommandID(commandID); err != nil {
		return false, "", err
	}
	if err := check.ExecutorID(executorID); err != nil {
		return false, "", err
	}
	if err := s.ready(); err != nil {
		return false, "", err
	}
	o, err := s.getOwner(ctx, commandID)
	if errors.Is(err, jetstream.ErrKeyNotFound) || (err == nil && (!time.Now().Before(o.Until) || o.Fenced)) {
		return false, "", fmt.Errorf("%w: command %s", store.ErrNotFound, commandID)
	}
	if err != nil {
		return false, "", fail("mark answered", err)
	}
	b, err := json.Marshal(answer{Executor: executorID, Until: o.Until})
	if err != nil {
		return false, "", fmt.Errorf("jsstore: encode answer: %w", err)
	}
	key := "ans." + commandID
	_, err = s.owners.Create(ctx, key, b, jetstream.KeyTTL(seconds(time.Until(o.Until))))
	if err == nil {
		return true, executorID, nil
	}
	if !errors.Is(err, jetstream.ErrKeyExists) {
		return false, "", fail("mark answered", err)
	}
	e, err := s.owners.Get(ctx, key)
	if err != nil {
		return false, "", fail("mark answered", err)
	}
	var a answer
	if err := json.Unmarshal(e.Value(), &a); err != nil {
		return false, "", fmt.Errorf("jsstore: decode answer of %s: %w", commandID, err)
	}
	return false, a.Executor, nil
}
