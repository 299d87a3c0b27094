package httpapi

import (
	"sync"
	"time"

	"kubently.io/libs/store"
)

// registryTTL is how long a cluster's registry record, read to check an
// executor token, is reused for the executor's next posts (acks, results,
// heartbeats): two posts per command would otherwise cost two registry
// reads on the command's way back. A rotation or revocation on any replica
// drops every cached record at once (the hub's revocation broadcast, see
// hub.Hub.Revocations); the TTL only bounds how long a replica that missed
// that broadcast (NATS down at that moment) keeps accepting the old token.
const registryTTL = 2 * time.Second

// registryMax bounds the records kept; past it, expired ones are dropped
// before a new one is added, and if none expired the cache is cleared.
const registryMax = 16384

// registryCache keeps the registry records that recently verified an
// executor token. Only a match is served from it: a token that does not
// match the cached record (a new one after a rotation, a wrong one) is
// checked against the store again, so it never refuses a token the store
// accepts.
type registryCache struct {
	// epoch returns a counter that changes on every revocation or
	// rotation this replica hears of.
	epoch func() uint64
	now   func() time.Time
	mu    sync.Mutex
	recs  map[string]cachedCluster
}

type cachedCluster struct {
	rec   store.ClusterRecord
	until time.Time
	epoch uint64
}

func newRegistryCache(epoch func() uint64) *registryCache {
	return &registryCache{epoch: epoch, now: time.Now, recs: map[string]cachedCluster{}}
}

// get returns the cached record of cluster, if it is fresh and no
// revocation was heard since it was read.
func (c *registryCache) get(cluster string) (store.ClusterRecord, bool) {
	c.mu.Lock()
	e, ok := c.recs[cluster]
	c.mu.Unlock()
	if !ok || c.now().After(e.until) || e.epoch != c.epoch() {
		return store.ClusterRecord{}, false
	}
	return e.rec, true
}

// put caches rec, read from the store after epoch was taken: a revocation
// heard meanwhile makes it stale at once.
func (c *registryCache) put(cluster string, rec store.ClusterRecord, epoch uint64) {
	now := c.now()
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.recs[cluster]; !ok && len(c.recs) >= registryMax {
		for k, e := range c.recs {
			if now.After(e.until) {
				delete(c.recs, k)
			}
		}
		if len(c.recs) >= registryMax {
			clear(c.recs)
		}
	}
	c.recs[cluster] = cachedCluster{rec: rec, until: now.Add(registryTTL), epoch: epoch}
}
