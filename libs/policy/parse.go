package policy

import (
	"context"
	"errors"
	"strings"
)

// Command is a command line parsed the way kubectl parses it: the verb and
// subcommand, the flags by their long names, the positional arguments and
// the resource types the command reads.
type Command struct {
	// Verb is argv[0]: get, describe, logs, top, rollout, ...
	Verb string
	// Sub is the canonical subcommand of top, rollout and auth ("pod",
	// "history", "can-i"); empty for other verbs.
	Sub string
	// Args are the positional arguments after the verb and subcommand.
	Args []string
	// Flags are the flags given, by long name, in order.
	Flags []Flag
	// Namespace is the value of -n/--namespace, or "" when not given.
	Namespace string
	// AllNamespaces is true when -A/--all-namespaces is set.
	AllNamespaces bool
	// Types are the resource types the command reads, as spelled
	// ("po", "deployments.apps", "secret"), with the object name when the
	// argument named one ("deploy/web"). explain and auth can-i read no
	// objects and list none.
	Types []TypeRef
}

// Flag is one parsed flag.
type Flag struct {
	// Name is the long name ("namespace" for -n).
	Name string
	// Value is the flag's value; "true" or "false" for boolean flags.
	Value string
}

// TypeRef is one resource type a command reads.
type TypeRef struct {
	// Spelling is the type as written, lower-cased ("po", "Secret" →
	// "secret", "deployments.apps").
	Spelling string
	// Name is the object name of a type/name argument, or "".
	Name string
}

// Key is the verb and canonical subcommand of c, the key of its flag
// table (see FlagTable): "get", or "top pod".
func (c *Command) Key() string { return c.key() }

// key is the verbFlags key of c: "get", or "top pod".
func (c *Command) key() string {
	if c.Sub == "" {
		return c.Verb
	}
	return c.Verb + " " + c.Sub
}

// Has reports whether the flag with long name was given (and, for a
// boolean flag, not set to false).
func (c *Command) Has(name string) bool {
	for _, f := range c.Flags {
		if f.Name == name && f.Value != "false" {
			return true
		}
	}
	return false
}

// Parse parses argv and applies the parts of the policy that do not depend
// on a profile or on the cluster: the verb and subcommand must exist,
// every flag must be allowed for the verb with a well-formed value,
// credential, target, file and never-ending flags are refused, and the
// positional arguments must fit the verb. When ok is false, d says why.
func Parse(argv []string) (cmd *Command, d Decision, ok bool) {
	if len(argv) == 0 || strings.TrimSpace(argv[0]) == "" {
		return nil, deny("", ReasonEmpty, "empty command: want a verb such as get, describe, logs or events"), false
	}
	c := &Command{Verb: argv[0]}
	rest := argv[1:]
	if subs, ok := subcommands[c.Verb]; ok {
		if len(rest) == 0 || strings.HasPrefix(rest[0], "-") {
			return nil, deny(c.Verb, ReasonMissingArgument, "%s needs a subcommand first: one of %s", c.Verb, subcommandList(subs)), false
		}
		sub, ok := subs[rest[0]]
		if !ok {
			return nil, deny(c.Verb, ReasonVerbNotAllowed, "%s %q is not allowed; allowed: %s", c.Verb, truncate(rest[0]), subcommandList(subs)), false
		}
		c.Sub = sub
		rest = rest[1:]
	}
	flags, ok := verbFlags[c.key()]
	// verbFlags keys "top pod" by verb and subcommand; a verb spelled
	// with the space in it ("rollout history" as argv[0]) is no verb.
	if !ok || strings.Contains(c.Verb, " ") {
		// A flag in the verb's place ("--token=x get") is named without
		// its value, which may be a credential.
		return nil, deny(flagName(c.Verb), ReasonVerbNotAllowed, "verb %q is not allowed; allowed verbs: %s", flagName(c.Verb), verbList()), false
	}
	for i := 0; i < len(rest); i++ {
		a := rest[i]
		if a == "--" {
			// No Kubernetes name, type or container starts with "-", so
			// a dash after "--" is a flag in disguise (a name such as
			// "--server=https://attacker") that would become one again
			// wherever argv is rebuilt from Args.
			for _, p := range rest[i+1:] {
				if strings.HasPrefix(p, "-") {
					return nil, deny(c.Verb, flagReason(p), "argument %q after -- starts with -: no Kubernetes name does", flagName(p)), false
				}
			}
			c.Args = append(c.Args, rest[i+1:]...)
			break
		}
		if !strings.HasPrefix(a, "-") || a == "-" {
			c.Args = append(c.Args, a)
			continue
		}
		var (
			consumed bool
			d        Decision
			ok       bool
		)
		if strings.HasPrefix(a, "--") {
			consumed, d, ok = c.longFlag(flags, a, rest[i+1:])
		} else {
			consumed, d, ok = c.shortFlags(flags, a, rest[i+1:])
		}
		if !ok {
			return nil, d, false
		}
		if consumed {
			i++
		}
	}
	if d, ok := c.checkArgs(); !ok {
		return nil, d, false
	}
	return c, Decision{}, true
}

// longFlag handles "--name" and "--name=value". next are the arguments
// after it; consumed reports that the value was taken from next[0].
func (c *Command) longFlag(flags map[string]flagSpec, a string, next []string) (consumed bool, d Decision, ok bool) {
	name, value, hasValue := strings.Cut(a[2:], "=")
	spec, allowed := flags[name]
	if !allowed {
		spec, allowed = commonFlags[name]
	}
	// A verb may allow a long flag that is denied elsewhere (explain
	// --recursive, rollout status --watch=false).
	if r, bad := deniedFlags[strings.ReplaceAll(name, "_", "-")]; bad && !allowed {
		return false, deny(c.Verb, r, "flag %q is never allowed (%s)", flagName(a), r), false
	}
	if name == "" || !allowed {
		return false, deny(c.Verb, ReasonFlagNotAllowed, "flag %q is not allowed for %s", flagName(a), c.key()), false
	}
	if spec.kind == valueFlag && !hasValue {
		if len(next) == 0 {
			return false, deny(c.Verb, ReasonBadFlagValue, "flag %q needs a value", truncate(a)), false
		}
		if d, bad := c.flagAsValue(a, next[0]); bad {
			return false, d, false
		}
		value, consumed = next[0], true
	}
	if d, ok := c.setFlag(spec, name, value, hasValue); !ok {
		return false, d, false
	}
	return consumed, Decision{}, true
}

// shortFlags handles "-n", "-nvalue", "-n=value" and bundles of boolean
// short flags ("-Ap", "-Aojson"), pflag's grammar.
func (c *Command) shortFlags(flags map[string]flagSpec, a string, next []string) (consumed bool, d Decision, ok bool) {
	body := a[1:]
	for j := 0; j < len(body); j++ {
		s := body[j : j+1]
		if r, bad := deniedFlags[s]; bad {
			return false, deny(c.Verb, r, "flag -%s is never allowed (%s)", s, r), false
		}
		if s == "f" {
			r := ReasonFileInput
			if c.Verb == "logs" {
				r = ReasonUnbounded
			}
			return false, deny(c.Verb, r, "flag -f is never allowed (%s)", r), false
		}
		long, known := shortFlags[s]
		var spec flagSpec
		if known {
			spec, known = flags[long]
			if !known {
				spec, known = commonFlags[long]
			}
		}
		if !known {
			return false, deny(c.Verb, ReasonFlagNotAllowed, "flag -%s is not allowed for %s", truncate(s), c.key()), false
		}
		tail := body[j+1:]
		if spec.kind == valueFlag {
			var value string
			switch {
			case strings.HasPrefix(tail, "=") && len(tail) > 1:
				value = tail[1:]
			case tail != "":
				// pflag reads "-o=" as the value "=" (kubectl then
				// refuses the format "="), not as an empty value.
				value = tail
			case len(next) == 0:
				return false, deny(c.Verb, ReasonBadFlagValue, "flag -%s needs a value", s), false
			default:
				if d, bad := c.flagAsValue("-"+s, next[0]); bad {
					return false, d, false
				}
				value, consumed = next[0], true
			}
			d, ok := c.setFlag(spec, long, value, true)
			return consumed, d, ok
		}
		if strings.HasPrefix(tail, "=") {
			d, ok := c.setFlag(spec, long, tail[1:], true)
			return false, d, ok
		}
		if d, ok := c.setFlag(spec, long, "", false); !ok {
			return false, d, false
		}
	}
	return false, Decision{}, true
}

// flagAsValue refuses a separate value that looks like a flag ("-l
// --server=x"): pflag would take it as the value, but a reader that does
// not know the flag takes a value would see the flag. A negative number
// ("--tail -1") is a value.
func (c *Command) flagAsValue(flag, value string) (Decision, bool) {
	if len(value) < 2 || value[0] != '-' || isNegativeInt(value) {
		return Decision{}, false
	}
	return deny(c.Verb, ReasonBadFlagValue, "flag %s needs a value but is followed by the flag %q; write %s=VALUE", truncate(flag), flagName(value), truncate(flag)), true
}

func isNegativeInt(s string) bool {
	if len(s) < 2 || s[0] != '-' {
		return false
	}
	for i := 1; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// flagName returns a flag argument without its value, bounded, for
// messages: a denied "--token=…" must not copy the token into logs.
func flagName(a string) string {
	name, _, _ := strings.Cut(a, "=")
	return truncate(name)
}

// flagReason is the reason to deny the flag-shaped argument a: the reason
// of the denied flag it spells, else flag_not_allowed.
func flagReason(a string) Reason {
	name, _, _ := strings.Cut(strings.TrimLeft(a, "-"), "=")
	if r, bad := deniedFlags[strings.ReplaceAll(name, "_", "-")]; bad {
		return r
	}
	return ReasonFlagNotAllowed
}

// setFlag checks value against spec and records the flag.
func (c *Command) setFlag(spec flagSpec, name, value string, hasValue bool) (Decision, bool) {
	if spec.kind == boolFlag {
		switch {
		case !hasValue:
			value = "true"
		case value != "true" && value != "false":
			return deny(c.Verb, ReasonBadFlagValue, "flag --%s takes true or false", name), false
		}
	}
	if spec.check != nil {
		if err := spec.check(value); err != nil {
			return deny(c.Verb, ReasonBadFlagValue, "flag --%s: %v", name, err), false
		}
	}
	switch name {
	case "namespace":
		if err := checkNamespace(value); err != nil {
			return deny(c.Verb, ReasonBadFlagValue, "flag --namespace: %v", err), false
		}
		c.Namespace = value
	case "all-namespaces":
		c.AllNamespaces = value == "true"
	}
	c.Flags = append(c.Flags, Flag{Name: name, Value: value})
	return Decision{}, true
}

// checkArgs bounds the positional arguments of the verb and records the
// resource types they name.
func (c *Command) checkArgs() (Decision, bool) {
	key := c.key()
	if a, ok := arity[key]; ok {
		switch {
		case len(c.Args) < a.min:
			return deny(c.Verb, ReasonMissingArgument, "%s needs at least %d argument(s)", key, a.min), false
		case len(c.Args) > a.max:
			return deny(c.Verb, ReasonTooManyArguments, "%s takes at most %d argument(s)", key, a.max), false
		}
	}
	switch key {
	case "get", "describe":
		if len(c.Args) == 0 {
			return deny(c.Verb, ReasonMissingArgument, "%s needs a resource type, e.g. %s pods", c.Verb, c.Verb), false
		}
		if d, ok := c.resourceArgs(); !ok {
			return d, false
		}
		if anySlash(c.Args) {
			for _, a := range c.Args {
				c.addTypeName(a)
			}
			break
		}
		for _, t := range strings.Split(c.Args[0], ",") {
			if t != "" {
				c.Types = append(c.Types, TypeRef{Spelling: strings.ToLower(t)})
			}
		}

	case "logs":
		switch {
		case len(c.Args) == 0 && !c.Has("selector"):
			return deny(c.Verb, ReasonMissingArgument, "logs needs a pod name or type/name"), false
		case len(c.Args) > 2:
			return deny(c.Verb, ReasonTooManyArguments, "logs takes a pod and optionally a container"), false
		case len(c.Args) == 0 || !strings.Contains(c.Args[0], "/"):
			c.Types = append(c.Types, TypeRef{Spelling: "pods"})
		default:
			if _, _, err := ParseTypeName(c.Args[0]); err != nil {
				return deny(c.Verb, ReasonResourceArgument, "%v", err), false
			}
			c.addTypeName(c.Args[0])
		}
	case "events":
		if len(c.Args) > 0 {
			return deny(c.Verb, ReasonTooManyArguments, "events takes no positional arguments; use --for type/name"), false
		}
		c.Types = append(c.Types, TypeRef{Spelling: "events"})
		for _, f := range c.Flags {
			if f.Name != "for" {
				continue
			}
			if _, _, err := ParseTypeName(f.Value); errors.Is(err, ErrNotTypeName) {
				return deny(c.Verb, ReasonResourceArgument, "%v", ErrForNotTypeName), false
			} else if err != nil {
				return deny(c.Verb, ReasonResourceArgument, "%v", err), false
			}
			c.addTypeName(f.Value)
		}
	case "rollout history", "rollout status":
		// As for get: a slash in any argument makes each one TYPE/NAME
		// ("deploy secret/x" is refused, not read as a name).
		if d, ok := c.resourceArgs(); !ok {
			return d, false
		}
		if anySlash(c.Args) {
			if len(c.Args) > 1 {
				return deny(c.Verb, ReasonTooManyArguments, "%s takes TYPE/NAME or TYPE NAME", key), false
			}
			c.addTypeName(c.Args[0])
		} else {
			name := ""
			if len(c.Args) > 1 {
				name = c.Args[1]
			}
			for _, t := range SplitResourceList(c.Args[0]) {
				c.Types = append(c.Types, TypeRef{Spelling: strings.ToLower(t), Name: name})
			}
		}
	case "top pod":
		c.Types = append(c.Types, TypeRef{Spelling: "pods"})
	case "diagnose":
		// diagnose reads many kinds of the namespace; pods stands for
		// them, so namespace scopes and profile namespace rules apply as
		// to get pods, and a profile restricting pods refuses it. The
		// executor skips the other kinds a profile restricts.
		c.Types = append(c.Types, TypeRef{Spelling: "pods"})
	case "top node":
		c.Types = append(c.Types, TypeRef{Spelling: "nodes"})
	}
	switch key {
	case "get", "describe", "logs", "rollout history", "rollout status":
		// kubectl refuses an empty type ("", ",", "/x"); so does policy,
		// so that no argument is read as a type here and a name there.
		if len(c.Types) == 0 {
			return deny(c.Verb, ReasonMissingArgument, "%s needs a resource type, e.g. %s pods", key, c.Verb), false
		}
		for _, t := range c.Types {
			if t.Spelling == "" {
				return deny(c.Verb, ReasonMissingArgument, "%s needs a resource type, e.g. %s pods; an argument names none", key, c.Verb), false
			}
		}
	}
	return Decision{}, true
}

// resourceArgs refuses resource arguments the executor cannot parse
// ("pods/x,secret/y", "pods pod/x"), with its message.
func (c *Command) resourceArgs() (Decision, bool) {
	if _, err := ParseResourceArgs(c.Args); err != nil {
		return deny(c.Verb, ReasonResourceArgument, "%v", err), false
	}
	return Decision{}, true
}

// addTypeName records a "type/name" argument. A first segment that looks
// like a group version ("v1/secrets", "apps/v1/deployments") is not a
// type kubectl knows, but the segment after it is recorded too, so that a
// restricted type cannot hide behind it.
func (c *Command) addTypeName(a string) {
	segs := strings.Split(strings.ToLower(a), "/")
	for _, t := range strings.Split(segs[0], ",") {
		c.Types = append(c.Types, TypeRef{Spelling: t, Name: strings.Join(segs[1:], "/")})
	}
	if isGroupVersion(a) {
		for _, s := range segs[1:] {
			c.Types = append(c.Types, TypeRef{Spelling: s})
		}
	}
}

func anySlash(args []string) bool {
	for _, a := range args {
		if strings.Contains(a, "/") {
			return true
		}
	}
	return false
}

// isGroupVersion reports whether the first segment of p looks like an API
// version ("v1/secrets", "v1beta1/x") or, when more segments follow than
// a type/name has, a group ("bitnami.com/v1alpha1/sealedsecrets"). In
// "deployments.apps/web" the dotted segment is a type and web a name.
func isGroupVersion(p string) bool {
	first, rest, _ := strings.Cut(strings.ToLower(p), "/")
	return isVersion(first) || (strings.Contains(first, ".") && strings.Contains(rest, "/"))
}

// isVersion reports whether s is a Kubernetes API version string: v1,
// v2beta1, v1alpha3.
func isVersion(s string) bool {
	if len(s) < 2 || s[0] != 'v' || s[1] < '1' || s[1] > '9' {
		return false
	}
	i := 2
	for i < len(s) && s[i] >= '0' && s[i] <= '9' {
		i++
	}
	rest := s[i:]
	for _, p := range []string{"alpha", "beta"} {
		if strings.HasPrefix(rest, p) {
			n := rest[len(p):]
			if n == "" {
				return false
			}
			for _, r := range n {
				if r < '0' || r > '9' {
					return false
				}
			}
			return true
		}
	}
	return rest == ""
}

// checkNamespace accepts a DNS-1123 label of at most 63 bytes.
func checkNamespace(ns string) error {
	if ns == "" || len(ns) > 63 {
		return errNamespace
	}
	for i := 0; i < len(ns); i++ {
		b := ns[i]
		switch {
		case b >= 'a' && b <= 'z', b >= '0' && b <= '9':
		case b == '-' && i > 0 && i < len(ns)-1:
		default:
			return errNamespace
		}
	}
	return nil
}

// ScopeNamespace returns the namespace c acts on, for a caller's scope
// check, and whether it spans all namespaces (-A). It is "" — a
// cluster-level request, which a caller limited to some namespaces may
// not make — for the verbs that read no resource types (version,
// api-resources, api-versions, explain, cluster-info; auth can-i asks
// about its -n namespace) or when any type it reads resolves
// to a cluster-scoped resource (kubectl ignores -n for those, so get
// ns,pods -n x reads every namespace's name). Otherwise it is -n, or
// "default". Types res cannot resolve count as namespaced; nil res means
// StaticResolver.
func (c *Command) ScopeNamespace(ctx context.Context, res Resolver) (ns string, allNamespaces bool) {
	if c.AllNamespaces {
		return "", true
	}
	if len(c.Types) == 0 && c.Verb != "auth" {
		return "", false // version, api-resources, explain, cluster-info
	}
	if res == nil {
		res = StaticResolver
	}
	for _, t := range c.Types {
		rs, err := res.ResolveType(ctx, t.Spelling)
		if err != nil {
			continue
		}
		for _, r := range rs {
			if !r.Namespaced {
				return "", false
			}
		}
	}
	if c.Namespace != "" {
		return c.Namespace, false
	}
	return defaultNamespace, false
}
