package diagnose

import (
	"fmt"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"

	"kubently.io/libs/contracts"
)

// podIssue is the one problem a pod shows (the most telling one).
type podIssue struct {
	rule, cause string
	sev         contracts.Severity
	title       string // without the owner: "container cart is in CrashLoopBackOff …"
	explanation string
	evidence    []contracts.Evidence
	next        []string
	// the log to search (crashloops)
	logContainer string
	logPrevious  bool
	// claim is the pending PVC this pod waits for ("" = none).
	claim string
}

// podRules finds each pod's problem and groups pods by owner and cause.
func (a *analysis) podRules() {
	for i := range a.s.pods {
		p := &a.s.pods[i]
		if p.DeletionTimestamp != nil {
			continue
		}
		is := a.podIssue(p)
		if is == nil {
			continue
		}
		o, related := a.topOwner(p)
		if is.claim != "" {
			// The pod waits for a pending claim that has its own finding:
			// the claim is the root cause.
			if g := a.byKey[owner{Kind: "PersistentVolumeClaim", Namespace: p.Namespace, Name: is.claim}.key()+"|"+RulePVCPending+"|"+a.pvcCause[p.Namespace+"/"+is.claim]]; g != nil {
				g.addPod(p.Name)
				g.addEvidence(is.evidence...)
				a.podGroup[p.UID] = g
				continue
			}
		}
		g := a.groupFor(o, is.rule, is.cause, is.sev)
		if len(g.pods) == 0 {
			g.f.Title = ownerTitle(o) + ": " + is.title
			g.f.Explanation = is.explanation
			g.addNext(is.next...)
			g.addNext(nextFor(o)...)
			if is.logContainer != "" {
				g.logPod, g.logContainer, g.logPrevious = p.Name, is.logContainer, is.logPrevious
				prev := ""
				if is.logPrevious {
					prev = " --previous"
				}
				g.addNext(fmt.Sprintf("logs %s -n %s -c %s%s --tail 50", p.Name, p.Namespace, is.logContainer, prev))
			}
		}
		g.addPod(p.Name)
		for _, r := range related {
			g.addRelated(r)
		}
		if len(g.pods) <= 2 {
			g.addEvidence(is.evidence...)
		}
		a.podGroup[p.UID] = g
	}
}

// podIssue returns the pod's most telling problem, or nil.
func (a *analysis) podIssue(p *corev1.Pod) *podIssue {
	now := a.s.now
	recent := a.d.cfg.Recent
	evs := a.s.eventsFor("Pod", p)
	pod := p.Name
	switch {
	case p.Status.Phase == corev1.PodFailed && p.Status.Reason == "Evicted":
		return &podIssue{rule: RuleEvicted, cause: evictionCause(p.Status.Message), sev: contracts.SeverityWarning,
			title:       "pod evicted: " + p.Status.Message,
			explanation: "The kubelet evicted the pod to reclaim a resource of its node; the controller replaced it, but evicted pods stay until deleted and the node may be under pressure.",
			evidence:    []contracts.Evidence{fieldEv("Pod", pod, "status.reason", "Evicted"), fieldEv("Pod", pod, "status.message", p.Status.Message)},
			next:        []string{"describe pod " + pod + " -n " + p.Namespace, "describe node " + p.Spec.NodeName}}
	case p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed:
		// Finished pods: a Job's are judged with their Job; others ended.
		return nil
	}
	statuses := append(append([]corev1.ContainerStatus{}, p.Status.InitContainerStatuses...), p.Status.ContainerStatuses...)
	// 1. Waiting reasons, the strongest signal.
	for _, cs := range statuses {
		w := cs.State.Waiting
		if w == nil {
			continue
		}
		switch w.Reason {
		case "ImagePullBackOff", "ErrImagePull", "InvalidImageName", "ErrImageNeverPull", "ImageInspectError":
			text := w.Message
			is := &podIssue{rule: RuleImagePull, sev: contracts.SeverityCritical, next: podNext(p)}
			is.evidence = append(is.evidence, fieldEv("Pod", pod, "status.containerStatuses["+cs.Name+"].state.waiting", w.Reason+": "+w.Message),
				fieldEv("Pod", pod, "spec.containers["+cs.Name+"].image", cs.Image))
			for _, e := range evs {
				if e.Type == corev1.EventTypeWarning && (e.Reason == "Failed" || e.Reason == "BackOff" || e.Reason == "InspectFailed" || e.Reason == "ErrImageNeverPull") {
					text += "\n" + e.Message
					is.evidence = append(is.evidence, eventEv("Pod", pod, e))
				}
			}
			is.cause = classifyImagePull(w.Reason, text)
			is.title = fmt.Sprintf("cannot pull image %s (%s)", imageOf(p, cs), strings.ReplaceAll(is.cause, "_", " "))
			is.explanation = imagePullExplanation[is.cause]
			return is
		case "CreateContainerConfigError", "CreateContainerError":
			cause, kind, name, key := classifyConfigError(w.Message)
			is := &podIssue{rule: RuleConfigError, cause: cause, sev: contracts.SeverityCritical, next: podNext(p)}
			is.evidence = append(is.evidence, fieldEv("Pod", pod, "status.containerStatuses["+cs.Name+"].state.waiting", w.Reason+": "+w.Message))
			switch {
			case key != "":
				is.title = fmt.Sprintf("container %s cannot start: key %q missing from %s %s", cs.Name, key, kind, name)
				is.explanation = fmt.Sprintf("The container refers to key %q of %s %s (in an env valueFrom or a volume item), which does not have it. Add the key or fix the reference.", key, kind, name)
			case name != "":
				is.title = fmt.Sprintf("container %s cannot start: %s %s not found", cs.Name, kind, name)
				is.explanation = fmt.Sprintf("The container refers to %s %s (env, envFrom or a volume), which does not exist in namespace %s. Create it or fix the reference.", kind, name, p.Namespace)
				if kind == "ConfigMap" {
					is.next = append(is.next, "get configmaps -n "+p.Namespace)
				}
			default:
				is.title = fmt.Sprintf("container %s cannot be created: %s", cs.Name, firstLine(w.Message))
				is.explanation = "The kubelet cannot build the container's configuration; the message says which part is wrong."
			}
			return is
		case "CrashLoopBackOff":
			return a.crashLoopIssue(p, cs, evs)
		}
	}
	// 2. Unschedulable.
	if p.Status.Phase == corev1.PodPending {
		for _, c := range p.Status.Conditions {
			if c.Type == corev1.PodScheduled && c.Status == corev1.ConditionFalse && c.Reason == corev1.PodReasonUnschedulable {
				return a.unschedulableIssue(p, c.Message, evs)
			}
		}
	}
	// 3. OOM kills and restarts, now running again.
	for _, cs := range statuses {
		t := cs.LastTerminationState.Terminated
		if cs.State.Terminated != nil && cs.State.Terminated.Reason == "OOMKilled" {
			t = cs.State.Terminated
		}
		if t == nil || t.FinishedAt.IsZero() || now.Sub(t.FinishedAt.Time) > recent {
			continue
		}
		if t.Reason == "OOMKilled" {
			limit := memLimit(p, cs.Name)
			return &podIssue{rule: RuleOOMKilled, cause: "running_again", sev: contracts.SeverityWarning,
				title:       fmt.Sprintf("container %s was OOMKilled %s ago (memory limit %s), running again", cs.Name, ago(now, t.FinishedAt.Time), limit),
				explanation: "The container used more memory than its limit and the kernel killed it; it runs again, so it will likely be killed again under the same load. Raise the limit or find what uses the memory.",
				evidence: []contracts.Evidence{fieldEv("Pod", pod, "status.containerStatuses["+cs.Name+"].lastState.terminated",
					fmt.Sprintf("reason OOMKilled, exit code %d, finished %s", t.ExitCode, t.FinishedAt.UTC().Format(time.RFC3339))),
					fieldEv("Pod", pod, "spec.containers["+cs.Name+"].resources.limits.memory", limit),
					fieldEv("Pod", pod, "status.containerStatuses["+cs.Name+"].restartCount", fmt.Sprint(cs.RestartCount))},
				next: append(podNext(p), "top pod "+pod+" -n "+p.Namespace+" --containers")}
		}
		if cs.RestartCount >= 3 {
			is := &podIssue{rule: RuleRestartStorm, cause: terminationCause(t), sev: contracts.SeverityWarning,
				title:       fmt.Sprintf("container %s restarted %d times, last %s ago (%s)", cs.Name, cs.RestartCount, ago(now, t.FinishedAt.Time), describeTermination(t)),
				explanation: "The container keeps exiting and being restarted, not yet often enough for CrashLoopBackOff. Its previous log says why it stopped.",
				evidence: []contracts.Evidence{fieldEv("Pod", pod, "status.containerStatuses["+cs.Name+"].restartCount", fmt.Sprint(cs.RestartCount)),
					fieldEv("Pod", pod, "status.containerStatuses["+cs.Name+"].lastState.terminated", describeTermination(t)+", finished "+t.FinishedAt.UTC().Format(time.RFC3339))},
				next: podNext(p), logContainer: cs.Name, logPrevious: true}
			if lv := probeEvents(evs, "Liveness", now, recent); len(lv) > 0 {
				is.rule, is.cause = RuleProbeFailing, "liveness"
				is.title = fmt.Sprintf("liveness probe of container %s keeps failing: restarted %d times", cs.Name, cs.RestartCount)
				is.explanation = "The kubelet restarts the container because its liveness probe fails; check the probe's path, port and timing against what the application serves."
				for _, e := range lv {
					is.evidence = append(is.evidence, eventEv("Pod", pod, e))
				}
			}
			return is
		}
	}
	// 4. Running, not ready: failing readiness probe.
	if p.Status.Phase == corev1.PodRunning {
		if ready := podCondition(p, corev1.PodReady); ready != nil && ready.Status == corev1.ConditionFalse {
			allRunning := len(p.Status.ContainerStatuses) > 0
			for _, cs := range p.Status.ContainerStatuses {
				allRunning = allRunning && cs.State.Running != nil
			}
			rd := probeEvents(evs, "Readiness", now, recent)
			o, _ := a.topOwner(p)
			stale := now.Sub(ready.LastTransitionTime.Time) > a.d.cfg.NotReadyGrace
			if allRunning && (len(rd) > 0 || (stale && hasReadinessProbe(p))) && !a.inProgress[o.key()] {
				is := &podIssue{rule: RuleProbeFailing, cause: "readiness", sev: contracts.SeverityWarning, next: podNext(p)}
				msg := "its readiness probe fails"
				if len(rd) > 0 {
					msg = "readiness probe failing: " + strings.TrimPrefix(rd[0].Message, "Readiness probe failed: ")
				}
				is.title = fmt.Sprintf("pod running but not ready (%s)", firstLine(msg))
				is.explanation = "The containers run but the readiness probe fails, so the pod receives no traffic from its Services. Check what the probe calls and what the application logs say about it."
				is.evidence = append(is.evidence, fieldEv("Pod", pod, "status.conditions[Ready]", fmt.Sprintf("False since %s (%s)", ready.LastTransitionTime.UTC().Format(time.RFC3339), ready.Reason)))
				for _, e := range rd {
					is.evidence = append(is.evidence, eventEv("Pod", pod, e))
				}
				if len(p.Spec.Containers) > 0 {
					is.next = append(is.next, fmt.Sprintf("logs %s -n %s -c %s --tail 50", pod, p.Namespace, p.Spec.Containers[0].Name))
				}
				return is
			}
		}
	}
	return nil
}

// crashLoopIssue describes a container in CrashLoopBackOff.
func (a *analysis) crashLoopIssue(p *corev1.Pod, cs corev1.ContainerStatus, evs []*corev1.Event) *podIssue {
	pod := p.Name
	t := cs.LastTerminationState.Terminated
	is := &podIssue{rule: RuleCrashLoop, sev: contracts.SeverityCritical, next: podNext(p), logContainer: cs.Name, logPrevious: true}
	is.evidence = append(is.evidence, fieldEv("Pod", pod, "status.containerStatuses["+cs.Name+"].state.waiting", "CrashLoopBackOff"),
		fieldEv("Pod", pod, "status.containerStatuses["+cs.Name+"].restartCount", fmt.Sprint(cs.RestartCount)))
	term := "no termination recorded"
	if t != nil {
		term = describeTermination(t)
		is.evidence = append(is.evidence, fieldEv("Pod", pod, "status.containerStatuses["+cs.Name+"].lastState.terminated", term))
		is.cause = terminationCause(t)
	}
	if t != nil && t.Reason == "OOMKilled" {
		limit := memLimit(p, cs.Name)
		is.rule, is.cause = RuleOOMKilled, "crashloop"
		is.title = fmt.Sprintf("container %s is OOMKilled in a loop (memory limit %s, %d restarts)", cs.Name, limit, cs.RestartCount)
		is.explanation = "The container uses more memory than its limit; the kernel kills it (exit code 137) and the kubelet backs off restarting it. Raise the memory limit or reduce what the application holds in memory."
		is.evidence = append(is.evidence, fieldEv("Pod", pod, "spec.containers["+cs.Name+"].resources.limits.memory", limit))
		is.next = append(is.next, "top pod "+pod+" -n "+p.Namespace+" --containers")
	} else {
		is.title = fmt.Sprintf("container %s is in CrashLoopBackOff (%s, %d restarts)", cs.Name, term, cs.RestartCount)
		is.explanation = "The container starts and exits again and again; the kubelet waits longer before each restart. The error lines of its previous run's log usually say why."
		if lv := probeEvents(evs, "Liveness", a.s.now, a.d.cfg.Recent); len(lv) > 0 {
			is.cause = "liveness_probe"
			is.explanation = "The container is killed because its liveness probe fails, and restarted with back-off. Check the probe against what the application serves."
			for _, e := range lv {
				is.evidence = append(is.evidence, eventEv("Pod", pod, e))
			}
		}
	}
	for _, e := range evs {
		if e.Type == corev1.EventTypeWarning && e.Reason == "BackOff" && len(is.evidence) < 6 {
			is.evidence = append(is.evidence, eventEv("Pod", pod, e))
			break
		}
	}
	return is
}

// unschedulableIssue describes a pod the scheduler cannot place.
func (a *analysis) unschedulableIssue(p *corev1.Pod, msg string, evs []*corev1.Event) *podIssue {
	pod := p.Name
	text := msg
	var evEv []contracts.Evidence
	for _, e := range evs {
		if e.Reason == "FailedScheduling" {
			if text == "" {
				text = e.Message
			}
			evEv = append(evEv, eventEv("Pod", pod, e))
		}
	}
	classes := classifyScheduling(text)
	is := &podIssue{rule: RuleUnschedulable, cause: classes[0], sev: contracts.SeverityCritical, next: podNext(p)}
	is.title = "pod cannot be scheduled: " + strings.ReplaceAll(strings.Join(classes, ", "), "_", " ")
	is.explanation = schedulingExplanation(classes[0], p)
	is.evidence = append(is.evidence, fieldEv("Pod", pod, "status.conditions[PodScheduled]", "False Unschedulable: "+text))
	if len(p.Spec.NodeSelector) > 0 {
		is.evidence = append(is.evidence, fieldEv("Pod", pod, "spec.nodeSelector", labelString(p.Spec.NodeSelector)))
	}
	is.evidence = append(is.evidence, evEv...)
	switch classes[0] {
	case "node_selector_mismatch", "untolerated_taint", "insufficient_cpu", "insufficient_memory", "insufficient_gpu", "too_many_pods", "unschedulable_node":
		is.next = append(is.next, "get nodes --show-labels", "describe nodes")
	case "unbound_pvc", "missing_pvc":
		is.next = append(is.next, "get pvc -n "+p.Namespace)
		for _, v := range p.Spec.Volumes {
			if v.PersistentVolumeClaim != nil {
				if _, pending := a.pvcCause[p.Namespace+"/"+v.PersistentVolumeClaim.ClaimName]; pending {
					is.claim = v.PersistentVolumeClaim.ClaimName
				}
			}
		}
	}
	return is
}

var imagePullExplanation = map[string]string{
	"image_not_found":           "The registry answers but has no such image or tag: check the image name and tag (a typo, or a tag that was never pushed).",
	"unauthorized":              "The registry refuses the pull: the image is private and the pod has no (valid) imagePullSecrets for it.",
	"unauthorized_or_not_found": "The registry says the repository does not exist or needs credentials: check the name, then the pod's imagePullSecrets.",
	"registry_unreachable":      "The node cannot reach the registry (DNS, network, proxy or TLS): check the registry host from the node.",
	"invalid_image_name":        "The image reference is not a valid name; fix its spelling in the pod template.",
	"image_never_pull":          "imagePullPolicy is Never and the image is not on the node.",
	"rate_limited":              "The registry rate-limits pulls; use credentials or a mirror.",
	"unknown":                   "The image cannot be pulled; the events and the waiting message say why.",
}

func schedulingExplanation(class string, p *corev1.Pod) string {
	switch class {
	case "node_selector_mismatch":
		return "No node has the labels the pod's nodeSelector or node affinity requires (" + labelString(p.Spec.NodeSelector) + "); label a node or fix the selector."
	case "insufficient_cpu", "insufficient_memory", "insufficient_gpu", "insufficient_ephemeral_storage":
		return "No node has enough free allocatable resources for the pod's requests; lower the requests, free capacity or add nodes."
	case "untolerated_taint":
		return "The nodes carry taints the pod does not tolerate; add a toleration or use other nodes."
	case "pod_affinity", "pod_anti_affinity":
		return "The pod's (anti-)affinity rules rule out every node given the pods already running."
	case "unbound_pvc", "missing_pvc":
		return "The pod needs a PersistentVolumeClaim that is not bound (or does not exist), so it cannot be placed."
	case "too_many_pods":
		return "Every node already runs its maximum number of pods."
	case "unschedulable_node":
		return "The nodes are cordoned (unschedulable)."
	}
	return "The scheduler found no node for the pod; its message says why."
}

func evictionCause(msg string) string {
	t := strings.ToLower(msg)
	switch {
	case strings.Contains(t, "memory"):
		return "memory_pressure"
	case strings.Contains(t, "ephemeral-storage") || strings.Contains(t, "disk"):
		return "disk_pressure"
	case strings.Contains(t, "pid"):
		return "pid_pressure"
	}
	return "unknown"
}

// probeEvents returns the recent Unhealthy events of a probe kind.
func probeEvents(evs []*corev1.Event, probe string, now time.Time, recent time.Duration) []*corev1.Event {
	var out []*corev1.Event
	for _, e := range evs {
		if e.Reason == "Unhealthy" && strings.HasPrefix(e.Message, probe+" probe") && now.Sub(eventTime(e)) <= recent {
			out = append(out, e)
		}
	}
	return out
}

func podCondition(p *corev1.Pod, t corev1.PodConditionType) *corev1.PodCondition {
	for i := range p.Status.Conditions {
		if p.Status.Conditions[i].Type == t {
			return &p.Status.Conditions[i]
		}
	}
	return nil
}

func hasReadinessProbe(p *corev1.Pod) bool {
	for _, c := range p.Spec.Containers {
		if c.ReadinessProbe != nil {
			return true
		}
	}
	return false
}

func describeTermination(t *corev1.ContainerStateTerminated) string {
	s := fmt.Sprintf("exit code %d", t.ExitCode)
	if t.Reason != "" {
		s = t.Reason + ", " + s
	}
	if t.Signal != 0 {
		s += fmt.Sprintf(", signal %d", t.Signal)
	}
	return s
}

func terminationCause(t *corev1.ContainerStateTerminated) string {
	if t.Reason != "" && t.Reason != "Error" {
		return strings.ToLower(t.Reason)
	}
	return fmt.Sprintf("exit_code_%d", t.ExitCode)
}

func memLimit(p *corev1.Pod, container string) string {
	for _, c := range append(append([]corev1.Container{}, p.Spec.InitContainers...), p.Spec.Containers...) {
		if c.Name == container {
			if q, ok := c.Resources.Limits[corev1.ResourceMemory]; ok {
				return q.String()
			}
		}
	}
	return "none"
}

func imageOf(p *corev1.Pod, cs corev1.ContainerStatus) string {
	for _, c := range append(append([]corev1.Container{}, p.Spec.InitContainers...), p.Spec.Containers...) {
		if c.Name == cs.Name {
			return c.Image
		}
	}
	return cs.Image
}

func ago(now, t time.Time) string {
	d := now.Sub(t).Round(time.Second)
	if d < 0 {
		d = 0
	}
	return d.String()
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(s, "\n")
	if len(s) > 200 {
		s = s[:200] + "…"
	}
	return s
}

func labelString(m map[string]string) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sortStrings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = k + "=" + m[k]
	}
	return strings.Join(parts, ",")
}
