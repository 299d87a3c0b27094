package policy

import (
	"context"
	"strings"
	"testing"
)

// fuzzProfiles are the profiles FuzzNoDeniedAccepted checks against, by
// index: the built-in default and the clusters of testdata/profiles.yaml.
var fuzzProfiles = []string{"-", "strict", "redacted", "teams"}

// allowedSubs are the subcommands the policy allows, spelled as kubectl
// accepts them; written out here, not read from the package's tables.
var allowedSubs = map[string]map[string]bool{
	"top":     {"pod": true, "pods": true, "po": true, "node": true, "nodes": true, "no": true},
	"rollout": {"history": true, "status": true},
	"auth":    {"can-i": true},
}

// allowedVerbs are the verbs the policy allows, written out.
var allowedVerbs = map[string]bool{
	"get": true, "describe": true, "logs": true, "events": true, "top": true, "rollout": true,
	"api-resources": true, "api-versions": true, "version": true, "cluster-info": true,
	"explain": true, "auth": true, "diagnose": true,
}

// neverLong are long flags no accepted command may carry, written out:
// credentials, targets, impersonation, files, and never-ending commands.
var neverLong = []string{
	"server", "token", "kubeconfig", "context", "cluster", "user", "as", "as-group", "as-uid",
	"certificate-authority", "client-certificate", "client-key", "insecure-skip-tls-verify",
	"username", "password", "tls-server-name", "request-timeout",
	"filename", "kustomize", "recursive", "watch", "watch-only", "follow",
}

// neverShort are short flags no accepted command may carry.
const neverShort = "fkws"

// valueShorts are the short flags whose value may follow in the same
// argument ("-ojson", "-nw"): the letters after them are not flags.
const valueShorts = "nolcL"

// argvSep separates argv elements in FuzzNoDeniedAccepted's input.
const argvSep = "\n"

// FuzzNoDeniedAccepted checks the policy's central property on arbitrary
// argv: whatever Check allows (a) carries no denied flag in any spelling
// kubectl reads, before or after "--"; (b) reads no restricted resource
// in any spelling the static table knows; and (c) uses an allowed verb
// and subcommand. The checks are written independently of the parser.
func FuzzNoDeniedAccepted(f *testing.F) {
	for _, c := range readCorpus(f) {
		argv, err := SplitLine(c.line)
		if err != nil {
			continue
		}
		idx := 0
		for i, p := range fuzzProfiles {
			if p == c.profile {
				idx = i
			}
		}
		f.Add(strings.Join(argv, argvSep), uint8(idx))
	}
	pol := loadTestPolicy(f)
	f.Fuzz(func(t *testing.T, joined string, profile uint8) {
		argv := strings.Split(joined, argvSep)
		cluster := fuzzProfiles[int(profile)%len(fuzzProfiles)]
		var d Decision
		if cluster == "-" {
			d = Check(argv)
		} else {
			d = pol.Check(context.Background(), cluster, argv, nil)
		}
		if d.Allowed != (d.Reason == ReasonAllowed) || d.Message == "" {
			t.Fatalf("Check(%q) = %+v: inconsistent decision", argv, d)
		}
		if !d.Allowed {
			return
		}
		if d.Verb != argv[0] {
			t.Fatalf("Check(%q).Verb = %q; want %q", argv, d.Verb, argv[0])
		}
		var prof *Profile
		if cluster == "-" {
			prof = Default().Profile("")
		} else {
			prof = pol.Profile(cluster)
		}
		checkAccepted(t, argv, prof)
	})
}

// checkAccepted fails t unless the accepted argv (a) carries no denied
// flag in any spelling kubectl reads, before or after "--"; (b) reads no
// resource prof restricts, in any spelling the static table knows, nor
// core Secrets in a type position read without the parser's Types; (c)
// uses an allowed verb and subcommand; and (d) has only TYPE/NAME
// arguments the executor can parse.
func checkAccepted(t *testing.T, argv []string, prof *Profile) {
	t.Helper()
	// (c) the verb and subcommand are allowed.
	if !allowedVerbs[argv[0]] {
		t.Fatalf("accepted %q with verb %q", argv, argv[0])
	}
	if subs, ok := allowedSubs[argv[0]]; ok && (len(argv) < 2 || !subs[argv[1]]) {
		t.Fatalf("accepted %q with a subcommand outside %v", argv, subs)
	}
	// (a) no denied flag in any spelling, anywhere.
	for _, a := range argv[1:] {
		if bad := deniedSpelling(argv[0], a); bad != "" {
			t.Fatalf("accepted %q carrying the denied flag %s in %q", argv, bad, a)
		}
	}
	// (b) no restricted resource.
	cmd, pd, ok := Parse(argv)
	if !ok {
		t.Fatalf("Check accepted %q but Parse refuses it: %s", argv, pd.Message)
	}
	for _, tr := range cmd.Types {
		rs, _ := staticResolve(context.Background(), tr.Spelling)
		for _, r := range rs {
			if e, bad := prof.restricted.match(r); bad {
				t.Fatalf("accepted %q reading %s (restricted %s)", argv, r, e)
			}
		}
	}
	if prof.secrets == SecretsRedacted {
		return
	}
	for _, s := range typePositions(cmd) {
		if isSecretsSpelling(s) {
			t.Fatalf("accepted %q with the type %q in profile %s", argv, s, prof.name)
		}
	}
	// (d) every TYPE/NAME argument is one the executor parses: one
	// slash, one type before it and a name after it.
	for _, s := range typeNameArgs(cmd) {
		typ, name, _ := strings.Cut(s, "/")
		if typ == "" || name == "" || strings.Contains(name, "/") || strings.Contains(typ, ",") {
			t.Fatalf("accepted %q with the type/name argument %q the executor refuses", argv, s)
		}
	}
}

// typeNameArgs returns cmd's arguments that kubectl reads as TYPE/NAME,
// found without the parser's Types.
func typeNameArgs(cmd *Command) []string {
	var out []string
	switch cmd.key() {
	case "get", "describe", "rollout history", "rollout status":
		for _, a := range cmd.Args {
			if strings.Contains(a, "/") {
				out = append(out, a)
			}
		}
	case "logs":
		if len(cmd.Args) > 0 && strings.Contains(cmd.Args[0], "/") {
			out = append(out, cmd.Args[0])
		}
	case "events":
		for _, f := range cmd.Flags {
			if f.Name == "for" {
				out = append(out, f.Value)
			}
		}
	}
	return out
}

// deniedSpelling returns the denied flag a spells for verb, or "".
func deniedSpelling(verb, a string) string {
	switch {
	case a == "--" || !strings.HasPrefix(a, "-"):
		return ""
	case strings.HasPrefix(a, "--"):
		name, value, hasValue := strings.Cut(a[2:], "=")
		name = strings.ReplaceAll(name, "_", "-")
		for _, n := range neverLong {
			if name != n {
				continue
			}
			// The two exceptions: explain --recursive reads no file,
			// and rollout status --watch=false ends.
			if verb == "explain" && n == "recursive" {
				return ""
			}
			if verb == "rollout" && n == "watch" && hasValue && value == "false" {
				return ""
			}
			return "--" + n
		}
		return ""
	default:
		for _, r := range a[1:] {
			switch {
			case r == '=' || strings.ContainsRune(valueShorts, r):
				return "" // the rest is a value
			case strings.ContainsRune(neverShort, r):
				return "-" + string(r)
			}
		}
		return ""
	}
}

// typePositions returns the spellings in cmd's arguments that kubectl
// reads as resource types, found without the parser's Types.
func typePositions(cmd *Command) []string {
	var out []string
	typeList := func(s string) {
		first, rest, hasSlash := strings.Cut(s, "/")
		// An empty entry of a type list ("pods,") names no type:
		// kubectl's resource builder skips it, as SplitResourceList does.
		for _, t := range strings.Split(first, ",") {
			if t != "" {
				out = append(out, t)
			}
		}
		if hasSlash && looksLikeVersion(first) {
			next, _, _ := strings.Cut(rest, "/")
			out = append(out, next)
		}
	}
	switch cmd.key() {
	case "get", "describe":
		for i, a := range cmd.Args {
			if i == 0 || strings.Contains(a, "/") {
				typeList(a)
			}
		}
	case "logs":
		if len(cmd.Args) > 0 && strings.Contains(cmd.Args[0], "/") {
			typeList(cmd.Args[0])
		}
	case "rollout history", "rollout status":
		typeList(cmd.Args[0])
	case "events":
		for _, f := range cmd.Flags {
			if f.Name == "for" {
				typeList(f.Value)
			}
		}
	}
	return out
}

// looksLikeVersion reports whether s is an API version: v, a digit 1-9,
// digits, then optionally alpha or beta and digits. "v0" is none, so
// kubectl reads "secret.v0" as the type secret in a group v0, not as
// Secrets.
func looksLikeVersion(s string) bool {
	s = strings.ToLower(s)
	if len(s) < 2 || s[0] != 'v' || s[1] < '1' || s[1] > '9' {
		return false
	}
	rest := strings.TrimLeft(s[1:], "0123456789")
	if len(rest) == len(s)-1 {
		return false
	}
	for _, p := range []string{"alpha", "beta"} {
		if n, ok := strings.CutPrefix(rest, p); ok {
			return n != "" && strings.Trim(n, "0123456789") == ""
		}
	}
	return rest == ""
}

// isSecretsSpelling reports whether s names core Secrets the way kubectl
// reads a type: secret or secrets in any case, optionally followed by a
// version and the core group ("secrets.v1", "Secret.v1.", "secrets.").
func isSecretsSpelling(s string) bool {
	parts := strings.Split(strings.ToLower(strings.TrimSpace(s)), ".")
	if parts[0] != "secret" && parts[0] != "secrets" {
		return false
	}
	rest := parts[1:]
	if len(rest) > 0 && looksLikeVersion(rest[0]) {
		rest = rest[1:]
	}
	group := strings.Trim(strings.Join(rest, "."), ".")
	return group == "" || group == "core"
}

// TestFuzzHelpers pins the independent helpers the fuzz property uses.
func TestFuzzHelpers(t *testing.T) {
	for s, want := range map[string]bool{
		"secret": true, "Secrets": true, "secrets.v1": true, "secret.v1.": true, "secrets.": true,
		"secrets.v1.core": true, " secrets": true, "secrets.v1beta1": true,
		"secretx": false, "secret.v0": false, "secrets.v0.": false, "secrets.apps": false, "sealedsecrets": false, "secrets.example.com": false,
	} {
		if got := isSecretsSpelling(s); got != want {
			t.Errorf("isSecretsSpelling(%q) = %v; want %v", s, got, want)
		}
	}
	for _, tt := range []struct{ verb, arg, want string }{
		{"get", "--server=x", "--server"},
		{"get", "--as_group", "--as-group"},
		{"get", "-As", "-s"},
		{"get", "-nw", ""},
		{"get", "-Aow", ""},
		{"get", "-Aw", "-w"},
		{"get", "-A=true", ""},
		{"logs", "-pf", "-f"},
		{"explain", "--recursive", ""},
		{"get", "--recursive", "--recursive"},
		{"rollout", "--watch=false", ""},
		{"rollout", "--watch", "--watch"},
		{"get", "--watch=false", "--watch"},
		{"get", "--selector=--server=x", ""},
		{"get", "-1", ""},
	} {
		if got := deniedSpelling(tt.verb, tt.arg); got != tt.want {
			t.Errorf("deniedSpelling(%q, %q) = %q; want %q", tt.verb, tt.arg, got, tt.want)
		}
	}
}
