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

// Fence implements store.Bridge: a create-if-absent of the owner record
// with the fence flag; an existing record is reported with the answer.
func (s *Store) Fence(ctx context.Context, commandID string, until time.Time) (store.CommandState, error) {
	if err := check.CommandID(commandID); err != nil {
		return store.CommandState{}, err
	}
	if !until.After(time.Now()) {
		return store.CommandState{}, fmt.Errorf("%w: fence until %s is not in the future", store.ErrInvalid, until.Format(time.RFC3339))
	}
	if err := s.ready(); err != nil {
		return store.CommandState{}, err
	}
	cur, created, err := s.createOwner(ctx, commandID, owner{Fenced: true, Until: until.UTC()})
	if err != nil {
		return store.CommandState{}, fail("fence", err)
	}
	if created || cur.Fenced {
		return store.CommandState{}, nil
	}
	st := store.CommandState{Queued: true}
	e, err := s.owners.Get(ctx, "ans."+commandID)
	switch {
	case errors.Is(err, jetstream.ErrKeyNotFound):
		return st, nil
	case err != nil:
		return store.CommandState{}, fail("fence", err)
	}
	var a answer
	if err := json.Unmarshal(e.Value(), &a); err != nil {
		return store.CommandState{}, fmt.Errorf("jsstore: decode answer of %s: %w", commandID, err)
	}
	st.AnsweredBy = a.Executor
	return st, nil
}
