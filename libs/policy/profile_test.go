package policy

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestParseFileValid(t *testing.T) {
	p := loadTestPolicy(t)
	if !p.Available() {
		t.Fatalf("Available() = false; want true")
	}
	if h := p.Hash(); len(h) != 64 {
		t.Errorf("Hash() = %q; want a SHA-256 hex digest", h)
	}
	strict := p.Profile("strict")
	if strict.Name() != "strict" {
		t.Fatalf("Profile(strict) = %s; want strict", strict.Name())
	}
	if got, want := strict.verbsOf(), "describe, events, get, logs, top"; got != want {
		t.Errorf("strict verbs = %q; want %q", got, want)
	}
	if got := strict.SensitiveEnv(); got != "" {
		t.Errorf("strict SensitiveEnv() = %q; want none", got)
	}
	red := p.Profile("redacted")
	if diff := cmp.Diff([]string{"secrets", "configmaps"}, red.Redacted()); diff != "" {
		t.Errorf("redacted Redacted() mismatch (-want +got):\n%s", diff)
	}
	if got, want := red.SensitiveEnv(), "(?i)(PASSWORD|TOKEN)"; got != want {
		t.Errorf("redacted SensitiveEnv() = %q; want %q", got, want)
	}
	wantFields := []FieldRedaction{{Kind: "Database", Group: "db.example.com", Paths: []string{"spec.password", "spec.auth.*.token"}}}
	if diff := cmp.Diff(wantFields, red.RedactFields()); diff != "" {
		t.Errorf("redacted RedactFields() mismatch (-want +got):\n%s", diff)
	}
	if got := strict.RedactFields(); len(got) != 0 {
		t.Errorf("strict RedactFields() = %v; want none", got)
	}
	if diff := cmp.Diff([]string{"secrets"}, p.Profile("other").Redacted()); diff != "" {
		t.Errorf("readOnly Redacted() mismatch (-want +got):\n%s", diff)
	}
}

func TestParseFileInvalid(t *testing.T) {
	const head = "apiVersion: kubently.io/v1\nkind: Policy\n"
	tests := []struct {
		name    string
		data    string
		wantErr string
	}{
		{"empty", "", "file is empty"},
		{"blank", " \n\t\n", "file is empty"},
		{"too big", head + "# " + strings.Repeat("x", MaxFileBytes), "at most"},
		{"not yaml", "apiVersion: [", "invalid"},
		{"wrong apiVersion", "apiVersion: kubently.io/v2\nkind: Policy\n", `apiVersion "kubently.io/v2"`},
		{"missing apiVersion", "kind: Policy\n", `apiVersion ""`},
		{"wrong kind", "apiVersion: kubently.io/v1\nkind: Whitelist\n", `kind "Whitelist"`},
		{"unknown top-level field", head + "mode: fullAccess\n", "mode"},
		{"unknown profile field", head + "profiles:\n  - name: p\n    allowedVerbs: [delete]\n", "allowedVerbs"},
		{"unknown namespaces field", head + "profiles:\n  - name: p\n    namespaces: {only: [a]}\n", "only"},
		{"unknown verb", head + "profiles:\n  - name: p\n    verbs: [get, delete]\n", `verbs "delete"`},
		{"subcommand is not a verb", head + "profiles:\n  - name: p\n    verbs: [rollout history]\n", `verbs "rollout history"`},
		{"duplicate profile", head + "profiles:\n  - name: p\n  - name: p\n", "defined twice"},
		{"redefining readOnly", head + "profiles:\n  - name: readOnly\n    verbs: [get]\n", "defined twice"},
		{"bad profile name", head + "profiles:\n  - name: 1p\n", `name "1p"`},
		{"empty profile name", head + "profiles:\n  - verbs: [get]\n", `name ""`},
		{"bad secrets mode", head + "profiles:\n  - name: p\n    secrets: allowed\n", `secrets "allowed"`},
		{"redacted and restricting secrets", head + "profiles:\n  - name: p\n    secrets: redacted\n    restrictedResources: [secrets]\n", "conflicts with secrets: redacted"},
		{"redacted and restricting secret", head + "profiles:\n  - name: p\n    secrets: redacted\n    restrictedResources: [Secret]\n", "conflicts with secrets: redacted"},
		{"bad restricted resource", head + "profiles:\n  - name: p\n    restrictedResources: [secrets/x]\n", "restrictedResources"},
		{"glob restricted resource", head + "profiles:\n  - name: p\n    restrictedResources: ['*']\n", "restrictedResources"},
		{"empty restricted resource", head + "profiles:\n  - name: p\n    restrictedResources: ['']\n", "restrictedResources"},
		{"bad redacted resource", head + "profiles:\n  - name: p\n    redactedResources: ['a,b']\n", "redactedResources"},
		{"bad sensitiveEnv regex", head + "profiles:\n  - name: p\n    sensitiveEnv: '(TOKEN'\n", "sensitiveEnv"},
		{"sensitiveEnv too long", head + "profiles:\n  - name: p\n    sensitiveEnv: '" + strings.Repeat("a", 1025) + "'\n", "longer than 1024"},
		{"redactFields without kind", head + "profiles:\n  - name: p\n    redactFields: [{paths: [spec.password]}]\n", "redactFields[0].kind"},
		{"redactFields bad group", head + "profiles:\n  - name: p\n    redactFields: [{kind: Db, group: 'Bad_Group', paths: [spec.x]}]\n", "redactFields[0].group"},
		{"redactFields without paths", head + "profiles:\n  - name: p\n    redactFields: [{kind: Db}]\n", "redactFields[0].paths"},
		{"redactFields empty segment", head + "profiles:\n  - name: p\n    redactFields: [{kind: Db, paths: [spec..x]}]\n", "redactFields[0].paths"},
		{"redactFields partial glob", head + "profiles:\n  - name: p\n    redactFields: [{kind: Db, paths: ['spec.a*']}]\n", "redactFields[0].paths"},
		{"redactFields masking the kind", head + "profiles:\n  - name: p\n    redactFields: [{kind: Db, paths: ['*']}]\n", "must start below"},
		{"redactFields unknown field", head + "profiles:\n  - name: p\n    redactFields: [{kind: Db, paths: [spec.x], fields: [y]}]\n", "fields"},
		{"bad namespace glob", head + "profiles:\n  - name: p\n    namespaces: {allow: ['team-[']}\n", "namespaces"},
		{"bad deny glob", head + "profiles:\n  - name: p\n    namespaces: {deny: ['[']}\n", "namespaces"},
		{"empty namespace glob", head + "profiles:\n  - name: p\n    namespaces: {deny: ['']}\n", "namespaces"},
		{"undefined default profile", head + "defaultProfile: nope\n", `defaultProfile "nope"`},
		{"undefined cluster profile", head + "clusters:\n  - match: prod-*\n    profile: nope\n", `clusters[0].profile "nope"`},
		{"bad cluster glob", head + "clusters:\n  - match: 'prod-['\n    profile: readOnly\n", "clusters[0].match"},
		{"empty cluster glob", head + "clusters:\n  - match: ''\n    profile: readOnly\n", "clusters[0].match"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := ParseFile([]byte(tt.data))
			if err == nil {
				t.Fatalf("ParseFile = %v, nil; want an error containing %q", p, tt.wantErr)
			}
			if !errors.Is(err, ErrInvalid) {
				t.Errorf("ParseFile error %q does not wrap ErrInvalid", err)
			}
			if !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("ParseFile error = %q; want it to contain %q", err, tt.wantErr)
			}
		})
	}
}

func TestParseFileMinimal(t *testing.T) {
	p, err := ParseFile([]byte("apiVersion: kubently.io/v1\nkind: Policy\n"))
	if err != nil {
		t.Fatalf("ParseFile(minimal) = %v; want nil", err)
	}
	if got := p.Profile("any").Name(); got != ProfileReadOnly {
		t.Errorf("Profile(any) = %s; want %s", got, ProfileReadOnly)
	}
	if d := p.Check(context.Background(), "any", []string{"get", "secrets"}, nil); d.Reason != ReasonRestricted {
		t.Errorf("get secrets = %s; want %s", d.Reason, ReasonRestricted)
	}
}

func TestPolicyProfile(t *testing.T) {
	const file = `apiVersion: kubently.io/v1
kind: Policy
defaultProfile: wide
profiles:
  - name: wide
  - name: strict
    verbs: [get]
  - name: other
clusters:
  - match: "prod-*"
    profile: strict
  - match: "prod-eu-*"
    profile: other
  - match: "lab-?"
    profile: readOnly
`
	p, err := ParseFile([]byte(file))
	if err != nil {
		t.Fatalf("ParseFile = %v", err)
	}
	tests := []struct {
		cluster string
		want    string
	}{
		{"prod-us-1", "strict"},
		{"prod-eu-1", "strict"}, // the first match wins
		{"prod-", "strict"},
		{"lab-1", ProfileReadOnly},
		{"lab-12", "wide"},
		{"staging", "wide"},
		{"", "wide"},
		{"PROD-us-1", "wide"},
	}
	for _, tt := range tests {
		t.Run(tt.cluster, func(t *testing.T) {
			if got := p.Profile(tt.cluster).Name(); got != tt.want {
				t.Errorf("Profile(%q) = %s; want %s", tt.cluster, got, tt.want)
			}
			if d := p.Check(context.Background(), tt.cluster, []string{"version"}, nil); d.Profile != tt.want {
				t.Errorf("Check on %q decided by %s; want %s", tt.cluster, d.Profile, tt.want)
			}
		})
	}
	for _, cluster := range []string{"", "prod-1", "x"} {
		if got := Default().Profile(cluster).Name(); got != ProfileReadOnly {
			t.Errorf("Default().Profile(%q) = %s; want %s", cluster, got, ProfileReadOnly)
		}
	}
	if got := Default().Hash(); got != "builtin" {
		t.Errorf("Default().Hash() = %q; want builtin", got)
	}
}

func TestDenyAll(t *testing.T) {
	p := DenyAll("policy file /etc/x: no such file")
	if p.Available() {
		t.Errorf("Available() = true; want false")
	}
	if got := p.Hash(); got != "deny-all" {
		t.Errorf("Hash() = %q; want deny-all", got)
	}
	if prof := p.Profile("any"); prof != nil {
		t.Errorf("Profile(any) = %s; want nil", prof.Name())
	}
	cases := readCorpus(t)
	cases = append(cases, corpusCase{line: "version"}, corpusCase{line: "api-versions"})
	for _, c := range cases {
		argv, err := SplitLine(c.line)
		if err != nil {
			continue
		}
		d := p.Check(context.Background(), "c1", argv, nil)
		if d.Allowed || d.Reason != ReasonUnavailable || !strings.Contains(d.Message, "no such file") {
			t.Errorf("DenyAll Check(%q) = %+v; want denied with %s and the cause", c.line, d, ReasonUnavailable)
		}
		if d.Verb != verbOf(argv) {
			t.Errorf("DenyAll Check(%q).Verb = %q; want %q", c.line, d.Verb, verbOf(argv))
		}
	}
	if d := p.Check(context.Background(), "", nil, nil); d.Reason != ReasonUnavailable {
		t.Errorf("DenyAll Check(nil) = %s; want %s", d.Reason, ReasonUnavailable)
	}
}

func TestCheckResolver(t *testing.T) {
	const file = `apiVersion: kubently.io/v1
kind: Policy
profiles:
  - name: strict
    restrictedResources: [sealedsecrets.bitnami.com]
    namespaces: {allow: [shop]}
  - name: redacted
    secrets: redacted
clusters:
  - match: strict
    profile: strict
  - match: redacted
    profile: redacted
`
	p, err := ParseFile([]byte(file))
	if err != nil {
		t.Fatalf("ParseFile = %v", err)
	}
	sealed := Resource{Group: "bitnami.com", Resource: "sealedsecrets", Namespaced: true}
	pods := Resource{Resource: "pods", Namespaced: true}
	nodes := Resource{Resource: "nodes"}
	errDiscovery := errors.New("discovery unavailable")
	var asked []string
	cluster := ResolverFunc(func(ctx context.Context, spelling string) ([]Resource, error) {
		asked = append(asked, spelling)
		switch spelling {
		case "ss", "sealedsecret", "sealedsecrets":
			return []Resource{sealed}, nil
		case "all":
			return []Resource{pods, sealed}, nil
		case "po", "pods":
			return []Resource{pods}, nil
		case "no", "nodes":
			return []Resource{nodes}, nil
		case "empty":
			return nil, nil
		}
		return nil, errDiscovery
	})
	failing := ResolverFunc(func(context.Context, string) ([]Resource, error) { return nil, errDiscovery })
	tests := []struct {
		name    string
		cluster string
		res     Resolver
		line    string
		want    Reason
	}{
		{"short name of a restricted CRD", "strict", cluster, "get ss -n shop", ReasonRestricted},
		{"short name unknown to the static table", "strict", StaticResolver, "get ss -n shop", ReasonAllowed},
		{"all expands to a restricted CRD", "strict", cluster, "get all -n shop", ReasonRestricted},
		{"all without the CRD statically", "strict", StaticResolver, "get all -n shop", ReasonAllowed},
		{"all in the default profile", "", cluster, "get all", ReasonAllowed},
		{"resolver error falls back: secret", "", failing, "get secret", ReasonRestricted},
		{"resolver error falls back: secrets.v1", "", failing, "get pods,secrets.v1", ReasonRestricted},
		{"resolver error falls back: pods", "", failing, "get pods", ReasonAllowed},
		{"resolver error falls back: CRD by name", "strict", failing, "get sealedsecrets -n shop", ReasonRestricted},
		{"resolver error, CRD by group", "strict", failing, "get sealedsecrets.bitnami.com/x -n shop", ReasonRestricted},
		{"resolver knows nothing: static", "", cluster, "get secret", ReasonRestricted},
		{"resolver returns nothing: static", "", cluster, "get empty", ReasonAllowed},
		{"cluster-scoped by discovery", "strict", cluster, "get nodes", ReasonAllowed},
		{"namespaced by discovery", "strict", cluster, "get pods -n kube-system", ReasonNamespace},
		{"unknown type is namespaced", "strict", failing, "get widgets", ReasonNamespace},
		{"redacted allows secrets through a resolver", "redacted", failing, "get secrets", ReasonAllowed},
		{"nil resolver is static", "", nil, "get secrets", ReasonRestricted},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			argv, err := SplitLine(tt.line)
			if err != nil {
				t.Fatalf("SplitLine(%q) = %v", tt.line, err)
			}
			d := p.Check(context.Background(), tt.cluster, argv, tt.res)
			if d.Reason != tt.want {
				t.Errorf("Check(%q) on %q = %s (%s); want %s", tt.line, tt.cluster, d.Reason, d.Message, tt.want)
			}
		})
	}
	if len(asked) == 0 {
		t.Errorf("the resolver was never asked")
	}
}

func TestStaticResolver(t *testing.T) {
	tests := []struct {
		spelling string
		want     []Resource
	}{
		{"po", []Resource{{Resource: "pods", Namespaced: true}}},
		{"Secret", []Resource{{Resource: "secrets", Namespaced: true}}},
		{"secrets.v1", []Resource{{Resource: "secrets", Namespaced: true}}},
		{"secret.v1.", []Resource{{Resource: "secrets", Namespaced: true}}},
		{" secrets ", []Resource{{Resource: "secrets", Namespaced: true}}},
		{"deploy", []Resource{{Group: "apps", Resource: "deployments", Namespaced: true}}},
		{"deployment.v1.apps", []Resource{{Group: "apps", Resource: "deployments", Namespaced: true}}},
		{"hpa", []Resource{{Group: "autoscaling", Resource: "horizontalpodautoscalers", Namespaced: true}}},
		{"no", []Resource{{Resource: "nodes"}}},
		{"sealedsecrets.bitnami.com", []Resource{{Group: "bitnami.com", Resource: "sealedsecrets", Namespaced: true, Guessed: true}}},
		{"secrets.example.com", []Resource{{Group: "example.com", Resource: "secrets", Namespaced: true, Guessed: true}}},
	}
	for _, tt := range tests {
		t.Run(tt.spelling, func(t *testing.T) {
			got, err := StaticResolver.ResolveType(context.Background(), tt.spelling)
			if err != nil {
				t.Fatalf("ResolveType(%q) = %v", tt.spelling, err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("ResolveType(%q) mismatch (-want +got):\n%s", tt.spelling, diff)
			}
		})
	}
	all, _ := StaticResolver.ResolveType(context.Background(), "all")
	for _, r := range all {
		if r.Resource == "secrets" {
			t.Errorf(`"all" includes secrets`)
		}
	}
	if len(all) == 0 {
		t.Errorf(`"all" resolves to nothing`)
	}
}
