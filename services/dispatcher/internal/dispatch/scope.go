package dispatch

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"kubently.io/libs/authz"
	"kubently.io/libs/contracts"
	"kubently.io/libs/logging"
	"kubently.io/libs/policy"
	"kubently.io/libs/store"
)

// maxCachedDiscovery bounds the discovery cache: past it, the cache
// starts over (one store read per cluster refills it).
const maxCachedDiscovery = 4096

// discoveryCache keeps one resolver per cluster, built from the cluster's
// discovery summary in the store and kept while the stored hash is the
// same, so a scoped request costs one small store read.
type discoveryCache struct {
	mu sync.Mutex
	m  map[string]cachedDiscovery
}

type cachedDiscovery struct {
	hash string
	res  *policy.DiscoveryResolver
}

// resolver returns the resolver of cluster's discovery and true, or, when
// the cluster has published none (an older executor, or none connected
// yet) or the store cannot say, the static table limited to the types it
// knows (policy.KnownTypes) and false: scoped callers are then refused
// every type the table does not know.
func (d *Dispatcher) resolver(ctx context.Context, cluster string) (policy.Resolver, bool) {
	fallback := policy.KnownTypes(policy.StaticResolver)
	var hash string
	err := d.withStore(ctx, func(ctx context.Context) (err error) {
		hash, err = d.cfg.Store.DiscoveryHash(ctx, cluster)
		return err
	})
	if err != nil {
		if !errors.Is(err, store.ErrNotFound) {
			d.m.storeErrors.WithLabelValues("discovery").Inc()
			logging.FromContext(ctx).Warn("cluster discovery unavailable; judging the scope from the static type table", logging.KeyCluster, cluster, logging.KeyErr, err)
		}
		return fallback, false
	}
	d.discovery.mu.Lock()
	cached, ok := d.discovery.m[cluster]
	d.discovery.mu.Unlock()
	if ok && cached.hash == hash {
		return cached.res, true
	}
	var sum contracts.ExecutorDiscovery
	err = d.withStore(ctx, func(ctx context.Context) (err error) {
		sum, err = d.cfg.Store.GetDiscovery(ctx, cluster)
		return err
	})
	if err != nil {
		if !errors.Is(err, store.ErrNotFound) {
			d.m.storeErrors.WithLabelValues("discovery").Inc()
		}
		return fallback, false
	}
	res := policy.NewDiscoveryResolver(sum.Resources)
	d.discovery.mu.Lock()
	if d.discovery.m == nil || len(d.discovery.m) >= maxCachedDiscovery {
		d.discovery.m = map[string]cachedDiscovery{}
	}
	d.discovery.m[cluster] = cachedDiscovery{hash: sum.Hash, res: res}
	d.discovery.mu.Unlock()
	return res, true
}

// commandScope returns the namespace cmd reads and whether it spans all
// namespaces, for the caller's scope check, and the scope the executor
// must enforce again. A caller that may read the whole cluster is judged
// as before (policy.Command.ScopeNamespace, the gateway's rule) and gets
// no scope. A caller limited to namespaces on the cluster is judged on
// types resolved through the cluster's discovery, failing closed
// (policy.Command.ScopedNamespace): a cluster-scoped or unknown type is
// a *authz.Denial.
func (d *Dispatcher) commandScope(ctx context.Context, id authz.Identity, cluster string, cmd *policy.Command) (ns string, all bool, scope *contracts.CommandScope, err error) {
	namespaces, limited := id.NamespacesOn(cluster)
	if !limited || len(namespaces) == 0 {
		// Unscoped, or no scope on this cluster at all (which
		// Authorize refuses as cluster_out_of_scope).
		ns, all = cmd.ScopeNamespace(ctx, policy.StaticResolver)
		return ns, all, nil, nil
	}
	res, fromDiscovery := d.resolver(ctx, cluster)
	ns, all, dec, ok := cmd.ScopedNamespace(ctx, res)
	if !ok {
		msg := dec.Message
		if !fromDiscovery && dec.Reason == policy.ReasonUnknownType {
			msg += fmt.Sprintf(" (cluster %s has not published its discovery yet, so only built-in types are known)", cluster)
		}
		return "", false, nil, &authz.Denial{Reason: authz.DenialReason(dec.Reason), Message: fmt.Sprintf("%s on cluster %q: %s", id.Principal(), cluster, msg)}
	}
	return ns, all, &contracts.CommandScope{Namespaces: namespaces}, nil
}
