package diagnose

import (
	"fmt"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"kubently.io/libs/contracts"
)

const revisionAnnotation = "deployment.kubernetes.io/revision"

func deploymentCondition(d *appsv1.Deployment, t appsv1.DeploymentConditionType) *appsv1.DeploymentCondition {
	for i := range d.Status.Conditions {
		if d.Status.Conditions[i].Type == t {
			return &d.Status.Conditions[i]
		}
	}
	return nil
}

// markRolloutsInProgress records Deployments rolling out within their
// progress deadline.
func (a *analysis) markRolloutsInProgress() {
	for i := range a.s.deployments {
		d := &a.s.deployments[i]
		c := deploymentCondition(d, appsv1.DeploymentProgressing)
		if c == nil || c.Status != corev1.ConditionTrue || c.Reason == "NewReplicaSetAvailable" {
			continue
		}
		want := int32(1)
		if d.Spec.Replicas != nil {
			want = *d.Spec.Replicas
		}
		if d.Status.UpdatedReplicas < want || d.Status.AvailableReplicas < want || d.Status.UnavailableReplicas > 0 {
			a.inProgress[owner{Kind: "Deployment", Namespace: d.Namespace, Name: d.Name}.key()] = true
		}
	}
}

// createFailedRules finds controllers that cannot create their pods
// (quota, admission, LimitRange): a ReplicaFailure condition or recent
// FailedCreate events.
func (a *analysis) createFailedRules() {
	type ctrl struct {
		o       owner
		kind    string
		name    string
		msg     string
		evs     []*corev1.Event
		related []contracts.ObjectRef
	}
	var found []ctrl
	for i := range a.s.replicaSets {
		rs := &a.s.replicaSets[i]
		c := ctrl{o: owner{Kind: "ReplicaSet", Namespace: rs.Namespace, Name: rs.Name, UID: rs.UID}, kind: "ReplicaSet", name: rs.Name}
		for _, cond := range rs.Status.Conditions {
			if cond.Type == appsv1.ReplicaSetReplicaFailure && cond.Status == corev1.ConditionTrue {
				c.msg = cond.Message
			}
		}
		c.evs = a.recentWarnings("ReplicaSet", rs, "FailedCreate")
		if c.msg == "" && len(c.evs) == 0 {
			continue
		}
		if rs.Spec.Replicas != nil && rs.Status.Replicas >= *rs.Spec.Replicas && c.msg == "" {
			continue // it has caught up since
		}
		if up := controllerRef(rs.OwnerReferences); up != nil && up.Kind == "Deployment" {
			c.related = append(c.related, contracts.ObjectRef{Kind: "ReplicaSet", Namespace: rs.Namespace, Name: rs.Name})
			c.o = owner{Kind: "Deployment", Namespace: rs.Namespace, Name: up.Name, UID: up.UID}
		}
		found = append(found, c)
	}
	for i := range a.s.statefulSets {
		s := &a.s.statefulSets[i]
		if evs := a.recentWarnings("StatefulSet", s, "FailedCreate"); len(evs) > 0 && s.Status.Replicas < ptrOr(s.Spec.Replicas, 1) {
			found = append(found, ctrl{o: owner{Kind: "StatefulSet", Namespace: s.Namespace, Name: s.Name, UID: s.UID}, kind: "StatefulSet", name: s.Name, evs: evs})
		}
	}
	for i := range a.s.daemonSets {
		s := &a.s.daemonSets[i]
		if evs := a.recentWarnings("DaemonSet", s, "FailedCreate"); len(evs) > 0 && s.Status.CurrentNumberScheduled < s.Status.DesiredNumberScheduled {
			found = append(found, ctrl{o: owner{Kind: "DaemonSet", Namespace: s.Namespace, Name: s.Name, UID: s.UID}, kind: "DaemonSet", name: s.Name, evs: evs})
		}
	}
	for i := range a.s.jobs {
		j := &a.s.jobs[i]
		if jobFinished(j) {
			continue
		}
		if evs := a.recentWarnings("Job", j, "FailedCreate"); len(evs) > 0 {
			o := owner{Kind: "Job", Namespace: j.Namespace, Name: j.Name, UID: j.UID}
			var rel []contracts.ObjectRef
			if up := controllerRef(j.OwnerReferences); up != nil && up.Kind == "CronJob" {
				rel = append(rel, contracts.ObjectRef{Kind: "Job", Namespace: j.Namespace, Name: j.Name})
				o = owner{Kind: "CronJob", Namespace: j.Namespace, Name: up.Name, UID: up.UID}
			}
			found = append(found, ctrl{o: o, kind: "Job", name: j.Name, evs: evs, related: rel})
		}
	}
	for _, c := range found {
		msg := c.msg
		if msg == "" && len(c.evs) > 0 {
			msg = c.evs[0].Message
		}
		cause := classifyCreateFailed(msg)
		g := a.groupFor(c.o, RuleCreateFailed, cause, contracts.SeverityCritical)
		if g.f.Title == "" {
			g.f.Title = fmt.Sprintf("%s: %s %s cannot create pods (%s)", ownerTitle(c.o), c.kind, c.name, strings.ReplaceAll(cause, "_", " "))
			g.f.Explanation = createFailedExplanation[cause]
			g.addNext("events -n " + c.o.Namespace + " --for " + strings.ToLower(c.kind) + "/" + c.name)
			g.addNext(nextFor(c.o)...)
			if cause == "quota_exceeded" {
				g.addNext("describe resourcequota -n " + c.o.Namespace)
			}
		}
		for _, r := range c.related {
			g.addRelated(r)
		}
		if c.msg != "" {
			g.addEvidence(fieldEv(c.kind, c.name, "status.conditions[ReplicaFailure]", c.msg))
		}
		for _, e := range c.evs {
			g.addEvidence(eventEv(c.kind, c.name, e))
		}
	}
}

var createFailedExplanation = map[string]string{
	"quota_exceeded":          "A ResourceQuota of the namespace refuses the new pods: their requests or count would exceed it. Raise the quota or lower the requests.",
	"limit_range":             "A LimitRange of the namespace refuses the pods' resources.",
	"pod_security":            "The namespace's Pod Security level refuses the pod template.",
	"admission_webhook":       "An admission webhook refuses the pods; its message says why.",
	"missing_service_account": "The pod template names a ServiceAccount that does not exist.",
	"forbidden":               "The API server refuses to create the pods; the message says why.",
	"unknown":                 "The controller cannot create pods; the events say why.",
}

// recentWarnings returns an object's recent Warning events with a reason.
func (a *analysis) recentWarnings(kind string, m metav1.Object, reason string) []*corev1.Event {
	var out []*corev1.Event
	for _, e := range a.s.eventsFor(kind, m) {
		if e.Type == corev1.EventTypeWarning && e.Reason == reason && a.s.now.Sub(eventTime(e)) <= a.d.cfg.Recent {
			out = append(out, e)
		}
	}
	return out
}

// deploymentRules finds stuck rollouts. A stuck rollout whose new pods
// have a problem becomes that finding (the problem is the root cause).
func (a *analysis) deploymentRules() {
	for i := range a.s.deployments {
		d := &a.s.deployments[i]
		c := deploymentCondition(d, appsv1.DeploymentProgressing)
		if c == nil || c.Status != corev1.ConditionFalse || c.Reason != "ProgressDeadlineExceeded" {
			continue
		}
		o := owner{Kind: "Deployment", Namespace: d.Namespace, Name: d.Name, UID: d.UID}
		rev := d.Annotations[revisionAnnotation]
		var newRS *appsv1.ReplicaSet
		oldServing := int32(0)
		for j := range a.s.replicaSets {
			rs := &a.s.replicaSets[j]
			if ref := controllerRef(rs.OwnerReferences); ref == nil || ref.UID != d.UID {
				continue
			}
			if rs.Annotations[revisionAnnotation] == rev {
				newRS = rs
			} else {
				oldServing += rs.Status.AvailableReplicas
			}
		}
		want := ptrOr(d.Spec.Replicas, 1)
		state := fmt.Sprintf("revision %s: %d/%d updated, %d ready, %d available", rev, d.Status.UpdatedReplicas, want, d.Status.ReadyReplicas, d.Status.AvailableReplicas)
		ev := []contracts.Evidence{fieldEv("Deployment", d.Name, "status.conditions[Progressing]", "False ProgressDeadlineExceeded: "+c.Message),
			fieldEv("Deployment", d.Name, "status", state)}
		if oldServing > 0 {
			ev = append(ev, fieldEv("Deployment", d.Name, "old ReplicaSets", fmt.Sprintf("%d pod(s) of earlier revisions still available", oldServing)))
		}
		sev := contracts.SeverityCritical
		if d.Status.AvailableReplicas > 0 {
			sev = contracts.SeverityWarning
		}
		groups := a.byOwner[o.key()]
		if len(groups) > 0 {
			for _, g := range groups {
				if oldServing > 0 && g.f.Rule != RuleCreateFailed {
					// A rollout of a new revision whose pods fail, with the
					// old revision still serving: the rollout is what broke.
					g.f.Cause = g.f.Rule + ":" + g.f.Cause
					g.f.Rule = RuleRolloutStuck
					g.f.ID = RuleRolloutStuck + "/" + o.Namespace + "/Deployment/" + o.Name
					_, what, _ := strings.Cut(g.f.Title, ": ")
					g.f.Title = fmt.Sprintf("%s: rollout of revision %s stuck — new pods: %s", ownerTitle(o), rev, what)
					g.f.Explanation = "The new revision's pods never become available, so the rollout stopped at its progress deadline while the old revision keeps serving. " + g.f.Explanation
					g.f.Severity = sev
				}
				g.f.Evidence = append(ev, g.f.Evidence...)
				if len(g.f.Evidence) > maxEvidence {
					g.f.Evidence = g.f.Evidence[:maxEvidence]
				}
				g.addNext("rollout history deployment/" + d.Name + " -n " + d.Namespace)
			}
			continue
		}
		g := a.groupFor(o, RuleRolloutStuck, "progress_deadline_exceeded", sev)
		g.f.Title = fmt.Sprintf("%s: rollout of revision %s stuck (progress deadline exceeded)", ownerTitle(o), rev)
		g.f.Explanation = "The Deployment made no progress within its progressDeadlineSeconds. No pod-level cause was found; the new ReplicaSet's events and pods say more."
		g.addEvidence(ev...)
		if newRS != nil {
			g.addRelated(contracts.ObjectRef{Kind: "ReplicaSet", Namespace: d.Namespace, Name: newRS.Name})
			g.addNext("describe replicaset " + newRS.Name + " -n " + d.Namespace)
		}
		g.addNext(nextFor(o)...)
		g.addNext("rollout history deployment/" + d.Name + " -n " + d.Namespace)
	}
}

// statefulSetRules finds rolling updates that do not progress.
func (a *analysis) statefulSetRules() {
	for i := range a.s.statefulSets {
		s := &a.s.statefulSets[i]
		st := s.Status
		if st.UpdateRevision == "" || st.CurrentRevision == st.UpdateRevision || st.UpdatedReplicas >= ptrOr(s.Spec.Replicas, 1) {
			continue
		}
		if s.Spec.UpdateStrategy.Type == appsv1.OnDeleteStatefulSetStrategyType {
			continue
		}
		if ru := s.Spec.UpdateStrategy.RollingUpdate; ru != nil && ru.Partition != nil && *ru.Partition > 0 {
			continue // a staged (canary) update holds on purpose
		}
		o := owner{Kind: "StatefulSet", Namespace: s.Namespace, Name: s.Name, UID: s.UID}
		ev := []contracts.Evidence{fieldEv("StatefulSet", s.Name, "status", fmt.Sprintf("currentRevision %s, updateRevision %s, %d/%d updated, %d ready",
			st.CurrentRevision, st.UpdateRevision, st.UpdatedReplicas, ptrOr(s.Spec.Replicas, 1), st.ReadyReplicas))}
		var stale *corev1.Pod
		converted := false
		for j := range a.s.pods {
			p := &a.s.pods[j]
			if ref := controllerRef(p.OwnerReferences); ref == nil || ref.UID != s.UID || p.Labels["controller-revision-hash"] != st.UpdateRevision {
				continue
			}
			if g := a.podGroup[p.UID]; g != nil && g.f.Rule != RuleStatefulSetStuck && !converted {
				g.f.Cause = g.f.Rule + ":" + g.f.Cause
				g.f.Rule = RuleStatefulSetStuck
				g.f.ID = RuleStatefulSetStuck + "/" + o.Namespace + "/StatefulSet/" + o.Name
				_, what, _ := strings.Cut(g.f.Title, ": ")
				g.f.Title = fmt.Sprintf("%s: update to %s stuck — updated pod: %s", ownerTitle(o), st.UpdateRevision, what)
				g.f.Evidence = append(ev, g.f.Evidence...)
				converted = true
				continue
			}
			if r := podCondition(p, corev1.PodReady); r != nil && r.Status != corev1.ConditionTrue && a.s.now.Sub(r.LastTransitionTime.Time) > a.d.cfg.NotReadyGrace {
				stale = p
			}
		}
		if converted || stale == nil {
			continue // in progress
		}
		g := a.groupFor(o, RuleStatefulSetStuck, "updated_pod_not_ready", contracts.SeverityWarning)
		g.f.Title = fmt.Sprintf("%s: update to %s stuck — pod %s not ready", ownerTitle(o), st.UpdateRevision, stale.Name)
		g.f.Explanation = "A StatefulSet updates one pod at a time and waits for it to be Ready; this one is not, so the update does not go on."
		g.addPod(stale.Name)
		g.addEvidence(ev...)
		g.addNext(podNext(stale)...)
		g.addNext(nextFor(o)...)
	}
}

func jobFinished(j *batchv1.Job) bool {
	for _, c := range j.Status.Conditions {
		if (c.Type == batchv1.JobComplete || c.Type == batchv1.JobFailed) && c.Status == corev1.ConditionTrue {
			return true
		}
	}
	return false
}

func jobFailed(j *batchv1.Job) *batchv1.JobCondition {
	for i := range j.Status.Conditions {
		if c := &j.Status.Conditions[i]; c.Type == batchv1.JobFailed && c.Status == corev1.ConditionTrue {
			return c
		}
	}
	return nil
}

// jobRules finds failed Jobs (their Failed condition, never while retries
// run) and CronJobs whose last run failed.
func (a *analysis) jobRules() {
	for i := range a.s.jobs {
		j := &a.s.jobs[i]
		fc := jobFailed(j)
		if fc == nil {
			continue
		}
		o := owner{Kind: "Job", Namespace: j.Namespace, Name: j.Name, UID: j.UID}
		title := ownerTitle(o) + " failed: " + fc.Reason
		if up := controllerRef(j.OwnerReferences); up != nil && up.Kind == "CronJob" {
			if a.newerJob(j, up.UID) {
				continue // a later run superseded it
			}
			o = owner{Kind: "CronJob", Namespace: j.Namespace, Name: up.Name, UID: up.UID}
			title = fmt.Sprintf("%s: last run (Job %s) failed: %s", ownerTitle(o), j.Name, fc.Reason)
		}
		ev := []contracts.Evidence{fieldEv("Job", j.Name, "status.conditions[Failed]", fc.Reason+": "+fc.Message),
			fieldEv("Job", j.Name, "status", fmt.Sprintf("%d failed, %d succeeded, %d active (backoffLimit %d)", j.Status.Failed, j.Status.Succeeded, j.Status.Active, ptrOr(j.Spec.BackoffLimit, 6)))}
		if groups := a.byOwner[o.key()]; len(groups) > 0 {
			for _, g := range groups {
				g.f.Evidence = append(ev, g.f.Evidence...)
			}
			continue
		}
		g := a.groupFor(o, RuleJobFailed, fc.Reason, contracts.SeverityCritical)
		g.f.Title = title
		g.f.Explanation = jobExplanation(fc.Reason)
		g.addEvidence(ev...)
		if o.Kind == "CronJob" {
			g.addRelated(contracts.ObjectRef{Kind: "Job", Namespace: j.Namespace, Name: j.Name})
		}
		var last *corev1.Pod
		for k := range a.s.pods {
			p := &a.s.pods[k]
			if ref := controllerRef(p.OwnerReferences); ref == nil || ref.UID != j.UID || p.Status.Phase != corev1.PodFailed {
				continue
			}
			g.addPod(p.Name)
			if last == nil || p.CreationTimestamp.After(last.CreationTimestamp.Time) {
				last = p
			}
		}
		if last != nil {
			for _, cs := range last.Status.ContainerStatuses {
				if t := cs.State.Terminated; t != nil && t.ExitCode != 0 {
					g.addEvidence(fieldEv("Pod", last.Name, "status.containerStatuses["+cs.Name+"].state.terminated", describeTermination(t)))
					if g.logPod == "" {
						g.logPod, g.logContainer = last.Name, cs.Name
						g.f.Title += fmt.Sprintf(" (pod exited with code %d)", t.ExitCode)
					}
				}
			}
		}
		for _, e := range a.s.eventsFor("Job", j) {
			if e.Type == corev1.EventTypeWarning {
				g.addEvidence(eventEv("Job", j.Name, e))
			}
		}
		g.addNext("describe job "+j.Name+" -n "+j.Namespace, "logs job/"+j.Name+" -n "+j.Namespace+" --tail 50")
		if o.Kind == "CronJob" {
			g.addNext(nextFor(o)...)
		}
	}
}

// newerJob reports whether the CronJob cronUID has a Job created after j.
func (a *analysis) newerJob(j *batchv1.Job, cronUID types.UID) bool {
	for i := range a.s.jobs {
		o := &a.s.jobs[i]
		if ref := controllerRef(o.OwnerReferences); ref != nil && ref.UID == cronUID && o.CreationTimestamp.After(j.CreationTimestamp.Time) {
			return true
		}
	}
	return false
}

func jobExplanation(reason string) string {
	switch reason {
	case "BackoffLimitExceeded":
		return "The Job's pods failed more often than its backoffLimit allows, so it gave up. The failed pod's exit code and log say why it failed."
	case "DeadlineExceeded":
		return "The Job ran longer than its activeDeadlineSeconds and was stopped."
	case "PodFailurePolicy":
		return "A pod failure matched the Job's podFailurePolicy, which fails the Job at once."
	}
	return "The Job failed; its condition says why."
}

// cronJobRules finds suspended CronJobs and invalid schedules.
func (a *analysis) cronJobRules() {
	for i := range a.s.cronJobs {
		c := &a.s.cronJobs[i]
		o := owner{Kind: "CronJob", Namespace: c.Namespace, Name: c.Name, UID: c.UID}
		var bad []*corev1.Event
		for _, e := range a.s.eventsFor("CronJob", c) {
			if e.Type == corev1.EventTypeWarning && (e.Reason == "UnparseableSchedule" || e.Reason == "InvalidSchedule" || e.Reason == "UnknownTimeZone" || e.Reason == "InvalidTimeZone") {
				bad = append(bad, e)
			}
		}
		err := validateSchedule(c.Spec.Schedule)
		if err == nil && c.Spec.TimeZone != nil {
			if _, tzErr := time.LoadLocation(*c.Spec.TimeZone); tzErr != nil && len(bad) == 0 {
				err = fmt.Errorf("unknown time zone %q", *c.Spec.TimeZone)
			}
		}
		if err != nil || len(bad) > 0 {
			g := a.groupFor(o, RuleCronJobSchedule, "", contracts.SeverityCritical)
			msg := ""
			if err != nil {
				msg = err.Error()
			} else {
				msg = bad[0].Message
			}
			g.f.Title = fmt.Sprintf("%s: schedule %q is invalid: %s", ownerTitle(o), c.Spec.Schedule, msg)
			g.f.Explanation = "The CronJob controller cannot parse the schedule (or time zone), so the CronJob never runs. Use five cron fields (minute hour day-of-month month day-of-week) or a macro such as @daily."
			g.addEvidence(fieldEv("CronJob", c.Name, "spec.schedule", c.Spec.Schedule))
			for _, e := range bad {
				g.addEvidence(eventEv("CronJob", c.Name, e))
			}
			g.addNext(nextFor(o)...)
		}
		if c.Spec.Suspend != nil && *c.Spec.Suspend {
			g := a.groupFor(o, RuleCronJobSuspended, "", contracts.SeverityInfo)
			last := "never scheduled"
			if c.Status.LastScheduleTime != nil {
				last = "last scheduled " + c.Status.LastScheduleTime.UTC().Format(time.RFC3339)
			}
			g.f.Title = fmt.Sprintf("%s is suspended (%s)", ownerTitle(o), last)
			g.f.Explanation = "spec.suspend is true, so no new Jobs are created on its schedule " + fmt.Sprintf("%q", c.Spec.Schedule) + ". That may be intended (paused on purpose)."
			g.addEvidence(fieldEv("CronJob", c.Name, "spec.suspend", "true"), fieldEv("CronJob", c.Name, "status.lastScheduleTime", last))
			g.addNext(nextFor(o)...)
		}
	}
}

func ptrOr(p *int32, def int32) int32 {
	if p == nil {
		return def
	}
	return *p
}
