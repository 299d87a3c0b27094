package policy

import (
	"context"
	"testing"
)

// BenchmarkCheck measures a whole decision (parse, profile, static type
// resolution, restrictions, namespaces) for typical commands, against
// BenchmarkParse (the parser alone) as the baseline.
func BenchmarkCheck(b *testing.B) {
	pol, err := ParseFile([]byte(`apiVersion: kubently.io/v1
kind: Policy
profiles:
  - name: strict
    verbs: [get, describe, logs, events]
    restrictedResources: [configmaps, sealedsecrets.bitnami.com]
    namespaces: {allow: ["team-*"], deny: [kube-system]}
clusters:
  - {match: "prod-*", profile: strict}
`))
	if err != nil {
		b.Fatal(err)
	}
	cases := []struct {
		name, cluster string
		argv          []string
	}{
		{"get-readOnly", "dev-1", []string{"get", "pods", "-n", "shop", "-o", "wide"}},
		{"get-strict", "prod-1", []string{"get", "pods,svc,deploy", "-n", "team-a", "-l", "app=web", "-o", "json"}},
		{"logs-strict", "prod-1", []string{"logs", "deploy/web", "-n", "team-a", "--tail", "100", "--since", "5m"}},
		{"denied", "prod-1", []string{"get", "secrets", "-n", "team-a"}},
	}
	ctx := context.Background()
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				pol.Check(ctx, c.cluster, c.argv, StaticResolver)
			}
		})
	}
}

func BenchmarkParse(b *testing.B) {
	argv := []string{"get", "pods,svc,deploy", "-n", "team-a", "-l", "app=web", "-o", "json"}
	b.ReportAllocs()
	for b.Loop() {
		Parse(argv)
	}
}

func BenchmarkSplitLine(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		_, _ = SplitLine(`kubectl get pods -n team-a -l 'app in (web, api)' -o jsonpath="{.items[*].metadata.name}"`)
	}
}
