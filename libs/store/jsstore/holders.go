package jsstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"kubently.io/libs/contracts"
	"kubently.io/libs/store"
	"kubently.io/libs/store/internal/check"
)

// holding is the value of a holder key (hold.<command id>).
type holding struct {
	Holder contracts.CommandHolder `json:"holder"`
	Until  time.Time               `json:"until"`
}

// Hold implements store.Bridge: a KV Create (atomic create-if-absent) of
// hold.<command id> that lives as long as the owner, if the owner is
// cluster.
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
	if err := s.ready(); err != nil {
		return err
	}
	o, err := s.getOwner(ctx, commandID)
	if errors.Is(err, jetstream.ErrKeyNotFound) || (err == nil && (!time.Now().Before(o.Until) || o.Fenced || o.Cluster != cluster)) {
		return fmt.Errorf("%w: command %s of cluster %s", store.ErrNotFound, commandID, cluster)
	}
	if err != nil {
		return fail("hold", err)
	}
	b, err := json.Marshal(holding{Holder: holder, Until: o.Until})
	if err != nil {
		return fmt.Errorf("jsstore: encode holder: %w", err)
	}
	_, err = s.owners.Create(ctx, "hold."+commandID, b, jetstream.KeyTTL(seconds(time.Until(o.Until))))
	if err != nil && !errors.Is(err, jetstream.ErrKeyExists) {
		return fail("hold", err)
	}
	return nil
}

// Holder implements store.Bridge.
func (s *Store) Holder(ctx context.Context, commandID string) (contracts.CommandHolder, error) {
	if err := check.CommandID(commandID); err != nil {
		return contracts.CommandHolder{}, err
	}
	if err := s.ready(); err != nil {
		return contracts.CommandHolder{}, err
	}
	e, err := s.owners.Get(ctx, "hold."+commandID)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return contracts.CommandHolder{}, fmt.Errorf("%w: no holder of command %s", store.ErrNotFound, commandID)
	}
	if err != nil {
		return contracts.CommandHolder{}, fail("holder", err)
	}
	var h holding
	if err := json.Unmarshal(e.Value(), &h); err != nil {
		return contracts.CommandHolder{}, fmt.Errorf("jsstore: decode holder of %s: %w", commandID, err)
	}
	// The key's TTL has whole-second resolution; the recorded time is exact.
	if !time.Now().Before(h.Until) {
		return contracts.CommandHolder{}, fmt.Errorf("%w: no holder of command %s", store.ErrNotFound, commandID)
	}
	return h.Holder, nil
}
