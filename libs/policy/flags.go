package policy

import (
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
)

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

// maxContinueLen bounds get --continue tokens.
const maxContinueLen = 4096

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
		// continue is Kubently's own: it resumes a list cut at the byte
		// cap with the token the cut result carried.
		"continue": {kind: valueFlag, check: checkMaxLen(maxContinueLen)},
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
	// diagnose is Kubently's own verb: the executor reads the namespace
	// (or, with -A, the cluster) and returns findings, never objects.
	"diagnose": {
		"all-namespaces": {kind: boolFlag},
		"output":         {kind: valueFlag, check: checkOneOf("json")},
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
	"diagnose":        {0, 0},
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

func truncate(s string) string {
	if len(s) > 64 {
		return s[:64] + "…"
	}
	return s
}

// FlagInfo is one flag of a verb's allow-list, as FlagTable lists it.
type FlagInfo struct {
	// Name is the long name ("namespace").
	Name string
	// Short is the one-letter shorthand ("n"), or "".
	Short string
	// TakesValue is false for a boolean flag.
	TakesValue bool
}

// FlagTable returns the flags each verb allows, keyed like Command.Key
// ("get", "top pod"), with the flags every verb allows (namespace)
// included, each list sorted by name. It is the vocabulary of
// Command.Flags: a reader of parsed commands (the executor) holds its own
// flag handling equal to it, so no flag is read one way here and another
// way there. The result is a fresh copy.
func FlagTable() map[string][]FlagInfo {
	shortOf := map[string]string{}
	for s, long := range shortFlags {
		shortOf[long] = s
	}
	out := make(map[string][]FlagInfo, len(verbFlags))
	for key, flags := range verbFlags {
		var list []FlagInfo
		add := func(name string, spec flagSpec) {
			list = append(list, FlagInfo{Name: name, Short: shortOf[name], TakesValue: spec.kind == valueFlag})
		}
		for name, spec := range commonFlags {
			if _, own := flags[name]; !own {
				add(name, spec)
			}
		}
		for name, spec := range flags {
			add(name, spec)
		}
		sort.Slice(list, func(i, j int) bool { return list[i].Name < list[j].Name })
		out[key] = list
	}
	return out
}
