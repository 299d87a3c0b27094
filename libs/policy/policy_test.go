package policy

import (
	"strings"
	"testing"
)

func TestCheck(t *testing.T) {
	tests := []struct {
		argv string
		want Reason
	}{
		// allowed
		{"get pods", ReasonAllowed},
		{"get pods -A", ReasonAllowed},
		{"get pods -n kube-system -o wide", ReasonAllowed},
		{"get pods -ojson", ReasonAllowed},
		{"get pods --output=yaml", ReasonAllowed},
		{"get pods -n=kube-system", ReasonAllowed},
		{"get pods -nkube-system", ReasonAllowed},
		{"get deploy/web -n shop", ReasonAllowed},
		{"get pods,svc -l app=web", ReasonAllowed},
		{"get hpa", ReasonAllowed},
		{"get horizontalpodautoscalers", ReasonAllowed},
		{"get pods -n keda-autoscaler", ReasonAllowed},
		{"get pods -n credit-service", ReasonAllowed},
		{"get deploy dispatcher", ReasonAllowed},
		{"get pods --field-selector status.phase=Running --show-labels --no-headers", ReasonAllowed},
		{"get configmaps --chunk-size 100", ReasonAllowed},
		{"describe pod web-1 -n shop", ReasonAllowed},
		{"describe deployments.apps/web", ReasonAllowed},
		{"logs web-1 -c app --tail 100 --since 5m --previous --timestamps", ReasonAllowed},
		{"logs deploy/web --tail=20", ReasonAllowed},
		{"logs web-1 app", ReasonAllowed},
		{"events -n shop --for pod/web-1 --types Warning", ReasonAllowed},
		{"events -A", ReasonAllowed},
		{"get pods -- -weird-name", ReasonFlagNotAllowed},
		{"get pods -- --server=https://attacker", ReasonCredentialFlag},
		{"get pods -o jsonpath={.items}", ReasonAllowed},
		{"get pods -ojsonpath={.items[*].metadata.name}", ReasonAllowed},
		{"get pods -o jsonpath-as-json={.items[0]}", ReasonAllowed},
		{"get pods -o=custom-columns=NAME:.metadata.name,NODE:.spec.nodeName", ReasonAllowed},
		{"get pods -o jsonpath={range.items[*]}{.metadata.name}{end}", ReasonAllowed},
		{"get pods -L app -Ltier --label-columns=x --show-kind", ReasonAllowed},
		{"get pods --sort-by .metadata.name --ignore-not-found --show-managed-fields", ReasonAllowed},
		{"get all -n shop", ReasonAllowed},
		{"logs web --grep error --grep-regex --grep-context 3 --ignore-case", ReasonAllowed},
		{"logs -l app=web --max-log-requests 10 --prefix", ReasonAllowed},
		{"events -o json", ReasonAllowed},
		{"top pod", ReasonAllowed},
		{"top pods -A --containers", ReasonAllowed},
		{"top pod --containers", ReasonAllowed},
		{"top po web-1 -n shop --sort-by cpu --no-headers", ReasonAllowed},
		{"top pod -l app=web --sort-by=memory --sum", ReasonAllowed},
		{"top node", ReasonAllowed},
		{"top nodes --sort-by cpu --show-capacity -l x=y", ReasonAllowed},
		{"top no kwok-node-0", ReasonAllowed},
		{"rollout history deploy/web -n shop", ReasonAllowed},
		{"rollout history deployment web --revision 2", ReasonAllowed},
		{"rollout status sts/db", ReasonAllowed},
		{"rollout status ds/agent --watch=false", ReasonAllowed},
		{"api-resources", ReasonAllowed},
		{"api-resources --namespaced=false --api-group apps -o wide --verbs list,get --no-headers --sort-by name", ReasonAllowed},
		{"api-resources -o name", ReasonAllowed},
		{"api-versions", ReasonAllowed},
		{"version", ReasonAllowed},
		{"version -o json", ReasonAllowed},
		{"version --output=yaml", ReasonAllowed},
		{"cluster-info", ReasonAllowed},
		{"explain pods", ReasonAllowed},
		{"explain deployments.spec.template --recursive --api-version apps/v1", ReasonAllowed},
		{"auth can-i get pods", ReasonAllowed},
		{"auth can-i list deployments.apps -n shop", ReasonAllowed},
		{"auth can-i get secrets -A", ReasonAllowed},
		{"auth can-i --list", ReasonAllowed},
		{"auth can-i --list -n shop --no-headers", ReasonAllowed},
		{"auth can-i get /healthz -q", ReasonAllowed},
		// verbs
		{"", ReasonEmpty},
		{"delete pod x", ReasonVerbNotAllowed},
		{"exec web -- sh", ReasonVerbNotAllowed},
		{"apply -f x.yaml", ReasonVerbNotAllowed},
		{"GET pods", ReasonVerbNotAllowed},
		{"--namespace x get pods", ReasonVerbNotAllowed},
		// subcommands
		{"rollout undo deploy/web", ReasonVerbNotAllowed},
		{"rollout restart deploy/web", ReasonVerbNotAllowed},
		{"rollout pause deploy/web", ReasonVerbNotAllowed},
		{"rollout resume deploy/web", ReasonVerbNotAllowed},
		{"rollout", ReasonMissingArgument},
		{"rollout -n x history deploy/web", ReasonMissingArgument},
		{"auth reconcile -f rbac.yaml", ReasonVerbNotAllowed},
		{"auth whoami", ReasonVerbNotAllowed},
		{"top", ReasonMissingArgument},
		{"top service", ReasonVerbNotAllowed},
		{"cluster-info dump", ReasonTooManyArguments},
		{"certificate approve x", ReasonVerbNotAllowed},
		{"proxy", ReasonVerbNotAllowed},
		{"port-forward web 80", ReasonVerbNotAllowed},
		// credential / target flags, every spelling
		{"auth can-i get pods --as admin", ReasonCredentialFlag},
		{"auth can-i --list --as-group system:masters", ReasonCredentialFlag},
		{"top pod --server https://evil", ReasonCredentialFlag},
		{"version --kubeconfig /x", ReasonCredentialFlag},
		{"get pods --server https://evil", ReasonCredentialFlag},
		{"get pods --server=https://evil", ReasonCredentialFlag},
		{"get pods -s https://evil", ReasonCredentialFlag},
		{"get pods --token abc", ReasonCredentialFlag},
		{"get pods --kubeconfig /etc/k", ReasonCredentialFlag},
		{"get pods --context other", ReasonCredentialFlag},
		{"get pods --cluster other", ReasonCredentialFlag},
		{"get pods --user admin", ReasonCredentialFlag},
		{"get pods --as system:admin", ReasonCredentialFlag},
		{"get pods --as-group system:masters", ReasonCredentialFlag},
		{"get pods --as-uid 0", ReasonCredentialFlag},
		{"get pods --certificate-authority /x", ReasonCredentialFlag},
		{"get pods --client-certificate /x", ReasonCredentialFlag},
		{"get pods --client-key /x", ReasonCredentialFlag},
		{"get pods --insecure-skip-tls-verify", ReasonCredentialFlag},
		{"get pods --username u", ReasonCredentialFlag},
		{"get pods --password p", ReasonCredentialFlag},
		{"get pods --request-timeout 0", ReasonCredentialFlag},
		// unbounded
		{"get pods -w", ReasonUnbounded},
		{"get pods --watch", ReasonUnbounded},
		{"get pods --watch-only", ReasonUnbounded},
		{"get pods -Aw", ReasonUnbounded},
		{"logs web -f", ReasonUnbounded},
		{"logs web --follow", ReasonUnbounded},
		{"logs web -pf", ReasonUnbounded},
		{"rollout status deploy/web --watch", ReasonBadFlagValue},
		{"rollout status deploy/web --watch=true", ReasonBadFlagValue},
		{"rollout status deploy/web -w", ReasonUnbounded},
		{"rollout history deploy/web -w", ReasonUnbounded},
		// file input
		{"explain pods -f x", ReasonFileInput},
		{"get pods --recursive", ReasonFileInput},
		{"get -f pod.yaml", ReasonFileInput},
		{"get --filename=pod.yaml", ReasonFileInput},
		{"get -k dir", ReasonFileInput},
		{"describe -R -f dir", ReasonFlagNotAllowed},
		// unknown flags and bad values
		{"get pods --raw /api", ReasonFlagNotAllowed},
		{"get pods --template x", ReasonFlagNotAllowed},
		{"get pods -o go-template={{.}}", ReasonBadFlagValue},
		{"get pods -o go-template-file=/etc/x", ReasonBadFlagValue},
		{"get pods -o template={{.}}", ReasonBadFlagValue},
		{"get pods -o jsonpath-file=/etc/x", ReasonBadFlagValue},
		{"get pods -o custom-columns-file=/etc/x", ReasonBadFlagValue},
		{"get pods -o jsonpath=", ReasonBadFlagValue},
		{"get pods -o jsonpath={" + strings.Repeat("a", 1025) + "}", ReasonBadFlagValue},
		{"events -o wide", ReasonBadFlagValue},
		{"events -o jsonpath={.items}", ReasonBadFlagValue},
		{"logs web --tail abc", ReasonBadFlagValue},
		{"logs web --tail 99999999", ReasonBadFlagValue},
		{"logs web --grep " + strings.Repeat("x", 513), ReasonBadFlagValue},
		{"logs web --grep-context 11", ReasonBadFlagValue},
		{"logs web --grep-context -1", ReasonBadFlagValue},
		{"top pod --sort-by name", ReasonBadFlagValue},
		{"top node --containers", ReasonFlagNotAllowed},
		{"version -o wide", ReasonBadFlagValue},
		{"api-resources -o json", ReasonBadFlagValue},
		{"api-resources --raw /api", ReasonFlagNotAllowed},
		{"explain pods -o json", ReasonBadFlagValue},
		{"rollout history deploy/web --revision x", ReasonBadFlagValue},
		{"get pods -o", ReasonBadFlagValue},
		{"get pods --show-labels=maybe", ReasonBadFlagValue},
		// restricted resources
		{"get secrets", ReasonRestricted},
		{"get secret", ReasonRestricted},
		{"get Secrets", ReasonRestricted},
		{"get secret/db-pass", ReasonRestricted},
		{"get pods,secrets", ReasonRestricted},
		{"get pods,secret/x", ReasonResourceArgument},
		{"get secret/x,pods/y", ReasonResourceArgument},
		{"logs secret/x", ReasonRestricted},
		{"get pod secret", ReasonAllowed},
		{"get pods/secret", ReasonAllowed},
		{"get secrets.v1", ReasonRestricted},
		{"get v1/secrets", ReasonRestricted},
		{"describe -n x secrets", ReasonRestricted},
		{"describe secret/x", ReasonRestricted},
		// arity
		{"get", ReasonMissingArgument},
		{"logs", ReasonMissingArgument},
		{"logs a b c", ReasonTooManyArguments},
		{"events pods", ReasonTooManyArguments},
		{"explain", ReasonMissingArgument},
		{"explain pods svc", ReasonTooManyArguments},
		{"rollout history", ReasonMissingArgument},
		{"rollout status a b c", ReasonTooManyArguments},
		{"top pod a b", ReasonTooManyArguments},
		{"api-versions x", ReasonTooManyArguments},
		{"version x", ReasonTooManyArguments},
		{"auth can-i a b c d", ReasonTooManyArguments},
		{"rollout history secret/x", ReasonRestricted},
	}
	for _, tt := range tests {
		t.Run(tt.argv, func(t *testing.T) {
			d := Check(strings.Fields(tt.argv))
			if d.Reason != tt.want {
				t.Fatalf("Check(%q) = %s (%s); want %s", tt.argv, d.Reason, d.Message, tt.want)
			}
			if d.Allowed != (tt.want == ReasonAllowed) {
				t.Errorf("Check(%q).Allowed = %v; want %v", tt.argv, d.Allowed, tt.want == ReasonAllowed)
			}
			if d.Message == "" {
				t.Errorf("Check(%q) has no message", tt.argv)
			}
		})
	}
}

// FuzzCheck checks that Check never panics, that its decision is
// consistent, and that an accepted command carries no denied flag or
// Secret in the spellings below. FuzzNoDeniedAccepted checks the full
// property on argv.
func FuzzCheck(f *testing.F) {
	for _, s := range readSeeds(f) {
		f.Add(s)
	}
	for _, c := range readCorpus(f) {
		f.Add(c.line)
	}
	f.Fuzz(func(t *testing.T, line string) {
		argv := strings.Fields(line)
		d := Check(argv)
		if d.Allowed != (d.Reason == ReasonAllowed) || d.Message == "" || d.Reason == "" {
			t.Fatalf("Check(%q) = %+v: inconsistent decision", line, d)
		}
		if !d.Allowed {
			return
		}
		// The property of FuzzNoDeniedAccepted, on argv split from a
		// line rather than mutated directly.
		checkAccepted(t, argv, Default().Profile(""))
	})
}
