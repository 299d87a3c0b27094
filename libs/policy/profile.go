package policy

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"path"
	"regexp"
	"slices"
	"sort"
	"strings"

	"sigs.k8s.io/yaml"
)

// Schema identifiers of the policy file.
const (
	// APIVersion is the only apiVersion the policy file may declare.
	APIVersion = "kubently.io/v1"
	// KindPolicy is the kind of the policy file.
	KindPolicy = "Policy"
	// ProfileReadOnly is the built-in default profile.
	ProfileReadOnly = "readOnly"
	// MaxFileBytes bounds the size of a policy file.
	MaxFileBytes = 1 << 20
)

// Secrets modes of a profile.
const (
	// SecretsDenied refuses every command that reads Secrets (the default).
	SecretsDenied = "denied"
	// SecretsRedacted lets commands read Secrets; their values are always
	// masked by the executor, so only names, keys and metadata leave.
	SecretsRedacted = "redacted"
)

// Bounds on a profile's redactFields.
const (
	// MaxRedactFields bounds the redactFields entries of a profile.
	MaxRedactFields = 64
	// MaxRedactPaths bounds the paths of one redactFields entry.
	MaxRedactPaths = 32
	// MaxRedactPathLen bounds one path, in bytes.
	MaxRedactPathLen = 256
)

var (
	// ErrInvalid is wrapped by every error about a policy file's content.
	ErrInvalid = errors.New("policy: invalid policy file")
	// errTooLarge marks an ErrInvalid for a file over MaxFileBytes (the
	// too_large reason of kubently_policy_last_error).
	errTooLarge = errors.New("too large")

	// errNamespace is the message for a malformed namespace value.
	errNamespace = errors.New("want a namespace name: lower-case letters, digits and -, at most 63")
)

// File is the policy file, versioned by APIVersion and Kind:
//
//	apiVersion: kubently.io/v1
//	kind: Policy
//	defaultProfile: readOnly
//	profiles:
//	  - name: strict
//	    verbs: [get, describe, logs, events]
//	    restrictedResources: [configmaps]
//	    namespaces: {allow: ["team-*"], deny: [kube-system]}
//	clusters:
//	  - match: "prod-*"
//	    profile: strict
//
// Profiles can only narrow the built-in readOnly allow-list: verbs are a
// subset of it, restricted resources add to Secrets, namespaces narrow. The
// one widening is secrets: redacted, which lets a profile list Secrets
// whose values the executor always masks.
type File struct {
	APIVersion     string         `json:"apiVersion"`
	Kind           string         `json:"kind"`
	DefaultProfile string         `json:"defaultProfile,omitempty"`
	Profiles       []ProfileSpec  `json:"profiles,omitempty"`
	Clusters       []ClusterMatch `json:"clusters,omitempty"`
}

// ProfileSpec is one profile of the policy file.
type ProfileSpec struct {
	// Name identifies the profile; readOnly is built in and reserved.
	Name string `json:"name"`
	// Verbs are the verbs the profile allows ("rollout" and "top" cover
	// their allowed subcommands); empty means every built-in verb.
	Verbs []string `json:"verbs,omitempty"`
	// RestrictedResources are resources denied in addition to Secrets:
	// "configmaps", "sealedsecrets.bitnami.com".
	RestrictedResources []string `json:"restrictedResources,omitempty"`
	// Secrets is "denied" (default) or "redacted".
	Secrets string `json:"secrets,omitempty"`
	// RedactedResources are resources, besides Secrets, whose data values
	// the executor masks wherever they are read.
	RedactedResources []string `json:"redactedResources,omitempty"`
	// SensitiveEnv is a regular expression over further environment
	// variable names whose literal values the executor masks whole, on
	// top of what it always masks by name and value (package sensitive).
	SensitiveEnv string `json:"sensitiveEnv,omitempty"`
	// RedactFields are fields of a kind (a CRD's spec.password) whose
	// values the executor masks wherever an object of the kind is read.
	RedactFields []FieldRedaction `json:"redactFields,omitempty"`
	// Namespaces narrows the namespaces commands may read.
	Namespaces *NamespaceRules `json:"namespaces,omitempty"`
}

// FieldRedaction masks fields of one kind:
//
//	redactFields:
//	  - kind: Database
//	    group: db.example.com
//	    paths: [spec.password, "spec.auth.*.token", spec.users.secret]
//
// A path is field names separated by dots; "*" stands for every key of an
// object or every element of an array, and a name applied to an array
// applies to each element. Kind and group match case-insensitively.
type FieldRedaction struct {
	// Kind is the object kind, e.g. Database.
	Kind string `json:"kind"`
	// Group is the API group; empty for the core group.
	Group string `json:"group,omitempty"`
	// Paths are the dotted field paths to mask.
	Paths []string `json:"paths"`
}

// NamespaceRules are namespace globs (path.Match syntax). A namespace is
// allowed when it matches an allow entry (or allow is empty) and no deny
// entry.
type NamespaceRules struct {
	Allow []string `json:"allow,omitempty"`
	Deny  []string `json:"deny,omitempty"`
}

// ClusterMatch selects a profile for the clusters whose id matches a glob.
// The first match wins.
type ClusterMatch struct {
	Match   string `json:"match"`
	Profile string `json:"profile"`
}

// Profile is a compiled profile.
type Profile struct {
	name       string
	verbs      map[string]bool // nil: all
	restricted resourceSet
	redacted   resourceSet
	secrets    string
	envPattern string
	fields     []FieldRedaction
	namespaces *NamespaceRules
}

// Name returns the profile's name.
func (p *Profile) Name() string { return p.name }

// Redacted returns the resources whose values the executor masks: always
// Secrets, plus the profile's redactedResources, as "resource[.group]".
func (p *Profile) Redacted() []string {
	out := []string{"secrets"}
	for _, r := range p.redacted {
		if s := r.String(); s != "secrets" {
			out = append(out, s)
		}
	}
	return out
}

// SensitiveEnv returns the profile's pattern over further environment
// variable names whose values the executor masks, or "" for none.
func (p *Profile) SensitiveEnv() string { return p.envPattern }

// RedactFields returns the fields of kinds whose values the executor
// masks, as a copy.
func (p *Profile) RedactFields() []FieldRedaction {
	out := make([]FieldRedaction, len(p.fields))
	for i, f := range p.fields {
		out[i] = FieldRedaction{Kind: f.Kind, Group: f.Group, Paths: slices.Clone(f.Paths)}
	}
	return out
}

// Policy is a compiled policy: profiles and the rules that pick one per
// cluster. It is immutable and safe for concurrent use.
type Policy struct {
	profiles map[string]*Profile
	clusters []ClusterMatch
	def      string
	// unavailable, when set, makes every check deny: no policy could be
	// loaded (fail closed).
	unavailable string
	hash        string
}

// readOnly is the built-in default profile.
var readOnly = &Profile{
	name:       ProfileReadOnly,
	restricted: resourceSet{{Resource: "secrets"}},
	secrets:    SecretsDenied,
}

var defaultPolicy = &Policy{profiles: map[string]*Profile{ProfileReadOnly: readOnly}, def: ProfileReadOnly, hash: "builtin"}

// Default returns the built-in policy: the readOnly profile for every
// cluster.
func Default() *Policy { return defaultPolicy }

// DenyAll returns a policy that denies every command with reason
// policy_unavailable and why as its message: what a service enforces when
// no policy could be loaded.
func DenyAll(why string) *Policy {
	return &Policy{unavailable: why, hash: "deny-all"}
}

// Available reports whether p allows anything at all (it is not DenyAll).
func (p *Policy) Available() bool { return p.unavailable == "" }

// Hash identifies the policy's source: the SHA-256 of the file it was
// parsed from, "builtin" or "deny-all".
func (p *Policy) Hash() string { return p.hash }

// Profile returns the profile for cluster, or nil when p is DenyAll.
func (p *Policy) Profile(cluster string) *Profile {
	if p.unavailable != "" {
		return nil
	}
	for _, c := range p.clusters {
		if ok, _ := path.Match(c.Match, cluster); ok {
			return p.profiles[c.Profile]
		}
	}
	return p.profiles[p.def]
}

// ParseFile parses and validates a policy file. Unknown fields, unknown
// verbs, bad globs and references to undefined profiles are errors that
// wrap ErrInvalid and name the offending field.
func ParseFile(data []byte) (*Policy, error) {
	if len(data) > MaxFileBytes {
		return nil, fmt.Errorf("%w: %w: file is %d bytes; at most %d allowed", ErrInvalid, errTooLarge, len(data), MaxFileBytes)
	}
	if len(bytes.TrimSpace(data)) == 0 {
		return nil, fmt.Errorf("%w: file is empty", ErrInvalid)
	}
	var f File
	if err := yaml.UnmarshalStrict(data, &f); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	p, err := compile(f)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	p.hash = sha256Hex(data)
	return p, nil
}

func sha256Hex(data []byte) string {
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:])
}

// fieldError names a bad field of the policy file.
type fieldError struct {
	field, value, why string
}

func (e *fieldError) Error() string {
	return fmt.Sprintf("%s %q: %s", e.field, truncate(e.value), e.why)
}

func compile(f File) (*Policy, error) {
	if f.APIVersion != APIVersion {
		return nil, &fieldError{"apiVersion", f.APIVersion, "want " + APIVersion}
	}
	if f.Kind != KindPolicy {
		return nil, &fieldError{"kind", f.Kind, "want " + KindPolicy}
	}
	p := &Policy{profiles: map[string]*Profile{ProfileReadOnly: readOnly}, def: ProfileReadOnly}
	for i, spec := range f.Profiles {
		prof, err := compileProfile(spec)
		if err != nil {
			return nil, fmt.Errorf("profiles[%d]: %w", i, err)
		}
		if _, dup := p.profiles[prof.name]; dup {
			return nil, &fieldError{fmt.Sprintf("profiles[%d].name", i), prof.name, "defined twice (readOnly is built in)"}
		}
		p.profiles[prof.name] = prof
	}
	if f.DefaultProfile != "" {
		if p.profiles[f.DefaultProfile] == nil {
			return nil, &fieldError{"defaultProfile", f.DefaultProfile, "no such profile"}
		}
		p.def = f.DefaultProfile
	}
	for i, c := range f.Clusters {
		if _, err := path.Match(c.Match, ""); err != nil || c.Match == "" || len(c.Match) > 253 {
			return nil, &fieldError{fmt.Sprintf("clusters[%d].match", i), c.Match, "want a cluster id or glob such as prod-*"}
		}
		if p.profiles[c.Profile] == nil {
			return nil, &fieldError{fmt.Sprintf("clusters[%d].profile", i), c.Profile, "no such profile"}
		}
	}
	p.clusters = slices.Clone(f.Clusters)
	return p, nil
}

var profileName = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_-]{0,62}$`)

func compileProfile(s ProfileSpec) (*Profile, error) {
	if !profileName.MatchString(s.Name) {
		return nil, &fieldError{"name", s.Name, "want a letter then letters, digits, _ or -, at most 63"}
	}
	prof := &Profile{name: s.Name, secrets: SecretsDenied}
	if len(s.Verbs) > 0 {
		prof.verbs = map[string]bool{}
		known := knownVerbs()
		for _, v := range s.Verbs {
			if !known[v] {
				return nil, &fieldError{"verbs", v, "not a verb Kubently allows; one of " + verbList()}
			}
			prof.verbs[v] = true
		}
	}
	switch s.Secrets {
	case "", SecretsDenied:
	case SecretsRedacted:
		prof.secrets = SecretsRedacted
	default:
		return nil, &fieldError{"secrets", s.Secrets, "want denied or redacted"}
	}
	restricted, err := parseResourceSet(s.RestrictedResources)
	if err != nil {
		return nil, fmt.Errorf("restrictedResources: %w", err)
	}
	if prof.secrets == SecretsDenied {
		restricted = append(resourceSet{{Resource: "secrets"}}, restricted...)
	} else if _, ok := restricted.match(Resource{Resource: "secrets"}); ok {
		return nil, &fieldError{"restrictedResources", "secrets", "conflicts with secrets: redacted"}
	}
	prof.restricted = restricted
	if prof.redacted, err = parseResourceSet(s.RedactedResources); err != nil {
		return nil, fmt.Errorf("redactedResources: %w", err)
	}
	if s.SensitiveEnv != "" {
		if len(s.SensitiveEnv) > 1024 {
			return nil, &fieldError{"sensitiveEnv", s.SensitiveEnv, "longer than 1024 bytes"}
		}
		if _, err := regexp.Compile(s.SensitiveEnv); err != nil {
			return nil, &fieldError{"sensitiveEnv", s.SensitiveEnv, err.Error()}
		}
		prof.envPattern = s.SensitiveEnv
	}
	if prof.fields, err = compileRedactFields(s.RedactFields); err != nil {
		return nil, err
	}
	if n := s.Namespaces; n != nil {
		for _, g := range append(slices.Clone(n.Allow), n.Deny...) {
			if _, err := path.Match(g, ""); err != nil || g == "" || len(g) > 63 {
				return nil, &fieldError{"namespaces", g, "want a namespace or glob such as team-*"}
			}
		}
		prof.namespaces = &NamespaceRules{Allow: slices.Clone(n.Allow), Deny: slices.Clone(n.Deny)}
	}
	return prof, nil
}

// knownVerbs are the verbs a profile may list.
func knownVerbs() map[string]bool {
	out := map[string]bool{}
	for k := range verbFlags {
		v, _, _ := strings.Cut(k, " ")
		out[v] = true
	}
	return out
}

// namespaceAllowed applies the profile's namespace rules.
func (p *Profile) namespaceAllowed(ns string) bool {
	if p.namespaces == nil {
		return true
	}
	for _, g := range p.namespaces.Deny {
		if ok, _ := path.Match(g, ns); ok {
			return false
		}
	}
	if len(p.namespaces.Allow) == 0 {
		return true
	}
	for _, g := range p.namespaces.Allow {
		if ok, _ := path.Match(g, ns); ok {
			return true
		}
	}
	return false
}

// verbsOf lists a profile's verbs for messages.
func (p *Profile) verbsOf() string {
	if p.verbs == nil {
		return verbList()
	}
	out := make([]string, 0, len(p.verbs))
	for v := range p.verbs {
		out = append(out, v)
	}
	sort.Strings(out)
	return strings.Join(out, ", ")
}

// Restricts reports whether the profile denies reading r. The executor
// asks it for every resource it resolved through discovery, and leaves
// restricted ones out of category expansions such as "all".
func (p *Profile) Restricts(r Resource) bool {
	_, bad := p.restricted.match(r)
	return bad
}

var (
	kindRE  = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9]{0,62}$`)
	groupRE = regexp.MustCompile(`^[a-z0-9]([a-z0-9.-]{0,251}[a-z0-9])?$`)
	fieldRE = regexp.MustCompile(`^([^.*\s]+|\*)$`)
)

// compileRedactFields validates a profile's redactFields.
func compileRedactFields(fs []FieldRedaction) ([]FieldRedaction, error) {
	if len(fs) > MaxRedactFields {
		return nil, &fieldError{"redactFields", fmt.Sprint(len(fs)), fmt.Sprintf("at most %d entries", MaxRedactFields)}
	}
	out := make([]FieldRedaction, 0, len(fs))
	for i, f := range fs {
		name := fmt.Sprintf("redactFields[%d]", i)
		if !kindRE.MatchString(f.Kind) {
			return nil, &fieldError{name + ".kind", f.Kind, "want a kind such as Database"}
		}
		if f.Group != "" && !groupRE.MatchString(f.Group) {
			return nil, &fieldError{name + ".group", f.Group, "want an API group such as db.example.com, or empty for the core group"}
		}
		if len(f.Paths) == 0 || len(f.Paths) > MaxRedactPaths {
			return nil, &fieldError{name + ".paths", fmt.Sprint(len(f.Paths)), fmt.Sprintf("want 1 to %d paths", MaxRedactPaths)}
		}
		for _, p := range f.Paths {
			if len(p) > MaxRedactPathLen {
				return nil, &fieldError{name + ".paths", p, fmt.Sprintf("longer than %d bytes", MaxRedactPathLen)}
			}
			segs := strings.Split(p, ".")
			for _, seg := range segs {
				if !fieldRE.MatchString(seg) {
					return nil, &fieldError{name + ".paths", p, `want field names separated by dots, or * for every key or element (spec.auth.*.token)`}
				}
			}
			switch segs[0] {
			case "*", "kind", "apiVersion":
				return nil, &fieldError{name + ".paths", p, "must start below the object's kind and apiVersion, e.g. spec"}
			}
		}
		out = append(out, FieldRedaction{Kind: f.Kind, Group: f.Group, Paths: slices.Clone(f.Paths)})
	}
	return out, nil
}
