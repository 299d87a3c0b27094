package policy

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestParse(t *testing.T) {
	tr := func(spelling, name string) TypeRef { return TypeRef{Spelling: spelling, Name: name} }
	fl := func(name, value string) Flag { return Flag{Name: name, Value: value} }
	tests := []struct {
		name string
		argv []string
		want *Command
	}{
		{"plain", []string{"get", "pods"},
			&Command{Verb: "get", Args: []string{"pods"}, Types: []TypeRef{tr("pods", "")}}},
		{"short name", []string{"get", "po"},
			&Command{Verb: "get", Args: []string{"po"}, Types: []TypeRef{tr("po", "")}}},
		{"upper case type", []string{"get", "Secret"},
			&Command{Verb: "get", Args: []string{"Secret"}, Types: []TypeRef{tr("secret", "")}}},
		{"type list", []string{"get", "pods,svc"},
			&Command{Verb: "get", Args: []string{"pods,svc"}, Types: []TypeRef{tr("pods", ""), tr("svc", "")}}},
		{"type list with names", []string{"get", "pods,svc", "web"},
			&Command{Verb: "get", Args: []string{"pods,svc", "web"}, Types: []TypeRef{tr("pods", ""), tr("svc", "")}}},
		{"type and names", []string{"get", "pods", "a", "b"},
			&Command{Verb: "get", Args: []string{"pods", "a", "b"}, Types: []TypeRef{tr("pods", "")}}},
		{"type/name", []string{"get", "deploy/web"},
			&Command{Verb: "get", Args: []string{"deploy/web"}, Types: []TypeRef{tr("deploy", "web")}}},
		{"group-qualified type/name", []string{"describe", "deployments.apps/web"},
			&Command{Verb: "describe", Args: []string{"deployments.apps/web"}, Types: []TypeRef{tr("deployments.apps", "web")}}},
		{"several type/name", []string{"get", "pod/a", "svc/b"},
			&Command{Verb: "get", Args: []string{"pod/a", "svc/b"}, Types: []TypeRef{tr("pod", "a"), tr("svc", "b")}}},
		{"version/type", []string{"get", "v1/secrets"},
			&Command{Verb: "get", Args: []string{"v1/secrets"}, Types: []TypeRef{tr("v1", "secrets"), tr("secrets", "")}}},
		{"rollout type list and name", []string{"rollout", "history", "deploy,sts", "web"},
			&Command{Verb: "rollout", Sub: "history", Args: []string{"deploy,sts", "web"}, Types: []TypeRef{tr("deploy", "web"), tr("sts", "web")}}},
		{"bundle -Aojson", []string{"get", "pods", "-Aojson"},
			&Command{Verb: "get", Args: []string{"pods"}, AllNamespaces: true, Flags: []Flag{fl("all-namespaces", "true"), fl("output", "json")}, Types: []TypeRef{tr("pods", "")}}},
		{"bundle -Al value", []string{"get", "pods", "-Al", "app=web"},
			&Command{Verb: "get", Args: []string{"pods"}, AllNamespaces: true, Flags: []Flag{fl("all-namespaces", "true"), fl("selector", "app=web")}, Types: []TypeRef{tr("pods", "")}}},
		{"-n=ns", []string{"get", "pods", "-n=shop"},
			&Command{Verb: "get", Args: []string{"pods"}, Namespace: "shop", Flags: []Flag{fl("namespace", "shop")}, Types: []TypeRef{tr("pods", "")}}},
		{"-nns", []string{"get", "pods", "-nshop"},
			&Command{Verb: "get", Args: []string{"pods"}, Namespace: "shop", Flags: []Flag{fl("namespace", "shop")}, Types: []TypeRef{tr("pods", "")}}},
		{"--namespace=ns before type", []string{"get", "--namespace=shop", "pods"},
			&Command{Verb: "get", Args: []string{"pods"}, Namespace: "shop", Flags: []Flag{fl("namespace", "shop")}, Types: []TypeRef{tr("pods", "")}}},
		{"last -n wins", []string{"get", "pods", "-n", "a", "-n", "b"},
			&Command{Verb: "get", Args: []string{"pods"}, Namespace: "b", Flags: []Flag{fl("namespace", "a"), fl("namespace", "b")}, Types: []TypeRef{tr("pods", "")}}},
		{"-A=false", []string{"get", "pods", "-A=false"},
			&Command{Verb: "get", Args: []string{"pods"}, Flags: []Flag{fl("all-namespaces", "false")}, Types: []TypeRef{tr("pods", "")}}},
		{"bool long =false", []string{"get", "pods", "--show-labels=false"},
			&Command{Verb: "get", Args: []string{"pods"}, Flags: []Flag{fl("show-labels", "false")}, Types: []TypeRef{tr("pods", "")}}},
		{"-o value attached with =", []string{"get", "pods", "-o=jsonpath={.items}"},
			&Command{Verb: "get", Args: []string{"pods"}, Flags: []Flag{fl("output", "jsonpath={.items}")}, Types: []TypeRef{tr("pods", "")}}},
		{"-L repeated", []string{"get", "pods", "-L", "app", "-Ltier"},
			&Command{Verb: "get", Args: []string{"pods"}, Flags: []Flag{fl("label-columns", "app"), fl("label-columns", "tier")}, Types: []TypeRef{tr("pods", "")}}},
		{"-- ends flags", []string{"get", "-n", "shop", "--", "pods", "web-1"},
			&Command{Verb: "get", Args: []string{"pods", "web-1"}, Namespace: "shop", Flags: []Flag{fl("namespace", "shop")}, Types: []TypeRef{tr("pods", "")}}},
		{"trailing --", []string{"get", "pods", "--"},
			&Command{Verb: "get", Args: []string{"pods"}, Types: []TypeRef{tr("pods", "")}}},
		{"attached value that looks like a flag", []string{"get", "pods", "--selector=--server=x"},
			&Command{Verb: "get", Args: []string{"pods"}, Flags: []Flag{fl("selector", "--server=x")}, Types: []TypeRef{tr("pods", "")}}},
		{"logs pod container", []string{"logs", "web-1", "app"},
			&Command{Verb: "logs", Args: []string{"web-1", "app"}, Types: []TypeRef{tr("pods", "")}}},
		{"logs type/name and bundle", []string{"logs", "deploy/web", "-pc", "app", "--tail=-1"},
			&Command{Verb: "logs", Args: []string{"deploy/web"}, Flags: []Flag{fl("previous", "true"), fl("container", "app"), fl("tail", "-1")}, Types: []TypeRef{tr("deploy", "web")}}},
		{"logs negative tail separate", []string{"logs", "web-1", "--tail", "-1"},
			&Command{Verb: "logs", Args: []string{"web-1"}, Flags: []Flag{fl("tail", "-1")}, Types: []TypeRef{tr("pods", "")}}},
		{"logs selector", []string{"logs", "-l", "app=web"},
			&Command{Verb: "logs", Flags: []Flag{fl("selector", "app=web")}, Types: []TypeRef{tr("pods", "")}}},
		{"events --for", []string{"events", "--for", "Pod/web-1"},
			&Command{Verb: "events", Flags: []Flag{fl("for", "Pod/web-1")}, Types: []TypeRef{tr("events", ""), tr("pod", "web-1")}}},
		{"top pods", []string{"top", "pods", "-A"},
			&Command{Verb: "top", Sub: "pod", AllNamespaces: true, Flags: []Flag{fl("all-namespaces", "true")}, Types: []TypeRef{tr("pods", "")}}},
		{"top no", []string{"top", "no", "kwok-node-0"},
			&Command{Verb: "top", Sub: "node", Args: []string{"kwok-node-0"}, Types: []TypeRef{tr("nodes", "")}}},
		{"rollout history TYPE NAME", []string{"rollout", "history", "Deployment", "web"},
			&Command{Verb: "rollout", Sub: "history", Args: []string{"Deployment", "web"}, Types: []TypeRef{tr("deployment", "web")}}},
		{"rollout status --watch=false", []string{"rollout", "status", "deploy/web", "--watch=false"},
			&Command{Verb: "rollout", Sub: "status", Args: []string{"deploy/web"}, Flags: []Flag{fl("watch", "false")}, Types: []TypeRef{tr("deploy", "web")}}},
		{"auth can-i reads no objects", []string{"auth", "can-i", "get", "secrets"},
			&Command{Verb: "auth", Sub: "can-i", Args: []string{"get", "secrets"}}},
		{"explain reads no objects", []string{"explain", "pods.spec", "--recursive"},
			&Command{Verb: "explain", Args: []string{"pods.spec"}, Flags: []Flag{fl("recursive", "true")}}},
		{"version -ojson", []string{"version", "-ojson"},
			&Command{Verb: "version", Flags: []Flag{fl("output", "json")}}},
		{"get all", []string{"get", "all", "-n", "shop"},
			&Command{Verb: "get", Args: []string{"all"}, Namespace: "shop", Flags: []Flag{fl("namespace", "shop")}, Types: []TypeRef{tr("all", "")}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, d, ok := Parse(tt.argv)
			if !ok {
				t.Fatalf("Parse(%q) refused: %s (%s); want ok", tt.argv, d.Reason, d.Message)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Parse(%q) mismatch (-want +got):\n%s", tt.argv, diff)
			}
		})
	}
}

func TestParseRefuses(t *testing.T) {
	tests := []struct {
		name string
		argv []string
		want Reason
	}{
		{"nil", nil, ReasonEmpty},
		{"empty verb", []string{""}, ReasonEmpty},
		{"blank verb", []string{"  "}, ReasonEmpty},
		{"unknown verb", []string{"delete", "pods"}, ReasonVerbNotAllowed},
		{"empty type", []string{"get", ""}, ReasonMissingArgument},
		{"value is a flag", []string{"get", "pods", "-l", "--server=x"}, ReasonBadFlagValue},
		{"short value is a flag", []string{"get", "pods", "-n", "-s"}, ReasonBadFlagValue},
		{"flag after --", []string{"get", "pods", "--", "--token=x"}, ReasonCredentialFlag},
		{"name with newline is one argument", []string{"get", "pods", "web\n--server=x"}, ""},
		{"argument with NUL", []string{"get", "pods\x00", "-s", "x"}, ReasonCredentialFlag},
		// Resource arguments the executor refuses to parse (hole 8).
		{"get type/name list", []string{"get", "pods/x,secret/y"}, ReasonResourceArgument},
		{"get type list/name", []string{"get", "pods,secret/x"}, ReasonResourceArgument},
		{"get two slashes", []string{"get", "v1/secrets/x"}, ReasonResourceArgument},
		{"get group/version/type", []string{"get", "apps/v1/deployments/web"}, ReasonResourceArgument},
		{"get type then type/name", []string{"get", "pods", "secret/x"}, ReasonResourceArgument},
		{"get type list then name with slash", []string{"get", "pods,svc", "a/b"}, ReasonResourceArgument},
		{"get empty type", []string{"get", "/x"}, ReasonResourceArgument},
		{"get empty name", []string{"get", "pod/"}, ReasonResourceArgument},
		{"describe type/name list", []string{"describe", "pods/x,secret/y"}, ReasonResourceArgument},
		{"describe type then type/name", []string{"describe", "pod", "deploy/web"}, ReasonResourceArgument},
		{"logs type/name list", []string{"logs", "deploy/x,secret/y"}, ReasonResourceArgument},
		{"logs type list/name", []string{"logs", "deploy,secret/y"}, ReasonResourceArgument},
		{"logs empty name", []string{"logs", "deploy/"}, ReasonResourceArgument},
		{"rollout type/name list", []string{"rollout", "history", "deploy/x,secret/y"}, ReasonResourceArgument},
		{"rollout type then type/name", []string{"rollout", "status", "deploy", "secret/x"}, ReasonResourceArgument},
		{"events --for type/name list", []string{"events", "--for", "pod/x,secret/y"}, ReasonResourceArgument},
		{"events --for without a name", []string{"events", "--for=Pod"}, ReasonResourceArgument},
		{"events --for type list", []string{"events", "--for=pod,secret/y"}, ReasonResourceArgument},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cmd, d, ok := Parse(tt.argv)
			if tt.want == "" {
				if !ok {
					t.Fatalf("Parse(%q) refused: %s (%s); want ok", tt.argv, d.Reason, d.Message)
				}
				return
			}
			if ok {
				t.Fatalf("Parse(%q) = %+v, ok; want %s", tt.argv, cmd, tt.want)
			}
			if d.Reason != tt.want || d.Allowed || d.Message == "" {
				t.Errorf("Parse(%q) = %s (%s), allowed %v; want %s", tt.argv, d.Reason, d.Message, d.Allowed, tt.want)
			}
		})
	}
}

func TestCommandHas(t *testing.T) {
	cmd, d, ok := Parse([]string{"get", "pods", "--show-labels=false", "-A", "--no-headers=true"})
	if !ok {
		t.Fatalf("Parse: %s", d.Message)
	}
	for name, want := range map[string]bool{"show-labels": false, "all-namespaces": true, "no-headers": true, "output": false} {
		if got := cmd.Has(name); got != want {
			t.Errorf("Has(%q) = %v; want %v", name, got, want)
		}
	}
}

// TestDecisionMessagesBounded checks that a long argument is truncated in
// messages, which reach logs and clients.
func TestDecisionMessagesBounded(t *testing.T) {
	long := strings.Repeat("x", 10000)
	for _, argv := range [][]string{
		{long},
		{"get", "pods", "--" + long},
		{"get", long + "secrets", "-o", "go-template=" + long},
		{"rollout", long},
		{"get", "pods", "-l", "-" + long},
		{"get", "pods", "--", "-" + long},
	} {
		d := Check(argv)
		if d.Allowed || len(d.Message) > 512 {
			t.Errorf("Check(%.20q...) = %s with a %d-byte message; want denied, at most 512 bytes", argv, d.Reason, len(d.Message))
		}
	}
}

// TestDecisionMessagesHideFlagValues checks that a denied flag's value,
// which may be a credential, is not echoed into the decision message.
func TestDecisionMessagesHideFlagValues(t *testing.T) {
	const secret = "eyJhbGciOiJSUzI1NiJ9-s3cr3t"
	for _, argv := range [][]string{
		{"get", "pods", "--token=" + secret},
		{"get", "pods", "--password=" + secret},
		{"get", "pods", "--bearer-token=" + secret},
		{"get", "pods", "--", "--token=" + secret},
		{"get", "pods", "-l", "--token=" + secret},
		{"get", "pods", "-s" + secret},
		{"get", "pods", "-s=" + secret},
		{"--token=" + secret, "get", "pods"},
		{"get", "pods", "--token", secret},
	} {
		d := Check(argv)
		if d.Allowed || strings.Contains(d.Message, "s3cr3t") {
			t.Errorf("Check(%q) = %s (%s); want denied without the value", argv, d.Reason, d.Message)
		}
	}
}
