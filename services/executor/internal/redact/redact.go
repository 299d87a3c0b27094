package redact

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strings"
)

var (
	// ErrInvalidConfig is wrapped by the error [New] returns for a Config it
	// cannot use.
	ErrInvalidConfig = errors.New("redact: invalid config")

	// ErrMalformed is wrapped by the error returned for a body that claims to
	// be JSON but is not a single well-formed JSON document.
	ErrMalformed = errors.New("redact: malformed JSON")

	// ErrTooLarge is wrapped by the error returned for a body longer than
	// Config.MaxBody.
	ErrTooLarge = errors.New("redact: body too large")

	// ErrUnredactable is wrapped by the error a wrapped transport returns for
	// a response it cannot inspect: a Kubernetes protobuf, CBOR or YAML body,
	// a watch stream, or a compressed body.
	ErrUnredactable = errors.New("redact: response cannot be redacted")

	// ErrWatchDenied is wrapped by the error a wrapped transport returns,
	// without sending the request, for a watch request.
	ErrWatchDenied = errors.New("redact: watch denied")
)

const (
	// Mask replaces masked string values (Secret stringData, ConfigMap data,
	// env values).
	Mask = "REDACTED"

	// AnnotationRedacted is set to "true" in metadata.annotations of every
	// object in which something was masked.
	AnnotationRedacted = "kubently.io/redacted"

	// DefaultSensitiveEnvPattern is the pattern used when
	// Config.SensitiveEnv is nil: a case-insensitive substring match on the
	// environment variable's name.
	DefaultSensitiveEnvPattern = `(?i)PASSWORD|PASSWD|SECRET|TOKEN|API_KEY|APIKEY|PRIVATE_KEY|ACCESS_KEY|CREDENTIAL|AUTH`

	// DefaultMaxBody is the body limit used when Config.MaxBody is zero.
	DefaultMaxBody = 64 << 20

	// lastAppliedKey is the annotation kubectl apply stores the applied
	// manifest in.
	lastAppliedKey = "kubectl.kubernetes.io/last-applied-configuration"
)

// maskBase64 replaces masked values of []byte fields (Secret data,
// ConfigMap binaryData): it must stay valid base64 so that typed decoding
// into corev1.Secret still works.
var maskBase64 = base64.StdEncoding.EncodeToString([]byte(Mask))

// Kind names an object kind by API group and kind, like
// schema.GroupKind. The core group is "".
type Kind struct {
	// Group is the API group; "" is the core group (apiVersion "v1").
	Group string
	// Kind is the object kind, e.g. "Secret". It must not be empty.
	Kind string
}

// String returns k as "Kind" for the core group and "Kind.group" otherwise,
// the way kubectl names a GroupKind.
func (k Kind) String() string {
	if k.Group == "" {
		return k.Kind
	}
	return k.Kind + "." + k.Group
}

// secretKind is core Secret; it is always redacted.
var secretKind = Kind{Kind: "Secret"}

// configMapKind is core ConfigMap; it is redacted only when configured.
var configMapKind = Kind{Kind: "ConfigMap"}

// tableGroup is the API group of the server-side Table kind.
const tableGroup = "meta.k8s.io"

// Config configures a [Redactor]. The zero value masks core Secrets,
// sensitive env values and last-applied annotations, with a 64 MiB limit.
type Config struct {
	// Kinds lists the kinds whose values are masked. Core Secret is always
	// included, whether listed or not. Secret masks data (base64) and
	// stringData; ConfigMap masks data and binaryData (base64); any other kind
	// masks the values of its top-level data, stringData and binaryData
	// (base64) maps. Nil means core Secret only.
	Kinds []Kind

	// SensitiveEnv matches container environment variable names whose
	// literal value is masked, anywhere in a document (pods, pod templates,
	// last-applied annotations, Table rows). It is matched unanchored, so a
	// plain pattern is a substring match. Nil means
	// [DefaultSensitiveEnvPattern].
	SensitiveEnv *regexp.Regexp

	// MaxBody bounds the bytes of one response body buffered for redaction;
	// a longer body is refused with [ErrTooLarge]. Zero means
	// [DefaultMaxBody]; negative values are invalid.
	MaxBody int64
}

// rule says which top-level fields of a kind hold values, and the mask each
// field's values are replaced with.
type rule map[string]string

var (
	secretRule    = rule{"data": maskBase64, "stringData": Mask}
	configMapRule = rule{"data": Mask, "binaryData": maskBase64}
	genericRule   = rule{"data": Mask, "stringData": Mask, "binaryData": maskBase64}
)

// groupResource keys the URL-hint table.
type groupResource struct{ group, resource string }

// Redactor masks sensitive values in Kubernetes API JSON documents. It is
// immutable once built and safe for concurrent use.
type Redactor struct {
	rules     map[Kind]rule          // kinds whose values are masked
	resources map[groupResource]Kind // URL resource → kind, for hints
	markers   [][]byte               // fast path: a document without any of these has nothing to mask
	env       *regexp.Regexp
	maxBody   int64
}

// New returns a Redactor for cfg. It fails with [ErrInvalidConfig] for a
// Kind without a kind name or a negative MaxBody.
func New(cfg Config) (*Redactor, error) {
	if cfg.MaxBody < 0 {
		return nil, fmt.Errorf("%w: MaxBody %d is negative", ErrInvalidConfig, cfg.MaxBody)
	}
	r := &Redactor{
		rules:     map[Kind]rule{secretKind: secretRule},
		resources: map[groupResource]Kind{{"", "secrets"}: secretKind},
		env:       cfg.SensitiveEnv,
		maxBody:   cfg.MaxBody,
	}
	if r.env == nil {
		r.env = regexp.MustCompile(DefaultSensitiveEnvPattern)
	}
	if r.maxBody == 0 {
		r.maxBody = DefaultMaxBody
	}
	for _, k := range cfg.Kinds {
		if k.Kind == "" || strings.TrimSpace(k.Kind) != k.Kind {
			return nil, fmt.Errorf("%w: kind %q in group %q", ErrInvalidConfig, k.Kind, k.Group)
		}
		switch k {
		case secretKind:
			continue
		case configMapKind:
			r.rules[k] = configMapRule
		default:
			r.rules[k] = genericRule
		}
		for _, res := range plurals(k.Kind) {
			r.resources[groupResource{k.Group, res}] = k
		}
	}
	r.markers = [][]byte{
		[]byte(`"env"`),
		[]byte("last-applied-configuration"),
	}
	for k := range r.rules {
		r.markers = append(r.markers, []byte(k.Kind)) // also matches <Kind>List
	}
	return r, nil
}

// plurals returns the resource names a kind is guessed to be served under:
// lower(kind)+"s" and, where English differs, the usual plural
// ("NetworkPolicy" → "networkpolicies"). A CRD with an irregular plural is
// still masked by its kind field; only the URL hint misses it.
func plurals(kind string) []string {
	l := strings.ToLower(kind)
	out := []string{l + "s"}
	switch {
	case strings.HasSuffix(l, "y") && len(l) > 1 && !strings.ContainsRune("aeiou", rune(l[len(l)-2])):
		out = append(out, l[:len(l)-1]+"ies")
	case strings.HasSuffix(l, "s"), strings.HasSuffix(l, "x"), strings.HasSuffix(l, "z"),
		strings.HasSuffix(l, "ch"), strings.HasSuffix(l, "sh"):
		out = append(out, l+"es")
	}
	return out
}

// JSON redacts one JSON document: a single object, a typed list (whose
// items may lack a kind: SecretList items are Secrets), a v1 List, or a
// meta.k8s.io Table whose rows carry full objects or PartialObjectMetadata.
// hint is the kind implied by the request (see [Redactor.HintForPath]); it is
// used for a top-level object, list items and Table row objects that carry
// no kind of their own. The zero Kind means no hint.
//
// JSON returns the redacted document and whether anything changed. When
// nothing changed it returns body itself. A body that is not exactly one
// well-formed JSON document fails with [ErrMalformed]; one longer than
// MaxBody fails with [ErrTooLarge]. A changed document is re-encoded as a
// whole, compactly and with object keys sorted.
func (r *Redactor) JSON(body []byte, hint Kind) ([]byte, bool, error) {
	if int64(len(body)) > r.maxBody {
		return nil, false, fmt.Errorf("%w: %d bytes exceeds the %d-byte limit", ErrTooLarge, len(body), r.maxBody)
	}
	return r.redact(body, hint, true)
}

// redact is JSON without the size check; annotate is false for documents
// nested in a last-applied annotation, whose enclosing object gets the
// annotation instead.
func (r *Redactor) redact(body []byte, hint Kind, annotate bool) ([]byte, bool, error) {
	if !r.mayNeedMasking(body, hint) {
		// Nothing here could be masked, valid JSON or not: the client's
		// decoder rejects a malformed body, so it needs no second parse.
		return body, false, nil
	}
	doc, err := decode(body)
	if err != nil {
		return nil, false, err
	}
	w := walker{r: r, hint: hint, annotate: annotate}
	if top, ok := doc.(map[string]any); ok {
		w.object(top, hint, true)
	} else {
		w.node(doc) // a bare array or scalar: no object to annotate
	}
	if !w.changed {
		return body, false, nil
	}
	out, err := encode(doc)
	if err != nil {
		return nil, false, err
	}
	return out, true, nil
}

// mayNeedMasking is the fast path: it reports whether body could contain
// anything to mask. It errs towards true.
func (r *Redactor) mayNeedMasking(body []byte, hint Kind) bool {
	if _, ok := r.rules[hint]; ok {
		return true
	}
	for _, m := range r.markers {
		if bytes.Contains(body, m) {
			return true
		}
	}
	return hasMarkerEscape(body)
}

// hasMarkerEscape reports whether body has a \u escape that could spell
// part of a marker: an ASCII letter, digit, '-' or '"' (Secr\u0065t).
// The API server escapes <, > and & as \u003c, \u003e and \u0026 in
// ordinary documents (Table column descriptions), and those cannot, so
// they keep the fast path.
func hasMarkerEscape(body []byte) bool {
	for i := 0; ; {
		j := bytes.Index(body[i:], []byte(`\u`))
		if j < 0 {
			return false
		}
		i += j + 2
		if i+4 > len(body) {
			return true // truncated escape: let the decoder judge
		}
		var cp rune
		for _, h := range body[i : i+4] {
			var v byte
			switch {
			case h >= '0' && h <= '9':
				v = h - '0'
			case h >= 'a' && h <= 'f':
				v = h - 'a' + 10
			case h >= 'A' && h <= 'F':
				v = h - 'A' + 10
			default:
				return true // malformed: let the decoder judge
			}
			cp = cp<<4 | rune(v)
		}
		if cp < 0x80 && (cp >= 'a' && cp <= 'z' || cp >= 'A' && cp <= 'Z' || cp >= '0' && cp <= '9' || cp == '-' || cp == '"') {
			return true
		}
	}
}

func decode(body []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var doc any
	if err := dec.Decode(&doc); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("%w: data after the document", ErrMalformed)
	}
	return doc, nil
}

func encode(doc any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(doc); err != nil {
		// Cannot happen for decoded documents; fail closed anyway.
		return nil, fmt.Errorf("%w: re-encoding: %w", ErrMalformed, err)
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

// walker carries the state of one redaction.
type walker struct {
	r        *Redactor
	hint     Kind
	annotate bool
	changed  bool
	// envNames caches SensitiveEnv matches: the same few names repeat in
	// every pod of a list.
	envNames map[string]bool
}

// sensitiveEnv reports whether name matches Config.SensitiveEnv.
func (w *walker) sensitiveEnv(name string) bool {
	if m, ok := w.envNames[name]; ok {
		return m
	}
	if w.envNames == nil {
		w.envNames = make(map[string]bool)
	}
	m := w.r.env.MatchString(name)
	if len(w.envNames) < 1024 {
		w.envNames[name] = m
	}
	return m
}

// object redacts m, an object whose kind is taken from its own kind field
// or else inherit. top is true for the document itself.
func (w *walker) object(m map[string]any, inherit Kind, top bool) {
	w.visitMap(m, inherit, true, top)
}

// node walks any JSON value and reports whether something was masked that no
// enclosing object has been annotated for yet.
func (w *walker) node(v any) bool {
	switch t := v.(type) {
	case map[string]any:
		return w.visitMap(t, Kind{}, false, false)
	case []any:
		masked := false
		for _, e := range t {
			if w.node(e) {
				masked = true
			}
		}
		return masked
	}
	return false
}

// visitMap applies every rule to m and its children. inherit is m's kind
// when m has no kind field; top is true for the document itself. m is an
// object, which gets AnnotationRedacted when something inside it (and not
// inside a nested object) was masked, when object is true or m has a kind
// field. visitMap reports masking that is not yet annotated.
func (w *walker) visitMap(m map[string]any, inherit Kind, object, top bool) bool {
	k, own := kindOf(m)
	if !own {
		k = inherit
	}
	object = object || own
	masked := false
	if rl, ok := w.r.rules[k]; ok && w.maskFields(m, rl) {
		masked = true
	}
	if w.lastApplied(m, k) {
		masked = true
	}
	listItems := Kind{}
	isList := false
	switch {
	case own && k.Kind == "List":
		isList, listItems = true, w.hint
	case own && strings.HasSuffix(k.Kind, "List") && len(k.Kind) > len("List"):
		isList, listItems = true, Kind{Group: k.Group, Kind: strings.TrimSuffix(k.Kind, "List")}
	case !own && top: // a list without a kind: its items default to the hint
		isList, listItems = true, w.hint
	}
	isTable := own && k.Kind == "Table" && (k.Group == tableGroup || k.Group == "")

	for key, v := range m {
		switch {
		case key == "env":
			if arr, ok := v.([]any); ok && w.env(arr) {
				masked = true
			}
			if w.node(v) {
				masked = true
			}
		case key == "items" && isList:
			if arr, ok := v.([]any); ok {
				for _, e := range arr {
					if item, ok := e.(map[string]any); ok {
						w.object(item, listItems, false)
					} else if w.node(e) {
						masked = true
					}
				}
				continue
			}
			if w.node(v) {
				masked = true
			}
		case key == "rows" && isTable:
			if arr, ok := v.([]any); ok {
				for _, e := range arr {
					if w.row(e) {
						masked = true
					}
				}
				continue
			}
			if w.node(v) {
				masked = true
			}
		default:
			if w.node(v) {
				masked = true
			}
		}
	}
	if masked && object {
		if w.annotate {
			w.markRedacted(m)
		}
		return false
	}
	return masked
}

// row walks one Table row: its object, full or PartialObjectMetadata, is an
// object of its own and defaults to the request's kind.
func (w *walker) row(e any) bool {
	row, ok := e.(map[string]any)
	if !ok {
		return w.node(e)
	}
	masked := false
	for key, v := range row {
		if obj, ok := v.(map[string]any); ok && key == "object" {
			w.object(obj, w.hint, false)
			continue
		}
		if w.node(v) {
			masked = true
		}
	}
	return masked
}

// kindOf returns the kind named by m's kind and apiVersion fields; ok is
// false when m has no string kind. A missing or non-string apiVersion counts
// as the core group, so that a kind "Secret" without one is still masked.
func kindOf(m map[string]any) (Kind, bool) {
	kind, ok := m["kind"].(string)
	if !ok {
		return Kind{}, false
	}
	k := Kind{Kind: kind}
	if av, ok := m["apiVersion"].(string); ok {
		if g, _, found := strings.Cut(av, "/"); found {
			k.Group = g
		}
	}
	return k, true
}

// maskFields masks the values of the fields named by rl.
func (w *walker) maskFields(m map[string]any, rl rule) bool {
	masked := false
	for field, mask := range rl {
		v, ok := m[field]
		if !ok || v == nil {
			continue
		}
		vals, ok := v.(map[string]any)
		if !ok {
			// Not a map of values: the whole field could be a value.
			if s, ok := v.(string); !ok || s != mask {
				m[field] = mask
				masked = true
			}
			continue
		}
		for key, val := range vals {
			if val == nil {
				continue
			}
			if s, ok := val.(string); ok && s == mask {
				continue
			}
			vals[key] = mask
			masked = true
		}
	}
	if masked {
		w.changed = true
	}
	return masked
}

// env masks the literal values of sensitive entries in a container env list.
func (w *walker) env(arr []any) bool {
	masked := false
	for _, e := range arr {
		ev, ok := e.(map[string]any)
		if !ok {
			continue
		}
		name, ok := ev["name"].(string)
		if !ok || !w.sensitiveEnv(name) {
			continue
		}
		v, ok := ev["value"]
		if !ok || v == nil {
			continue
		}
		if s, ok := v.(string); ok && s == Mask {
			continue
		}
		ev["value"] = Mask
		masked = true
	}
	if masked {
		w.changed = true
	}
	return masked
}

// lastApplied redacts the document held in m's last-applied annotation;
// kind is m's kind, the hint for a document without one. An annotation that
// does not hold a JSON document is replaced with Mask.
func (w *walker) lastApplied(m map[string]any, kind Kind) bool {
	md, ok := m["metadata"].(map[string]any)
	if !ok {
		return false
	}
	ann, ok := md["annotations"].(map[string]any)
	if !ok {
		return false
	}
	v, ok := ann[lastAppliedKey]
	if !ok || v == nil {
		return false
	}
	s, ok := v.(string)
	if !ok {
		ann[lastAppliedKey] = Mask
		w.changed = true
		return true
	}
	body := []byte(s)
	out, changed, err := w.r.redact(body, kind, false)
	switch {
	case err != nil:
		if s == Mask {
			return false
		}
		ann[lastAppliedKey] = Mask
	case !changed:
		return false
	default:
		if strings.HasSuffix(s, "\n") { // kubectl apply writes a trailing newline
			out = append(out, '\n')
		}
		ann[lastAppliedKey] = string(out)
	}
	w.changed = true
	return true
}

// markRedacted sets AnnotationRedacted on m, creating metadata and
// annotations when absent. Metadata or annotations of the wrong type are
// left alone: the annotation is informational.
func (w *walker) markRedacted(m map[string]any) {
	md, ok := m["metadata"].(map[string]any)
	if !ok {
		if m["metadata"] != nil {
			return
		}
		md = map[string]any{}
		m["metadata"] = md
	}
	ann, ok := md["annotations"].(map[string]any)
	if !ok {
		if md["annotations"] != nil {
			return
		}
		ann = map[string]any{}
		md["annotations"] = ann
	}
	ann[AnnotationRedacted] = "true"
	w.changed = true
}
