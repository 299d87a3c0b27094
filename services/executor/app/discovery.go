package app

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"kubently.io/libs/contracts"
	"kubently.io/libs/logging"
	"kubently.io/services/executor/internal/link"
)

// discoveryCheck is how often the publisher looks for a new stream to
// tell the summary to.
const discoveryCheck = time.Second

// discoverySource computes the cluster's discovery summary;
// *kubeexec.Runner implements it.
type discoverySource interface {
	DiscoverySummary(ctx context.Context) (contracts.ExecutorDiscovery, error)
	DiscoveryChanged() <-chan struct{}
}

// discoveryLink publishes summaries; *link.Client implements it.
type discoveryLink interface {
	Connected() bool
	Streams() uint64
	PostDiscovery(ctx context.Context, d contracts.ExecutorDiscovery) error
}

// publishDiscovery keeps the gateway's copy of the cluster's discovery
// current until ctx ends: it computes the summary every interval (and at
// once when the runner met an unknown type) and posts it on every new
// stream and whenever its hash changed. A failed post is retried at the
// next check.
func publishDiscovery(ctx context.Context, src discoverySource, lc discoveryLink, interval time.Duration, log *slog.Logger) {
	var (
		sum       contracts.ExecutorDiscovery
		have      bool
		nextFetch time.Time
		posted    string // hash the gateway has
		postedOn  uint64 // stream it was posted on
	)
	tick := time.NewTicker(discoveryCheck)
	defer tick.Stop()
	for {
		if now := time.Now(); !now.Before(nextFetch) {
			s, err := src.DiscoverySummary(ctx)
			nextFetch = now.Add(interval)
			if err != nil {
				log.Warn("cluster discovery failed; the gateway keeps the last summary", logging.KeyErr, err)
			} else {
				sum, have = s, true
			}
		}
		if streams := lc.Streams(); have && lc.Connected() && (sum.Hash != posted || streams != postedOn) {
			err := lc.PostDiscovery(ctx, sum)
			switch {
			case err == nil:
				posted, postedOn = sum.Hash, streams
				log.Debug("discovery published", "resources", len(sum.Resources), "hash", sum.Hash)
			case errors.Is(err, link.ErrRejected):
				// An older gateway without the route, or a summary it
				// refuses: try again only when it changes.
				posted, postedOn = sum.Hash, streams
				log.Warn("gateway refused the discovery summary", logging.KeyErr, err)
			default:
				log.Debug("publishing discovery failed; retrying", logging.KeyErr, err)
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		case <-src.DiscoveryChanged():
			nextFetch = time.Time{}
		}
	}
}
