package kubeexec

import (
	"context"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
)

// A resolved type is reused without asking the mapper again, until
// discovery is reset or the memo expires; unknown types are never
// memoized.
func TestResolvedMemo(t *testing.T) {
	r, _ := testRunner(t, DefaultMaxOutputBytes, nil)
	ctx := context.Background()
	if _, err := r.resolveMapping(ctx, "nope"); err == nil {
		t.Fatal("resolveMapping(nope): no error")
	}
	m, err := r.resolveMapping(ctx, "pods")
	if err != nil || m.Resource.Resource != "pods" {
		t.Fatalf("resolveMapping(pods) = %v, %v; want pods", m, err)
	}
	// A mapper that knows nothing: only the memo can answer now.
	r.mapper = meta.ToRESTMapperWithContext(meta.NewDefaultRESTMapper(nil))
	if got, err := r.resolveMapping(ctx, "pods"); err != nil || got != m {
		t.Fatalf("resolveMapping(pods) from the memo = %v, %v; want %v", got, err, m)
	}
	if _, ok := r.resolved.mapping("nope"); ok {
		t.Error("an unknown type was memoized")
	}
	r.lastRefresh = time.Time{} // not rate-limited
	if !r.refreshDiscovery(ctx) {
		t.Fatal("refreshDiscovery did not reset")
	}
	if _, err := r.resolveMapping(ctx, "pods"); err == nil {
		t.Error("resolveMapping(pods) after a discovery reset still answered from the memo")
	}

	r.resolved.putMapping("pods", m)
	r.resolved.putCategory("all", []categoryMember{{}})
	r.resolved.mu.Lock()
	r.resolved.valid(time.Now().Add(resolvedTTL + time.Second))
	n := len(r.resolved.mappings) + len(r.resolved.categories)
	r.resolved.mu.Unlock()
	if n != 0 {
		t.Errorf("%d entries left after resolvedTTL; want none", n)
	}
}
