// Package policy decides whether a kubectl-style command may run. It parses
// argv the way kubectl does (verb, resource arguments, short and long flags,
// `--flag=value`, `-ojson`) and checks it against an allow-list: never by
// substring. The dispatcher calls it to reject early; the executor calls it
// again before it touches the cluster.
//
// This is the first version: verbs get, describe, logs and events, a flag
// allow-list per verb, credential/target/watch flags always denied, and
// Secrets restricted in every spelling the parser can see.
//
// # Usage
//
//	d := policy.Check(argv)
//	if !d.Allowed { return 403 with d.Reason and d.Message }
//
// # Concurrency
//
// Check is a pure function of its input and safe for concurrent use.
package policy

import (
	"fmt"
	"strings"
)

// Reason is a machine-readable reason code for a decision.
type Reason string

// Reason codes.
const (
	ReasonAllowed          Reason = "allowed"
	ReasonEmpty            Reason = "empty_command"
	ReasonVerbNotAllowed   Reason = "verb_not_allowed"
	ReasonFlagNotAllowed   Reason = "flag_not_allowed"
	ReasonCredentialFlag   Reason = "credential_flag"
	ReasonUnbounded        Reason = "unbounded_command"
	ReasonFileInput        Reason = "file_input"
	ReasonRestricted       Reason = "restricted_resource"
	ReasonBadFlagValue     Reason = "bad_flag_value"
	ReasonMissingArgument  Reason = "missing_argument"
	ReasonTooManyArguments Reason = "too_many_arguments"
)

// Decision is the outcome of a policy check.
type Decision struct {
	// Allowed is true only when the command may run.
	Allowed bool
	// Reason is the machine-readable reason code.
	Reason Reason
	// Message explains the decision to a human.
	Message string
	// Verb is the parsed verb ("" when argv was empty).
	Verb string
}

func deny(verb string, r Reason, format string, args ...any) Decision {
	return Decision{Reason: r, Verb: verb, Message: fmt.Sprintf(format, args...)}
}

// flagKind says how a flag takes its value.
type flagKind int

const (
	boolFlag flagKind = iota
	valueFlag
)

type flagSpec struct {
	kind  flagKind
	check func(string) error
}

var outputFormats = map[string]bool{"": true, "wide": true, "json": true, "yaml": true, "name": true}

func checkOutput(v string) error {
	if !outputFormats[v] {
		return fmt.Errorf("output format %q is not allowed; use one of wide, json, yaml, name", v)
	}
	return nil
}

func checkInt(lo, hi int64) func(string) error {
	return func(v string) error {
		var n int64
		if _, err := fmt.Sscan(v, &n); err != nil || fmt.Sprint(n) != v {
			return fmt.Errorf("%q is not an integer", v)
		}
		if n < lo || n > hi {
			return fmt.Errorf("%d is out of range [%d, %d]", n, lo, hi)
		}
		return nil
	}
}

// common flags every verb accepts.
var commonFlags = map[string]flagSpec{
	"namespace": {kind: valueFlag},
}

var verbFlags = map[string]map[string]flagSpec{
	"get": {
		"all-namespaces": {kind: boolFlag},
		"selector":       {kind: valueFlag},
		"field-selector": {kind: valueFlag},
		"output":         {kind: valueFlag, check: checkOutput},
		"show-labels":    {kind: boolFlag},
		"no-headers":     {kind: boolFlag},
		"chunk-size":     {kind: valueFlag, check: checkInt(0, 10000)},
	},
	"describe": {
		"all-namespaces": {kind: boolFlag},
		"selector":       {kind: valueFlag},
		"show-events":    {kind: boolFlag},
		"chunk-size":     {kind: valueFlag, check: checkInt(0, 10000)},
	},
	"logs": {
		"container":      {kind: valueFlag},
		"all-containers": {kind: boolFlag},
		"previous":       {kind: boolFlag},
		"tail":           {kind: valueFlag, check: checkInt(-1, 100000)},
		"since":          {kind: valueFlag},
		"since-time":     {kind: valueFlag},
		"timestamps":     {kind: boolFlag},
		"limit-bytes":    {kind: valueFlag, check: checkInt(1, 64<<20)},
		"selector":       {kind: valueFlag},
		"prefix":         {kind: boolFlag},
	},
	"events": {
		"all-namespaces": {kind: boolFlag},
		"for":            {kind: valueFlag},
		"types":          {kind: valueFlag},
		"output":         {kind: valueFlag, check: checkOutput},
		"no-headers":     {kind: boolFlag},
		"chunk-size":     {kind: valueFlag, check: checkInt(0, 10000)},
	},
}

var shortFlags = map[string]string{
	"n": "namespace",
	"A": "all-namespaces",
	"l": "selector",
	"o": "output",
	"c": "container",
	"p": "previous",
}

// Flags denied in every mode, with their reason.
var deniedFlags = map[string]Reason{
	"server": ReasonCredentialFlag, "s": ReasonCredentialFlag, "token": ReasonCredentialFlag,
	"kubeconfig": ReasonCredentialFlag, "context": ReasonCredentialFlag, "cluster": ReasonCredentialFlag,
	"user": ReasonCredentialFlag, "as": ReasonCredentialFlag, "as-group": ReasonCredentialFlag,
	"as-uid": ReasonCredentialFlag, "certificate-authority": ReasonCredentialFlag,
	"client-certificate": ReasonCredentialFlag, "client-key": ReasonCredentialFlag,
	"insecure-skip-tls-verify": ReasonCredentialFlag, "username": ReasonCredentialFlag,
	"password": ReasonCredentialFlag, "tls-server-name": ReasonCredentialFlag,
	"request-timeout": ReasonCredentialFlag,
	"watch":           ReasonUnbounded, "w": ReasonUnbounded, "watch-only": ReasonUnbounded, "follow": ReasonUnbounded,
	"filename": ReasonFileInput, "kustomize": ReasonFileInput, "k": ReasonFileInput, "recursive": ReasonFileInput,
}

// restricted resource spellings (lower-case, group-qualified forms included).
var restricted = map[string]bool{
	"secret": true, "secrets": true, "secrets.v1": true, "secret.v1": true,
	"v1/secrets": true, "v1/secret": true, "secrets.": true,
}

// Check parses argv and decides whether it may run.
func Check(argv []string) Decision {
	if len(argv) == 0 || strings.TrimSpace(argv[0]) == "" {
		return deny("", ReasonEmpty, "empty command: want a verb such as get, describe, logs or events")
	}
	verb := argv[0]
	flags, ok := verbFlags[verb]
	if !ok {
		return deny(verb, ReasonVerbNotAllowed, "verb %q is not allowed; allowed verbs: get, describe, logs, events", truncate(verb))
	}
	var positional []string
	rest := argv[1:]
	for i := 0; i < len(rest); i++ {
		a := rest[i]
		if a == "--" {
			positional = append(positional, rest[i+1:]...)
			break
		}
		if !strings.HasPrefix(a, "-") || a == "-" {
			positional = append(positional, a)
			continue
		}
		name, value, hasValue, shortBundle := splitFlag(a)
		if shortBundle != "" {
			// -f on logs means --follow, on other verbs --filename; -k is kustomize.
			if d, ok := denyShort(verb, shortBundle); ok {
				return d
			}
		}
		if r, bad := deniedFlags[name]; bad {
			return deny(verb, r, "flag %q is never allowed (%s)", truncate(a), r)
		}
		if name == "f" {
			r := ReasonFileInput
			if verb == "logs" {
				r = ReasonUnbounded
			}
			return deny(verb, r, "flag %q is never allowed (%s)", truncate(a), r)
		}
		if long, ok := shortFlags[name]; ok {
			name = long
		}
		spec, ok := flags[name]
		if !ok {
			spec, ok = commonFlags[name]
		}
		if !ok {
			return deny(verb, ReasonFlagNotAllowed, "flag %q is not allowed for %s", truncate(a), verb)
		}
		if spec.kind == valueFlag && !hasValue {
			if i+1 >= len(rest) {
				return deny(verb, ReasonBadFlagValue, "flag %q needs a value", truncate(a))
			}
			i++
			value = rest[i]
		}
		if spec.kind == boolFlag && hasValue && value != "true" && value != "false" {
			return deny(verb, ReasonBadFlagValue, "flag %q takes true or false", truncate(a))
		}
		if spec.check != nil {
			if err := spec.check(value); err != nil {
				return deny(verb, ReasonBadFlagValue, "flag --%s: %v", name, err)
			}
		}
	}
	if d, ok := checkResources(verb, positional); !ok {
		return d
	}
	return Decision{Allowed: true, Reason: ReasonAllowed, Verb: verb, Message: "allowed"}
}

// splitFlag splits "-ojson", "--output=json", "-n=ns", "-Ao" into parts.
// For a bundle of short flags ("-Al") it returns the bundle in shortBundle
// and the last flag as name.
func splitFlag(a string) (name, value string, hasValue bool, shortBundle string) {
	if strings.HasPrefix(a, "--") {
		body := a[2:]
		if k, v, ok := strings.Cut(body, "="); ok {
			return k, v, true, ""
		}
		return body, "", false, ""
	}
	body := a[1:]
	if k, v, ok := strings.Cut(body, "="); ok && len(k) == 1 {
		return k, v, true, ""
	}
	if len(body) == 1 {
		return body, "", false, ""
	}
	// A short flag with an attached value (-ojson, -nkube-system) or a
	// bundle of boolean short flags (-Ap).
	first := body[:1]
	if long, ok := shortFlags[first]; ok {
		if long == "namespace" || long == "output" || long == "selector" || long == "container" {
			return first, body[1:], true, body
		}
	}
	return body[len(body)-1:], "", false, body
}

// denyShort checks every letter of a short-flag bundle against the denied set.
func denyShort(verb, bundle string) (Decision, bool) {
	for i, r := range bundle {
		s := string(r)
		if long, ok := shortFlags[s]; ok && (long == "namespace" || long == "output" || long == "selector" || long == "container") && i < len(bundle)-1 {
			// the rest of the bundle is this flag's value
			return Decision{}, false
		}
		if rsn, bad := deniedFlags[s]; bad {
			return deny(verb, rsn, "flag -%s is never allowed (%s)", s, rsn), true
		}
		if s == "f" {
			r := ReasonFileInput
			if verb == "logs" {
				r = ReasonUnbounded
			}
			return deny(verb, r, "flag -f is never allowed (%s)", r), true
		}
		if _, ok := shortFlags[s]; !ok {
			return deny(verb, ReasonFlagNotAllowed, "flag -%s is not allowed for %s", s, verb), true
		}
	}
	return Decision{}, false
}

func checkResources(verb string, positional []string) (Decision, bool) {
	switch verb {
	case "get", "describe":
		if len(positional) == 0 {
			return deny(verb, ReasonMissingArgument, "%s needs a resource type, e.g. %s pods", verb, verb), false
		}
	case "logs":
		if len(positional) == 0 {
			return deny(verb, ReasonMissingArgument, "logs needs a pod name or type/name"), false
		}
		if len(positional) > 2 {
			return deny(verb, ReasonTooManyArguments, "logs takes a pod and optionally a container"), false
		}
	case "events":
		if len(positional) > 0 {
			return deny(verb, ReasonTooManyArguments, "events takes no positional arguments; use --for type/name"), false
		}
	}
	for i, p := range positional {
		// The first positional of get/describe names types ("pods,svc",
		// "deploy/web"); any other argument with a slash is type/name.
		if (i != 0 || verb == "logs") && !strings.Contains(p, "/") {
			continue
		}
		for _, part := range strings.Split(p, ",") {
			typ := part
			if strings.Contains(part, "/") && !isGroupVersion(part) {
				typ, _, _ = strings.Cut(part, "/")
			}
			if isRestricted(typ) {
				return deny(verb, ReasonRestricted, "resource %q is restricted", truncate(typ)), false
			}
		}
	}
	return Decision{}, true
}

func isGroupVersion(p string) bool {
	first, _, _ := strings.Cut(p, "/")
	return first == "v1" || strings.HasPrefix(first, "v1") || strings.Contains(first, ".")
}

func isRestricted(t string) bool {
	t = strings.ToLower(strings.TrimSpace(t))
	if restricted[t] {
		return true
	}
	// group-qualified: secrets.v1., "v1/secrets", ".../secrets"
	if i := strings.LastIndex(t, "/"); i >= 0 {
		return isRestricted(t[i+1:])
	}
	if head, _, ok := strings.Cut(t, "."); ok {
		return head == "secret" || head == "secrets"
	}
	return false
}

func truncate(s string) string {
	if len(s) > 64 {
		return s[:64] + "…"
	}
	return s
}
