package diagnose

import (
	"context"
	"fmt"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	storagev1 "k8s.io/api/storage/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

// snapshot is everything one diagnosis read, each kind once.
type snapshot struct {
	scope Scope
	now   time.Time

	pods            []corev1.Pod
	events          []corev1.Event
	replicaSets     []appsv1.ReplicaSet
	deployments     []appsv1.Deployment
	statefulSets    []appsv1.StatefulSet
	daemonSets      []appsv1.DaemonSet
	jobs            []batchv1.Job
	cronJobs        []batchv1.CronJob
	services        []corev1.Service
	endpointSlices  []discoveryv1.EndpointSlice
	ingresses       []networkingv1.Ingress
	ingressClasses  []networkingv1.IngressClass
	pvcs            []corev1.PersistentVolumeClaim
	storageClasses  []storagev1.StorageClass
	hpas            []autoscalingv2.HorizontalPodAutoscaler
	pdbs            []policyv1.PodDisruptionBudget
	nodes           []corev1.Node
	read            map[string]bool // resource → read completely enough to judge absence
	skipped         []string
	truncated       bool
	calls           int
	eventsByUID     map[types.UID][]*corev1.Event
	eventsByName    map[string][]*corev1.Event // kind/namespace/name
	podsByUID       map[types.UID]*corev1.Pod
	replicaSetByUID map[types.UID]*appsv1.ReplicaSet
	jobByUID        map[types.UID]*batchv1.Job
}

// lister is the shape of every typed list result.
type lister interface {
	GetContinue() string
}

// listKind reads one kind page by page into out. It returns false when
// the kind was not read (restricted, forbidden, not served, or another
// error, which is recorded in Skipped).
func listKind[L lister, T any](ctx context.Context, d *Diagnoser, s *snapshot, group, resource string,
	list func(context.Context, metav1.ListOptions) (L, error), items func(L) []T, out *[]T) (bool, error) {
	name := resource
	if group != "" {
		name += "." + group
	}
	if d.cfg.Restricts(group, resource) {
		s.skipped = append(s.skipped, name+": restricted by the policy profile")
		return false, nil
	}
	opts := metav1.ListOptions{Limit: d.cfg.PageSize}
	for {
		s.calls++
		l, err := list(ctx, opts)
		if err != nil {
			if ctx.Err() != nil {
				return false, ctx.Err()
			}
			switch {
			case apierrors.IsForbidden(err):
				s.skipped = append(s.skipped, name+": the executor may not list it")
			case apierrors.IsNotFound(err):
				s.skipped = append(s.skipped, name+": not served by this cluster")
			default:
				s.skipped = append(s.skipped, fmt.Sprintf("%s: %v", name, err))
			}
			return false, nil
		}
		*out = append(*out, items(l)...)
		if len(*out) >= d.cfg.MaxObjects {
			*out = (*out)[:d.cfg.MaxObjects]
			s.truncated = true
			s.skipped = append(s.skipped, fmt.Sprintf("%s: read only the first %d", name, d.cfg.MaxObjects))
			return true, nil
		}
		opts.Continue = l.GetContinue()
		if opts.Continue == "" {
			s.read[name] = true
			return true, nil
		}
	}
}

// read takes the snapshot: one paged List per kind.
func (d *Diagnoser) read(ctx context.Context, scope Scope) (*snapshot, error) {
	s := &snapshot{scope: scope, now: d.cfg.Clock(), read: map[string]bool{}}
	ns := scope.Namespace
	if scope.All {
		ns = metav1.NamespaceAll
	}
	c := d.cfg.Client
	ok, err := listKind(ctx, d, s, "", "pods", c.CoreV1().Pods(ns).List, func(l *corev1.PodList) []corev1.Pod { return l.Items }, &s.pods)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, fmt.Errorf("diagnose: cannot list pods: %v", s.skipped)
	}
	steps := []func() (bool, error){
		func() (bool, error) {
			return listKind(ctx, d, s, "", "events", c.CoreV1().Events(ns).List, func(l *corev1.EventList) []corev1.Event { return l.Items }, &s.events)
		},
		func() (bool, error) {
			return listKind(ctx, d, s, "apps", "replicasets", c.AppsV1().ReplicaSets(ns).List, func(l *appsv1.ReplicaSetList) []appsv1.ReplicaSet { return l.Items }, &s.replicaSets)
		},
		func() (bool, error) {
			return listKind(ctx, d, s, "apps", "deployments", c.AppsV1().Deployments(ns).List, func(l *appsv1.DeploymentList) []appsv1.Deployment { return l.Items }, &s.deployments)
		},
		func() (bool, error) {
			return listKind(ctx, d, s, "apps", "statefulsets", c.AppsV1().StatefulSets(ns).List, func(l *appsv1.StatefulSetList) []appsv1.StatefulSet { return l.Items }, &s.statefulSets)
		},
		func() (bool, error) {
			return listKind(ctx, d, s, "apps", "daemonsets", c.AppsV1().DaemonSets(ns).List, func(l *appsv1.DaemonSetList) []appsv1.DaemonSet { return l.Items }, &s.daemonSets)
		},
		func() (bool, error) {
			return listKind(ctx, d, s, "batch", "jobs", c.BatchV1().Jobs(ns).List, func(l *batchv1.JobList) []batchv1.Job { return l.Items }, &s.jobs)
		},
		func() (bool, error) {
			return listKind(ctx, d, s, "batch", "cronjobs", c.BatchV1().CronJobs(ns).List, func(l *batchv1.CronJobList) []batchv1.CronJob { return l.Items }, &s.cronJobs)
		},
		func() (bool, error) {
			return listKind(ctx, d, s, "", "services", c.CoreV1().Services(ns).List, func(l *corev1.ServiceList) []corev1.Service { return l.Items }, &s.services)
		},
		func() (bool, error) {
			return listKind(ctx, d, s, "discovery.k8s.io", "endpointslices", c.DiscoveryV1().EndpointSlices(ns).List, func(l *discoveryv1.EndpointSliceList) []discoveryv1.EndpointSlice { return l.Items }, &s.endpointSlices)
		},
		func() (bool, error) {
			return listKind(ctx, d, s, "networking.k8s.io", "ingresses", c.NetworkingV1().Ingresses(ns).List, func(l *networkingv1.IngressList) []networkingv1.Ingress { return l.Items }, &s.ingresses)
		},
		func() (bool, error) {
			if len(s.ingresses) == 0 {
				return true, nil // only needed to judge Ingresses
			}
			return listKind(ctx, d, s, "networking.k8s.io", "ingressclasses", c.NetworkingV1().IngressClasses().List, func(l *networkingv1.IngressClassList) []networkingv1.IngressClass { return l.Items }, &s.ingressClasses)
		},
		func() (bool, error) {
			return listKind(ctx, d, s, "", "persistentvolumeclaims", c.CoreV1().PersistentVolumeClaims(ns).List, func(l *corev1.PersistentVolumeClaimList) []corev1.PersistentVolumeClaim { return l.Items }, &s.pvcs)
		},
		func() (bool, error) {
			if !anyPendingPVC(s.pvcs) {
				return true, nil // only needed to judge pending claims
			}
			return listKind(ctx, d, s, "storage.k8s.io", "storageclasses", c.StorageV1().StorageClasses().List, func(l *storagev1.StorageClassList) []storagev1.StorageClass { return l.Items }, &s.storageClasses)
		},
		func() (bool, error) {
			return listKind(ctx, d, s, "autoscaling", "horizontalpodautoscalers", c.AutoscalingV2().HorizontalPodAutoscalers(ns).List, func(l *autoscalingv2.HorizontalPodAutoscalerList) []autoscalingv2.HorizontalPodAutoscaler {
				return l.Items
			}, &s.hpas)
		},
		func() (bool, error) {
			return listKind(ctx, d, s, "policy", "poddisruptionbudgets", c.PolicyV1().PodDisruptionBudgets(ns).List, func(l *policyv1.PodDisruptionBudgetList) []policyv1.PodDisruptionBudget { return l.Items }, &s.pdbs)
		},
		func() (bool, error) {
			if !scope.All {
				return true, nil // nodes are cluster-wide: only with -A
			}
			return listKind(ctx, d, s, "", "nodes", c.CoreV1().Nodes().List, func(l *corev1.NodeList) []corev1.Node { return l.Items }, &s.nodes)
		},
	}
	for _, step := range steps {
		if _, err := step(); err != nil {
			return nil, err
		}
	}
	s.index()
	return s, nil
}

func anyPendingPVC(pvcs []corev1.PersistentVolumeClaim) bool {
	for i := range pvcs {
		if pvcs[i].Status.Phase == corev1.ClaimPending {
			return true
		}
	}
	return false
}

// index builds the lookups the rules use.
func (s *snapshot) index() {
	s.eventsByUID = map[types.UID][]*corev1.Event{}
	s.eventsByName = map[string][]*corev1.Event{}
	for i := range s.events {
		e := &s.events[i]
		if e.InvolvedObject.UID != "" {
			s.eventsByUID[e.InvolvedObject.UID] = append(s.eventsByUID[e.InvolvedObject.UID], e)
		}
		k := e.InvolvedObject.Kind + "/" + e.InvolvedObject.Namespace + "/" + e.InvolvedObject.Name
		s.eventsByName[k] = append(s.eventsByName[k], e)
	}
	s.podsByUID = map[types.UID]*corev1.Pod{}
	for i := range s.pods {
		s.podsByUID[s.pods[i].UID] = &s.pods[i]
	}
	s.replicaSetByUID = map[types.UID]*appsv1.ReplicaSet{}
	for i := range s.replicaSets {
		s.replicaSetByUID[s.replicaSets[i].UID] = &s.replicaSets[i]
	}
	s.jobByUID = map[types.UID]*batchv1.Job{}
	for i := range s.jobs {
		s.jobByUID[s.jobs[i].UID] = &s.jobs[i]
	}
}

// eventsFor returns the events about one object: by UID, and by kind and
// name for events recorded without a UID.
func (s *snapshot) eventsFor(kind string, m metav1.Object) []*corev1.Event {
	if evs := s.eventsByUID[m.GetUID()]; len(evs) > 0 {
		return evs
	}
	var out []*corev1.Event
	for _, e := range s.eventsByName[kind+"/"+m.GetNamespace()+"/"+m.GetName()] {
		if e.InvolvedObject.UID == "" || e.InvolvedObject.UID == m.GetUID() {
			out = append(out, e)
		}
	}
	return out
}

// eventTime is when an event was last seen.
func eventTime(e *corev1.Event) time.Time {
	switch {
	case e.Series != nil && !e.Series.LastObservedTime.IsZero():
		return e.Series.LastObservedTime.Time
	case !e.LastTimestamp.IsZero():
		return e.LastTimestamp.Time
	case !e.EventTime.IsZero():
		return e.EventTime.Time
	}
	return e.CreationTimestamp.Time
}

// eventCount is how often an event was seen.
func eventCount(e *corev1.Event) int32 {
	if e.Series != nil && e.Series.Count > 0 {
		return e.Series.Count
	}
	if e.Count > 0 {
		return e.Count
	}
	return 1
}
