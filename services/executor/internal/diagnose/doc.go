// Package diagnose finds what is wrong in a namespace (or a whole cluster)
// and says why, in the cluster: it reads each kind it needs once (paged
// List calls) and the namespace's events once, indexes the events by the
// UID of the object they are about, applies its rules to that snapshot and
// returns findings, never the objects. Only findings cross the network.
//
// Rules (docs/diagnose.md has the full table): CrashLoopBackOff with the
// last termination and the error lines of the previous container's log
// tail (searched here: only matching lines are kept); image pull failures
// classified from the waiting message and events (not found, unauthorized,
// registry unreachable, invalid name); CreateContainerConfigError naming
// the missing ConfigMap, Secret or key (never a value: Secrets are never
// read); OOMKilled in the recent past even when the pod runs again; restart
// storms; Pending pods with the scheduler's reason classified; pending
// PVCs; failed Jobs by their Failed condition (not while retries run);
// CronJobs whose last run failed, suspended, or with an invalid schedule;
// stuck rollouts (Progressing=False) told apart from rollouts in progress;
// stuck StatefulSet updates; failing probes; Services matching no pod or
// without ready endpoints; Ingresses whose backend Service or class is
// missing; HPAs unable to scale; PDBs that block every disruption; nodes
// NotReady, under pressure, cordoned or tainted NoExecute; evicted pods;
// ReplicaSets failing to create pods.
//
// Findings are grouped by root cause along owner references: the pods of
// a Deployment with one problem are one finding on the Deployment, naming
// its ReplicaSets and pods; a stuck rollout, a Service left without
// endpoints or a failed Job caused by the same pods is evidence of that
// finding, not another one.
//
// The number of API calls does not grow with the number of objects: one
// List per kind per page (DefaultPageSize objects), plus at most
// Config.MaxLogReads log reads. Kinds the policy profile restricts, and
// kinds the executor may not list or the cluster does not serve, are
// skipped and named in the report.
//
// # Usage
//
//	d, err := diagnose.New(diagnose.Config{Client: clientset, Restricts: prof.Restricts})
//	report := d.Run(ctx, diagnose.Scope{Namespace: "shop"})
//
// # Concurrency
//
// A Diagnoser is safe for concurrent use; each Run reads its own snapshot.
package diagnose
