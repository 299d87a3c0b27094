package parity

import (
	"encoding/json"
	"flag"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"kubently.io/libs/contracts"
	"kubently.io/libs/testbed"
	executorapp "kubently.io/services/executor/app"
	"kubently.io/tests/stack"
)

// Cluster ids of the stack: admin has an executor with the testbed's admin
// kubeconfig, viewer one with the read-only "view" ServiceAccount, capped one
// with the admin kubeconfig and a small output cap.
const (
	admin  = "local"
	viewer = "local-viewer"
	capped = "local-capped"

	// cappedBytes is the output cap of the capped cluster's executor.
	cappedBytes = 8 << 10
	// workers is how many cases run at once (kubectl processes and Kubently
	// requests); the comparisons then run as ordered subtests.
	workers = 6
	// attempts is how often a case runs before a difference counts.
	attempts = 3
)

// tcase is one command run both ways and compared.
type tcase struct {
	// name names the command in the test output.
	name string
	// argv is the kubectl command line without "kubectl".
	argv []string
	// cluster is the cluster id to run on: admin (the default) or viewer.
	cluster string
	// norm rewrites stdout and stderr on both sides before comparing.
	norm []normalizer
	// columns names the columns of a table printed with --no-headers, so
	// that its ages can be masked by column (headless).
	columns []string
	// extract keeps only the part of stdout to compare (after norm).
	extract func(string) string
	// pending, when set, skips the case with this reason (see pendingCommands).
	pending string
}

// seedNames are the generated pod names the cases refer to.
type seedNames struct {
	cart, recommender, payments, search, frontend, checkoutNew, migrate string
}

func lookupNames(t *testing.T, k kubectlCmd, kubeconfig string) seedNames {
	t.Helper()
	first := func(ns, selector string) string {
		name := k.out(t, kubeconfig, "get", "pods", "-n", ns, "-l", selector, "--sort-by=.metadata.name",
			"-o", "jsonpath={.items[0].metadata.name}")
		if name == "" {
			t.Fatalf("no pod with %s in %s: run hack/testbed/testbed.sh seed", selector, ns)
		}
		return name
	}
	return seedNames{
		cart:        first("shop", "app=cart"),
		recommender: first("shop", "app=recommender"),
		payments:    first("shop", "app=payments"),
		search:      first("shop", "app=search"),
		frontend:    first("shop", "app=frontend"),
		checkoutNew: first("shop", "app=checkout,testbed/not-ready=true"),
		migrate:     first("batch", "app=db-migrate"),
	}
}

// cases are the commands compared with kubectl. Each name says what it covers.
func cases(n seedNames) []tcase {
	a := []normalizer{ages}
	c := func(name string, norm []normalizer, argv ...string) tcase {
		return tcase{name: name, argv: argv, norm: norm}
	}
	asViewer := func(tc tcase) tcase { tc.cluster = viewer; return tc }
	noHeaders := func(tc tcase, columns ...string) tcase {
		tc.columns, tc.norm = columns, []normalizer{headless(columns...)}
		return tc
	}
	return []tcase{
		// get: kinds, CRDs, all, output formats, selectors, columns, sorting.
		c("get pods -n shop", a, "get", "pods", "-n", "shop"),
		c("get pods -A", a, "get", "pods", "-A"),
		c("get pods -o wide", a, "get", "pods", "-n", "shop", "-o", "wide"),
		c("get deployments", a, "get", "deploy", "-n", "shop"),
		c("get deployments.apps -o wide", a, "get", "deployments.apps", "-n", "shop", "-o", "wide"),
		c("get replicasets", a, "get", "rs", "-n", "shop"),
		c("get statefulsets", a, "get", "sts", "-n", "data"),
		c("get daemonsets -o wide", a, "get", "ds", "-n", "monitoring", "-o", "wide"),
		c("get jobs", a, "get", "jobs", "-n", "batch"),
		c("get cronjobs", a, "get", "cronjobs", "-n", "batch"),
		c("get services", a, "get", "svc", "-n", "shop"),
		c("get configmaps", a, "get", "configmaps", "-n", "shop"),
		c("get nodes", a, "get", "nodes"),
		c("get nodes -o wide", a, "get", "nodes", "-o", "wide"),
		c("get namespaces --show-labels", a, "get", "ns", "--show-labels"),
		c("get crd by name", nil, "get", "crd", "backups.shop.example.com"),
		c("get custom resources (printer columns)", a, "get", "backups", "-n", "data"),
		c("get custom resources by short name -A", a, "get", "bk", "-A"),
		c("get custom resource -o yaml", nil, "get", "backups.shop.example.com", "postgres-nightly", "-n", "data", "-o", "yaml"),
		c("get all", a, "get", "all", "-n", "shop"),
		c("get all -n batch", a, "get", "all", "-n", "batch"),
		c("get pod -o json", nil, "get", "pod", n.cart, "-n", "shop", "-o", "json"),
		c("get pod -o yaml", nil, "get", "pod", n.recommender, "-n", "shop", "-o", "yaml"),
		c("get deployment -o yaml", nil, "get", "deploy", "checkout", "-n", "shop", "-o", "yaml"),
		c("get pods -o name", nil, "get", "pods", "-n", "shop", "-o", "name"),
		c("get -o jsonpath", nil, "get", "pods", "-n", "shop", "-o", "jsonpath={.items[*].metadata.name}"),
		c("get -o jsonpath range", nil, "get", "pods", "-n", "shop", "-o",
			`jsonpath={range .items[*]}{.metadata.name}{"\t"}{.status.phase}{"\n"}{end}`),
		c("get -o custom-columns", nil, "get", "pods", "-n", "shop", "-o",
			"custom-columns=NAME:.metadata.name,PHASE:.status.phase,RESTARTS:.status.containerStatuses[0].restartCount"),
		c("get -l", a, "get", "pods", "-n", "shop", "-l", "tier=backend"),
		c("get -l set-based", a, "get", "pods", "-n", "shop", "-l", "app in (cart,payments)"),
		c("get --field-selector", a, "get", "pods", "-A", "--field-selector", "status.phase=Pending"),
		c("get --field-selector !=", a, "get", "pods", "-A", "--field-selector", "status.phase!=Running"),
		c("get --show-labels", a, "get", "pods", "-n", "shop", "--show-labels"),
		c("get -L", a, "get", "pods", "-n", "shop", "-L", "app,tier"),
		c("get --sort-by name", a, "get", "pods", "-n", "shop", "--sort-by=.metadata.name"),
		c("get --sort-by restartCount", a, "get", "pods", "-n", "shop", "--sort-by=.status.containerStatuses[0].restartCount"),
		noHeaders(c("get --no-headers", nil, "get", "pods", "-n", "shop", "--no-headers"), "NAME", "READY", "STATUS", "RESTARTS", "AGE"),
		noHeaders(c("get -A --no-headers -o wide", nil, "get", "deploy", "-A", "--no-headers", "-o", "wide"),
			"NAMESPACE", "NAME", "READY", "UP-TO-DATE", "AVAILABLE", "AGE", "CONTAINERS", "IMAGES", "SELECTOR"),
		c("get two names", a, "get", "pod", n.cart, n.frontend, "-n", "shop"),
		c("get type/name pairs", a, "get", "deploy/frontend", "svc/frontend", "-n", "shop"),
		c("get events", a, "get", "events", "-n", "batch", "--sort-by=.metadata.name"),
		c("get clusterrolebinding -o wide", a, "get", "clusterrolebinding", "kubently-viewer", "-o", "wide"),
		c("get nothing found", a, "get", "pods", "-n", "kube-public"),

		// describe
		c("describe crashlooping pod", a, "describe", "pod", n.cart, "-n", "shop"),
		c("describe OOMKilled pod", a, "describe", "pod", n.recommender, "-n", "shop"),
		c("describe ImagePullBackOff pod", a, "describe", "pod", n.payments, "-n", "shop"),
		c("describe unschedulable pod", a, "describe", "pod", n.search, "-n", "shop"),
		c("describe pods -l", a, "describe", "pods", "-n", "shop", "-l", "app=frontend"),
		c("describe stuck deployment", a, "describe", "deploy", "checkout", "-n", "shop"),
		c("describe service without endpoints", a, "describe", "svc", "inventory", "-n", "shop"),
		c("describe failed job", a, "describe", "job", "db-migrate", "-n", "batch"),
		c("describe statefulset", a, "describe", "sts", "postgres", "-n", "data"),
		c("describe configmap", a, "describe", "cm", "frontend-config", "-n", "shop"),
		c("describe custom resource", a, "describe", "backups", "postgres-nightly", "-n", "data"),
		c("describe node", []normalizer{times}, "describe", "node", testbed.NodeName),

		// logs
		c("logs", nil, "logs", n.cart, "-n", "shop"),
		c("logs --previous", nil, "logs", n.cart, "-n", "shop", "--previous"),
		c("logs -p of OOMKilled pod", nil, "logs", n.recommender, "-n", "shop", "-p"),
		c("logs deploy/x --previous", nil, "logs", "deploy/cart", "-n", "shop", "--previous"),
		c("logs -c --tail", nil, "logs", n.frontend, "-n", "shop", "-c", "nginx", "--tail", "2"),
		c("logs -c --timestamps", nil, "logs", n.frontend, "-n", "shop", "-c", "log-shipper", "--timestamps"),
		c("logs --since-time", nil, "logs", n.frontend, "-n", "shop", "-c", "nginx", "--since-time=2026-01-01T00:00:03Z"),
		c("logs deploy/x picks a pod and container", nil, "logs", "deploy/frontend", "-n", "shop"),
		c("logs job/x of failed job", nil, "logs", "job/db-migrate", "-n", "batch"),
		c("logs sts/x --tail", nil, "logs", "statefulset/postgres", "-n", "data", "--tail", "1"),

		// events
		c("events", a, "events", "-n", "shop"),
		c("events --types Warning", a, "events", "-n", "shop", "--types", "Warning"),
		c("events --for pod", a, "events", "-n", "shop", "--for", "pod/"+n.cart),
		c("events --for job", a, "events", "-n", "batch", "--for", "job/db-migrate"),
		c("events -A --types Warning", a, "events", "-A", "--types", "Warning"),

		// top (no ages in its output: 35m there is CPU)
		c("top pod", nil, "top", "pod", "-n", "shop"),
		c("top pod --containers", nil, "top", "pod", "-n", "shop", "--containers"),
		c("top pod -A --sort-by memory", nil, "top", "pod", "-A", "--sort-by", "memory"),
		c("top pod -l", nil, "top", "pod", "-n", "shop", "-l", "app=frontend"),
		c("top node", nil, "top", "node"),

		// rollout
		c("rollout history deployment", nil, "rollout", "history", "deploy/checkout", "-n", "shop"),
		c("rollout history --revision", nil, "rollout", "history", "deploy/checkout", "-n", "shop", "--revision", "2"),
		c("rollout history statefulset", nil, "rollout", "history", "sts/postgres", "-n", "data"),
		c("rollout history daemonset", nil, "rollout", "history", "ds/node-exporter", "-n", "monitoring"),
		c("rollout status stuck deployment", nil, "rollout", "status", "deploy/checkout", "-n", "shop"),
		c("rollout status healthy deployment", nil, "rollout", "status", "deployment/frontend", "-n", "shop"),
		c("rollout status statefulset", nil, "rollout", "status", "sts/postgres", "-n", "data"),

		// discovery and cluster
		c("api-resources", nil, "api-resources"),
		c("api-resources --namespaced=false", nil, "api-resources", "--namespaced=false"),
		c("api-resources --api-group -o wide", nil, "api-resources", "--api-group=apps", "-o", "wide"),
		c("api-versions", nil, "api-versions"),
		{name: "version (server part)", argv: []string{"version"}, extract: serverVersion},
		c("cluster-info", nil, "cluster-info"),
		c("explain field", nil, "explain", "pods.spec.nodeSelector"),
		c("explain custom resource", nil, "explain", "backups.spec"),

		// auth
		c("auth can-i yes", nil, "auth", "can-i", "list", "pods", "-n", "shop"),
		asViewer(c("auth can-i no (viewer)", nil, "auth", "can-i", "delete", "pods", "-n", "shop")),
		asViewer(c("auth can-i subresource (viewer)", nil, "auth", "can-i", "get", "pods/log", "-n", "shop")),

		// errors
		c("error: pod not found", nil, "get", "pod", "nope", "-n", "shop"),
		c("error: bad resource type", nil, "get", "foos"),
		c("error: describe not found", nil, "describe", "deploy", "nope", "-n", "shop"),
		c("error: logs of unscheduled pod", nil, "logs", n.search, "-n", "shop"),
		c("error: rollout history not found", nil, "rollout", "history", "deploy/nope", "-n", "shop"),
		c("error: explain unknown type", nil, "explain", "foos"),
		asViewer(c("viewer: get pods works", a, "get", "pods", "-n", "shop")),
		asViewer(c("error: forbidden list nodes (viewer)", nil, "get", "nodes")),
		asViewer(c("error: forbidden cluster roles (viewer)", nil, "get", "clusterroles")),
		asViewer(c("error: forbidden describe node (viewer)", nil, "describe", "node", testbed.NodeName)),
		{name: "error: logs of missing pod", argv: []string{"logs", "nope", "-n", "shop"}},
		{name: "error: bad label selector", argv: []string{"get", "pods", "-n", "shop", "-l", "app==="}},
	}
}

// pendingCommands are cases Kubently does not pass yet: commands the
// executor does not support or whose output still differs from kubectl's.
// TestParity reports each as skipped with its reason; move a case back to
// cases once it passes.
func pendingCommands(_ seedNames) []tcase {
	return nil
}

// pendingReason returns the reason a case is pending, if it is listed in
// pendingCommands.
func pendingReason(n seedNames, name string) (string, bool) {
	for _, tc := range pendingCommands(n) {
		if tc.name == name {
			return tc.pending, true
		}
	}
	return "", false
}

// runPending runs pendingCommands like the other cases, to see whether they
// pass yet: go test ./tests/parity -run TestParity -args -parity.pending
var runPending = flag.Bool("parity.pending", false, "run pendingCommands instead of skipping them")

// outcome is one case's two runs.
type outcome struct {
	tc       tcase
	kubectl  run
	kubently run
	err      error // Kubently did not return a result (HTTP error)
}

func TestParity(t *testing.T) {
	if testing.Short() {
		t.Skip("needs the seeded testbed")
	}
	start := time.Now()
	kubeconfig := testbed.Kubeconfig(t)
	viewerKubeconfig := testbed.ViewerKubeconfig(t)
	k := newKubectl(t, testbed.BinDir(t)+"/kubectl")
	testbed.Seed(t)
	names := lookupNames(t, k, kubeconfig)

	adminRC, err := executorapp.RESTConfig(executorapp.Config{Kubeconfig: kubeconfig})
	if err != nil {
		t.Fatal(err)
	}
	viewerRC, err := executorapp.RESTConfig(executorapp.Config{Kubeconfig: viewerKubeconfig})
	if err != nil {
		t.Fatal(err)
	}
	s := stack.Start(t, stack.Config{LogLevel: "warn", Clusters: []stack.Cluster{
		{ID: admin, Token: "admin-token-0123456789abcdef", REST: adminRC},
		{ID: viewer, Token: "viewer-token-0123456789abcdef", REST: viewerRC},
		{ID: capped, Token: "capped-token-0123456789abcdef", REST: adminRC, MaxOutputBytes: cappedBytes},
	}})
	kubeconfigOf := map[string]string{admin: kubeconfig, viewer: viewerKubeconfig}

	all := cases(names)
	pending := pendingCommands(names)
	if *runPending {
		all, pending = append(all, pending...), nil
	}
	seen := map[string]bool{}
	for _, tc := range append(slices.Clone(all), pending...) {
		if seen[tc.name] {
			t.Fatalf("two cases are named %q", tc.name)
		}
		seen[tc.name] = true
	}
	outcomes := make([]outcome, len(all))
	sem := make(chan struct{}, workers)
	var wg sync.WaitGroup
	for i, tc := range all {
		if tc.cluster == "" {
			tc.cluster = admin
		}
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			// The cluster is live (other test packages create and delete
			// their own namespaces meanwhile), so a difference is retried
			// before it counts: only a persistent one fails the case.
			var o outcome
			for attempt := 0; attempt < attempts; attempt++ {
				o = outcome{tc: tc}
				o.kubently, o.err = viaKubently(s, tc.cluster, tc.argv)
				var kerr error
				o.kubectl, kerr = k.run(kubeconfigOf[tc.cluster], tc.argv...)
				if kerr != nil && o.err == nil {
					o.err = kerr
				}
				if len(differences(o)) == 0 {
					break
				}
			}
			outcomes[i] = o
		})
	}
	wg.Wait()
	ran := time.Since(start)

	passed, failed := 0, 0
	for _, o := range outcomes {
		ok := t.Run(o.tc.name, func(t *testing.T) {
			for _, d := range differences(o) {
				t.Error(d)
			}
		})
		if ok {
			passed++
		} else {
			failed++
		}
	}
	for _, tc := range pending {
		t.Run(tc.name, func(t *testing.T) { t.Skipf("pending: kubectl %s: %s", strings.Join(tc.argv, " "), tc.pending) })
	}
	t.Logf("parity: %d passed / %d total (%d failed, %d pending and skipped) in %v",
		passed, len(outcomes)+len(pending), failed, len(pending), ran.Round(time.Millisecond))
}

// viaKubently runs argv through POST /v1/execute and returns what a kubently
// user sees as stdout, stderr and exit code.
func viaKubently(s *stack.Stack, cluster string, argv []string) (run, error) {
	r, res, err := s.Execute(stack.AliceKey, cluster, argv...)
	if err != nil {
		return run{}, err
	}
	if r.Status != http.StatusOK {
		return run{}, fmt.Errorf("kubently answered HTTP %d: %s", r.Status, r.Body)
	}
	return run{stdout: res.Output, stderr: res.Error, exitCode: res.ExitCode}, nil
}

// differences lists how Kubently's run differs from kubectl's, after
// normalising; none means the case passes.
func differences(o outcome) []string {
	cmdline := "kubectl " + strings.Join(o.tc.argv, " ")
	if o.err != nil {
		return []string{fmt.Sprintf("%s: %v", cmdline, o.err)}
	}
	norm := func(s string) string {
		for _, f := range o.tc.norm {
			s = f(s)
		}
		return s
	}
	var diffs []string
	wantOut, gotOut := norm(o.kubectl.stdout), norm(o.kubently.stdout)
	if o.tc.extract != nil {
		wantOut, gotOut = o.tc.extract(wantOut), o.tc.extract(gotOut)
		if wantOut == "" {
			return []string{fmt.Sprintf("%s: nothing to compare in kubectl's output:\n%s", cmdline, o.kubectl.stdout)}
		}
	}
	if diff := cmp.Diff(wantOut, gotOut); diff != "" {
		diffs = append(diffs, fmt.Sprintf("%s: stdout differs (-kubectl +kubently):\n%s", cmdline, diff))
	} else if o.tc.extract == nil && o.kubectl.stdout != o.kubently.stdout && slices.Equal(volatile(o.tc, o.kubectl.stdout), volatile(o.tc, o.kubently.stdout)) {
		// Normalising may only absorb ages, counts and times that changed
		// between the two runs, never a difference in padding or layout.
		diffs = append(diffs, fmt.Sprintf("%s: stdout differs in layout only (-kubectl +kubently):\n%s",
			cmdline, cmp.Diff(o.kubectl.stdout, o.kubently.stdout)))
	}
	if o.kubently.exitCode != o.kubectl.exitCode {
		diffs = append(diffs, fmt.Sprintf("%s: exit code = %d; want %d (kubectl stderr: %q)",
			cmdline, o.kubently.exitCode, o.kubectl.exitCode, o.kubectl.stderr))
	}
	// stderr is compared for successful commands too: notices and
	// warnings are part of what a user sees.
	{
		if diff := cmp.Diff(norm(o.kubectl.stderr), norm(o.kubently.stderr)); diff != "" {
			diffs = append(diffs, fmt.Sprintf("%s: stderr differs (-kubectl +kubently):\n%s", cmdline, diff))
		}
	}
	return diffs
}

// TestDeliberateDifferences covers what Kubently denies or changes on
// purpose, so a parity gap there is visible and intended.
func TestDeliberateDifferences(t *testing.T) {
	if testing.Short() {
		t.Skip("needs the seeded testbed")
	}
	kubeconfig := testbed.Kubeconfig(t)
	k := newKubectl(t, testbed.BinDir(t)+"/kubectl")
	testbed.Seed(t)
	names := lookupNames(t, k, kubeconfig)
	adminRC, err := executorapp.RESTConfig(executorapp.Config{Kubeconfig: kubeconfig})
	if err != nil {
		t.Fatal(err)
	}
	s := stack.Start(t, stack.Config{LogLevel: "warn", Clusters: []stack.Cluster{
		{ID: admin, Token: "admin-token-0123456789abcdef", REST: adminRC},
		{ID: capped, Token: "capped-token-0123456789abcdef", REST: adminRC, MaxOutputBytes: cappedBytes},
	}})

	denied := []struct {
		name   string
		argv   []string
		reason string
	}{
		// kubectl would print the Secrets; Kubently never reads them.
		{"secrets are restricted: get", []string{"get", "secrets", "-n", "shop"}, "restricted_resource"},
		{"secrets are restricted: get -o yaml", []string{"get", "secret", "payments-db", "-n", "shop", "-o", "yaml"}, "restricted_resource"},
		{"secrets are restricted: describe", []string{"describe", "secret", "postgres-credentials", "-n", "data"}, "restricted_resource"},
		// Read-only: no writes, no streams without end, no credential overrides.
		{"writes are denied: delete", []string{"delete", "pod", names.cart, "-n", "shop"}, "verb_not_allowed"},
		{"writes are denied: rollout undo", []string{"rollout", "undo", "deploy/checkout", "-n", "shop"}, "verb_not_allowed"},
		{"streams are denied: logs -f", []string{"logs", names.cart, "-n", "shop", "-f"}, "unbounded_command"},
		{"streams are denied: get -w", []string{"get", "pods", "-n", "shop", "-w"}, "unbounded_command"},
		{"credentials are denied: --as", []string{"get", "pods", "--as", "system:admin"}, "credential_flag"},
	}
	for _, tt := range denied {
		t.Run(tt.name, func(t *testing.T) {
			r, _ := s.Exec(t, stack.AliceKey, admin, tt.argv...)
			if r.Status != http.StatusForbidden {
				t.Fatalf("HTTP %d; want 403 (%s)", r.Status, r.Body)
			}
			var e contracts.Error
			if err := json.Unmarshal(r.Body, &e); err != nil {
				t.Fatal(err)
			}
			if e.Code != "command_denied" || e.Reason != tt.reason {
				t.Errorf("got code %q reason %q; want command_denied %q (%s)", e.Code, e.Reason, tt.reason, e.Message)
			}
		})
	}

	t.Run("output is capped (kubectl prints it all)", func(t *testing.T) {
		argv := []string{"get", "pods", "-n", "shop", "-o", "yaml"} // one namespace: no other test changes it
		want := k.must(t, kubeconfig, argv...)
		if len(want.stdout) <= cappedBytes {
			t.Fatalf("kubectl printed only %d bytes; the case needs more than %d", len(want.stdout), cappedBytes)
		}
		_, res := s.Exec(t, stack.AliceKey, capped, argv...)
		if !res.Truncated || len(res.Output) > cappedBytes {
			t.Fatalf("truncated = %v, %d bytes; want truncated, at most %d", res.Truncated, len(res.Output), cappedBytes)
		}
		// Kubently keeps whole items and closes the list, so the capped
		// output is still a valid YAML List: kubectl's items, fewer of them.
		const listEnd = "kind: List\nmetadata:\n  resourceVersion: \"\"\n"
		items, closed := strings.CutSuffix(res.Output, listEnd)
		if !closed || !strings.HasPrefix(want.stdout, items) || !strings.HasSuffix(want.stdout, listEnd) {
			i := 0
			for i < len(items) && items[i] == want.stdout[i] {
				i++
			}
			t.Errorf("capped output is not kubectl's first items and the list's end: they differ at byte %d: kubectl %q, kubently %q",
				i, want.stdout[max(0, i-80):min(len(want.stdout), i+80)], res.Output[max(0, i-80):min(len(res.Output), i+80)])
		}
		if !strings.Contains(res.Error, "output truncated") {
			t.Errorf("stderr = %q; want the truncation hint", res.Error)
		}
	})

	t.Run("logs --grep filters lines (kubectl has no --grep)", func(t *testing.T) {
		if reason, ok := pendingReason(names, "logs --grep filters lines (kubectl has no --grep)"); ok && !*runPending {
			t.Skipf("pending: %s", reason)
		}
		all := k.must(t, kubeconfig, "logs", names.cart, "-n", "shop", "--previous")
		var want strings.Builder
		for _, l := range strings.SplitAfter(all.stdout, "\n") {
			if strings.Contains(l, "retrying") {
				want.WriteString(l)
			}
		}
		r, res := s.Exec(t, stack.AliceKey, admin, "logs", names.cart, "-n", "shop", "--previous", "--grep", "retrying")
		if r.Status != http.StatusOK || res.ExitCode != 0 {
			t.Fatalf("HTTP %d exit %d: %s %s", r.Status, res.ExitCode, res.Error, r.Body)
		}
		if diff := cmp.Diff(want.String(), res.Output); diff != "" {
			t.Errorf("logs --grep (-kubectl logs | grep +kubently):\n%s", diff)
		}
	})
}
