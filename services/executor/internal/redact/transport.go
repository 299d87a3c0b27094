package redact

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strings"
)

// refusedMediaTypes are Kubernetes object encodings other than JSON: they
// can carry Secrets and cannot be redacted here, so responses in them fail.
var refusedMediaTypes = map[string]bool{
	"application/vnd.kubernetes.protobuf": true,
	"application/cbor":                    true,
	"application/cbor-seq":                true,
	"application/yaml":                    true,
}

// Wrap returns a RoundTripper that redacts the JSON responses of rt with
// r.JSON; a nil rt means http.DefaultTransport.
//
// Responses whose media type is application/json or ends in +json (any
// parameters, such as as=Table, allowed) are read in full, up to MaxBody,
// redacted and given a new body and ContentLength; the Content-Length
// header is dropped. The kind hint comes from the request path
// ([Redactor.HintForPath]). Empty bodies and responses of other media types
// (text/plain logs, OpenAPI documents) pass through untouched, except
// Kubernetes protobuf, CBOR and YAML, JSON watch streams and compressed
// bodies, which fail with [ErrUnredactable]. A watch request (watch=true, or
// a /watch/ path segment) fails with [ErrWatchDenied] before it is sent.
// Error responses are redacted like any other.
func (r *Redactor) Wrap(rt http.RoundTripper) http.RoundTripper {
	if rt == nil {
		rt = http.DefaultTransport
	}
	return &transport{r: r, next: rt}
}

// transport is the RoundTripper returned by Wrap.
type transport struct {
	r    *Redactor
	next http.RoundTripper
}

// WrappedRoundTripper returns the wrapped transport, for client-go's
// transport introspection helpers.
func (t *transport) WrappedRoundTripper() http.RoundTripper { return t.next }

// RoundTrip implements http.RoundTripper.
func (t *transport) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.URL != nil && isWatch(req.URL) {
		if req.Body != nil {
			_ = req.Body.Close() // RoundTrip must always close the body.
		}
		return nil, fmt.Errorf("%w: %s", ErrWatchDenied, req.URL.Path)
	}
	resp, err := t.next.RoundTrip(req)
	if err != nil {
		return resp, err
	}
	if err := t.redact(req, resp); err != nil {
		_ = resp.Body.Close()
		return nil, err
	}
	return resp, nil
}

// redact replaces resp's body with its redacted form, if it is JSON.
func (t *transport) redact(req *http.Request, resp *http.Response) error {
	ct := resp.Header.Get("Content-Type")
	if ct == "" || resp.Body == nil || resp.Body == http.NoBody {
		return nil
	}
	mt, params, err := mime.ParseMediaType(ct)
	if err != nil {
		return fmt.Errorf("%w: content type %q: %w", ErrUnredactable, ct, err)
	}
	if refusedMediaTypes[mt] {
		return fmt.Errorf("%w: content type %q", ErrUnredactable, ct)
	}
	if mt != "application/json" && !strings.HasSuffix(mt, "+json") {
		return nil
	}
	if _, ok := params["stream"]; ok {
		return fmt.Errorf("%w: streamed content type %q", ErrUnredactable, ct)
	}
	if ce := resp.Header.Get("Content-Encoding"); ce != "" && !strings.EqualFold(ce, "identity") {
		return fmt.Errorf("%w: content encoding %q", ErrUnredactable, ce)
	}
	if resp.ContentLength > t.r.maxBody {
		return fmt.Errorf("%w: Content-Length %d exceeds the %d-byte limit", ErrTooLarge, resp.ContentLength, t.r.maxBody)
	}
	body, err := readAll(io.LimitReader(resp.Body, t.r.maxBody+1), resp.ContentLength)
	if err != nil {
		return fmt.Errorf("redact: reading response body: %w", err)
	}
	if int64(len(body)) > t.r.maxBody {
		return fmt.Errorf("%w: body exceeds the %d-byte limit", ErrTooLarge, t.r.maxBody)
	}
	_ = resp.Body.Close()
	if len(body) > 0 {
		var hint Kind
		if req.URL != nil {
			hint = t.r.HintForPath(req.URL.Path)
		}
		out, _, err := t.r.JSON(body, hint)
		if err != nil {
			return fmt.Errorf("%s %s: %w", req.Method, pathOf(req), err)
		}
		body = out
	}
	resp.Body = io.NopCloser(bytes.NewReader(body))
	resp.ContentLength = int64(len(body))
	resp.Header.Del("Content-Length")
	return nil
}

// readAll is io.ReadAll with a size hint: a body of a known length,
// such as an answer with a Content-Length, is read into one buffer of
// that size instead of chunks that grow from 512 bytes and are copied
// together at the end.
func readAll(r io.Reader, size int64) ([]byte, error) {
	if size <= 0 || size >= 1<<30 {
		return io.ReadAll(r)
	}
	b := make([]byte, 0, int(size)+1) // room to see EOF without growing
	for {
		n, err := r.Read(b[len(b):cap(b)])
		b = b[:len(b)+n]
		if err != nil {
			if errors.Is(err, io.EOF) {
				err = nil
			}
			return b, err
		}
		if len(b) == cap(b) {
			b = append(b, 0)[:len(b)] // let append pick the next size
		}
	}
}

func pathOf(req *http.Request) string {
	if req.URL == nil {
		return ""
	}
	return req.URL.Path
}

// HintForPath returns the kind a Kubernetes API request path addresses, for
// the kinds r masks: core secrets and configmaps, and configured kinds under
// the guessed plural (lower(kind)+"s", or the English plural). It returns the
// zero Kind for any other path, and for subresources other than status. The
// path may carry a prefix before /api or /apis.
func (r *Redactor) HintForPath(path string) Kind {
	segs := strings.Split(strings.Trim(path, "/"), "/")
	for i, s := range segs {
		var group string
		var rest []string
		switch {
		case s == "api" && i+1 < len(segs):
			rest = segs[i+2:]
		case s == "apis" && i+2 < len(segs):
			group, rest = segs[i+1], segs[i+3:]
		default:
			continue
		}
		// [namespaces/<ns>/]<resource>[/<name>[/<subresource>]]
		if len(rest) > 2 && rest[0] == "namespaces" && rest[2] != "status" && rest[2] != "finalize" {
			rest = rest[2:]
		}
		if len(rest) == 0 || len(rest) > 3 || (len(rest) == 3 && rest[2] != "status") {
			continue
		}
		if k, ok := r.resources[groupResource{group, rest[0]}]; ok {
			return k
		}
	}
	return Kind{}
}

// isWatch reports whether u asks for a watch stream: a watch query parameter
// the API server reads as true, or a legacy /watch/ path segment.
func isWatch(u *url.URL) bool {
	if vs, ok := u.Query()["watch"]; ok && len(vs) > 0 {
		switch strings.ToLower(vs[0]) {
		case "0", "false", "no":
		default:
			return true
		}
	}
	for _, p := range []string{u.Path, u.EscapedPath()} {
		segs := strings.Split(strings.Trim(p, "/"), "/")
		for i, s := range segs {
			if (s == "api" && i+2 < len(segs) && segs[i+2] == "watch") ||
				(s == "apis" && i+3 < len(segs) && segs[i+3] == "watch") {
				return true
			}
		}
	}
	return false
}
