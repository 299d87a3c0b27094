package policy

// The buckets of VerbLabel beside the allowed verbs themselves.
const (
	// VerbOther is the label of a plain word that is not an allowed verb
	// ("delete", "exec", a typo).
	VerbOther = "other"
	// VerbInvalid is the label of an empty argv, or a first argument that
	// is not a plain lower-case word (flags, punctuation, binary data,
	// anything longer than 32 bytes).
	VerbInvalid = "invalid"
)

// maxVerbLen bounds what can be a verb at all.
const maxVerbLen = 32

// IsVerb reports whether v is one of the verbs the built-in allow-list
// knows (whether or not a profile allows it).
func IsVerb(v string) bool {
	return knownVerbSet[v]
}

// knownVerbSet is computed once: verbFlags does not change.
var knownVerbSet = knownVerbs()

// VerbLabel is the metric label of argv's verb, from a closed set: an
// allowed verb, VerbOther or VerbInvalid. Nothing of argv beyond its first
// element is looked at, and nothing the caller typed becomes a label
// unless it is in the verb table, so made-up verbs cannot grow a metric's
// series.
func VerbLabel(argv []string) string {
	if len(argv) == 0 {
		return VerbInvalid
	}
	v := argv[0]
	if knownVerbSet[v] {
		return v
	}
	if v == "" || len(v) > maxVerbLen {
		return VerbInvalid
	}
	for i := 0; i < len(v); i++ {
		if c := v[i]; (c < 'a' || c > 'z') && c != '-' {
			return VerbInvalid
		}
	}
	return VerbOther
}
