package readonly

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"k8s.io/client-go/rest"
)

var (
	// ErrWriteDenied is wrapped by the error a guarded transport returns for a
	// request that could change cluster state: a method other than GET, HEAD
	// or OPTIONS (except the two allowed review POSTs), a connection upgrade,
	// or the exec, attach, portforward or proxy subresources.
	ErrWriteDenied = errors.New("readonly: write denied")

	// ErrWatchDenied is wrapped by the error a guarded transport returns for
	// a request that would not end by itself: a watch or a followed log
	// stream.
	ErrWatchDenied = errors.New("readonly: watch denied")
)

// allowedPOSTs are the only non-read requests a guarded transport lets
// through, as paths relative to the API server's root. Both create
// short-lived review objects that the server evaluates and never stores.
var allowedPOSTs = []string{
	"/apis/authorization.k8s.io/v1/selfsubjectaccessreviews",
	"/apis/authorization.k8s.io/v1/selfsubjectrulesreviews",
}

// deniedSubresources run code in a container, open tunnels or reach
// arbitrary endpoints behind the API server, even over GET.
var deniedSubresources = map[string]bool{
	"exec":        true,
	"attach":      true,
	"portforward": true,
	"proxy":       true,
}

// namespaceSubresources are the subresources of a Namespace object itself;
// the API server uses the same list to tell /namespaces/x/status apart from
// /namespaces/x/<resource>.
var namespaceSubresources = map[string]bool{
	"status":   true,
	"finalize": true,
}

// Wrap returns a RoundTripper that passes read-only requests to rt and refuses
// every other request without sending it. The allowed review POSTs must be at
// the root of the server's URL; use [Guard] for servers behind a path prefix.
func Wrap(rt http.RoundTripper) http.RoundTripper {
	return wrap(rt, "")
}

// Guard returns a copy of cfg whose transport refuses every request that is
// not read-only (see the package documentation). cfg itself is not modified.
// The server's path prefix, if cfg.Host has one, is taken into account for the
// allowed review POSTs. Guard returns nil if cfg is nil.
func Guard(cfg *rest.Config) *rest.Config {
	if cfg == nil {
		return nil
	}
	out := rest.CopyConfig(cfg)
	prefix := hostPathPrefix(cfg.Host)
	out.Wrap(func(rt http.RoundTripper) http.RoundTripper {
		return wrap(rt, prefix)
	})
	return out
}

// hostPathPrefix returns the path part of a rest.Config Host, without a
// trailing slash, or "" when there is none or the host cannot be parsed.
func hostPathPrefix(host string) string {
	if host == "" {
		return ""
	}
	if !strings.Contains(host, "://") {
		host = "https://" + host
	}
	u, err := url.Parse(host)
	if err != nil {
		return ""
	}
	return strings.TrimRight(u.Path, "/")
}

func wrap(rt http.RoundTripper, prefix string) http.RoundTripper {
	if rt == nil {
		rt = http.DefaultTransport
	}
	if g, ok := rt.(*guard); ok && g.prefix == prefix {
		return g
	}
	allowed := make(map[string]bool, len(allowedPOSTs))
	for _, p := range allowedPOSTs {
		allowed[prefix+p] = true
	}
	return &guard{next: rt, prefix: prefix, allowedPOSTs: allowed}
}

// guard is the RoundTripper returned by Wrap and installed by Guard.
type guard struct {
	next         http.RoundTripper
	prefix       string
	allowedPOSTs map[string]bool
}

// RoundTrip implements http.RoundTripper.
func (g *guard) RoundTrip(req *http.Request) (*http.Response, error) {
	if err := g.check(req); err != nil {
		if req.Body != nil {
			_ = req.Body.Close() // RoundTrip must always close the body.
		}
		return nil, err
	}
	return g.next.RoundTrip(req)
}

// WrappedRoundTripper returns the wrapped transport, for client-go's
// transport introspection helpers.
func (g *guard) WrappedRoundTripper() http.RoundTripper { return g.next }

// check returns nil when req may be sent.
func (g *guard) check(req *http.Request) error {
	if req == nil || req.URL == nil {
		return fmt.Errorf("%w: request without URL", ErrWriteDenied)
	}
	method := req.Method
	if method == "" {
		method = http.MethodGet
	}
	path := req.URL.Path
	deny := func(sentinel error, why string) error {
		return fmt.Errorf("%w: %s %s: %s", sentinel, method, path, why)
	}

	if isUpgrade(req.Header) {
		return deny(ErrWriteDenied, "connection upgrades (exec, attach, port-forward) are not allowed")
	}

	switch method {
	case http.MethodGet, http.MethodHead, http.MethodOptions:
	case http.MethodPost:
		if !g.allowedPOSTs[path] || (req.URL.RawPath != "" && req.URL.RawPath != path) {
			return deny(ErrWriteDenied, "only GET, HEAD and OPTIONS are allowed")
		}
	default:
		return deny(ErrWriteDenied, "only GET, HEAD and OPTIONS are allowed")
	}

	q := req.URL.Query()
	if queryTrue(q, "watch") {
		return deny(ErrWatchDenied, "watch requests are not allowed")
	}
	if queryTrue(q, "follow") {
		return deny(ErrWatchDenied, "following a log stream is not allowed")
	}

	// Check the decoded and the escaped form of the path, so an escaped
	// slash cannot hide a segment from either the guard or the server.
	for _, p := range []string{path, req.URL.EscapedPath()} {
		if why := pathProblem(p); why != "" {
			sentinel := ErrWriteDenied
			if why == whyWatch {
				sentinel = ErrWatchDenied
			}
			return deny(sentinel, why)
		}
	}
	return nil
}

const (
	whyWatch       = "watch requests are not allowed"
	whySubresource = "the exec, attach, portforward and proxy subresources are not allowed"
)

// pathProblem inspects every position in p where an API root ("api/<v>" or
// "apis/<g>/<v>") could start, so that a path prefix in front of the API
// server cannot hide a watch or a denied subresource. It errs on the side of
// refusing: a namespace literally named "api" can cause a false refusal, never
// a false pass.
func pathProblem(p string) string {
	segs := strings.Split(strings.Trim(p, "/"), "/")
	for i, s := range segs {
		var rest []string
		switch s {
		case "api":
			if i+2 <= len(segs) {
				rest = segs[i+2:]
			}
		case "apis":
			if i+3 <= len(segs) {
				rest = segs[i+3:]
			}
		default:
			continue
		}
		if len(rest) == 0 {
			continue
		}
		if rest[0] == "watch" {
			return whyWatch
		}
		if rest[0] == "proxy" { // legacy /api/v1/proxy/...
			return whySubresource
		}
		parts := rest
		if len(parts) > 2 && parts[0] == "namespaces" && !namespaceSubresources[parts[2]] {
			parts = parts[2:]
		}
		if len(parts) >= 3 && deniedSubresources[parts[2]] {
			return whySubresource
		}
	}
	return ""
}

// queryTrue reports whether the API server would read the query parameter
// key as true: it takes the first value and treats anything other than "0",
// "false" or "no" as true.
func queryTrue(q url.Values, key string) bool {
	vs, ok := q[key]
	if !ok || len(vs) == 0 {
		return false
	}
	switch v := strings.ToLower(vs[0]); v {
	case "0", "false", "no":
		return false
	default:
		return true
	}
}

// isUpgrade reports whether h asks for a protocol switch (WebSocket, SPDY).
func isUpgrade(h http.Header) bool {
	if h.Get("Upgrade") != "" {
		return true
	}
	for _, v := range h.Values("Connection") {
		for _, tok := range strings.Split(v, ",") {
			if strings.EqualFold(strings.TrimSpace(tok), "upgrade") {
				return true
			}
		}
	}
	return false
}
