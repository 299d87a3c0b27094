package diagnose

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	storagev1 "k8s.io/api/storage/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes/fake"

	"kubently.io/libs/contracts"
	"kubently.io/libs/policy"
)

// want is one expected finding: rule, cause and root object.
type want struct{ Rule, Cause, Object string }

func endpoints(svc string, ready bool, n int) *discoveryv1.EndpointSlice {
	es := &discoveryv1.EndpointSlice{ObjectMeta: meta("EndpointSlice", svc+"-abc", map[string]string{discoveryv1.LabelServiceName: svc})}
	for i := range n {
		es.Endpoints = append(es.Endpoints, discoveryv1.Endpoint{Addresses: []string{fmt.Sprintf("10.0.0.%d", i+1)}, Conditions: discoveryv1.EndpointConditions{Ready: ptr(ready)}})
	}
	return es
}

func pendingPod(name, msg string) *corev1.Pod {
	p := runningPod(name, map[string]string{"app": name})
	p.Spec.NodeName = ""
	p.Status = corev1.PodStatus{Phase: corev1.PodPending, Conditions: []corev1.PodCondition{{Type: corev1.PodScheduled, Status: corev1.ConditionFalse, Reason: corev1.PodReasonUnschedulable, Message: msg}}}
	return p
}

func objs(groups ...[]runtime.Object) []runtime.Object {
	var out []runtime.Object
	for _, g := range groups {
		out = append(out, g...)
	}
	return out
}

func one(o ...runtime.Object) []runtime.Object { return o }

func stuckDeployment(objs []runtime.Object, rev string) []runtime.Object {
	d := objs[0].(*appsv1.Deployment)
	d.Status.Conditions = []appsv1.DeploymentCondition{{Type: appsv1.DeploymentProgressing, Status: corev1.ConditionFalse, Reason: "ProgressDeadlineExceeded",
		Message: fmt.Sprintf("ReplicaSet %q has timed out progressing.", d.Name+"-rs"+rev)}}
	return objs
}

// rollout returns a Deployment mid-rollout: rev 1 serving 2 pods, rev 2
// with one new pod made by mut.
func rollout(name string, mut func(p *corev1.Pod)) []runtime.Object {
	old := deployment(name, 2, "1", 2, nil)
	nu := deployment(name, 2, "2", 1, mut)
	d := nu[0].(*appsv1.Deployment)
	d.Status = appsv1.DeploymentStatus{Replicas: 3, UpdatedReplicas: 1, ReadyReplicas: 2, AvailableReplicas: 2, UnavailableReplicas: 1,
		Conditions: []appsv1.DeploymentCondition{{Type: appsv1.DeploymentProgressing, Status: corev1.ConditionTrue, Reason: "ReplicaSetUpdated"}}}
	nu[1].(*appsv1.ReplicaSet).Status = appsv1.ReplicaSetStatus{Replicas: 1}
	return append(append([]runtime.Object{d}, old[1:]...), nu[1:]...)
}

func rulesCases() []struct {
	name  string
	all   bool
	objs  []runtime.Object
	want  []want
	check func(t *testing.T, fs []contracts.Finding)
} {
	readinessFail := func(p *corev1.Pod) {
		notReady(p, 10*time.Minute)
		p.Spec.Containers[0].ReadinessProbe = &corev1.Probe{}
	}
	unhealthy := func(pod string) *corev1.Event {
		return event("Pod", pod, "Warning", "Unhealthy", "Readiness probe failed: HTTP probe failed with statuscode: 503", time.Minute)
	}
	cron := func(name string, suspend bool, schedule string) *batchv1.CronJob {
		c := &batchv1.CronJob{ObjectMeta: meta("CronJob", name, nil)}
		c.Spec.Schedule, c.Spec.Suspend = schedule, ptr(suspend)
		return c
	}
	done := func(typ batchv1.JobConditionType, reason string) []batchv1.JobCondition {
		return []batchv1.JobCondition{{Type: typ, Status: corev1.ConditionTrue, Reason: reason, Message: "Job has reached the specified backoff limit"}}
	}
	sc := func(name string, def, wffc bool) *storagev1.StorageClass {
		s := &storagev1.StorageClass{ObjectMeta: metav1.ObjectMeta{Name: name}, Provisioner: "example.com/disk"}
		if def {
			s.Annotations = map[string]string{"storageclass.kubernetes.io/is-default-class": "true"}
		}
		if wffc {
			s.VolumeBindingMode = ptr(storagev1.VolumeBindingWaitForFirstConsumer)
		}
		return s
	}
	pvc := func(name string, class *string) *corev1.PersistentVolumeClaim {
		c := &corev1.PersistentVolumeClaim{ObjectMeta: meta("PersistentVolumeClaim", name, nil)}
		c.Spec.StorageClassName = class
		c.Status.Phase = corev1.ClaimPending
		return c
	}
	node := func(name string, mut func(n *corev1.Node)) *corev1.Node {
		n := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name, UID: uid("Node", name)}}
		n.Status.Conditions = []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue, Reason: "KubeletReady"},
			{Type: corev1.NodeMemoryPressure, Status: corev1.ConditionFalse}}
		if mut != nil {
			mut(n)
		}
		return n
	}
	hpa := func(name, target string, conds ...autoscalingv2.HorizontalPodAutoscalerCondition) *autoscalingv2.HorizontalPodAutoscaler {
		h := &autoscalingv2.HorizontalPodAutoscaler{ObjectMeta: meta("HorizontalPodAutoscaler", name, nil)}
		h.Spec.ScaleTargetRef = autoscalingv2.CrossVersionObjectReference{Kind: "Deployment", Name: target, APIVersion: "apps/v1"}
		h.Status.Conditions = conds
		return h
	}
	pdb := func(name string, minAvail, maxUnavail *intstr.IntOrString, expected, allowed int32) *policyv1.PodDisruptionBudget {
		b := &policyv1.PodDisruptionBudget{ObjectMeta: meta("PodDisruptionBudget", name, nil)}
		b.Spec.MinAvailable, b.Spec.MaxUnavailable = minAvail, maxUnavail
		b.Status = policyv1.PodDisruptionBudgetStatus{ExpectedPods: expected, CurrentHealthy: expected, DesiredHealthy: expected - allowed, DisruptionsAllowed: allowed}
		return b
	}
	ingress := func(name string, class *string, backend string) *networkingv1.Ingress {
		ing := &networkingv1.Ingress{ObjectMeta: meta("Ingress", name, nil)}
		ing.Spec.IngressClassName = class
		ing.Spec.Rules = []networkingv1.IngressRule{{Host: "shop.example.com", IngressRuleValue: networkingv1.IngressRuleValue{HTTP: &networkingv1.HTTPIngressRuleValue{
			Paths: []networkingv1.HTTPIngressPath{{Path: "/", PathType: ptr(networkingv1.PathTypePrefix), Backend: networkingv1.IngressBackend{
				Service: &networkingv1.IngressServiceBackend{Name: backend, Port: networkingv1.ServiceBackendPort{Name: "http"}}}}}}}}}
		return ing
	}
	nginx := &networkingv1.IngressClass{ObjectMeta: metav1.ObjectMeta{Name: "nginx", Annotations: map[string]string{networkingv1.AnnotationIsDefaultIngressClass: "true"}}}

	return []struct {
		name  string
		all   bool
		objs  []runtime.Object
		want  []want
		check func(t *testing.T, fs []contracts.Finding)
	}{
		{name: "healthy namespace", objs: objs(deployment("web", 2, "1", 2, nil), one(service("web", map[string]string{"app": "web"}), endpoints("web", true, 2)))},
		{name: "crashloop grouped with its ReplicaSet and Service",
			objs: objs(deployment("cart", 2, "1", 2, crashLoop("Error", 1, 5)), one(service("cart", map[string]string{"app": "cart"}), endpoints("cart", false, 2))),
			want: []want{{RuleCrashLoop, "exit_code_1", "Deployment/cart"}},
			check: func(t *testing.T, fs []contracts.Finding) {
				f := fs[0]
				if f.PodCount != 2 || !slices.Contains(f.Related, contracts.ObjectRef{Kind: "Service", Namespace: ns, Name: "cart"}) ||
					!slices.Contains(f.Related, contracts.ObjectRef{Kind: "ReplicaSet", Namespace: ns, Name: "cart-rs1"}) {
					t.Errorf("got pods %v related %v; want 2 pods, the ReplicaSet and the Service", f.Pods, f.Related)
				}
				if !hasEvidence(f, "log", "no error-looking line") {
					t.Errorf("no log evidence: %+v", f.Evidence)
				}
			}},
		{name: "crashloop after OOMKilled", objs: deployment("rec", 1, "1", 1, crashLoop("OOMKilled", 137, 3)),
			want: []want{{RuleOOMKilled, "crashloop", "Deployment/rec"}},
			check: func(t *testing.T, fs []contracts.Finding) {
				if !strings.Contains(fs[0].Title, "256Mi") {
					t.Errorf("title %q does not name the memory limit", fs[0].Title)
				}
			}},
		{name: "OOMKilled ten minutes ago, running again", objs: deployment("api", 1, "1", 1, restarted("OOMKilled", 137, 1, 10*time.Minute)),
			want: []want{{RuleOOMKilled, "running_again", "Deployment/api"}}},
		{name: "healthy: restarted once a day ago", objs: deployment("api", 1, "1", 1, restarted("Error", 1, 1, 24*time.Hour))},
		{name: "healthy: OOMKilled two days ago", objs: deployment("api", 1, "1", 1, restarted("OOMKilled", 137, 1, 48*time.Hour))},
		{name: "restart storm below CrashLoopBackOff", objs: deployment("api", 1, "1", 1, restarted("Error", 2, 6, 5*time.Minute)),
			want: []want{{RuleRestartStorm, "exit_code_2", "Deployment/api"}}},
		{name: "liveness probe restarts", objs: objs(deployment("api", 1, "1", 1, restarted("Error", 137, 4, 5*time.Minute)),
			one(event("Pod", "api-rs1-0", "Warning", "Unhealthy", "Liveness probe failed: Get \"http://10.0.0.1:8080/healthz\": context deadline exceeded", time.Minute))),
			want: []want{{RuleProbeFailing, "liveness", "Deployment/api"}}},
		{name: "image tag not found", objs: deployment("pay", 1, "1", 1, waiting("ImagePullBackOff", `Back-off pulling image "registry.example.com/pay:2.4.0-rc1": ErrImagePull: manifest unknown`)),
			want: []want{{RuleImagePull, "image_not_found", "Deployment/pay"}}},
		{name: "image pull unauthorized, from the event", objs: objs(deployment("pay", 1, "1", 1, waiting("ImagePullBackOff", `Back-off pulling image "private.example.com/pay:1"`)),
			one(event("Pod", "pay-rs1-0", "Warning", "Failed", `Failed to pull image "private.example.com/pay:1": failed to authorize: failed to fetch oauth token: unexpected status: 401 Unauthorized`, time.Minute))),
			want: []want{{RuleImagePull, "unauthorized", "Deployment/pay"}}},
		{name: "registry unreachable", objs: objs(deployment("pay", 1, "1", 1, waiting("ErrImagePull", "")),
			one(event("Pod", "pay-rs1-0", "Warning", "Failed", `Failed to pull image "registry.internal/pay:1": dial tcp: lookup registry.internal on 10.0.0.10:53: no such host`, time.Minute))),
			want: []want{{RuleImagePull, "registry_unreachable", "Deployment/pay"}}},
		{name: "invalid image name", objs: deployment("pay", 1, "1", 1, waiting("InvalidImageName", `Failed to apply default image tag "Pay:1": couldn't parse image name`)),
			want: []want{{RuleImagePull, "invalid_image_name", "Deployment/pay"}}},
		{name: "missing Secret key, named, never valued", objs: deployment("db", 1, "1", 1, waiting("CreateContainerConfigError", "couldn't find key password in Secret t/db-credentials")),
			want: []want{{RuleConfigError, "missing_secret_key", "Deployment/db"}},
			check: func(t *testing.T, fs []contracts.Finding) {
				if !strings.Contains(fs[0].Title, `"password"`) || !strings.Contains(fs[0].Title, "db-credentials") {
					t.Errorf("title %q does not name the key and the Secret", fs[0].Title)
				}
			}},
		{name: "missing ConfigMap", objs: deployment("web", 1, "1", 1, waiting("CreateContainerConfigError", `configmap "web-config" not found`)),
			want: []want{{RuleConfigError, "missing_configmap", "Deployment/web"}}},
		{name: "pending: node selector", objs: one(pendingPod("search", "0/3 nodes are available: 3 node(s) didn't match Pod's node affinity/selector. preemption: 0/3 nodes are available: 3 Preemption is not helpful for scheduling.")),
			want: []want{{RuleUnschedulable, "node_selector_mismatch", "Pod/search"}}},
		{name: "pending: insufficient cpu", objs: one(pendingPod("big", "0/1 nodes are available: 1 Insufficient cpu.")),
			want: []want{{RuleUnschedulable, "insufficient_cpu", "Pod/big"}}},
		{name: "pending: insufficient GPU", objs: one(pendingPod("train", "0/2 nodes are available: 2 Insufficient nvidia.com/gpu.")),
			want: []want{{RuleUnschedulable, "insufficient_gpu", "Pod/train"}}},
		{name: "pending: untolerated taint", objs: one(pendingPod("t1", "0/1 nodes are available: 1 node(s) had untolerated taint {dedicated: gpu}.")),
			want: []want{{RuleUnschedulable, "untolerated_taint", "Pod/t1"}}},
		{name: "pending: anti-affinity", objs: one(pendingPod("t2", "0/3 nodes are available: 3 node(s) didn't match pod anti-affinity rules.")),
			want: []want{{RuleUnschedulable, "pod_anti_affinity", "Pod/t2"}}},
		{name: "pending: too many pods", objs: one(pendingPod("t3", "0/1 nodes are available: 1 Too many pods.")),
			want: []want{{RuleUnschedulable, "too_many_pods", "Pod/t3"}}},
		{name: "pending: missing PVC", objs: one(pendingPod("t4", `0/1 nodes are available: persistentvolumeclaim "data" not found.`)),
			want: []want{{RuleUnschedulable, "missing_pvc", "Pod/t4"}}},
		{name: "pending pod waits for a claim without StorageClass: one finding, the claim", objs: func() []runtime.Object {
			p := pendingPod("db", "0/1 nodes are available: pod has unbound immediate PersistentVolumeClaims.")
			p.Spec.Volumes = []corev1.Volume{{Name: "data", VolumeSource: corev1.VolumeSource{PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: "data"}}}}
			return one(p, pvc("data", nil), sc("slow", false, false))
		}(), want: []want{{RulePVCPending, "no_default_storage_class", "PersistentVolumeClaim/data"}},
			check: func(t *testing.T, fs []contracts.Finding) {
				if !slices.Contains(fs[0].Pods, "db") {
					t.Errorf("pods %v; want the waiting pod db", fs[0].Pods)
				}
			}},
		{name: "PVC: StorageClass missing", objs: one(pvc("d1", ptr("fast-ssd")), sc("standard", true, false)),
			want: []want{{RulePVCPending, "storage_class_not_found", "PersistentVolumeClaim/d1"}}},
		{name: "PVC: WaitForFirstConsumer without a consumer", objs: one(pvc("d2", ptr("local")), sc("local", false, true)),
			want: []want{{RulePVCPending, "waiting_for_first_consumer", "PersistentVolumeClaim/d2"}}},
		{name: "PVC: provisioning failed", objs: one(pvc("d3", ptr("standard")), sc("standard", true, false),
			event("PersistentVolumeClaim", "d3", "Warning", "ProvisioningFailed", "failed to provision volume with StorageClass \"standard\": quota exceeded", time.Minute)),
			want: []want{{RulePVCPending, "provisioning_failed", "PersistentVolumeClaim/d3"}}},
		{name: "failed Job", objs: one(job("migrate", done(batchv1.JobFailed, "BackoffLimitExceeded"), ""), failedJobPod("migrate-x1", "migrate", 3)),
			want: []want{{RuleJobFailed, "BackoffLimitExceeded", "Job/migrate"}},
			check: func(t *testing.T, fs []contracts.Finding) {
				if !slices.Contains(fs[0].Pods, "migrate-x1") || !strings.Contains(fs[0].Title, "code 3") {
					t.Errorf("got %q pods %v; want the failed pod and its exit code", fs[0].Title, fs[0].Pods)
				}
			}},
		{name: "Job past its deadline", objs: one(job("slow", done(batchv1.JobFailed, "DeadlineExceeded"), "")),
			want: []want{{RuleJobFailed, "DeadlineExceeded", "Job/slow"}}},
		{name: "healthy: Job still retrying", objs: one(func() *batchv1.Job {
			j := job("retry", nil, "")
			j.Spec.BackoffLimit = ptr(int32(6))
			j.Status.Failed, j.Status.Active = 2, 1
			return j
		}(), failedJobPod("retry-a", "retry", 1), failedJobPod("retry-b", "retry", 1))},
		{name: "healthy: completed Job", objs: one(job("report", done(batchv1.JobComplete, ""), ""))},
		{name: "CronJob whose last run failed", objs: one(cron("nightly", false, "0 1 * * *"), job("nightly-1", done(batchv1.JobFailed, "BackoffLimitExceeded"), "nightly")),
			want: []want{{RuleJobFailed, "BackoffLimitExceeded", "CronJob/nightly"}}},
		{name: "healthy: CronJob whose failed run was followed by a good one", objs: one(cron("nightly", false, "0 1 * * *"),
			job("nightly-1", done(batchv1.JobFailed, "BackoffLimitExceeded"), "nightly"),
			func() *batchv1.Job {
				j := job("nightly-2", done(batchv1.JobComplete, ""), "nightly")
				j.CreationTimestamp = before(time.Minute)
				return j
			}())},
		{name: "suspended CronJob", objs: one(cron("report", true, "30 1 * * *")),
			want: []want{{RuleCronJobSuspended, "", "CronJob/report"}}},
		{name: "invalid CronJob schedule", objs: one(cron("bad", false, "61 * * * *")),
			want: []want{{RuleCronJobSchedule, "", "CronJob/bad"}}},
		{name: "rollout stuck: new pods fail readiness, old serve", objs: func() []runtime.Object {
			o := stuckDeployment(rollout("checkout", readinessFail), "2")
			return append(o, unhealthy("checkout-rs2-0"))
		}(), want: []want{{RuleRolloutStuck, "probe_failing:readiness", "Deployment/checkout"}}},
		{name: "healthy: rollout in progress", objs: func() []runtime.Object {
			o := rollout("checkout", func(p *corev1.Pod) {
				notReady(p, 10*time.Second)
				p.Spec.Containers[0].ReadinessProbe = &corev1.Probe{}
			})
			return append(o, unhealthy("checkout-rs2-0"))
		}()},
		{name: "rollout stuck without pod-level cause", objs: stuckDeployment(rollout("api", func(p *corev1.Pod) { notReady(p, 10*time.Second) }), "2"),
			want: []want{{RuleRolloutStuck, "progress_deadline_exceeded", "Deployment/api"}}},
		{name: "failing readiness probe outside a rollout", objs: objs(deployment("web", 1, "1", 1, readinessFail), one(unhealthy("web-rs1-0"))),
			want: []want{{RuleProbeFailing, "readiness", "Deployment/web"}}},
		{name: "StatefulSet update stuck", objs: func() []runtime.Object {
			lbl := map[string]string{"app": "pg"}
			s := &appsv1.StatefulSet{ObjectMeta: meta("StatefulSet", "pg", lbl), Spec: appsv1.StatefulSetSpec{Replicas: ptr(int32(3))}}
			s.Status = appsv1.StatefulSetStatus{Replicas: 3, ReadyReplicas: 2, UpdatedReplicas: 1, CurrentRevision: "pg-1", UpdateRevision: "pg-2"}
			p := runningPod("pg-2", map[string]string{"app": "pg", "controller-revision-hash": "pg-2"})
			p.OwnerReferences = ctrlRef("StatefulSet", "pg")
			notReady(p, 15*time.Minute)
			return one(s, p)
		}(), want: []want{{RuleStatefulSetStuck, "updated_pod_not_ready", "StatefulSet/pg"}}},
		{name: "Service selector matches no pod", objs: objs(deployment("inventory", 1, "1", 1, nil), one(service("inventory", map[string]string{"app": "inventory-api"}))),
			want: []want{{RuleServiceNoPods, "", "Service/inventory"}},
			check: func(t *testing.T, fs []contracts.Finding) {
				if !hasEvidence(fs[0], "field", "app=inventory") {
					t.Errorf("no hint at the near label: %+v", fs[0].Evidence)
				}
			}},
		{name: "Service without ready endpoints, pods without a finding", objs: objs(deployment("web", 1, "1", 1, func(p *corev1.Pod) { notReady(p, 10*time.Second) }),
			one(service("web", map[string]string{"app": "web"}), endpoints("web", false, 1))),
			want: []want{{RuleServiceNoReady, "", "Service/web"}}},
		{name: "Ingress backend Service missing", objs: one(ingress("shop", ptr("nginx"), "storefront"), nginx),
			want: []want{{RuleIngressBackend, "service_not_found", "Ingress/shop"}}},
		{name: "IngressClass missing", objs: objs(deployment("web", 1, "1", 1, nil), one(service("web", map[string]string{"app": "web"}), endpoints("web", true, 1), ingress("shop", ptr("traefik"), "web"), nginx)),
			want: []want{{RuleIngressClass, "class_not_found", "Ingress/shop"}}},
		{name: "HPA target missing", objs: one(hpa("api", "api")),
			want: []want{{RuleHPA, "missing_target", "HorizontalPodAutoscaler/api"}}},
		{name: "HPA metrics unavailable", objs: objs(deployment("web", 1, "1", 1, nil), one(service("web", map[string]string{"app": "web"}), endpoints("web", true, 1),
			hpa("web", "web", autoscalingv2.HorizontalPodAutoscalerCondition{Type: autoscalingv2.ScalingActive, Status: corev1.ConditionFalse, Reason: "FailedGetResourceMetric", Message: "the HPA was unable to compute the replica count: failed to get cpu utilization: unable to get metrics for resource cpu: no metrics returned from resource metrics API"}))),
			want: []want{{RuleHPA, "metrics_unavailable", "HorizontalPodAutoscaler/web"}}},
		{name: "PDB blocks every disruption", objs: one(pdb("web", nil, ptr(intstr.FromInt32(0)), 3, 0), pdb("api", ptr(intstr.FromString("100%")), nil, 2, 0)),
			want: []want{{RulePDBBlocking, "", "PodDisruptionBudget/api"}, {RulePDBBlocking, "", "PodDisruptionBudget/web"}}},
		{name: "healthy: PDB with room", objs: one(pdb("web", ptr(intstr.FromInt32(2)), nil, 3, 1))},
		{name: "healthy: PDB at 0 because pods are unhealthy", objs: one(pdb("web", ptr(intstr.FromInt32(2)), nil, 3, 0))},
		{name: "evicted pod", objs: deployment("web", 1, "1", 1, func(p *corev1.Pod) {
			p.Status = corev1.PodStatus{Phase: corev1.PodFailed, Reason: "Evicted", Message: "The node was low on resource: memory. Threshold quantity: 100Mi, available: 50Mi."}
		}), want: []want{{RuleEvicted, "memory_pressure", "Deployment/web"}}},
		{name: "ReplicaSet cannot create pods: quota", objs: func() []runtime.Object {
			o := deployment("web", 2, "1", 0, nil)
			rs := o[1].(*appsv1.ReplicaSet)
			rs.Status = appsv1.ReplicaSetStatus{Conditions: []appsv1.ReplicaSetCondition{{Type: appsv1.ReplicaSetReplicaFailure, Status: corev1.ConditionTrue, Reason: "FailedCreate",
				Message: `pods "web-rs1-x" is forbidden: exceeded quota: compute, requested: pods=1, used: pods=0, limited: pods=0`}}}
			return o
		}(), want: []want{{RuleCreateFailed, "quota_exceeded", "Deployment/web"}}},
		{name: "nodes", all: true, objs: one(
			node("ok", nil),
			node("down", func(n *corev1.Node) {
				n.Status.Conditions[0] = corev1.NodeCondition{Type: corev1.NodeReady, Status: corev1.ConditionUnknown, Reason: "NodeStatusUnknown", Message: "Kubelet stopped posting node status."}
				n.Spec.Taints = []corev1.Taint{{Key: corev1.TaintNodeUnreachable, Effect: corev1.TaintEffectNoExecute}}
			}),
			node("full", func(n *corev1.Node) {
				n.Status.Conditions[1] = corev1.NodeCondition{Type: corev1.NodeMemoryPressure, Status: corev1.ConditionTrue, Reason: "KubeletHasInsufficientMemory"}
			}),
			node("maint", func(n *corev1.Node) { n.Spec.Unschedulable = true }),
			node("tainted", func(n *corev1.Node) {
				n.Spec.Taints = []corev1.Taint{{Key: "maintenance", Value: "db", Effect: corev1.TaintEffectNoExecute}}
			})),
			want: []want{{RuleNodeNotReady, "unknown", "Node/down"}, {RuleNodePressure, "memory_pressure", "Node/full"}, {RuleNodeCordoned, "", "Node/maint"}, {RuleNodeNoExecute, "", "Node/tainted"}}},
	}
}

func hasEvidence(f contracts.Finding, source, substr string) bool {
	for _, e := range f.Evidence {
		if e.Source == source && strings.Contains(e.Value, substr) {
			return true
		}
	}
	return false
}

func run(t testing.TB, all bool, objs ...runtime.Object) contracts.DiagnoseReport {
	t.Helper()
	c := fake.NewClientset(objs...)
	d, err := New(Config{Client: c, Clock: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	rep, err := d.Run(context.Background(), Scope{Namespace: ns, All: all})
	if err != nil {
		t.Fatal(err)
	}
	return rep
}

func TestRules(t *testing.T) {
	for _, tt := range rulesCases() {
		t.Run(tt.name, func(t *testing.T) {
			rep := run(t, tt.all, tt.objs...)
			got := []want{}
			for _, f := range rep.Findings {
				got = append(got, want{f.Rule, f.Cause, f.Object.Kind + "/" + f.Object.Name})
			}
			wantSorted := append([]want{}, tt.want...)
			if wantSorted == nil {
				wantSorted = []want{}
			}
			sortWant(got)
			sortWant(wantSorted)
			if diff := cmp.Diff(wantSorted, got); diff != "" {
				var b strings.Builder
				_ = rep.WriteText(&b, "test")
				t.Fatalf("findings (-want +got):\n%s\nreport:\n%s", diff, b.String())
			}
			for _, f := range rep.Findings {
				checkFinding(t, f)
			}
			if tt.check != nil {
				tt.check(t, rep.Findings)
			}
		})
	}
}

func sortWant(w []want) {
	slices.SortFunc(w, func(a, b want) int { return strings.Compare(a.Object+a.Rule+a.Cause, b.Object+b.Rule+b.Cause) })
}

// checkFinding checks what every finding must have: a title, an
// explanation, evidence, and next commands that the policy allows.
func checkFinding(t *testing.T, f contracts.Finding) {
	t.Helper()
	if f.Title == "" || f.Explanation == "" || len(f.Evidence) == 0 || len(f.Next) == 0 || f.ID == "" || f.Severity == "" {
		t.Errorf("finding %s is incomplete: %+v", f.ID, f)
	}
	for _, n := range f.Next {
		argv, err := policy.SplitLine(n)
		if err != nil {
			t.Errorf("next %q: %v", n, err)
			continue
		}
		if d := policy.Check(argv); !d.Allowed {
			t.Errorf("next %q is not allowed: %s", n, d.Message)
		}
	}
}

// TestSecretValuesNeverRead checks that a diagnosis never lists or gets
// Secrets, even when a pod cannot start for want of one.
func TestSecretValuesNeverRead(t *testing.T) {
	sec := &corev1.Secret{ObjectMeta: meta("Secret", "db-credentials", nil), Data: map[string][]byte{"user": []byte("s3cr3t-value")}}
	objects := append(deployment("db", 1, "1", 1, waiting("CreateContainerConfigError", "couldn't find key password in Secret t/db-credentials")), sec)
	c := fake.NewClientset(objects...)
	d, _ := New(Config{Client: c, Clock: func() time.Time { return now }})
	rep, err := d.Run(context.Background(), Scope{All: true})
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range c.Actions() {
		if a.GetResource().Resource == "secrets" {
			t.Errorf("diagnose read secrets: %v", a)
		}
	}
	var b strings.Builder
	_ = rep.WriteText(&b, "c")
	if strings.Contains(b.String(), "s3cr3t") {
		t.Errorf("report holds a Secret value:\n%s", b.String())
	}
}

// TestRestrictedKindsSkipped checks that kinds the profile restricts are
// not read and are named in Skipped.
func TestRestrictedKindsSkipped(t *testing.T) {
	c := fake.NewClientset(deployment("web", 1, "1", 1, nil)...)
	d, _ := New(Config{Client: c, Clock: func() time.Time { return now }, Restricts: func(g, r string) bool { return r == "events" }})
	rep, err := d.Run(context.Background(), Scope{Namespace: ns})
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range c.Actions() {
		if a.GetResource().Resource == "events" {
			t.Errorf("read restricted events: %v", a)
		}
	}
	if !slices.ContainsFunc(rep.Skipped, func(s string) bool { return strings.HasPrefix(s, "events:") }) {
		t.Errorf("Skipped = %v; want events named", rep.Skipped)
	}
}

func TestValidateSchedule(t *testing.T) {
	tests := []struct {
		s  string
		ok bool
	}{
		{"*/5 * * * *", true}, {"30 1 * * *", true}, {"0 0 1 jan-mar mon-fri", true}, {"@daily", true}, {"CRON_TZ=UTC 0 1 * * *", true},
		{"61 * * * *", false}, {"* * * *", false}, {"@sometimes", false}, {"0 0 31 2 8", false}, {"5-1 * * * *", false}, {"*/0 * * * *", false},
	}
	for _, tt := range tests {
		if err := validateSchedule(tt.s); (err == nil) != tt.ok {
			t.Errorf("validateSchedule(%q) = %v; want ok %v", tt.s, err, tt.ok)
		}
	}
}

// podsNamespace returns n healthy pods of one Deployment and a broken one.
func podsNamespace(n int) []runtime.Object {
	o := deployment("web", int32(n), "1", n, nil)
	o = append(o, service("web", map[string]string{"app": "web"}), endpoints("web", true, 1))
	return append(o, deployment("cart", 1, "1", 1, crashLoop("Error", 1, 5))...)
}

// TestAPICallsConstant checks that the number of API calls does not grow
// with the number of pods (fake clientset: one List per kind, one log read
// per crashloop finding).
func TestAPICallsConstant(t *testing.T) {
	var calls []int
	for _, n := range []int{10, 100, 1000} {
		c := fake.NewClientset(podsNamespace(n)...)
		d, _ := New(Config{Client: c, Clock: func() time.Time { return now }})
		rep, err := d.Run(context.Background(), Scope{Namespace: ns})
		if err != nil {
			t.Fatal(err)
		}
		if len(rep.Findings) != 1 || rep.Findings[0].Rule != RuleCrashLoop {
			t.Fatalf("%d pods: findings %+v; want the one crashloop", n, rep.Findings)
		}
		if rep.APICalls != len(c.Actions()) {
			t.Errorf("%d pods: report counts %d calls; the clientset saw %d", n, rep.APICalls, len(c.Actions()))
		}
		calls = append(calls, len(c.Actions()))
	}
	if calls[0] != calls[1] || calls[1] != calls[2] {
		t.Errorf("API calls for 10, 100, 1000 pods = %v; want constant", calls)
	}
}

// BenchmarkDiagnose measures a diagnosis of a namespace of n pods on the
// fake clientset and reports the API calls per diagnosis.
func BenchmarkDiagnose(b *testing.B) {
	for _, n := range []int{10, 100, 1000} {
		b.Run(fmt.Sprintf("pods=%d", n), func(b *testing.B) {
			c := fake.NewClientset(podsNamespace(n)...)
			d, _ := New(Config{Client: c, Clock: func() time.Time { return now }})
			calls := 0
			for b.Loop() {
				rep, err := d.Run(context.Background(), Scope{Namespace: ns})
				if err != nil {
					b.Fatal(err)
				}
				calls = rep.APICalls
			}
			b.ReportMetric(float64(calls), "api-calls/op")
		})
	}
}
