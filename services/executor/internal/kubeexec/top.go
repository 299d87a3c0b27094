package kubeexec

import (
	"errors"
	"fmt"
	"slices"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/kubectl/pkg/metricsutil"
	metricsapi "k8s.io/metrics/pkg/apis/metrics"
	metricsv1 "k8s.io/metrics/pkg/apis/metrics/v1"
	metricsv1beta1 "k8s.io/metrics/pkg/apis/metrics/v1beta1"

	"kubently.io/libs/policy"
)

// metricsCreationDelay is how long kubectl top waits for a new pod's first
// metrics before calling them missing.
const metricsCreationDelay = 2 * time.Minute

// metricsGroup is the API group of the Metrics API.
const metricsGroup = "metrics.k8s.io"

// supportedMetricsVersions are the Metrics API versions top reads, in
// kubectl's order of preference.
var supportedMetricsVersions = []string{"v1", "v1beta1"}

// topOptions are the flags of top pod and top node.
type topOptions struct {
	namespace     string
	allNamespaces bool
	selector      string
	fieldSelector string
	sortBy        string
	containers    bool
	noHeaders     bool
	sum           bool
	showCapacity  bool
}

// top implements "kubectl top pod" and "kubectl top node".
func (r *Runner) top(inv *invocation, cmd *policy.Command) error {
	sub := cmd.Sub // "pod" or "node", canonical
	node := sub == "node"
	if node && policy.ScopeFrom(inv.ctx) != nil {
		return inv.deny(policy.ReasonClusterScoped, "node metrics are cluster-scoped; a caller limited to namespaces may read only namespaced resources")
	}
	var o topOptions
	fs := newFlagSet(cmd)
	fs.StringVarP(&o.selector, "selector", "l", "", "label selector")
	fs.StringVar(&o.sortBy, "sort-by", "", "cpu or memory")
	fs.BoolVar(&o.noHeaders, "no-headers", false, "omit headers")
	if node {
		fs.BoolVar(&o.showCapacity, "show-capacity", false, "use capacity")
		fs.StringP("namespace", "n", "", "ignored, as by kubectl: nodes have no namespace")
	} else {
		fs.StringVarP(&o.namespace, "namespace", "n", "default", "namespace")
		fs.BoolVarP(&o.allNamespaces, "all-namespaces", "A", false, "all namespaces")
		fs.StringVar(&o.fieldSelector, "field-selector", "", "field selector")
		fs.BoolVar(&o.containers, "containers", false, "per container")
		fs.BoolVar(&o.sum, "sum", false, "print sums")
	}
	rest, err := applyFlags(fs, cmd)
	if err != nil {
		return err
	}
	if len(rest) > 1 {
		return fmt.Errorf("top %s takes at most one NAME, got %d arguments", sub, len(rest))
	}
	name := ""
	if len(rest) == 1 {
		name = rest[0]
	}
	if o.sortBy != "" && o.sortBy != "cpu" && o.sortBy != "memory" {
		return errors.New("--sort-by accepts only cpu or memory")
	}
	if o.namespace == "" {
		o.namespace = "default"
	}

	version, err := r.metricsVersion(inv)
	if err != nil {
		return err
	}
	if version == "" {
		// kubectl's own wording, capitalised as it prints it.
		inv.failed = true
		inv.errorf("error: Metrics API not available")
		return nil
	}
	if node {
		if name != "" && o.selector != "" {
			return errors.New("only one of NAME or --selector can be provided")
		}
		return r.topNode(inv, o, name, version)
	}
	if name != "" && (o.selector != "" || o.fieldSelector != "") {
		return errors.New("only one of NAME or selector can be provided")
	}
	return r.topPod(inv, o, name, version)
}

// metricsVersion returns the preferred served version of the Metrics API,
// or "" when the server has none. An absent API triggers one (rate
// limited) discovery refresh, so a metrics-server installed after the
// cache was filled is found.
func (r *Runner) metricsVersion(inv *invocation) (string, error) {
	find := func() (string, error) {
		groups, err := r.discovery.ServerGroupsWithContext(inv.ctx)
		if err != nil || groups == nil {
			return "", err
		}
		for _, g := range groups.Groups {
			if g.Name != metricsGroup {
				continue
			}
			for _, v := range g.Versions {
				if slices.Contains(supportedMetricsVersions, v.Version) {
					return v.Version, nil
				}
			}
		}
		return "", nil
	}
	v, err := find()
	if err == nil && v == "" && r.refreshDiscovery(inv.ctx) {
		v, err = find()
	}
	return v, err
}

// topPod implements "kubectl top pod".
func (r *Runner) topPod(inv *invocation, o topOptions, name, version string) error {
	labelSelector, err := labels.Parse(o.selector)
	if err != nil {
		return err
	}
	fieldSelector, err := fields.ParseSelector(o.fieldSelector)
	if err != nil {
		return err
	}
	ns := o.namespace
	if o.allNamespaces {
		ns = metav1.NamespaceAll
	}
	ctx := inv.ctx
	metrics := &metricsapi.PodMetricsList{}
	opts := metav1.ListOptions{LabelSelector: labelSelector.String()}
	var structured any
	if version == "v1" {
		list := &metricsv1.PodMetricsList{}
		if name != "" {
			m, err := r.metrics.MetricsV1().PodMetricses(ns).Get(ctx, name, metav1.GetOptions{})
			if err != nil {
				return err
			}
			list.Items = []metricsv1.PodMetrics{*m}
		} else if list, err = r.metrics.MetricsV1().PodMetricses(ns).List(ctx, opts); err != nil {
			return err
		}
		if err := metricsv1.Convert_v1_PodMetricsList_To_metrics_PodMetricsList(list, metrics, nil); err != nil {
			return err
		}
		list.APIVersion, list.Kind = metricsv1.SchemeGroupVersion.String(), "PodMetricsList"
		structured = list
	} else {
		list := &metricsv1beta1.PodMetricsList{}
		if name != "" {
			m, err := r.metrics.MetricsV1beta1().PodMetricses(ns).Get(ctx, name, metav1.GetOptions{})
			if err != nil {
				return err
			}
			list.Items = []metricsv1beta1.PodMetrics{*m}
		} else if list, err = r.metrics.MetricsV1beta1().PodMetricses(ns).List(ctx, opts); err != nil {
			return err
		}
		if err := metricsv1beta1.Convert_v1beta1_PodMetricsList_To_metrics_PodMetricsList(list, metrics, nil); err != nil {
			return err
		}
		list.APIVersion, list.Kind = metricsv1beta1.SchemeGroupVersion.String(), "PodMetricsList"
		structured = list
	}

	if len(metrics.Items) != 0 && o.fieldSelector != "" {
		pods, err := r.core.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: labelSelector.String(), FieldSelector: fieldSelector.String()})
		if err != nil {
			return err
		}
		keep := make(map[string]bool, len(pods.Items))
		for _, p := range pods.Items {
			keep[p.Namespace+"/"+p.Name] = true
		}
		metrics.Items = slices.DeleteFunc(metrics.Items, func(m metricsapi.PodMetrics) bool { return !keep[m.Namespace+"/"+m.Name] })
		structured = nil // no longer what was printed
	}

	if len(metrics.Items) == 0 {
		if err := r.verifyEmptyMetrics(inv, o, name, labelSelector, fieldSelector); err != nil {
			return err
		}
		if o.allNamespaces {
			inv.errorf("No resources found")
		} else {
			inv.errorf("No resources found in %s namespace.", o.namespace)
		}
	}
	if structured != nil {
		inv.setStructured(structured)
	}
	return metricsutil.NewTopCmdPrinter(inv.out, false).PrintPodMetrics(metrics.Items, o.containers, o.allNamespaces, o.noHeaders, o.sortBy, o.sum)
}

// verifyEmptyMetrics explains an empty metrics answer the way kubectl top
// does: missing metrics of pods older than metricsCreationDelay are an
// error, young pods are "not available yet", no pods at all is fine.
func (r *Runner) verifyEmptyMetrics(inv *invocation, o topOptions, name string, ls labels.Selector, fsel fields.Selector) error {
	var pods []corev1.Pod
	if name != "" {
		pod, err := r.core.CoreV1().Pods(o.namespace).Get(inv.ctx, name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		pods = append(pods, *pod)
	} else {
		list, err := r.core.CoreV1().Pods(o.namespace).List(inv.ctx, metav1.ListOptions{LabelSelector: ls.String(), FieldSelector: fsel.String()})
		if err != nil {
			return err
		}
		if len(list.Items) == 0 {
			return nil
		}
		pods = list.Items
	}
	for _, pod := range pods {
		if age := r.now().Sub(pod.CreationTimestamp.Time); age > metricsCreationDelay {
			return fmt.Errorf("Metrics not available for pod %s/%s, age: %s", pod.Namespace, pod.Name, age.String()) //nolint:revive,staticcheck // kubectl's wording
		}
	}
	return errors.New("metrics not available yet")
}

// topNode implements "kubectl top node".
func (r *Runner) topNode(inv *invocation, o topOptions, name, version string) error {
	selector, err := labels.Parse(o.selector)
	if err != nil {
		return err
	}
	ctx := inv.ctx
	metrics := &metricsapi.NodeMetricsList{}
	opts := metav1.ListOptions{LabelSelector: selector.String()}
	var structured any
	if version == "v1" {
		list := &metricsv1.NodeMetricsList{}
		if name != "" {
			m, err := r.metrics.MetricsV1().NodeMetricses().Get(ctx, name, metav1.GetOptions{})
			if err != nil {
				return err
			}
			list.Items = []metricsv1.NodeMetrics{*m}
		} else if list, err = r.metrics.MetricsV1().NodeMetricses().List(ctx, opts); err != nil {
			return err
		}
		if err := metricsv1.Convert_v1_NodeMetricsList_To_metrics_NodeMetricsList(list, metrics, nil); err != nil {
			return err
		}
		list.APIVersion, list.Kind = metricsv1.SchemeGroupVersion.String(), "NodeMetricsList"
		structured = list
	} else {
		list := &metricsv1beta1.NodeMetricsList{}
		if name != "" {
			m, err := r.metrics.MetricsV1beta1().NodeMetricses().Get(ctx, name, metav1.GetOptions{})
			if err != nil {
				return err
			}
			list.Items = []metricsv1beta1.NodeMetrics{*m}
		} else if list, err = r.metrics.MetricsV1beta1().NodeMetricses().List(ctx, opts); err != nil {
			return err
		}
		if err := metricsv1beta1.Convert_v1beta1_NodeMetricsList_To_metrics_NodeMetricsList(list, metrics, nil); err != nil {
			return err
		}
		list.APIVersion, list.Kind = metricsv1beta1.SchemeGroupVersion.String(), "NodeMetricsList"
		structured = list
	}
	if len(metrics.Items) == 0 {
		return errors.New("metrics not available yet")
	}

	var nodes []corev1.Node
	if name != "" {
		n, err := r.core.CoreV1().Nodes().Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		nodes = append(nodes, *n)
	} else {
		list, err := r.core.CoreV1().Nodes().List(ctx, opts)
		if err != nil {
			return err
		}
		nodes = list.Items
	}
	printer := metricsutil.NewTopCmdPrinter(inv.out, false) // no --show-swap: the policy does not allow it
	available := make(map[string]corev1.ResourceList, len(nodes))
	for _, n := range nodes {
		if o.showCapacity {
			available[n.Name] = n.Status.Capacity
		} else {
			available[n.Name] = n.Status.Allocatable
		}
		if n.Status.NodeInfo.Swap != nil && n.Status.NodeInfo.Swap.Capacity != nil {
			if available[n.Name] == nil {
				available[n.Name] = corev1.ResourceList{}
			}
			available[n.Name][metricsutil.ResourceSwap] = *resource.NewQuantity(*n.Status.NodeInfo.Swap.Capacity, resource.BinarySI)
		} else {
			printer.RegisterMissingResource(n.Name, metricsutil.ResourceSwap)
		}
	}
	inv.setStructured(structured)
	return printer.PrintNodeMetrics(metrics.Items, available, o.noHeaders, o.sortBy)
}
