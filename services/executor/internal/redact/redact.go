package redact

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"regexp"
	"slices"
	"strings"

	"kubently.io/libs/policy/sensitive"
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

// key returns k as the redactor compares kinds: the kind lower-cased and
// the core group spelled "" (apiVersion "core/v1" names it too), so that
// a hand-written last-applied document with "kind: secret" or
// "apiVersion: core/v1" is still a Secret.
func (k Kind) key() Kind {
	g := strings.ToLower(k.Group)
	if g == "core" {
		g = ""
	}
	return Kind{Group: g, Kind: strings.ToLower(k.Kind)}
}

// secretAnnotationsKept are the Secret annotations whose values are not
// masked: they name things and hold no secret.
var secretAnnotationsKept = map[string]bool{
	"kubernetes.io/service-account.name": true,
	"kubernetes.io/service-account.uid":  true,
	"meta.helm.sh/release-name":          true,
	"meta.helm.sh/release-namespace":     true,
	AnnotationRedacted:                   true,
	lastAppliedKey:                       true, // redacted as a document
}

// tableGroup is the API group of the server-side Table kind.
const tableGroup = "meta.k8s.io"

// Config configures a [Redactor]. The zero value masks core Secrets,
// credentials in env values, container args and commands and probe
// headers, and last-applied annotations, with a 64 MiB limit.
type Config struct {
	// Kinds lists the kinds whose values are masked. Core Secret is always
	// included, whether listed or not. Secret masks data (base64) and
	// stringData; ConfigMap masks data and binaryData (base64); any other kind
	// masks the values of its top-level data, stringData and binaryData
	// (base64) maps. Nil means core Secret only.
	Kinds []Kind

	// SensitiveEnv matches further container environment variable names
	// whose literal value is masked whole, anywhere in a document, on top
	// of what package sensitive judges by name and value. It is matched
	// unanchored. Nil adds none.
	SensitiveEnv *regexp.Regexp

	// Paths lists, per kind, fields whose values are masked wherever an
	// object of the kind is read (a CRD's spec.password). See [PathRule].
	Paths []PathRule

	// MaxBody bounds the bytes of one response body buffered for redaction;
	// a longer body is refused with [ErrTooLarge]. Zero means
	// [DefaultMaxBody]; negative values are invalid.
	MaxBody int64
}

// PathRule masks fields of one kind. A path is field names separated by
// dots ("spec.auth.password"); "*" stands for every key of an object or
// every element of an array, and a name applied to an array applies to
// each element ("spec.users.password" for a list of users). The value a
// path reaches is masked whole: a string becomes "REDACTED", and every
// scalar inside an object or array too, so the shape stays. A leading "*"
// never reaches the object's identity (apiVersion, kind, metadata): those
// are named explicitly when they must be masked ("metadata.annotations.x").
type PathRule struct {
	// Kind is the kind the paths apply to, matched case-insensitively.
	Kind Kind
	// Paths are the dotted field paths; each must be non-empty.
	Paths []string
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
	rules     map[Kind]rule          // by Kind.key(): kinds whose values are masked
	paths     map[Kind][][]string    // by Kind.key(): field paths, split
	resources map[groupResource]Kind // URL resource → kind, for hints
	markers   [][]byte               // fast path: a document without any of these has nothing to mask
	foldMarks [][]byte               // fast path, matched case-insensitively: kinds named in Paths
	// nestedFold are the names of every masked kind and every kind named
	// in Paths, matched case-insensitively in last-applied documents,
	// whose kinds are spelled by hand (see lastAppliedClean).
	nestedFold [][]byte
	env        *regexp.Regexp // nil: none beyond package sensitive
	maxBody    int64
}

// New returns a Redactor for cfg. It fails with [ErrInvalidConfig] for a
// Kind without a kind name or a negative MaxBody.
func New(cfg Config) (*Redactor, error) {
	if cfg.MaxBody < 0 {
		return nil, fmt.Errorf("%w: MaxBody %d is negative", ErrInvalidConfig, cfg.MaxBody)
	}
	r := &Redactor{
		rules:     map[Kind]rule{secretKind.key(): secretRule},
		paths:     map[Kind][][]string{},
		resources: map[groupResource]Kind{{"", "secrets"}: secretKind},
		env:       cfg.SensitiveEnv,
		maxBody:   cfg.MaxBody,
	}
	if r.maxBody == 0 {
		r.maxBody = DefaultMaxBody
	}
	for _, k := range cfg.Kinds {
		if k.Kind == "" || strings.TrimSpace(k.Kind) != k.Kind {
			return nil, fmt.Errorf("%w: kind %q in group %q", ErrInvalidConfig, k.Kind, k.Group)
		}
		switch k.key() {
		case secretKind.key():
			continue
		case configMapKind.key():
			r.rules[k.key()] = configMapRule
		default:
			r.rules[k.key()] = genericRule
		}
		for _, res := range plurals(k.Kind) {
			r.resources[groupResource{k.Group, res}] = k
		}
	}
	kindNames := []string{secretKind.Kind}
	for _, k := range cfg.Kinds {
		kindNames = append(kindNames, k.Kind)
	}
	for i, pr := range cfg.Paths {
		if pr.Kind.Kind == "" || strings.TrimSpace(pr.Kind.Kind) != pr.Kind.Kind || len(pr.Paths) == 0 {
			return nil, fmt.Errorf("%w: paths[%d]: kind %q in group %q with %d paths", ErrInvalidConfig, i, pr.Kind.Kind, pr.Kind.Group, len(pr.Paths))
		}
		for _, p := range pr.Paths {
			segs := strings.Split(p, ".")
			if slices.Contains(segs, "") {
				return nil, fmt.Errorf("%w: paths[%d]: path %q has an empty field", ErrInvalidConfig, i, p)
			}
			r.paths[pr.Kind.key()] = append(r.paths[pr.Kind.key()], segs)
		}
		r.foldMarks = append(r.foldMarks, []byte(pr.Kind.Kind))
	}
	// An object's kind is spelled exactly by the API server; a document
	// spelled by hand sits in a last-applied annotation, which the
	// lastAppliedMarker screens and lastAppliedClean checks.
	r.markers = [][]byte{[]byte(`"env"`)}
	for _, k := range kindNames {
		r.markers = append(r.markers, []byte(k)) // also matches <Kind>List
		r.nestedFold = append(r.nestedFold, []byte(k))
	}
	r.nestedFold = append(r.nestedFold, r.foldMarks...)
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
// annotation instead, and which skip the fast path: their kinds are
// spelled by hand.
func (r *Redactor) redact(body []byte, hint Kind, annotate bool) ([]byte, bool, error) {
	if annotate {
		switch r.screen(body, hint) {
		case screenClean:
			// Nothing here could be masked, valid JSON or not: the
			// client's decoder rejects a malformed body, so it needs no
			// second parse.
			return body, false, nil
		case screenLastApplied:
			if r.lastAppliedClean(body) {
				return body, false, nil
			}
		}
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

// Verdicts of the fast path's screen.
const (
	// screenFull: the document may hold something to mask; it is parsed
	// and walked.
	screenFull = iota
	// screenClean: nothing in the document can be masked.
	screenClean
	// screenLastApplied: only last-applied annotations may hold
	// something to mask; lastAppliedClean looks at them alone.
	screenLastApplied
)

// lastAppliedMarker is the part of the last-applied annotation's key the
// screen looks for. It holds no character a JSON string may escape other
// than by \u, which hasMarkerEscape catches.
var lastAppliedMarker = []byte("last-applied-configuration")

// screen is the fast path: it tells whether body could contain anything to
// mask, and whether only in last-applied annotations. It errs towards
// screenFull.
func (r *Redactor) screen(body []byte, hint Kind) int {
	if r.mayNeedMasking(body, hint) {
		return screenFull
	}
	if bytes.Contains(body, lastAppliedMarker) {
		return screenLastApplied
	}
	return screenClean
}

// mayNeedMasking reports whether body could contain anything to mask
// outside last-applied annotations: the document under the API server's
// spelling of kinds. It errs towards true.
func (r *Redactor) mayNeedMasking(body []byte, hint Kind) bool {
	if _, ok := r.rules[hint.key()]; ok {
		return true
	}
	if _, ok := r.paths[hint.key()]; ok {
		return true
	}
	for _, m := range r.markers {
		if bytes.Contains(body, m) {
			return true
		}
	}
	// Container args, commands and probe headers only occur in a pod
	// spec, which always has "containers" (initContainers and
	// ephemeralContainers come with it). A marker that starts with a
	// frequent byte such as '"' makes bytes.Contains fall back to a slower
	// scan, so the letter-led form is looked for first; the quoted form
	// then tells the key from managedFields' "f:containers".
	if bytes.Contains(body, containersLoose) && bytes.Contains(body, containersKey) {
		return true
	}
	for _, m := range r.foldMarks {
		if containsFold(body, m) {
			return true
		}
	}
	return hasMarkerEscape(body)
}

// lastAppliedClean reports whether every last-applied annotation in body
// holds a document the redactor leaves as it is, for a body the screen
// found nothing else in. It errs towards false, which sends body down the
// full walk. A document nestedClean cannot pass is redacted on its own,
// as the walk would redact it: parsing one annotation costs far less
// than parsing the whole answer.
//
// Every key that is the annotation's, in any object, shows in body as a
// string ending in lastAppliedMarker: the screen found no \u escape of a
// letter, digit, '-' or '"' that could spell it otherwise. So each
// occurrence of the marker that ends a string followed by a colon ends an
// object key; lastAppliedClean reads that key whole (it may escape '.' or
// '/'), and when it is the annotation's, its value must be a string that
// nestedClean passes. Other keys ending in the marker (managedFields'
// "f:kubectl.kubernetes.io/last-applied-configuration") are not the
// annotation, and an occurrence inside a string value is none of the
// walk's business; the scan goes on after each, so an annotation inside
// an annotation's document is still seen. The objects that hold the
// annotations are not masked kinds (the screen found none, as the API
// server spells kinds), so a document without a kind of its own inherits
// none to mask.
func (r *Redactor) lastAppliedClean(body []byte) bool {
	for off := 0; ; {
		i := bytes.Index(body[off:], lastAppliedMarker)
		if i < 0 {
			return true
		}
		end := off + i + len(lastAppliedMarker) // the closing quote, if a key
		off = end
		j := skipSpace(body, end+1)
		if end >= len(body) || body[end] != '"' || j >= len(body) || body[j] != ':' {
			continue // not the end of a key
		}
		start := openingQuote(body, off-len(lastAppliedMarker))
		if start < 0 {
			return false
		}
		if key := body[start : end+1]; !bytes.Equal(key, lastAppliedQuoted) {
			var k string
			if bytes.IndexByte(key, '\\') < 0 {
				continue // spelled out: another key
			}
			if err := json.Unmarshal(key, &k); err != nil {
				return false
			}
			if k != lastAppliedKey {
				continue
			}
		}
		quoted, n := stringAt(body, skipSpace(body, j+1))
		if n == 0 {
			return false
		}
		doc, ok := unquoteASCII(quoted)
		if ok && r.nestedClean(doc) {
			continue
		}
		if !ok {
			var s string
			if err := json.Unmarshal(quoted, &s); err != nil {
				return false
			}
			doc = []byte(s)
		}
		// The walk would redact this document with its object's kind as
		// the hint; that kind is not masked, and the walk treats every
		// such kind alike, so the zero Kind gives the same answer.
		if _, changed, err := r.redact(doc, Kind{}, false); err != nil || changed {
			return false
		}
	}
}

// unquoteASCII decodes a JSON string literal whose content is ASCII and
// uses no \u escape, as kubectl writes the last-applied annotation. ok is
// false for any other literal (nestedClean would refuse a non-ASCII
// document anyway, and a \u escape needs the full decoder).
func unquoteASCII(quoted []byte) ([]byte, bool) {
	if len(quoted) < 2 || quoted[0] != '"' || quoted[len(quoted)-1] != '"' {
		return nil, false
	}
	in := quoted[1 : len(quoted)-1]
	out := make([]byte, 0, len(in))
	for i := 0; i < len(in); i++ {
		c := in[i]
		switch {
		case c == '"' || c < 0x20 || c >= 0x80:
			return nil, false
		case c != '\\':
			out = append(out, c)
			continue
		}
		if i++; i == len(in) {
			return nil, false
		}
		switch in[i] {
		case '"', '\\', '/':
			out = append(out, in[i])
		case 'b':
			out = append(out, '\b')
		case 'f':
			out = append(out, '\f')
		case 'n':
			out = append(out, '\n')
		case 'r':
			out = append(out, '\r')
		case 't':
			out = append(out, '\t')
		default:
			return nil, false
		}
	}
	return out, true
}

// lastAppliedQuoted is the last-applied annotation's key as a JSON string.
var lastAppliedQuoted = []byte(`"` + lastAppliedKey + `"`)

// openingQuote returns the index of the quote that opens the JSON string
// holding b[i], scanning back: the first quote not escaped by an odd run
// of backslashes. It returns -1 when there is none.
func openingQuote(b []byte, i int) int {
	for i--; i >= 0; i-- {
		if b[i] != '"' {
			continue
		}
		n := 0
		for k := i - 1; k >= 0 && b[k] == '\\'; k-- {
			n++
		}
		if n%2 == 0 {
			return i
		}
	}
	return -1
}

// stringAt reads the JSON string that starts at b[i]. It returns the
// quoted string and the index after it, or 0 when no string starts there.
func stringAt(b []byte, i int) ([]byte, int) {
	if i >= len(b) || b[i] != '"' {
		return nil, 0
	}
	for j := i + 1; j < len(b); j++ {
		switch c := b[j]; {
		case c == '\\':
			j++ // the escaped character; json.Unmarshal checks the escape
		case c == '"':
			return b[i : j+1], j + 1
		case c < 0x20:
			return nil, 0
		}
	}
	return nil, 0
}

// skipSpace returns the index of the first byte of b at or after i that is
// not JSON whitespace.
func skipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

// Markers of what redact masks in a last-applied document besides masked
// kinds: its keys are spelled by hand, and the walk masks command lines
// and headers wherever they are, not only in a pod spec.
var nestedMarkers = [][]byte{[]byte(`"env"`), []byte(`"args"`), []byte(`"command"`), []byte(`"httpHeaders"`), lastAppliedMarker}

// nestedClean reports whether redact leaves doc, the document of a
// last-applied annotation, as it is. It errs towards false: doc must be
// valid JSON (a broken one is masked whole), all ASCII (Unicode case
// folding could spell a kind, as the Kelvin sign does a k), without a \u
// escape that could spell a marker, without any key nestedMarkers names
// and without any masked kind's name in any case.
func (r *Redactor) nestedClean(b []byte) bool {
	for _, c := range b {
		if c >= 0x80 {
			return false
		}
	}
	for _, m := range nestedMarkers {
		if bytes.Contains(b, m) {
			return false
		}
	}
	for _, m := range r.nestedFold {
		if containsFold(b, m) {
			return false
		}
	}
	return !hasMarkerEscape(b) && json.Valid(b)
}

// Markers of a pod spec, for the fast path.
var (
	containersLoose = []byte(`containers"`)
	containersKey   = []byte(`"containers"`)
)

// containsFold reports whether b contains m, ASCII case-insensitively. It
// scans for both cases of m's first byte, each occurrence found once.
func containsFold(b, m []byte) bool {
	if len(m) == 0 {
		return true
	}
	lo, up := m[0], m[0]
	if c := m[0] | 0x20; c >= 'a' && c <= 'z' {
		lo, up = c, c&^0x20
	}
	next := func(c byte, from int) int {
		if j := bytes.IndexByte(b[from:], c); j >= 0 {
			return from + j
		}
		return len(b)
	}
	nl, nu := next(lo, 0), next(up, 0)
	for {
		i := min(nl, nu)
		if i+len(m) > len(b) {
			return false
		}
		if bytes.EqualFold(b[i:i+len(m)], m) {
			return true
		}
		if nl == i {
			nl = next(lo, i+1)
		}
		if nu == i {
			nu = next(up, i+1)
		}
	}
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
	// envValues caches the judgement of env entries: the same few
	// name/value pairs repeat in every pod of a list.
	envValues map[[2]string]string
}

// maxCache bounds the walker's env cache.
const maxCache = 4096

// envValue returns the env value v of variable name with credentials
// masked, and whether anything was.
func (w *walker) envValue(name, v string) (string, bool) {
	if v == Mask {
		return v, false
	}
	k := [2]string{name, v}
	if m, ok := w.envValues[k]; ok {
		return m, m != v
	}
	var m string
	if w.r.env != nil && w.r.env.MatchString(name) && v != "" {
		m = Mask
	} else {
		m, _ = sensitive.Value(name, v)
	}
	if w.envValues == nil {
		w.envValues = make(map[[2]string]string)
	}
	if len(w.envValues) < maxCache {
		w.envValues[k] = m
	}
	return m, m != v
}

// envName reports whether any literal value of variable name is masked
// whole: a credential-like name, or one Config.SensitiveEnv matches.
func (w *walker) envName(name string) bool {
	return sensitive.Name(name) || (w.r.env != nil && w.r.env.MatchString(name))
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
	kk := k.key()
	if rl, ok := w.r.rules[kk]; ok && w.maskFields(m, rl) {
		masked = true
	}
	if kk == secretKind.key() && w.secretAnnotations(m) {
		masked = true
	}
	if paths, ok := w.r.paths[kk]; ok {
		for _, p := range paths {
			if w.maskPath(m, p, atObject) {
				masked = true
			}
		}
	}
	if w.lastApplied(m, k) {
		masked = true
	}
	listItems := Kind{}
	isList := false
	switch {
	case own && kk.Kind == "list":
		isList, listItems = true, w.hint
	case own && strings.HasSuffix(kk.Kind, "list") && len(k.Kind) > len("List"):
		isList, listItems = true, Kind{Group: k.Group, Kind: k.Kind[:len(k.Kind)-len("List")]}
	case !own && top: // a list without a kind: its items default to the hint
		isList, listItems = true, w.hint
	}
	isTable := own && kk.Kind == "table" && (kk.Group == tableGroup || kk.Group == "")

	for key, v := range m {
		switch {
		case key == "env":
			if arr, ok := v.([]any); ok && w.env(arr) {
				masked = true
			}
			if w.node(v) {
				masked = true
			}
		case key == "args" || key == "command":
			if arr, ok := v.([]any); ok && w.args(arr) {
				masked = true
			}
			if w.node(v) {
				masked = true
			}
		case key == "httpHeaders":
			if arr, ok := v.([]any); ok && w.headers(arr) {
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
		// "core/v1" names the core group; Kind.key makes it "".
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
	return w.mark(masked)
}

// mark records that the document changed when masked is set, and returns
// masked.
func (w *walker) mark(masked bool) bool {
	if masked {
		w.changed = true
	}
	return masked
}

// env masks credentials in the literal values of a container env list:
// the whole value of a credential-like name, the credential part of any
// other (package sensitive). valueFrom references stay.
func (w *walker) env(arr []any) bool {
	return w.namedValues(arr, func(name any, v any) (any, bool) {
		n, ok := name.(string)
		if !ok {
			return nil, false
		}
		s, isString := v.(string)
		if !isString {
			// The wrong type where a value belongs: mask it when the
			// name says it is a credential (fail closed).
			return Mask, w.envName(n)
		}
		return w.envValue(n, s)
	})
}

// args masks credentials in a container's command or args (or a probe's
// exec command): --password=x, --token x, DB_PASSWORD=x and credential
// shapes (package sensitive). Entries that are not strings stay.
func (w *walker) args(arr []any) bool {
	strs := make([]string, 0, len(arr))
	idx := make([]int, 0, len(arr))
	for i, e := range arr {
		if s, ok := e.(string); ok {
			strs = append(strs, s)
			idx = append(idx, i)
		}
	}
	out, changed := sensitive.Args(strs)
	if !changed {
		return false
	}
	masked := false
	for j, i := range idx {
		if out[j] != strs[j] {
			arr[i] = out[j]
			masked = true
		}
	}
	return w.mark(masked)
}

// headers masks the values of credential headers (Authorization, Cookie,
// X-Api-Key, credential-like names) in a probe's or lifecycle hook's
// httpHeaders, and credential shapes in the others.
func (w *walker) headers(arr []any) bool {
	return w.namedValues(arr, func(name any, v any) (any, bool) {
		n, _ := name.(string)
		s, isString := v.(string)
		switch {
		case s == Mask:
		case sensitive.Header(n) && (!isString || s != ""):
			return Mask, true
		case isString:
			return sensitive.Shapes(s)
		}
		return nil, false
	})
}

// namedValues masks the values of a list of {name, value} entries (an env
// list, httpHeaders): mask gets an entry's name field and its value (not
// nil) and returns the masked value and whether to put it in.
func (w *walker) namedValues(arr []any, mask func(name, value any) (any, bool)) bool {
	masked := false
	for _, e := range arr {
		ev, ok := e.(map[string]any)
		if !ok {
			continue
		}
		v, ok := ev["value"]
		if !ok || v == nil {
			continue
		}
		if m, changed := mask(ev["name"], v); changed {
			ev["value"] = m
			masked = true
		}
	}
	return w.mark(masked)
}

// secretAnnotations masks the annotation values of a Secret, where some
// platforms keep tokens, except those that only name things.
func (w *walker) secretAnnotations(m map[string]any) bool {
	md, ok := m["metadata"].(map[string]any)
	if !ok {
		return false
	}
	ann, ok := md["annotations"].(map[string]any)
	if !ok {
		return false
	}
	masked := false
	for k, v := range ann {
		if secretAnnotationsKept[k] || v == nil {
			continue
		}
		if s, ok := v.(string); ok && (s == Mask || s == "") {
			continue
		}
		ann[k] = Mask
		masked = true
	}
	return w.mark(masked)
}

// identityFields are the top-level fields a leading "*" skips: masking
// them would unmake the object (and the redaction marker in its metadata).
var identityFields = map[string]bool{"apiVersion": true, "kind": true, "metadata": true}

// Where a path walk stands relative to the redaction marker
// (metadata.annotations["kubently.io/redacted"]), which is Kubently's own
// and never masked: at the object, in its metadata, in its annotations, or
// elsewhere.
const (
	atObject = iota
	atMetadata
	atAnnotations
	atElsewhere
)

// step returns where the walk stands after descending from at into key k.
func step(at int, k string) int {
	switch {
	case at == atObject && k == "metadata":
		return atMetadata
	case at == atMetadata && k == "annotations":
		return atAnnotations
	}
	return atElsewhere
}

// maskPath masks what the field path segs reaches from v; at says where v
// stands (atObject for the object the rule applies to).
func (w *walker) maskPath(v any, segs []string, at int) bool {
	if len(segs) == 0 {
		return false
	}
	seg, rest := segs[0], segs[1:]
	masked := false
	switch t := v.(type) {
	case map[string]any:
		visit := func(k string) {
			if at == atAnnotations && k == AnnotationRedacted {
				return
			}
			if len(rest) == 0 {
				if nv, changed := maskValue(t[k], step(at, k)); changed {
					t[k] = nv
					masked = true
				}
				return
			}
			if w.maskPath(t[k], rest, step(at, k)) {
				masked = true
			}
		}
		if seg == "*" {
			for k := range t {
				if at != atObject || !identityFields[k] {
					visit(k)
				}
			}
		} else if _, ok := t[seg]; ok {
			visit(seg)
		}
	case []any:
		for i, e := range t {
			switch {
			case seg != "*":
				// A name applies to every element of an array.
				if w.maskPath(e, segs, atElsewhere) {
					masked = true
				}
			case len(rest) == 0:
				if nv, changed := maskValue(e, atElsewhere); changed {
					t[i] = nv
					masked = true
				}
			default:
				if w.maskPath(e, rest, atElsewhere) {
					masked = true
				}
			}
		}
	}
	return w.mark(masked)
}

// maskValue masks v whole: a scalar becomes Mask, and every scalar inside
// an object or array, so that the shape stays. nil stays nil. at says
// where v stands, so that the redaction marker is left alone.
func maskValue(v any, at int) (any, bool) {
	switch t := v.(type) {
	case nil:
		return nil, false
	case string:
		return Mask, t != Mask
	case map[string]any:
		masked := false
		for k, e := range t {
			if at == atAnnotations && k == AnnotationRedacted {
				continue
			}
			if nv, changed := maskValue(e, step(at, k)); changed {
				t[k] = nv
				masked = true
			}
		}
		return t, masked
	case []any:
		masked := false
		for i, e := range t {
			if nv, changed := maskValue(e, atElsewhere); changed {
				t[i] = nv
				masked = true
			}
		}
		return t, masked
	default:
		return Mask, true
	}
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
