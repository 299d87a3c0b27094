// Package readonly enforces, at the HTTP transport, that the executor only
// ever reads from the Kubernetes API server.
//
// It is the executor's second line of defence: the command policy decides
// which kubectl-style commands may run, and this package makes sure that no
// bug in command handling, client-go or a kubectl library can turn a read
// into a write, a never-ending stream or an interactive session.
//
// A guarded transport lets a request through only when all of these hold:
//
//   - The method is GET, HEAD or OPTIONS, or the request is a POST to one of
//     the two read-only review endpoints ("kubectl auth can-i" needs them):
//     /apis/authorization.k8s.io/v1/selfsubjectaccessreviews and
//     /apis/authorization.k8s.io/v1/selfsubjectrulesreviews.
//   - It is not a watch (a watch=true query or a /watch/ path segment) and
//     not a followed log stream (follow=true): a command must end.
//   - It does not ask for a connection upgrade (WebSocket or SPDY) and does not
//     address the exec, attach, portforward or proxy subresources, which run
//     code or open tunnels even over GET.
//
// Refused requests never reach the wrapped transport; they fail with an error
// that wraps [ErrWriteDenied] or [ErrWatchDenied].
//
// # Usage
//
// Guard a rest.Config before building any client from it:
//
//	cfg = readonly.Guard(cfg)
//	cs, err := kubernetes.NewForConfig(cfg)
//
// or wrap a bare transport:
//
//	client := &http.Client{Transport: readonly.Wrap(http.DefaultTransport)}
//
// # Concurrency
//
// The returned RoundTrippers hold no mutable state and are safe for
// concurrent use whenever the wrapped RoundTripper is.
package readonly
