package diagnose

import (
	"fmt"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
)

// Builders of typed fixtures for the rule tests. now is the diagnosis
// clock; objects are dated relative to it.
var now = time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC)

const ns = "t"

func before(d time.Duration) metav1.Time { return metav1.NewTime(now.Add(-d)) }

func uid(kind, name string) types.UID { return types.UID(kind + "-" + name) }

func ctrlRef(kind, name string) []metav1.OwnerReference {
	t := true
	api := "apps/v1"
	if kind == "Job" || kind == "CronJob" {
		api = "batch/v1"
	}
	return []metav1.OwnerReference{{APIVersion: api, Kind: kind, Name: name, UID: uid(kind, name), Controller: &t}}
}

func meta(kind, name string, labels map[string]string) metav1.ObjectMeta {
	return metav1.ObjectMeta{Name: name, Namespace: ns, UID: uid(kind, name), Labels: labels, CreationTimestamp: before(time.Hour)}
}

// deployment returns a Deployment, its ReplicaSet (revision rev) and n
// pods made by mut.
func deployment(name string, replicas int32, rev string, n int, mut func(p *corev1.Pod)) []runtime.Object {
	lbl := map[string]string{"app": name}
	d := &appsv1.Deployment{ObjectMeta: meta("Deployment", name, lbl), Spec: appsv1.DeploymentSpec{Replicas: &replicas,
		Selector: &metav1.LabelSelector{MatchLabels: lbl}}}
	d.Annotations = map[string]string{revisionAnnotation: rev}
	d.Status = appsv1.DeploymentStatus{Replicas: replicas, UpdatedReplicas: replicas, ReadyReplicas: replicas, AvailableReplicas: replicas,
		Conditions: []appsv1.DeploymentCondition{{Type: appsv1.DeploymentProgressing, Status: corev1.ConditionTrue, Reason: "NewReplicaSetAvailable"}}}
	rsName := name + "-rs" + rev
	rs := &appsv1.ReplicaSet{ObjectMeta: meta("ReplicaSet", rsName, lbl), Spec: appsv1.ReplicaSetSpec{Replicas: &replicas}}
	rs.OwnerReferences = ctrlRef("Deployment", name)
	rs.Annotations = map[string]string{revisionAnnotation: rev}
	rs.Status = appsv1.ReplicaSetStatus{Replicas: replicas, ReadyReplicas: replicas, AvailableReplicas: replicas}
	out := []runtime.Object{d, rs}
	for i := range n {
		p := runningPod(fmt.Sprintf("%s-%d", rsName, i), lbl)
		p.OwnerReferences = ctrlRef("ReplicaSet", rsName)
		if mut != nil {
			mut(p)
		}
		out = append(out, p)
	}
	return out
}

func runningPod(name string, lbl map[string]string) *corev1.Pod {
	p := &corev1.Pod{ObjectMeta: meta("Pod", name, lbl)}
	p.Spec.NodeName = "node-1"
	p.Spec.Containers = []corev1.Container{{Name: "app", Image: "example/app:1.0",
		Resources: corev1.ResourceRequirements{Limits: corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("256Mi")}}}}
	p.Status = corev1.PodStatus{Phase: corev1.PodRunning, StartTime: ptr(before(time.Hour)),
		Conditions: []corev1.PodCondition{
			{Type: corev1.PodScheduled, Status: corev1.ConditionTrue},
			{Type: corev1.PodReady, Status: corev1.ConditionTrue, LastTransitionTime: before(time.Hour)}},
		ContainerStatuses: []corev1.ContainerStatus{{Name: "app", Image: "example/app:1.0", Ready: true,
			State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: before(time.Hour)}}}}}
	return p
}

func ptr[T any](v T) *T { return &v }

func notReady(p *corev1.Pod, since time.Duration) {
	for i := range p.Status.Conditions {
		if p.Status.Conditions[i].Type == corev1.PodReady {
			p.Status.Conditions[i] = corev1.PodCondition{Type: corev1.PodReady, Status: corev1.ConditionFalse, Reason: "ContainersNotReady", LastTransitionTime: before(since)}
		}
	}
	p.Status.ContainerStatuses[0].Ready = false
}

func waiting(reason, msg string) func(p *corev1.Pod) {
	return func(p *corev1.Pod) {
		notReady(p, time.Hour)
		p.Status.ContainerStatuses[0].State = corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: reason, Message: msg}}
	}
}

func crashLoop(reason string, code int32, restarts int32) func(p *corev1.Pod) {
	return func(p *corev1.Pod) {
		waiting("CrashLoopBackOff", "back-off 5m0s restarting failed container")(p)
		p.Status.ContainerStatuses[0].RestartCount = restarts
		p.Status.ContainerStatuses[0].LastTerminationState = corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{
			Reason: reason, ExitCode: code, StartedAt: before(2 * time.Minute), FinishedAt: before(time.Minute)}}
	}
}

func restarted(reason string, code, restarts int32, finished time.Duration) func(p *corev1.Pod) {
	return func(p *corev1.Pod) {
		p.Status.ContainerStatuses[0].RestartCount = restarts
		p.Status.ContainerStatuses[0].LastTerminationState = corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{
			Reason: reason, ExitCode: code, FinishedAt: before(finished)}}
	}
}

func event(kind, name, typ, reason, msg string, at time.Duration) *corev1.Event {
	return &corev1.Event{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("%s.%s.%d", name, reason, at), Namespace: ns},
		InvolvedObject: corev1.ObjectReference{Kind: kind, Namespace: ns, Name: name, UID: uid(kind, name)},
		Type:           typ, Reason: reason, Message: msg, Count: 3, LastTimestamp: before(at)}
}

func job(name string, conds []batchv1.JobCondition, owner string) *batchv1.Job {
	j := &batchv1.Job{ObjectMeta: meta("Job", name, map[string]string{"job-name": name})}
	j.Spec.BackoffLimit = ptr(int32(0))
	j.Status.Conditions = conds
	if owner != "" {
		j.OwnerReferences = ctrlRef("CronJob", owner)
	}
	return j
}

func failedJobPod(name, jobName string, code int32) *corev1.Pod {
	p := runningPod(name, map[string]string{"job-name": jobName})
	p.OwnerReferences = ctrlRef("Job", jobName)
	p.Status.Phase = corev1.PodFailed
	p.Status.ContainerStatuses[0].State = corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{Reason: "Error", ExitCode: code, FinishedAt: before(time.Minute)}}
	return p
}

func service(name string, sel map[string]string) *corev1.Service {
	s := &corev1.Service{ObjectMeta: meta("Service", name, nil)}
	s.Spec.Selector = sel
	s.Spec.Ports = []corev1.ServicePort{{Name: "http", Port: 80}}
	return s
}
