package integration

import (
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"kubently.io/libs/contracts"
	"kubently.io/libs/testbed"
	"kubently.io/libs/testkit"
	executorapp "kubently.io/services/executor/app"
	kstack "kubently.io/tests/stack"
)

// Clusters of the policy stack, all backed by the testbed's API server.
const (
	strictCluster = "strict-1" // profile strict
	smallCluster  = "small-1"  // readOnly, 2 KiB output cap
	openCluster   = "open-1"   // readOnly
	metaCluster   = "meta-1"   // profile meta: Secrets listed, values masked
)

const policyV1 = `apiVersion: kubently.io/v1
kind: Policy
profiles:
  - name: strict
    verbs: [get, describe, logs, events]
    # bk is the testbed's Backup CRD short name: only the executor's
    # discovery knows it is backups.shop.example.com.
    restrictedResources: [configmaps, backups.shop.example.com]
    namespaces: {allow: [shop, data], deny: [kube-*]}
  - name: meta
    secrets: redacted
clusters:
  - {match: "strict-*", profile: strict}
  - {match: "meta-*", profile: meta}
`

// policyV2 also takes events away from the strict profile.
const policyV2 = `apiVersion: kubently.io/v1
kind: Policy
profiles:
  - name: strict
    verbs: [get, describe, logs]
    restrictedResources: [configmaps, backups.shop.example.com]
    namespaces: {allow: [shop, data], deny: [kube-*]}
clusters:
  - {match: "strict-*", profile: strict}
`

// startPolicyStack starts the services with a policy file and three
// executors on the testbed: strict, small and open.
func startPolicyStack(t *testing.T, policyFile string) *stack {
	t.Helper()
	rc, err := executorapp.RESTConfig(executorapp.Config{Kubeconfig: testbed.Kubeconfig(t)})
	if err != nil {
		t.Fatalf("kubeconfig: %v", err)
	}
	s := kstack.Start(t, kstack.Config{
		PolicyFile:   policyFile,
		PolicyReload: time.Second,
		Clusters: []kstack.Cluster{
			{ID: strictCluster, Token: "strict-token-0123456789abcdef", REST: rc},
			{ID: smallCluster, Token: "small-token-0123456789abcdef", REST: rc, MaxOutputBytes: 2048},
			{ID: openCluster, Token: "open-token-0123456789abcdef", REST: rc},
			{ID: metaCluster, Token: "meta-token-0123456789abcdef", REST: rc},
		},
	})
	return &stack{Stack: s, url: s.URL, nc: s.Conn, store: s.Store, logs: s.Logs}
}

func writeFile(t *testing.T, path, text string) {
	t.Helper()
	// Write then rename, as a ConfigMap mount swaps files.
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

// executed counts the commands the executors ran, from their logs.
func executed(s *stack) int {
	return strings.Count(s.logs.String(), `"msg":"command executed"`)
}

func TestPolicyEndToEnd(t *testing.T) {
	path := filepath.Join(t.TempDir(), "policy.yaml")
	writeFile(t, path, policyV1)
	s := startPolicyStack(t, path)

	t.Run("profile denials at the dispatcher", func(t *testing.T) {
		before := executed(s)
		for _, tt := range []struct {
			argv   []string
			reason string
		}{
			{[]string{"top", "pod", "-n", "shop"}, "verb_not_allowed"},
			{[]string{"get", "cm", "-n", "shop"}, "restricted_resource"},
			{[]string{"get", "pods,configmaps", "-n", "shop"}, "restricted_resource"},
			{[]string{"get", "configmap/x", "pod/y", "-n", "shop"}, "restricted_resource"},
			{[]string{"get", "secret", "-n", "shop"}, "restricted_resource"},
			{[]string{"get", "pods", "-n", "kube-system"}, "restricted_namespace"},
			{[]string{"get", "pods", "-A"}, "restricted_namespace"},
			{[]string{"get", "pods"}, "restricted_namespace"}, // default namespace
			{[]string{"get", "pods", "-n", "shop", "--token=x"}, "credential_flag"},
		} {
			r, _ := s.Exec(t, aliceKey, strictCluster, tt.argv...)
			e := response{status: r.Status, body: r.Body}.apiError(t)
			if r.Status != http.StatusForbidden || e.Code != contracts.CodeCommandDenied || e.Reason != tt.reason {
				t.Errorf("%q: got %d %s/%s %q; want 403 command_denied/%s", tt.argv, r.Status, e.Code, e.Reason, e.Message, tt.reason)
			}
		}
		if after := executed(s); after != before {
			t.Errorf("executors ran %d commands that the dispatcher denied", after-before)
		}
	})
	t.Run("allowed by the profile", func(t *testing.T) {
		for _, argv := range [][]string{
			{"get", "pods", "-n", "shop"},
			{"get", "nodes"}, // cluster-scoped: namespace rules do not apply
			{"describe", "deploy/frontend", "-n", "shop"},
			{"events", "-n", "data"},
		} {
			r, res := s.Exec(t, aliceKey, strictCluster, argv...)
			if r.Status != http.StatusOK || res.Status != contracts.StatusSuccess {
				t.Errorf("%q: got %d %s %q; want 200 success", argv, r.Status, res.Status, res.Error)
			}
		}
	})
	t.Run("the executor resolves CRD short names", func(t *testing.T) {
		// The dispatcher cannot know that bk is a restricted CRD; the
		// executor resolves it through discovery and refuses it.
		r, _ := s.Exec(t, aliceKey, strictCluster, "get", "bk", "-n", "data")
		var res contracts.CommandResult
		response{body: r.Body}.json(t, &res)
		if r.Status != http.StatusForbidden || res.Status != contracts.StatusDenied || res.Reason != "restricted_resource" || res.Output != "" {
			t.Fatalf("get bk: got %d %s/%s output %q; want 403 denied/restricted_resource and no output", r.Status, res.Status, res.Reason, res.Output)
		}
		if !strings.Contains(res.Error, "backups.shop.example.com") {
			t.Errorf("get bk: error %q; want it to name the resolved kind", res.Error)
		}
		// The same command on a readOnly cluster runs.
		if r, res := s.Exec(t, aliceKey, openCluster, "get", "bk", "-n", "data"); r.Status != http.StatusOK || res.Status != contracts.StatusSuccess {
			t.Fatalf("get bk on readOnly: got %d %s %q", r.Status, res.Status, res.Error)
		}
	})
	t.Run("secrets are redacted where they may be read", func(t *testing.T) {
		// The testbed's data/postgres-credentials holds
		// POSTGRES_PASSWORD=not-a-real-password.
		leak := []string{"not-a-real-password", "bm90LWEtcmVhbC1wYXNzd29yZA=="}
		argv := []string{"get", "secret", "postgres-credentials", "-n", "data", "-o", "yaml"}
		r, res := s.Exec(t, aliceKey, metaCluster, argv...)
		if r.Status != http.StatusOK || !strings.Contains(res.Output, "POSTGRES_PASSWORD: UkVEQUNURUQ=") {
			t.Fatalf("get secret on meta: got %d %q %q; want the key with a masked value", r.Status, res.Output, res.Error)
		}
		for _, l := range leak {
			if strings.Contains(string(r.Body), l) {
				t.Fatalf("response leaks %q: %s", l, r.Body)
			}
		}
		// readOnly still refuses Secrets outright.
		if r, _ := s.Exec(t, aliceKey, openCluster, argv...); r.Status != http.StatusForbidden {
			t.Fatalf("get secret on readOnly: got %d; want 403", r.Status)
		}
	})
	t.Run("command line", func(t *testing.T) {
		r := s.do(t, http.MethodPost, "/v1/execute", aliceKey, map[string]any{
			"cluster_id": openCluster, "command": `kubectl get pods -n shop -l 'app in (frontend, payments)' -o name`,
		})
		var res contracts.CommandResult
		r.json(t, &res)
		if r.status != http.StatusOK || !strings.Contains(res.Output, "pod/frontend-") || strings.Contains(res.Output, "pod/cart") {
			t.Fatalf("command line: got %d %q %q", r.status, res.Output, res.Error)
		}
		for _, tt := range []struct {
			body   map[string]any
			reason string
		}{
			{map[string]any{"cluster_id": openCluster, "command": "get pods | grep web"}, "shell_syntax"},
			{map[string]any{"cluster_id": openCluster, "command": "get pods; delete pods --all"}, "shell_syntax"},
			{map[string]any{"cluster_id": openCluster, "command": "get pods -l 'app=web"}, "shell_syntax"},
			{map[string]any{"cluster_id": openCluster, "command": `get pods -o "$(id)"`}, "shell_syntax"},
			{map[string]any{"cluster_id": openCluster, "command": "get pods", "argv": []string{"get", "pods"}}, ""},
		} {
			r := s.do(t, http.MethodPost, "/v1/execute", aliceKey, tt.body)
			e := r.apiError(t)
			if r.status != http.StatusBadRequest || e.Code != contracts.CodeInvalidCommand || e.Reason != tt.reason {
				t.Errorf("%v: got %d %s/%s %q; want 400 invalid_command/%s", tt.body, r.status, e.Code, e.Reason, e.Message, tt.reason)
			}
		}
	})
	t.Run("continue tokens page a capped list", func(t *testing.T) {
		argv := []string{"get", "clusterroles", "-o", "name", "--chunk-size", "5"}
		_, full := s.Exec(t, aliceKey, openCluster, argv...)
		want := strings.Fields(full.Output)
		if full.Truncated || len(want) < 20 {
			t.Fatalf("uncapped list: truncated %v, %d names; want the whole list of at least 20", full.Truncated, len(want))
		}
		var got []string
		token := ""
		for calls := 0; ; calls++ {
			if calls > 50 {
				t.Fatal("no end after 50 pages")
			}
			a := argv
			if token != "" {
				a = append(append([]string{}, argv...), "--continue", token)
			}
			r, res := s.Exec(t, aliceKey, smallCluster, a...)
			if r.Status != http.StatusOK || len(res.Output) > 2048 {
				t.Fatalf("page %d: got %d, %d bytes, %q", calls, r.Status, len(res.Output), res.Error)
			}
			got = append(got, strings.Fields(res.Output)...)
			if res.Continue == "" {
				if calls == 0 {
					t.Fatal("the 2 KiB cluster returned the whole list at once")
				}
				break
			}
			if !res.Truncated {
				t.Fatalf("page %d: a continue token without truncated", calls)
			}
			token = res.Continue
		}
		sort.Strings(got)
		sort.Strings(want)
		if strings.Join(got, "\n") != strings.Join(want, "\n") {
			t.Fatalf("paged names differ from the whole list:\ngot  %v\nwant %v", got, want)
		}
	})
	t.Run("hot reload", func(t *testing.T) {
		events := []string{"events", "-n", "shop"}
		writeFile(t, path, policyV2)
		testkit.CheckFor(t, 20*time.Second, 200*time.Millisecond, func() error {
			if r, _ := s.Exec(t, aliceKey, strictCluster, events...); r.Status != http.StatusForbidden {
				return errStatus(r.Status)
			}
			return nil
		})
		// A broken file keeps the last good policy: events stay denied,
		// gets still run.
		writeFile(t, path, "apiVersion: kubently.io/v1\nkind: Policy\nprofiles: [{name: strict, verbs: [rm]}]\n")
		testkit.CheckFor(t, 20*time.Second, 200*time.Millisecond, func() error {
			if !strings.Contains(s.logs.String(), "command policy reload failed; keeping the last good policy") {
				return errStatus(0)
			}
			return nil
		})
		if r, _ := s.Exec(t, aliceKey, strictCluster, events...); r.Status != http.StatusForbidden {
			t.Fatalf("events after a broken reload: got %d; want 403 (last good policy)", r.Status)
		}
		if r, res := s.Exec(t, aliceKey, strictCluster, "get", "pods", "-n", "shop"); r.Status != http.StatusOK {
			t.Fatalf("get after a broken reload: got %d %q; want 200", r.Status, res.Error)
		}
		writeFile(t, path, policyV1)
		testkit.CheckFor(t, 20*time.Second, 200*time.Millisecond, func() error {
			if r, _ := s.Exec(t, aliceKey, strictCluster, events...); r.Status != http.StatusOK {
				return errStatus(r.Status)
			}
			return nil
		})
	})
}

type errStatus int

func (e errStatus) Error() string { return "status " + http.StatusText(int(e)) }

// With a policy file that cannot be loaded, nothing runs.
func TestPolicyFailsClosed(t *testing.T) {
	path := filepath.Join(t.TempDir(), "missing.yaml")
	s := startPolicyStack(t, path)
	for _, argv := range [][]string{{"get", "pods", "-n", "shop"}, {"version"}} {
		r, _ := s.Exec(t, aliceKey, openCluster, argv...)
		e := response{status: r.Status, body: r.Body}.apiError(t)
		if r.Status != http.StatusForbidden || e.Reason != "policy_unavailable" || !strings.Contains(e.Message, "missing.yaml") {
			t.Fatalf("%q without a policy: got %d %s %q; want 403 policy_unavailable naming the file", argv, r.Status, e.Reason, e.Message)
		}
	}
	// Once a good file appears, commands run.
	writeFile(t, path, policyV1)
	testkit.CheckFor(t, 20*time.Second, 200*time.Millisecond, func() error {
		if r, _ := s.Exec(t, aliceKey, openCluster, "get", "pods", "-n", "shop"); r.Status != http.StatusOK {
			return errStatus(r.Status)
		}
		return nil
	})
}
