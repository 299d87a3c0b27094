package worker

import (
	"context"
	"slices"
	"sync"
	"testing"

	"kubently.io/libs/contracts"
	"kubently.io/libs/logging"
	"kubently.io/libs/policy"
)

// TestPoolScope: a command's scope reaches the policy check and the runner
// through ctx, and the default check refuses what leaves it.
func TestPoolScope(t *testing.T) {
	var mu sync.Mutex
	seen := map[string][]string{}
	runner := RunnerFunc(func(ctx context.Context, c *policy.Command) Outcome {
		mu.Lock()
		defer mu.Unlock()
		if s := policy.ScopeFrom(ctx); s != nil {
			seen[c.Args[0]] = s.Namespaces
		} else {
			seen[c.Args[0]] = nil
		}
		return Outcome{Output: "ok\n"}
	})
	p := &posted{}
	pool, ctx, _ := startPool(t, Config{Runner: runner, Post: p.post, Log: logging.Discard(), Workers: 1, ExecutorID: "e"})
	shop := &contracts.CommandScope{Namespaces: []string{"shop"}}
	scoped := func(id string, argv ...string) contracts.Command {
		c := cmd(id, argv...)
		c.Scope = shop
		return c
	}
	pool.Submit(ctx, scoped("in", "get", "pods", "-n", "shop"))
	pool.Submit(ctx, scoped("nodes", "get", "nodes"))
	pool.Submit(ctx, scoped("other", "get", "configmaps", "-n", "data"))
	pool.Submit(ctx, scoped("unknown", "get", "flowschemas", "-n", "shop"))
	pool.Submit(ctx, cmd("free", "get", "nodes"))
	p.wait(t, 5)
	p.mu.Lock()
	got := map[string]contracts.ExecutorResult{}
	for _, r := range p.res {
		got[r.CommandID] = r
	}
	p.mu.Unlock()
	for id, reason := range map[string]policy.Reason{
		"nodes": policy.ReasonClusterScoped, "other": policy.ReasonNamespaceOutOfScope, "unknown": policy.ReasonUnknownType,
	} {
		if got[id].Status != contracts.StatusDenied || got[id].Reason != string(reason) {
			t.Errorf("command %s: %s/%s; want denied/%s", id, got[id].Status, got[id].Reason, reason)
		}
	}
	for _, id := range []string{"in", "free"} {
		if got[id].Status != contracts.StatusSuccess {
			t.Errorf("command %s: %s %s; want success", id, got[id].Status, got[id].Error)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if !slices.Equal(seen["pods"], []string{"shop"}) {
		t.Errorf("runner saw scope %v for the scoped command; want [shop]", seen["pods"])
	}
	if s, ran := seen["nodes"]; !ran || s != nil {
		t.Errorf("runner saw scope %v (ran %v) for the unscoped command; want none", s, ran)
	}
}
