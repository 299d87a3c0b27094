package kubeexec

import (
	"context"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"

	"k8s.io/apimachinery/pkg/runtime/schema"

	"kubently.io/libs/policy"
	"kubently.io/services/executor/internal/redact"
)

// redaction holds the redactor for the policy profile in force. The
// Runner's HTTP transport reads it on every response; Run refreshes it
// from the profile before each command that may read objects, resolving the profile's
// redactedResources to kinds through discovery.
type redaction struct {
	cur atomic.Pointer[redactionEntry]

	mu sync.Mutex // serialises refreshes
}

// redactionEntry is one compiled redaction config.
type redactionEntry struct {
	profile  *policy.Profile
	complete bool // every redacted resource resolved to a kind
	red      *redact.Redactor
}

// transport returns the RoundTripper that redacts every response of next
// with the redactor in force.
func (x *redaction) transport(next http.RoundTripper) http.RoundTripper {
	return &redactingTransport{x: x, next: next}
}

type redactingTransport struct {
	x    *redaction
	next http.RoundTripper
}

// RoundTrip implements http.RoundTripper.
func (t *redactingTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	return t.x.cur.Load().red.Wrap(t.next).RoundTrip(req)
}

// WrappedRoundTripper lets client-go see through the wrapper.
func (t *redactingTransport) WrappedRoundTripper() http.RoundTripper { return t.next }

// newRedaction returns a redaction holding the default redactor: Secrets,
// and credentials in env values, container args and probe headers.
func newRedaction() (*redaction, error) {
	red, err := redact.New(redact.Config{})
	if err != nil {
		return nil, err
	}
	x := &redaction{}
	x.cur.Store(&redactionEntry{red: red, complete: true})
	return x, nil
}

// refreshRedaction makes the redactor follow the profile in force. It is
// cheap when nothing changed: one pointer comparison.
func (r *Runner) refreshRedaction(ctx context.Context) {
	if r.redaction == nil || r.mapper == nil {
		return // a Runner built without New (unit tests on fake clients)
	}
	prof := r.profile()
	if e := r.redaction.cur.Load(); e.profile == prof && e.complete {
		return
	}
	r.redaction.mu.Lock()
	defer r.redaction.mu.Unlock()
	if e := r.redaction.cur.Load(); e.profile == prof && e.complete {
		return
	}
	cfg := redact.Config{}
	complete := true
	for _, res := range prof.Redacted() {
		name, group, _ := strings.Cut(res, ".")
		gvk, err := r.mapper.KindForWithContext(ctx, schema.GroupVersionResource{Group: group, Resource: name})
		if err != nil {
			// Not served (yet): nothing of it can be read now.
			complete = false
			continue
		}
		cfg.Kinds = append(cfg.Kinds, redact.Kind{Group: gvk.Group, Kind: gvk.Kind})
	}
	if pat := prof.SensitiveEnv(); pat != "" {
		// The policy package validated it; a pattern that does not
		// compile adds no names.
		if env, err := regexp.Compile(pat); err == nil {
			cfg.SensitiveEnv = env
		}
	}
	for _, f := range prof.RedactFields() {
		cfg.Paths = append(cfg.Paths, redact.PathRule{Kind: redact.Kind{Group: f.Group, Kind: f.Kind}, Paths: f.Paths})
	}
	red, err := redact.New(cfg)
	if err != nil {
		return // keep the previous redactor
	}
	r.redaction.cur.Store(&redactionEntry{profile: prof, complete: complete, red: red})
}
