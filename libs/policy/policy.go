// Package policy decides whether a kubectl-style command may run. It parses
// argv the way kubectl does (verb, resource arguments, short and long flags,
// `--flag=value`, `-ojson`) and checks it against an allow-list: never by
// substring. The dispatcher calls it to reject early; the executor calls it
// again before it touches the cluster.
//
// Verbs: get, describe, logs, events, top pod|node, rollout history|status,
// api-resources, api-versions, version, cluster-info, explain and auth
// can-i. Each has a flag allow-list with typed values (verbFlags);
// credential, target, watch and file flags are always denied; -o accepts
// jsonpath= and custom-columns= templates (bounded) but never go-template or
// a *-file form; Secrets are restricted in every spelling the parser can see.
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
	"errors"
	"fmt"
	"slices"
	"sort"
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

// maxTemplateLen bounds -o jsonpath=… and -o custom-columns=… templates.
const maxTemplateLen = 1024

// maxGrepLen bounds the pattern of logs --grep.
const maxGrepLen = 512

// outputFormats are the plain -o values each verb accepts; templated forms
// (format=template) are listed in templateFormats.
var (
	getOutputs     = map[string]bool{"": true, "wide": true, "json": true, "yaml": true, "name": true}
	eventOutputs   = map[string]bool{"": true, "json": true, "yaml": true, "name": true}
	apiResOutputs  = map[string]bool{"": true, "wide": true, "name": true}
	explainOutputs = map[string]bool{"plaintext": true}
	// templateFormats are the -o name=template forms that read no file.
	// go-template, template and every *-file form are absent on purpose.
	templateFormats = map[string]bool{"jsonpath": true, "jsonpath-as-json": true, "custom-columns": true}
)

// checkOutput accepts the plain formats in plain and, when templates is
// set, the templated forms of templateFormats with a bounded template.
func checkOutput(plain map[string]bool, templates bool) func(string) error {
	return func(v string) error {
		if plain[v] {
			return nil
		}
		if format, tmpl, ok := strings.Cut(v, "="); ok && templates && templateFormats[format] {
			if tmpl == "" {
				return fmt.Errorf("output format %q needs a template", format)
			}
			if len(tmpl) > maxTemplateLen {
				return fmt.Errorf("output template is %d bytes; at most %d allowed", len(tmpl), maxTemplateLen)
			}
			return nil
		}
		allowed := make([]string, 0, len(plain)+len(templateFormats))
		for f := range plain {
			if f != "" {
				allowed = append(allowed, f)
			}
		}
		if templates {
			for f := range templateFormats {
				allowed = append(allowed, f+"=…")
			}
		}
		sort.Strings(allowed)
		return fmt.Errorf("output format %q is not allowed; use one of %s", truncate(v), strings.Join(allowed, ", "))
	}
}

// checkOneOf accepts exactly the given values.
func checkOneOf(values ...string) func(string) error {
	return func(v string) error {
		if slices.Contains(values, v) {
			return nil
		}
		return fmt.Errorf("%q is not one of %s", truncate(v), strings.Join(values, ", "))
	}
}

// checkMaxLen accepts values of at most n bytes.
func checkMaxLen(n int) func(string) error {
	return func(v string) error {
		if len(v) > n {
			return fmt.Errorf("value is %d bytes; at most %d allowed", len(v), n)
		}
		return nil
	}
}

// checkFalse accepts only "false": a flag that may only switch a waiting
// behaviour off (rollout status --watch=false).
func checkFalse(v string) error {
	if v != "false" {
		return errors.New("only false is allowed: a command must end")
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

// verbFlags lists the flags of every allowed verb. Verbs with
// subcommands (top, rollout, auth) are keyed "verb subcommand"; see
// subcommands. A name listed here takes precedence over deniedFlags, so a
// verb can allow a flag that is dangerous elsewhere (explain --recursive
// reads no file; rollout status --watch may only be false).
var verbFlags = map[string]map[string]flagSpec{
	"get": {
		"all-namespaces":      {kind: boolFlag},
		"selector":            {kind: valueFlag},
		"field-selector":      {kind: valueFlag},
		"output":              {kind: valueFlag, check: checkOutput(getOutputs, true)},
		"show-labels":         {kind: boolFlag},
		"show-kind":           {kind: boolFlag},
		"label-columns":       {kind: valueFlag, check: checkMaxLen(maxTemplateLen)},
		"sort-by":             {kind: valueFlag, check: checkMaxLen(maxTemplateLen)},
		"no-headers":          {kind: boolFlag},
		"ignore-not-found":    {kind: boolFlag},
		"show-managed-fields": {kind: boolFlag},
		"chunk-size":          {kind: valueFlag, check: checkInt(0, 10000)},
	},
	"describe": {
		"all-namespaces": {kind: boolFlag},
		"selector":       {kind: valueFlag},
		"show-events":    {kind: boolFlag},
		"chunk-size":     {kind: valueFlag, check: checkInt(0, 10000)},
	},
	"logs": {
		"container":        {kind: valueFlag},
		"all-containers":   {kind: boolFlag},
		"previous":         {kind: boolFlag},
		"tail":             {kind: valueFlag, check: checkInt(-1, 100000)},
		"since":            {kind: valueFlag},
		"since-time":       {kind: valueFlag},
		"timestamps":       {kind: boolFlag},
		"limit-bytes":      {kind: valueFlag, check: checkInt(1, 64<<20)},
		"selector":         {kind: valueFlag},
		"prefix":           {kind: boolFlag},
		"all-pods":         {kind: boolFlag},
		"max-log-requests": {kind: valueFlag, check: checkInt(1, 20)},
		"grep":             {kind: valueFlag, check: checkMaxLen(maxGrepLen)},
		"grep-regex":       {kind: boolFlag},
		"grep-context":     {kind: valueFlag, check: checkInt(0, 10)},
		"ignore-case":      {kind: boolFlag},
	},
	"events": {
		"all-namespaces": {kind: boolFlag},
		"for":            {kind: valueFlag},
		"types":          {kind: valueFlag},
		"output":         {kind: valueFlag, check: checkOutput(eventOutputs, false)},
		"no-headers":     {kind: boolFlag},
		"chunk-size":     {kind: valueFlag, check: checkInt(0, 10000)},
	},
	"top pod": {
		"all-namespaces": {kind: boolFlag},
		"selector":       {kind: valueFlag},
		"field-selector": {kind: valueFlag},
		"containers":     {kind: boolFlag},
		"sort-by":        {kind: valueFlag, check: checkOneOf("cpu", "memory")},
		"no-headers":     {kind: boolFlag},
		"sum":            {kind: boolFlag},
	},
	"top node": {
		"selector":      {kind: valueFlag},
		"sort-by":       {kind: valueFlag, check: checkOneOf("cpu", "memory")},
		"no-headers":    {kind: boolFlag},
		"show-capacity": {kind: boolFlag},
	},
	"rollout history": {
		"revision": {kind: valueFlag, check: checkInt(0, 1<<31-1)},
	},
	"rollout status": {
		"revision": {kind: valueFlag, check: checkInt(0, 1<<31-1)},
		"watch":    {kind: boolFlag, check: checkFalse},
	},
	"api-resources": {
		"namespaced": {kind: boolFlag},
		"api-group":  {kind: valueFlag},
		"output":     {kind: valueFlag, check: checkOutput(apiResOutputs, false)},
		"verbs":      {kind: valueFlag},
		"no-headers": {kind: boolFlag},
		"sort-by":    {kind: valueFlag, check: checkOneOf("name", "kind")},
		"categories": {kind: valueFlag},
	},
	"api-versions": {},
	"version": {
		"output": {kind: valueFlag, check: checkOneOf("json", "yaml")},
		"client": {kind: boolFlag},
	},
	"cluster-info": {},
	"explain": {
		"recursive":   {kind: boolFlag},
		"api-version": {kind: valueFlag},
		"output":      {kind: valueFlag, check: checkOutput(explainOutputs, false)},
		"max-depth":   {kind: valueFlag, check: checkInt(0, 20)},
	},
	"auth can-i": {
		"all-namespaces": {kind: boolFlag},
		"list":           {kind: boolFlag},
		"no-headers":     {kind: boolFlag},
		"subresource":    {kind: valueFlag},
		"quiet":          {kind: boolFlag},
	},
}

// subcommands maps each verb that has subcommands to its allowed ones, by
// every spelling kubectl accepts, to the canonical name used in verbFlags.
// Subcommands not listed (rollout undo|restart|pause|resume, auth
// reconcile|whoami, cluster-info dump via arity) are denied.
var subcommands = map[string]map[string]string{
	"top":     {"pod": "pod", "pods": "pod", "po": "pod", "node": "node", "nodes": "node", "no": "node"},
	"rollout": {"history": "history", "status": "status"},
	"auth":    {"can-i": "can-i"},
}

// arity bounds the positional arguments of verbs whose count is fixed.
var arity = map[string]struct{ min, max int }{
	"top pod":         {0, 1},
	"top node":        {0, 1},
	"rollout history": {1, 2},
	"rollout status":  {1, 2},
	"api-resources":   {0, 0},
	"api-versions":    {0, 0},
	"version":         {0, 0},
	"cluster-info":    {0, 0},
	"explain":         {1, 1},
	"auth can-i":      {0, 3},
}

var shortFlags = map[string]string{
	"n": "namespace",
	"A": "all-namespaces",
	"l": "selector",
	"o": "output",
	"c": "container",
	"p": "previous",
	"L": "label-columns",
	"q": "quiet",
}

// valueShort are the long names of short flags that take a value, which
// may be attached ("-ojson", "-nkube-system", "-Lapp").
var valueShort = map[string]bool{"namespace": true, "output": true, "selector": true, "container": true, "label-columns": true}

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
	key := verb
	rest := argv[1:]
	if subs, ok := subcommands[verb]; ok {
		if len(rest) == 0 || strings.HasPrefix(rest[0], "-") {
			return deny(verb, ReasonMissingArgument, "%s needs a subcommand: one of %s", verb, subcommandList(subs))
		}
		sub, ok := subs[rest[0]]
		if !ok {
			return deny(verb, ReasonVerbNotAllowed, "%s %q is not allowed; allowed: %s", verb, truncate(rest[0]), subcommandList(subs))
		}
		key = verb + " " + sub
		rest = rest[1:]
	}
	flags, ok := verbFlags[key]
	if !ok {
		return deny(verb, ReasonVerbNotAllowed, "verb %q is not allowed; allowed verbs: %s", truncate(verb), verbList())
	}
	var (
		positional []string
		seen       = map[string]bool{}
	)
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
		_, verbAllows := flags[name]
		// A verb may allow a long flag that is denied elsewhere (explain
		// --recursive, rollout status --watch=false); short ones never.
		if r, bad := deniedFlags[name]; bad && (!verbAllows || len(name) == 1) {
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
		seen[name] = true
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
	if d, ok := checkResources(key, positional, seen); !ok {
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
		if valueShort[long] {
			return first, body[1:], true, body
		}
	}
	return body[len(body)-1:], "", false, body
}

// denyShort checks every letter of a short-flag bundle against the denied set.
func denyShort(verb, bundle string) (Decision, bool) {
	for i, r := range bundle {
		s := string(r)
		if long, ok := shortFlags[s]; ok && (valueShort[long]) && i < len(bundle)-1 {
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

// checkResources checks the positional arguments of the verb (or "verb
// subcommand") key; flags holds the long names of the flags given.
func checkResources(key string, positional []string, flags map[string]bool) (Decision, bool) {
	verb, _, _ := strings.Cut(key, " ")
	if a, ok := arity[key]; ok {
		switch {
		case len(positional) < a.min:
			return deny(verb, ReasonMissingArgument, "%s needs at least %d argument(s)", key, a.min), false
		case len(positional) > a.max:
			return deny(verb, ReasonTooManyArguments, "%s takes at most %d argument(s)", key, a.max), false
		}
	}
	if verb == "auth" || verb == "explain" || verb == "top" {
		// auth can-i asks a question about a type and reads nothing;
		// explain reads schemas; top reads metrics. None reads Secrets.
		return Decision{}, true
	}
	switch verb {
	case "get", "describe":
		if len(positional) == 0 {
			return deny(verb, ReasonMissingArgument, "%s needs a resource type, e.g. %s pods", verb, verb), false
		}
	case "logs":
		if len(positional) == 0 && !flags["selector"] {
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

// subcommandList lists the canonical subcommands of one verb.
func subcommandList(subs map[string]string) string {
	seen := map[string]bool{}
	var out []string
	for _, c := range subs {
		if !seen[c] {
			seen[c] = true
			out = append(out, c)
		}
	}
	sort.Strings(out)
	return strings.Join(out, ", ")
}

// verbList lists the allowed verbs.
func verbList() string {
	seen := map[string]bool{}
	var out []string
	for k := range verbFlags {
		v, _, _ := strings.Cut(k, " ")
		if !seen[v] {
			seen[v] = true
			out = append(out, v)
		}
	}
	sort.Strings(out)
	return strings.Join(out, ", ")
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
