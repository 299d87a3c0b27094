// Package kubeexec runs kubectl-style read commands (get, describe, logs,
// events) against one Kubernetes cluster with client-go, and renders their
// results the way kubectl does, without a kubectl binary.
//
// The output matches kubectl because the same machinery produces it: get
// asks the API server for its server-side Table and prints it with
// cli-runtime's table printer; -o json and -o yaml use cli-runtime's JSON
// and YAML printers; describe runs kubectl's own describers
// (k8s.io/kubectl/pkg/describe); errors are worded as kubectl words them,
// for example `Error from server (NotFound): pods "x" not found`.
//
// Every Runner talks to the API server through a transport wrapped by
// package readonly, so a request that is not a read (or is a watch, a
// followed log or an exec) never leaves the process, whatever the command.
//
// Results are bounded: Output is capped at Config.MaxOutputBytes (cut at a
// line boundary, Truncated set, a hint appended to Error); lists are read
// page by page (--chunk-size, default 500) and reading stops once the cap is
// reached; logs read at most Config.MaxLogBytes. Differences from kubectl:
// --chunk-size=0 means the default page size rather than "read everything";
// when events do not fit, the oldest rows are dropped rather than the newest;
// -f/--follow and -w/--watch are refused, because a command must end;
// --sort-by reads at most 20000 objects (it must hold them all to sort).
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
