package diagnose

import (
	"fmt"
	"sort"
	"strings"

	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"kubently.io/libs/contracts"
)

// hpaRules finds HPAs that cannot scale: a missing target, metrics they
// cannot read, or a scale they cannot get or set.
func (a *analysis) hpaRules() {
	targets := map[string]bool{}
	for _, d := range a.s.deployments {
		targets["Deployment/"+d.Namespace+"/"+d.Name] = true
	}
	for _, s := range a.s.statefulSets {
		targets["StatefulSet/"+s.Namespace+"/"+s.Name] = true
	}
	for _, r := range a.s.replicaSets {
		targets["ReplicaSet/"+r.Namespace+"/"+r.Name] = true
	}
	for i := range a.s.hpas {
		h := &a.s.hpas[i]
		o := owner{Kind: "HorizontalPodAutoscaler", Namespace: h.Namespace, Name: h.Name, UID: h.UID}
		ref := h.Spec.ScaleTargetRef
		knownKind := ref.Kind == "Deployment" || ref.Kind == "StatefulSet" || ref.Kind == "ReplicaSet"
		var cause, detail string
		switch {
		case knownKind && !targets[ref.Kind+"/"+h.Namespace+"/"+ref.Name] && a.s.read[targetResource(ref.Kind)]:
			cause, detail = "missing_target", fmt.Sprintf("scale target %s %s does not exist", ref.Kind, ref.Name)
		default:
			for _, c := range h.Status.Conditions {
				if c.Status != corev1.ConditionFalse {
					continue
				}
				switch {
				case c.Type == autoscalingv2.AbleToScale:
					cause, detail = "unable_to_scale", c.Reason+": "+c.Message
				case c.Type == autoscalingv2.ScalingActive && c.Reason != "ScalingDisabled":
					cause, detail = "metrics_unavailable", c.Reason+": "+c.Message
					if c.Reason == "FailedGetScale" {
						cause = "unable_to_scale"
					}
					if c.Reason == "InvalidSelector" || c.Reason == "InvalidMetricSourceType" {
						cause = "invalid_spec"
					}
				}
				if cause != "" {
					break
				}
			}
		}
		if cause == "" {
			continue
		}
		g := a.groupFor(o, RuleHPA, cause, contracts.SeverityWarning)
		g.f.Title = fmt.Sprintf("%s cannot autoscale %s %s: %s", ownerTitle(o), ref.Kind, ref.Name, firstLine(detail))
		g.f.Explanation = hpaExplanation[cause]
		g.addEvidence(fieldEv("HorizontalPodAutoscaler", h.Name, "spec.scaleTargetRef", ref.Kind+"/"+ref.Name))
		for _, c := range h.Status.Conditions {
			if c.Status == corev1.ConditionFalse {
				g.addEvidence(fieldEv("HorizontalPodAutoscaler", h.Name, "status.conditions["+string(c.Type)+"]", "False "+c.Reason+": "+c.Message))
			}
		}
		for _, e := range a.s.eventsFor("HorizontalPodAutoscaler", h) {
			if e.Type == corev1.EventTypeWarning {
				g.addEvidence(eventEv("HorizontalPodAutoscaler", h.Name, e))
			}
		}
		g.addNext("describe hpa " + h.Name + " -n " + h.Namespace)
		if cause == "metrics_unavailable" {
			g.addNext("top pod -n " + h.Namespace)
		}
	}
}

func targetResource(kind string) string {
	switch kind {
	case "Deployment":
		return "deployments.apps"
	case "StatefulSet":
		return "statefulsets.apps"
	}
	return "replicasets.apps"
}

var hpaExplanation = map[string]string{
	"missing_target":      "The HPA points at a workload that does not exist, so it scales nothing. Fix scaleTargetRef.",
	"unable_to_scale":     "The HPA cannot read or change its target's scale subresource.",
	"metrics_unavailable": "The HPA cannot read the metrics it scales on (is metrics-server or the custom metrics adapter running, and do the pods set resource requests?), so it does not scale.",
	"invalid_spec":        "The HPA's selector or metric specification is invalid.",
}

// pdbRules finds PodDisruptionBudgets that allow no disruption at all by
// construction (maxUnavailable 0, or minAvailable at least the pods), so
// every drain and voluntary eviction is blocked, even when all pods are
// healthy. A budget at 0 because pods are unhealthy is not flagged: the
// pods' own findings say why.
func (a *analysis) pdbRules() {
	for i := range a.s.pdbs {
		b := &a.s.pdbs[i]
		st := b.Status
		if st.ExpectedPods == 0 || st.DisruptionsAllowed > 0 {
			continue
		}
		why := ""
		switch {
		case b.Spec.MaxUnavailable != nil && isZero(*b.Spec.MaxUnavailable):
			why = "maxUnavailable is " + b.Spec.MaxUnavailable.String()
		case b.Spec.MinAvailable != nil && coversAll(*b.Spec.MinAvailable, st.ExpectedPods):
			why = fmt.Sprintf("minAvailable %s covers all %d pods", b.Spec.MinAvailable.String(), st.ExpectedPods)
		default:
			continue
		}
		o := owner{Kind: "PodDisruptionBudget", Namespace: b.Namespace, Name: b.Name, UID: b.UID}
		g := a.groupFor(o, RulePDBBlocking, "", contracts.SeverityWarning)
		g.f.Title = fmt.Sprintf("%s blocks every voluntary disruption (%s)", ownerTitle(o), why)
		g.f.Explanation = "The budget allows no pod to be evicted even when all are healthy, so node drains and upgrades hang. Allow at least one disruption (maxUnavailable 1, or minAvailable below the replica count)."
		g.addEvidence(fieldEv("PodDisruptionBudget", b.Name, "spec", why),
			fieldEv("PodDisruptionBudget", b.Name, "status", fmt.Sprintf("%d expected, %d healthy, %d disruptions allowed", st.ExpectedPods, st.CurrentHealthy, st.DisruptionsAllowed)))
		g.addNext("describe pdb " + b.Name + " -n " + b.Namespace)
	}
}

func isZero(v intstr.IntOrString) bool {
	if v.Type == intstr.Int {
		return v.IntVal == 0
	}
	return strings.TrimSuffix(v.StrVal, "%") == "0"
}

func coversAll(v intstr.IntOrString, pods int32) bool {
	if v.Type == intstr.Int {
		return v.IntVal >= pods
	}
	return v.StrVal == "100%"
}

// pvcRules finds pending claims and classifies why.
func (a *analysis) pvcRules() {
	classes := map[string]*struct {
		wffc, exists bool
		provisioner  string
	}{}
	defaultClass := ""
	for _, sc := range a.s.storageClasses {
		c := &struct {
			wffc, exists bool
			provisioner  string
		}{exists: true, provisioner: sc.Provisioner}
		c.wffc = sc.VolumeBindingMode != nil && *sc.VolumeBindingMode == "WaitForFirstConsumer"
		classes[sc.Name] = c
		if sc.Annotations["storageclass.kubernetes.io/is-default-class"] == "true" {
			defaultClass = sc.Name
		}
	}
	scRead := a.s.read["storageclasses.storage.k8s.io"]
	for i := range a.s.pvcs {
		c := &a.s.pvcs[i]
		if c.Status.Phase != corev1.ClaimPending || c.DeletionTimestamp != nil {
			continue
		}
		var warn []*corev1.Event
		for _, e := range a.s.eventsFor("PersistentVolumeClaim", c) {
			if e.Type == corev1.EventTypeWarning {
				warn = append(warn, e)
			}
		}
		consumers := a.claimConsumers(c.Namespace, c.Name)
		cls := ""
		if c.Spec.StorageClassName != nil {
			cls = *c.Spec.StorageClassName
		}
		var cause, title, expl string
		sev := contracts.SeverityCritical
		switch {
		case c.Spec.StorageClassName == nil && scRead && defaultClass == "" && c.Spec.VolumeName == "":
			cause, title = "no_default_storage_class", "no storageClassName and no default StorageClass"
			expl = "The claim names no StorageClass and the cluster has no default one, so nothing provisions a volume and no PersistentVolume is bound to it. Set storageClassName or mark a class default."
		case cls != "" && scRead && classes[cls] == nil:
			cause, title = "storage_class_not_found", fmt.Sprintf("StorageClass %q does not exist", cls)
			expl = "The claim's StorageClass does not exist, so no volume can be provisioned. Fix storageClassName."
		case hasReason(warn, "ProvisioningFailed"):
			cause, title = "provisioning_failed", "provisioning failed"
			expl = "The storage provisioner tried and failed to create a volume; its event says why (quota, zone, parameters)."
		case scRead && classes[effective(cls, defaultClass)] != nil && classes[effective(cls, defaultClass)].wffc:
			if len(consumers) > 0 {
				continue // the consuming pod's scheduling decides; its finding says why
			}
			cause, title, sev = "waiting_for_first_consumer", "waits for a pod to use it (WaitForFirstConsumer)", contracts.SeverityInfo
			expl = "The StorageClass binds volumes only when a pod using the claim is scheduled, and no pod uses this claim. That is fine if a pod will come; otherwise the claim is unused."
		case cls == "" && c.Spec.StorageClassName != nil && c.Spec.VolumeName == "":
			cause, title = "no_matching_volume", "no PersistentVolume matches (static provisioning)"
			expl = "storageClassName is empty, so only a pre-created PersistentVolume can bind it, and none matches its size, access modes and selector."
		default:
			if len(warn) == 0 && a.s.now.Sub(c.CreationTimestamp.Time) < a.d.cfg.NotReadyGrace {
				continue // just created
			}
			cause, title = "unbound", "not bound"
			expl = "The claim stays Pending; its events say why."
		}
		o := owner{Kind: "PersistentVolumeClaim", Namespace: c.Namespace, Name: c.Name, UID: c.UID}
		g := a.groupFor(o, RulePVCPending, cause, sev)
		a.pvcCause[c.Namespace+"/"+c.Name] = cause
		g.f.Title = fmt.Sprintf("%s is Pending: %s", ownerTitle(o), title)
		g.f.Explanation = expl
		g.addEvidence(fieldEv("PersistentVolumeClaim", c.Name, "status.phase", "Pending"),
			fieldEv("PersistentVolumeClaim", c.Name, "spec.storageClassName", orUnset(c.Spec.StorageClassName)))
		for _, e := range warn {
			g.addEvidence(eventEv("PersistentVolumeClaim", c.Name, e))
		}
		g.addNext("describe pvc "+c.Name+" -n "+c.Namespace, "get storageclasses")
	}
}

func effective(cls, def string) string {
	if cls == "" {
		return def
	}
	return cls
}

func orUnset(p *string) string {
	if p == nil {
		return "(unset)"
	}
	if *p == "" {
		return `"" (static volumes only)`
	}
	return *p
}

func hasReason(evs []*corev1.Event, reason string) bool {
	for _, e := range evs {
		if e.Reason == reason {
			return true
		}
	}
	return false
}

// claimConsumers lists the pods that mount a claim.
func (a *analysis) claimConsumers(ns, claim string) []string {
	var out []string
	for _, p := range a.s.pods {
		if p.Namespace != ns {
			continue
		}
		for _, v := range p.Spec.Volumes {
			if v.PersistentVolumeClaim != nil && v.PersistentVolumeClaim.ClaimName == claim {
				out = append(out, p.Name)
			}
		}
	}
	return out
}

// nodeRules (whole-cluster diagnoses only) finds nodes NotReady, under
// pressure, cordoned or tainted NoExecute.
func (a *analysis) nodeRules() {
	for i := range a.s.nodes {
		n := &a.s.nodes[i]
		o := owner{Kind: "Node", Name: n.Name, UID: n.UID}
		next := []string{"describe node " + n.Name, "get pods -A --field-selector spec.nodeName=" + n.Name}
		notReady := false
		for _, c := range n.Status.Conditions {
			switch {
			case c.Type == corev1.NodeReady && c.Status != corev1.ConditionTrue:
				notReady = true
				g := a.groupFor(o, RuleNodeNotReady, strings.ToLower(string(c.Status)), contracts.SeverityCritical)
				g.f.Title = fmt.Sprintf("%s is NotReady (%s since %s)", ownerTitle(o), c.Reason, c.LastTransitionTime.UTC().Format("2006-01-02T15:04:05Z"))
				g.f.Explanation = "The node's kubelet does not report Ready (Unknown: it stopped reporting at all). Its pods are evicted after their tolerationSeconds and nothing new is scheduled on it."
				g.addEvidence(fieldEv("Node", n.Name, "status.conditions[Ready]", string(c.Status)+" "+c.Reason+": "+c.Message))
				g.addNext(next...)
			case (c.Type == corev1.NodeMemoryPressure || c.Type == corev1.NodeDiskPressure || c.Type == corev1.NodePIDPressure || c.Type == corev1.NodeNetworkUnavailable) && c.Status == corev1.ConditionTrue:
				cause := strings.ToLower(strings.TrimSuffix(string(c.Type), "Pressure")) + "_pressure"
				if c.Type == corev1.NodeNetworkUnavailable {
					cause = "network_unavailable"
				}
				g := a.groupFor(o, RuleNodePressure, cause, contracts.SeverityWarning)
				g.f.Title = fmt.Sprintf("%s reports %s", ownerTitle(o), c.Type)
				g.f.Explanation = "The kubelet reports the node short of a resource; it evicts pods and refuses new ones until it recovers."
				g.addEvidence(fieldEv("Node", n.Name, "status.conditions["+string(c.Type)+"]", "True "+c.Reason+": "+c.Message))
				g.addNext(next...)
			}
		}
		if n.Spec.Unschedulable {
			g := a.groupFor(o, RuleNodeCordoned, "", contracts.SeverityInfo)
			g.f.Title = ownerTitle(o) + " is cordoned (unschedulable)"
			g.f.Explanation = "No new pods are scheduled on the node; running pods stay. Expected during maintenance, a leftover otherwise."
			g.addEvidence(fieldEv("Node", n.Name, "spec.unschedulable", "true"))
			g.addNext(next...)
		}
		for _, t := range n.Spec.Taints {
			if t.Effect != corev1.TaintEffectNoExecute {
				continue
			}
			if notReady && (t.Key == corev1.TaintNodeNotReady || t.Key == corev1.TaintNodeUnreachable) {
				continue // the NotReady finding covers it
			}
			g := a.groupFor(o, RuleNodeNoExecute, "", contracts.SeverityWarning)
			g.f.Title = fmt.Sprintf("%s has NoExecute taint %s", ownerTitle(o), taintString(t))
			g.f.Explanation = "Pods that do not tolerate a NoExecute taint are evicted from the node and none are scheduled there."
			g.addEvidence(fieldEv("Node", n.Name, "spec.taints", taintString(t)))
			g.addNext(next...)
		}
	}
}

func taintString(t corev1.Taint) string {
	if t.Value == "" {
		return t.Key + ":" + string(t.Effect)
	}
	return t.Key + "=" + t.Value + ":" + string(t.Effect)
}

func sortStrings(s []string) { sort.Strings(s) }
