package diagnose

import (
	"context"
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"

	"kubently.io/libs/contracts"
)

// Rule names (Finding.Rule). docs/diagnose.md describes each.
const (
	RuleCrashLoop        = "crashloop"
	RuleImagePull        = "image_pull"
	RuleConfigError      = "config_error"
	RuleOOMKilled        = "oom_killed"
	RuleRestartStorm     = "restart_storm"
	RuleUnschedulable    = "unschedulable"
	RuleEvicted          = "evicted"
	RuleProbeFailing     = "probe_failing"
	RuleCreateFailed     = "pod_create_failed"
	RuleRolloutStuck     = "rollout_stuck"
	RuleStatefulSetStuck = "statefulset_update_stuck"
	RuleJobFailed        = "job_failed"
	RuleCronJobSuspended = "cronjob_suspended"
	RuleCronJobSchedule  = "cronjob_invalid_schedule"
	RuleServiceNoPods    = "service_no_matching_pods"
	RuleServiceNoReady   = "service_no_ready_endpoints"
	RuleIngressBackend   = "ingress_backend_missing"
	RuleIngressClass     = "ingress_class_missing"
	RuleHPA              = "hpa_unable_to_scale"
	RulePDBBlocking      = "pdb_blocks_disruption"
	RulePVCPending       = "pvc_pending"
	RuleNodeNotReady     = "node_not_ready"
	RuleNodePressure     = "node_pressure"
	RuleNodeCordoned     = "node_cordoned"
	RuleNodeNoExecute    = "node_noexecute_taint"
)

// owner is the root object of a group of pods.
type owner struct {
	Kind, Namespace, Name string
	UID                   types.UID
}

func (o owner) ref() contracts.ObjectRef {
	return contracts.ObjectRef{Kind: o.Kind, Namespace: o.Namespace, Name: o.Name}
}

func (o owner) key() string { return o.Kind + "/" + o.Namespace + "/" + o.Name }

// group is one finding under construction.
type group struct {
	f       contracts.Finding
	owner   owner
	pods    []string
	podSet  map[string]bool
	related map[string]bool
	// logPod, logContainer, logPrevious: the log to search for error
	// lines, if any ("" = none).
	logPod, logContainer string
	logPrevious          bool
}

func (g *group) addPod(name string) {
	if g.podSet[name] {
		return
	}
	g.podSet[name] = true
	g.pods = append(g.pods, name)
}

func (g *group) addRelated(r contracts.ObjectRef) {
	k := r.Kind + "/" + r.Name
	if g.related[k] || (r.Kind == g.owner.Kind && r.Name == g.owner.Name) {
		return
	}
	g.related[k] = true
	g.f.Related = append(g.f.Related, r)
}

func (g *group) addEvidence(e ...contracts.Evidence) {
	for _, ev := range e {
		if len(g.f.Evidence) >= maxEvidence {
			return
		}
		if len(ev.Value) > maxValueLen {
			ev.Value = ev.Value[:maxValueLen] + "…"
		}
		for _, have := range g.f.Evidence {
			if have == ev {
				goto next
			}
		}
		g.f.Evidence = append(g.f.Evidence, ev)
	next:
	}
}

func (g *group) addNext(lines ...string) {
	for _, l := range lines {
		dup := false
		for _, have := range g.f.Next {
			dup = dup || have == l
		}
		if !dup && len(g.f.Next) < 6 {
			g.f.Next = append(g.f.Next, l)
		}
	}
}

// analysis applies the rules to one snapshot.
type analysis struct {
	d        *Diagnoser
	s        *snapshot
	groups   []*group
	byKey    map[string]*group
	byOwner  map[string][]*group
	podGroup map[types.UID]*group
	logsLeft int
	logCalls int
	// inProgress holds the Deployments whose rollout is within its
	// progress deadline: their pods' readiness failures are not findings.
	inProgress map[string]bool
	// pvcCause maps namespace/claim of each pending-claim finding to its
	// cause, so that pods waiting for the claim join that finding.
	pvcCause map[string]string
}

func newAnalysis(d *Diagnoser, s *snapshot) *analysis {
	return &analysis{d: d, s: s, byKey: map[string]*group{}, byOwner: map[string][]*group{},
		podGroup: map[types.UID]*group{}, logsLeft: max(d.cfg.MaxLogReads, 0), inProgress: map[string]bool{}, pvcCause: map[string]string{}}
}

// groupFor returns the group of (owner, rule, cause), creating it.
func (a *analysis) groupFor(o owner, rule, cause string, sev contracts.Severity) *group {
	k := o.key() + "|" + rule + "|" + cause
	if g, ok := a.byKey[k]; ok {
		if sev.Rank() < g.f.Severity.Rank() {
			g.f.Severity = sev
		}
		return g
	}
	id := rule + "/" + o.Namespace + "/" + o.Kind + "/" + o.Name
	if o.Namespace == "" {
		id = rule + "/" + o.Kind + "/" + o.Name
	}
	if cause != "" && a.byOwnerRule(o, rule) {
		id += "/" + cause
	}
	g := &group{owner: o, podSet: map[string]bool{}, related: map[string]bool{},
		f: contracts.Finding{ID: id, Rule: rule, Cause: cause, Severity: sev, Object: o.ref()}}
	a.byKey[k] = g
	a.byOwner[o.key()] = append(a.byOwner[o.key()], g)
	a.groups = append(a.groups, g)
	return g
}

// byOwnerRule reports whether o already has a group of rule (so a second
// cause needs its own id).
func (a *analysis) byOwnerRule(o owner, rule string) bool {
	for _, g := range a.byOwner[o.key()] {
		if g.f.Rule == rule {
			return true
		}
	}
	return false
}

// run applies every rule.
func (a *analysis) run(ctx context.Context) {
	a.markRolloutsInProgress()
	a.pvcRules() // before pods: a pod waiting for a pending claim joins it
	a.podRules()
	a.createFailedRules()
	a.deploymentRules()
	a.statefulSetRules()
	a.jobRules()
	a.cronJobRules()
	a.serviceRules()
	a.ingressRules()
	a.hpaRules()
	a.pdbRules()
	a.nodeRules()
	a.readLogs(ctx)
}

// findings finishes the groups.
func (a *analysis) findings() []contracts.Finding {
	out := make([]contracts.Finding, 0, len(a.groups))
	for _, g := range a.groups {
		f := g.f
		f.PodCount = len(g.pods)
		f.Pods = g.pods
		if len(f.Pods) > maxPodsNamed {
			f.Pods = f.Pods[:maxPodsNamed]
		}
		if f.Evidence == nil {
			f.Evidence = []contracts.Evidence{}
		}
		if f.Next == nil {
			f.Next = []string{}
		}
		out = append(out, f)
	}
	contracts.SortFindings(out)
	return out
}

// topOwner follows controller references from a pod to its root: Pod →
// ReplicaSet → Deployment, Pod → Job → CronJob, Pod → StatefulSet or
// DaemonSet. related lists the objects passed on the way.
func (a *analysis) topOwner(p *corev1.Pod) (o owner, related []contracts.ObjectRef) {
	o = owner{Kind: "Pod", Namespace: p.Namespace, Name: p.Name, UID: p.UID}
	ref := controllerRef(p.OwnerReferences)
	if ref == nil {
		return o, nil
	}
	o = owner{Kind: ref.Kind, Namespace: p.Namespace, Name: ref.Name, UID: ref.UID}
	switch ref.Kind {
	case "ReplicaSet":
		if rs := a.s.replicaSetByUID[ref.UID]; rs != nil {
			if up := controllerRef(rs.OwnerReferences); up != nil && up.Kind == "Deployment" {
				related = append(related, contracts.ObjectRef{Kind: "ReplicaSet", Namespace: p.Namespace, Name: rs.Name})
				o = owner{Kind: "Deployment", Namespace: p.Namespace, Name: up.Name, UID: up.UID}
			}
		}
	case "Job":
		if j := a.s.jobByUID[ref.UID]; j != nil {
			if up := controllerRef(j.OwnerReferences); up != nil && up.Kind == "CronJob" {
				related = append(related, contracts.ObjectRef{Kind: "Job", Namespace: p.Namespace, Name: j.Name})
				o = owner{Kind: "CronJob", Namespace: p.Namespace, Name: up.Name, UID: up.UID}
			}
		}
	}
	return o, related
}

// ownerTitle is "Deployment cart" or "Pod crashy".
func ownerTitle(o owner) string { return o.Kind + " " + o.Name }

// nextFor returns read commands about an owner.
func nextFor(o owner) []string {
	ns := " -n " + o.Namespace
	switch o.Kind {
	case "Deployment":
		return []string{"describe deployment " + o.Name + ns, "rollout status deployment/" + o.Name + ns + " --watch=false"}
	case "StatefulSet", "DaemonSet", "ReplicaSet", "Job", "CronJob":
		return []string{"describe " + strings.ToLower(o.Kind) + " " + o.Name + ns}
	}
	return nil
}

func podNext(p *corev1.Pod) []string {
	return []string{
		"describe pod " + p.Name + " -n " + p.Namespace,
		"events -n " + p.Namespace + " --for pod/" + p.Name,
	}
}

// fieldEv is field evidence.
func fieldEv(kind, name, field, value string) contracts.Evidence {
	return contracts.Evidence{Source: "field", Object: kind + "/" + name, Field: field, Value: value}
}

// eventEv is event evidence.
func eventEv(kind, name string, e *corev1.Event) contracts.Evidence {
	v := e.Message
	if n := eventCount(e); n > 1 {
		v = fmt.Sprintf("%s (x%d)", v, n)
	}
	return contracts.Evidence{Source: "event", Object: kind + "/" + name, Field: e.Type + " " + e.Reason, Value: v}
}
