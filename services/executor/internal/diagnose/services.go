package diagnose

import (
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/labels"

	"kubently.io/libs/contracts"
)

// serviceRules finds Services whose selector matches no pod, and
// Services without a ready endpoint. When the matching pods already have
// a finding, the Service joins that finding instead.
func (a *analysis) serviceRules() {
	slicesOf := map[string][]*discoveryv1.EndpointSlice{}
	for i := range a.s.endpointSlices {
		es := &a.s.endpointSlices[i]
		k := es.Namespace + "/" + es.Labels[discoveryv1.LabelServiceName]
		slicesOf[k] = append(slicesOf[k], es)
	}
	slicesRead := a.s.read["endpointslices.discovery.k8s.io"]
	for i := range a.s.services {
		svc := &a.s.services[i]
		if svc.Spec.Type == corev1.ServiceTypeExternalName || len(svc.Spec.Selector) == 0 {
			continue
		}
		sel := labels.SelectorFromSet(svc.Spec.Selector)
		var matched []*corev1.Pod
		for j := range a.s.pods {
			p := &a.s.pods[j]
			if p.Namespace == svc.Namespace && p.DeletionTimestamp == nil && p.Status.Phase != corev1.PodSucceeded && p.Status.Phase != corev1.PodFailed && sel.Matches(labels.Set(p.Labels)) {
				matched = append(matched, p)
			}
		}
		o := owner{Kind: "Service", Namespace: svc.Namespace, Name: svc.Name, UID: svc.UID}
		svcRef := o.ref()
		if len(matched) == 0 {
			g := a.groupFor(o, RuleServiceNoPods, "", contracts.SeverityCritical)
			g.f.Title = fmt.Sprintf("%s: selector %s matches no pod", ownerTitle(o), labelString(svc.Spec.Selector))
			g.f.Explanation = "No pod in the namespace carries the Service's selector labels, so the Service has no endpoints and every connection to it fails. Fix the selector or the pod labels (compare with the workloads' pod template labels)."
			g.addEvidence(fieldEv("Service", svc.Name, "spec.selector", labelString(svc.Spec.Selector)))
			if near := a.nearLabels(svc); near != "" {
				g.addEvidence(fieldEv("Service", svc.Name, "pods with some of these labels", near))
			}
			g.addNext("describe service "+svc.Name+" -n "+svc.Namespace, "get pods -n "+svc.Namespace+" --show-labels")
			continue
		}
		ready := 0
		if slicesRead {
			for _, es := range slicesOf[svc.Namespace+"/"+svc.Name] {
				for _, ep := range es.Endpoints {
					if ep.Conditions.Ready == nil || *ep.Conditions.Ready {
						ready++
					}
				}
			}
		} else {
			for _, p := range matched {
				if r := podCondition(p, corev1.PodReady); r != nil && r.Status == corev1.ConditionTrue {
					ready++
				}
			}
		}
		if ready > 0 {
			continue
		}
		// No ready endpoint: explained by the pods' own finding?
		var joined *group
		for _, p := range matched {
			if g := a.podGroup[p.UID]; g != nil {
				g.addRelated(svcRef)
				if joined == nil {
					g.addEvidence(fieldEv("Service", svc.Name, "endpoints", fmt.Sprintf("no ready endpoint: the %d matching pod(s) are not ready", len(matched))))
				}
				joined = g
			}
		}
		if joined != nil {
			continue
		}
		g := a.groupFor(o, RuleServiceNoReady, "", contracts.SeverityCritical)
		g.f.Title = fmt.Sprintf("%s: %d matching pod(s), none ready", ownerTitle(o), len(matched))
		g.f.Explanation = "The selector matches pods, but none of them is ready, so the Service has no ready endpoints."
		for _, p := range matched {
			g.addPod(p.Name)
		}
		g.addEvidence(fieldEv("Service", svc.Name, "spec.selector", labelString(svc.Spec.Selector)),
			fieldEv("Service", svc.Name, "endpointslices", "0 ready endpoints"))
		g.addNext("describe service "+svc.Name+" -n "+svc.Namespace, "get endpointslices -n "+svc.Namespace+" -l "+discoveryv1.LabelServiceName+"="+svc.Name)
	}
}

// nearLabels names pods that carry a selector key with another value,
// the usual typo ("app=inventory-api" vs "app=inventory").
func (a *analysis) nearLabels(svc *corev1.Service) string {
	seen := map[string]bool{}
	var out []string
	for k := range svc.Spec.Selector {
		for j := range a.s.pods {
			p := &a.s.pods[j]
			if p.Namespace != svc.Namespace {
				continue
			}
			if v, ok := p.Labels[k]; ok && !seen[k+"="+v] && len(out) < 5 {
				seen[k+"="+v] = true
				out = append(out, k+"="+v)
			}
		}
	}
	sortStrings(out)
	return strings.Join(out, ", ")
}

// ingressRules finds Ingresses whose backend Service (or its port) or
// IngressClass is missing.
func (a *analysis) ingressRules() {
	svcs := map[string]*corev1.Service{}
	for i := range a.s.services {
		svcs[a.s.services[i].Namespace+"/"+a.s.services[i].Name] = &a.s.services[i]
	}
	classes := map[string]bool{}
	hasDefault := false
	for _, c := range a.s.ingressClasses {
		classes[c.Name] = true
		hasDefault = hasDefault || c.Annotations[networkingv1.AnnotationIsDefaultIngressClass] == "true"
	}
	for i := range a.s.ingresses {
		ing := &a.s.ingresses[i]
		o := owner{Kind: "Ingress", Namespace: ing.Namespace, Name: ing.Name, UID: ing.UID}
		var backends []networkingv1.IngressBackend
		if ing.Spec.DefaultBackend != nil {
			backends = append(backends, *ing.Spec.DefaultBackend)
		}
		for _, r := range ing.Spec.Rules {
			if r.HTTP == nil {
				continue
			}
			for _, p := range r.HTTP.Paths {
				backends = append(backends, p.Backend)
			}
		}
		if a.s.read["services"] {
			for _, b := range backends {
				if b.Service == nil {
					continue
				}
				svc := svcs[ing.Namespace+"/"+b.Service.Name]
				problem := ""
				switch {
				case svc == nil:
					problem = fmt.Sprintf("backend Service %s does not exist", b.Service.Name)
				case !servicePort(svc, b.Service.Port):
					problem = fmt.Sprintf("backend Service %s has no port %s", b.Service.Name, portString(b.Service.Port))
				default:
					continue
				}
				cause := "service_not_found"
				if svc != nil {
					cause = "port_not_found"
				}
				g := a.groupFor(o, RuleIngressBackend, cause, contracts.SeverityCritical)
				if g.f.Title == "" {
					g.f.Title = ownerTitle(o) + ": " + problem
					g.f.Explanation = "Requests routed to this backend fail (the controller answers 503 or 404): create the Service or fix the backend's name and port."
					g.addNext("describe ingress "+ing.Name+" -n "+ing.Namespace, "get services -n "+ing.Namespace)
				}
				g.addEvidence(fieldEv("Ingress", ing.Name, "backend", problem))
			}
		}
		if !a.s.read["ingressclasses.networking.k8s.io"] {
			continue
		}
		cls := ""
		if ing.Spec.IngressClassName != nil {
			cls = *ing.Spec.IngressClassName
		} else if v := ing.Annotations["kubernetes.io/ingress.class"]; v != "" {
			continue // the legacy annotation: controllers match it themselves
		}
		switch {
		case cls != "" && !classes[cls]:
			g := a.groupFor(o, RuleIngressClass, "class_not_found", contracts.SeverityCritical)
			g.f.Title = fmt.Sprintf("%s: IngressClass %q does not exist", ownerTitle(o), cls)
			g.f.Explanation = "No IngressClass of that name exists, so no ingress controller serves this Ingress."
			g.addEvidence(fieldEv("Ingress", ing.Name, "spec.ingressClassName", cls))
			g.addNext("get ingressclasses", "describe ingress "+ing.Name+" -n "+ing.Namespace)
		case cls == "" && !hasDefault:
			g := a.groupFor(o, RuleIngressClass, "no_default_class", contracts.SeverityWarning)
			g.f.Title = ownerTitle(o) + ": no ingressClassName and no default IngressClass"
			g.f.Explanation = "The Ingress names no class and the cluster has no default IngressClass, so possibly no controller serves it."
			g.addEvidence(fieldEv("Ingress", ing.Name, "spec.ingressClassName", "(unset)"))
			g.addNext("get ingressclasses", "describe ingress "+ing.Name+" -n "+ing.Namespace)
		}
	}
}

func servicePort(svc *corev1.Service, p networkingv1.ServiceBackendPort) bool {
	for _, sp := range svc.Spec.Ports {
		if (p.Name != "" && sp.Name == p.Name) || (p.Name == "" && sp.Port == p.Number) {
			return true
		}
	}
	return false
}

func portString(p networkingv1.ServiceBackendPort) string {
	if p.Name != "" {
		return p.Name
	}
	return fmt.Sprint(p.Number)
}
