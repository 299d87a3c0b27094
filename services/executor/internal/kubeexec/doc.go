// Package kubeexec runs kubectl-style read commands against one Kubernetes
// cluster with client-go, and renders their results the way kubectl does,
// without a kubectl binary. Commands: get, describe, logs, events, top
// pod|node, rollout history|status, api-resources, api-versions, version,
// cluster-info, explain and auth can-i, plus Kubently's own diagnose,
// which runs package diagnose and returns findings (a text report in
// Output, a contracts.DiagnoseReport in Structured).
//
// The output matches kubectl because the same machinery produces it: get
// asks the API server for its server-side Table and prints it with
// cli-runtime's table printer; -o json, yaml, jsonpath=… and
// custom-columns=… use cli-runtime's and kubectl's printers; describe runs
// kubectl's own describers (k8s.io/kubectl/pkg/describe); top uses
// kubectl's metricsutil printer; rollout uses kubectl's history and status
// viewers (k8s.io/kubectl/pkg/polymorphichelpers); explain renders the
// server's OpenAPI v3 with k8s.io/kubectl/pkg/explain/v2; errors are worded
// as kubectl words them, for example `Error from server (NotFound): pods
// "x" not found`.
//
// Every Runner talks to the API server through a transport wrapped by
// package readonly, so a request that is not a read (or is a watch, a
// followed log or an exec) never leaves the process, whatever the command.
// The only POSTs are auth can-i's self-reviews.
//
// Results are bounded: Output is capped at Config.MaxOutputBytes (cut at a
// line boundary, Truncated set, a hint appended to Error that says what
// is left unread and how to narrow the command); lists are read page by
// page (--chunk-size, default 500) and reading stops once the cap is
// reached; logs read at most Config.MaxLogBytes. logs --grep PATTERN
// (with --grep-regex for an RE2 expression, --grep-context N and
// --ignore-case) searches in the executor, so only matching lines and
// their context (grep's "--" separators between groups) are returned; it
// reads at most Config.MaxLogScanBytes of log.
//
// Result.Structured holds the objects as one JSON document (the -o json
// shape) for get with an object format, events, top, api-resources,
// api-versions, version and auth can-i, when it fits in MaxOutputBytes and
// the output was not truncated; it is never cut into invalid JSON.
//
// Differences from kubectl: --chunk-size=0 means the default page size
// rather than "read everything"; when events do not fit, the oldest rows
// are dropped rather than the newest; -f/--follow and -w/--watch are
// refused, because a command must end, and rollout status always behaves
// like --watch=false (it prints the current status and exits 0, as kubectl
// does with --watch=false); --sort-by reads at most 20000 objects (it must
// hold them all to sort); -o go-template and the *-file output forms are
// not supported; version prints the executor's client version (the
// Kubernetes release of its client-go) and no Kustomize line; explain
// renders OpenAPI v3 only (no -o plaintext-openapiv2); cluster-info dump is
// refused; auth can-i answers for the executor's own identity (no --as);
// logs --grep applies --tail and --since before the search.
//
// # Usage
//
//	r, err := kubeexec.New(kubeexec.Config{REST: restConfig})
//	if err != nil {
//		return err
//	}
//	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
//	defer cancel()
//	res := r.Run(ctx, []string{"get", "pods", "-n", "kube-system", "-o", "wide"})
//	// res.Output, res.Error, res.ExitCode, res.Truncated
//
// The context bounds the whole command, including discovery, every page of
// a list, kubectl's describers and log streams.
//
// # Concurrency
//
// A Runner is safe for concurrent use: Run may be called from many
// goroutines at once. All commands share one HTTP client (and its
// connections), one memory-cached discovery client and one RESTMapper. When
// a command names a resource type discovery does not know, the cache is
// refreshed (at most once every two seconds) so new CRDs are found.
package kubeexec
