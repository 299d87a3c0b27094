package kubeexec

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/kubectl/pkg/cmd/util/podcmd"
	"k8s.io/kubectl/pkg/util/podutils"

	"kubently.io/libs/policy"
)

// logsOptions are the flags of logs.
type logsOptions struct {
	namespace     string
	container     string
	selector      string
	allContainers bool
	allPods       bool
	previous      bool
	timestamps    bool
	prefix        bool
	tail          int64
	tailSet       bool
	limitBytes    int64
	since         time.Duration
	sinceTime     string
	maxRequests   int

	// In-cluster search: only matching lines (and their context) are
	// kept, so only they cross the network.
	grep        string
	grepRegex   bool
	grepContext int
	ignoreCase  bool
}

// parseLogsFlags parses and validates the flags of logs the way kubectl
// does and returns the positional arguments.
func parseLogsFlags(cmd *policy.Command) (logsOptions, []string, error) {
	var o logsOptions
	fs := newFlagSet(cmd)
	fs.StringVarP(&o.namespace, "namespace", "n", "default", "namespace")
	fs.StringVarP(&o.container, "container", "c", "", "container")
	fs.StringVarP(&o.selector, "selector", "l", "", "label selector")
	fs.BoolVar(&o.allContainers, "all-containers", false, "all containers")
	fs.BoolVar(&o.allPods, "all-pods", false, "all pods")
	fs.BoolVarP(&o.previous, "previous", "p", false, "previous instance")
	fs.BoolVar(&o.timestamps, "timestamps", false, "timestamps")
	fs.BoolVar(&o.prefix, "prefix", false, "prefix lines with their source")
	fs.Int64Var(&o.tail, "tail", -1, "lines")
	fs.Int64Var(&o.limitBytes, "limit-bytes", 0, "bytes")
	fs.DurationVar(&o.since, "since", 0, "relative duration")
	fs.StringVar(&o.sinceTime, "since-time", "", "RFC3339 time")
	fs.IntVar(&o.maxRequests, "max-log-requests", 5, "accepted for compatibility; streams are read one at a time")
	fs.StringVar(&o.grep, "grep", "", "keep only lines containing this text")
	fs.BoolVar(&o.grepRegex, "grep-regex", false, "treat --grep as an RE2 regular expression")
	fs.IntVar(&o.grepContext, "grep-context", 0, "lines of context around each match")
	fs.BoolVar(&o.ignoreCase, "ignore-case", false, "match --grep case-insensitively")
	rest, err := applyFlags(fs, cmd)
	if err != nil {
		return o, nil, err
	}
	o.tailSet = fs.Changed("tail")
	if o.namespace == "" {
		o.namespace = "default"
	}
	switch {
	case o.sinceTime != "" && o.since != 0:
		return o, nil, errors.New("at most one of `sinceTime` or `sinceSeconds` may be specified")
	case o.allContainers && o.container != "":
		return o, nil, fmt.Errorf("--all-containers=true should not be specified with container name %s", o.container)
	case o.limitBytes < 0:
		return o, nil, errors.New("--limit-bytes must be greater than 0")
	case o.since < 0:
		return o, nil, errors.New("--since must be greater than 0")
	case o.tail < -1:
		return o, nil, errors.New("--tail must be greater than or equal to -1")
	case len(o.grep) > maxGrepLen:
		return o, nil, fmt.Errorf("--grep is %d bytes; at most %d are allowed", len(o.grep), maxGrepLen)
	case o.grepContext < 0 || o.grepContext > maxGrepContext:
		return o, nil, fmt.Errorf("--grep-context must be between 0 and %d", maxGrepContext)
	case o.grep == "" && (o.grepRegex || o.grepContext != 0 || o.ignoreCase):
		return o, nil, errors.New("--grep-regex, --grep-context and --ignore-case need --grep")
	}
	if o.allPods {
		o.prefix = true
	}
	return o, rest, nil
}

// podLogOptions builds the API options shared by every stream.
func (o logsOptions) podLogOptions() (*corev1.PodLogOptions, error) {
	opts := &corev1.PodLogOptions{Previous: o.previous, Timestamps: o.timestamps}
	if o.sinceTime != "" {
		t, err := time.Parse(time.RFC3339Nano, o.sinceTime)
		if err != nil {
			if t, err = time.Parse(time.RFC3339, o.sinceTime); err != nil {
				return nil, err
			}
		}
		mt := metav1.NewTime(t)
		opts.SinceTime = &mt
	}
	if o.since != 0 {
		sec := int64(o.since.Round(time.Second).Seconds())
		opts.SinceSeconds = &sec
	}
	if o.limitBytes > 0 {
		lb := o.limitBytes
		opts.LimitBytes = &lb
	}
	tail := o.tail
	if o.selector != "" && !o.tailSet {
		tail = 10 // kubectl's default with a selector
	}
	if tail != -1 {
		opts.TailLines = &tail
	}
	return opts, nil
}

// logStream is one container whose log is to be read.
type logStream struct {
	pod       string
	namespace string
	container string
}

// logs implements "kubectl logs" for pods, for objects with a pod selector
// (deploy/x, sts/x, job/x, svc/x, ...) and for -l selectors.
func (r *Runner) logs(inv *invocation, cmd *policy.Command) error {
	o, args, err := parseLogsFlags(cmd)
	if err != nil {
		return err
	}
	switch {
	case len(args) == 0 && o.selector == "":
		return errors.New("expected 'logs (POD | TYPE/NAME) [CONTAINER_NAME]'. POD or TYPE/NAME is a required argument for the logs command")
	case len(args) > 0 && o.selector != "":
		return errors.New("only a selector (-l) or a POD name is allowed")
	case len(args) > 2:
		return errors.New("expected 'logs (POD | TYPE/NAME) [CONTAINER_NAME]'; too many arguments")
	case len(args) == 2:
		if o.container != "" {
			return errors.New("only one of -c or an inline [CONTAINER] arg is allowed")
		}
		if o.allContainers {
			return fmt.Errorf("--all-containers=true should not be specified with container name %s", args[1])
		}
		o.container = args[1]
	}
	base, err := o.podLogOptions()
	if err != nil {
		return err
	}

	st := &logState{r: r, inv: inv, o: o, base: base, remaining: r.maxLogBytes}
	if o.grep != "" {
		if st.grep, err = newGrepper(o); err != nil {
			return err
		}
		st.remaining = r.maxLogScan
	}
	if o.selector != "" {
		return st.bySelector()
	}
	pods, err := r.podsForLogs(inv, o, args[0])
	if err != nil {
		return err
	}
	for _, pod := range pods {
		if err := st.pod(pod); err != nil || st.done {
			return err
		}
	}
	return nil
}

// podsForLogs resolves POD or TYPE/NAME to the pods to read logs from:
// the pod itself, or the best pod (kubectl's ByLogging order) selected by
// the object's pod selector, or all of them with --all-pods.
func (r *Runner) podsForLogs(inv *invocation, o logsOptions, arg string) ([]*corev1.Pod, error) {
	ctx := inv.ctx
	typ, name := "pods", arg
	if strings.Contains(arg, "/") {
		var err error
		if typ, name, err = policy.ParseTypeName(arg); err != nil {
			return nil, err
		}
	}
	m, err := r.mappingFor(ctx, typ)
	if err != nil {
		return nil, err
	}
	ns := namespaceFor(m, o.namespace)
	if isPodMapping(m) {
		pod, err := r.core.CoreV1().Pods(ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return nil, notFoundIn(err, ns)
		}
		return []*corev1.Pod{pod}, nil
	}
	obj, err := r.dyn.Resource(m.Resource).Namespace(ns).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return nil, notFoundIn(err, ns)
	}
	sel, err := podSelector(obj)
	if err != nil {
		return nil, fmt.Errorf("cannot get the logs from %s: %w", kindName(m, name), err)
	}
	podNS := obj.GetNamespace()
	if podNS == "" {
		podNS = ns
	}
	var pods []*corev1.Pod
	opts := metav1.ListOptions{LabelSelector: sel.String(), Limit: DefaultChunkSize}
	for {
		list, err := r.core.CoreV1().Pods(podNS).List(ctx, opts)
		if err != nil {
			return nil, err
		}
		for i := range list.Items {
			pods = append(pods, &list.Items[i])
		}
		if opts.Continue = list.Continue; opts.Continue == "" {
			break
		}
	}
	if len(pods) == 0 {
		return nil, fmt.Errorf("no pods found for %s (selector %s)", kindName(m, name), sel.String())
	}
	sort.Sort(podutils.ByLogging(pods))
	if o.allPods {
		return pods, nil
	}
	if len(pods) > 1 {
		inv.errorf("Found %d pods, using pod/%s", len(pods), pods[0].Name)
	}
	return pods[:1], nil
}

// podSelector returns the pod selector of a workload or Service: a
// LabelSelector (Deployment, ReplicaSet, StatefulSet, DaemonSet, Job, most
// CRDs) or a plain label map (Service, ReplicationController) at
// spec.selector.
func podSelector(obj *unstructured.Unstructured) (labels.Selector, error) {
	raw, found, err := unstructured.NestedFieldNoCopy(obj.Object, "spec", "selector")
	if err != nil || !found || raw == nil {
		return nil, fmt.Errorf("a %s has no pod selector", obj.GetKind())
	}
	var sel labels.Selector
	switch s := raw.(type) {
	case map[string]any:
		_, hasLabels := s["matchLabels"]
		_, hasExprs := s["matchExpressions"]
		if hasLabels || hasExprs {
			var ls metav1.LabelSelector
			if err := runtime.DefaultUnstructuredConverter.FromUnstructured(s, &ls); err != nil {
				return nil, fmt.Errorf("invalid label selector: %w", err)
			}
			if sel, err = metav1.LabelSelectorAsSelector(&ls); err != nil {
				return nil, fmt.Errorf("invalid label selector: %w", err)
			}
			break
		}
		set := labels.Set{}
		for k, v := range s {
			str, ok := v.(string)
			if !ok {
				return nil, fmt.Errorf("invalid label selector: value of %q is not a string", k)
			}
			set[k] = str
		}
		sel = labels.SelectorFromSet(set)
	case string:
		if sel, err = labels.Parse(s); err != nil {
			return nil, fmt.Errorf("invalid label selector: %w", err)
		}
	default:
		return nil, fmt.Errorf("a %s has no pod selector", obj.GetKind())
	}
	if sel.Empty() {
		return nil, fmt.Errorf("the pod selector of the %s is empty", obj.GetKind())
	}
	return sel, nil
}

// logState reads log streams one after another within the byte budget.
type logState struct {
	r         *Runner
	inv       *invocation
	o         logsOptions
	base      *corev1.PodLogOptions
	remaining int64 // bytes still allowed from log streams
	done      bool  // a cap was hit; read nothing more
	grep      *grepper
}

// bySelector reads the logs of every pod matching the -l selector, page by
// page, in the API server's order.
func (st *logState) bySelector() error {
	opts := metav1.ListOptions{LabelSelector: st.o.selector, Limit: DefaultChunkSize}
	found := false
	for {
		list, err := st.r.core.CoreV1().Pods(st.o.namespace).List(st.inv.ctx, opts)
		if err != nil {
			return err
		}
		for i := range list.Items {
			found = true
			if err := st.pod(&list.Items[i]); err != nil || st.done {
				return err
			}
		}
		if opts.Continue = list.Continue; opts.Continue == "" {
			break
		}
	}
	if !found {
		st.inv.errorf("No resources found in %s namespace.", st.o.namespace)
	}
	return nil
}

// pod reads the logs of the selected containers of pod.
func (st *logState) pod(pod *corev1.Pod) error {
	containers, err := st.containers(pod)
	if err != nil {
		return err
	}
	for _, c := range containers {
		if err := st.stream(logStream{pod: pod.Name, namespace: pod.Namespace, container: c}); err != nil || st.done {
			return err
		}
	}
	return nil
}

// containers picks the containers of pod to read, as kubectl does: all of
// them (init, regular, ephemeral) with --all-containers, else -c, the
// kubectl.kubernetes.io/default-container annotation or the first one.
func (st *logState) containers(pod *corev1.Pod) ([]string, error) {
	if st.o.allContainers {
		var out []string
		for _, c := range pod.Spec.InitContainers {
			out = append(out, c.Name)
		}
		for _, c := range pod.Spec.Containers {
			out = append(out, c.Name)
		}
		for _, c := range pod.Spec.EphemeralContainers {
			out = append(out, c.Name)
		}
		return out, nil
	}
	name := st.o.container
	if name == "" {
		if def := pod.Annotations[podcmd.DefaultContainerAnnotationName]; def != "" {
			if c, _ := podcmd.FindContainerByName(pod, def); c != nil {
				name = def
			} else {
				st.inv.errorf("Default container name %q not found in pod %s", def, pod.Name)
			}
		}
	}
	if name == "" {
		if len(pod.Spec.Containers) == 0 {
			return nil, fmt.Errorf("pod %s/%s does not have any containers", pod.Namespace, pod.Name)
		}
		name = pod.Spec.Containers[0].Name
		if !st.o.allPods && (len(pod.Spec.Containers) > 1 || len(pod.Spec.InitContainers) > 0 || len(pod.Spec.EphemeralContainers) > 0) {
			st.inv.errorf("Defaulted container %q out of: %s", name, podcmd.AllContainerNames(pod))
		}
	}
	if c, _ := podcmd.FindContainerByName(pod, name); c == nil {
		return nil, fmt.Errorf("container %s is not valid for pod %s out of: %s", name, pod.Name, podcmd.AllContainerNames(pod))
	}
	return []string{name}, nil
}

// stream copies one container log into the output, reading at most the
// remaining log budget and stopping when the output is full.
func (st *logState) stream(s logStream) error {
	if st.remaining <= 0 || st.inv.out.Full() {
		st.done = true
		st.inv.truncated = true
		return nil
	}
	opts := st.base.DeepCopy()
	opts.Container = s.container
	// Ask the server for one byte more than the budget, so that a log that
	// fits exactly is not reported as truncated.
	if limit := st.remaining + 1; opts.LimitBytes == nil || *opts.LimitBytes > limit {
		opts.LimitBytes = &limit
	}
	rc, err := st.r.core.CoreV1().Pods(s.namespace).GetLogs(s.pod, opts).Stream(st.inv.ctx)
	if err != nil {
		return err
	}
	defer func() { _ = rc.Close() }()

	var w io.Writer = st.inv.out
	if st.o.prefix {
		w = &prefixWriter{w: st.inv.out, prefix: []byte(fmt.Sprintf("[pod/%s/%s] ", s.pod, s.container)), atStart: true}
	}
	if st.grep != nil {
		return st.grepStream(rc, w)
	}
	buf := make([]byte, 32<<10)
	for {
		n, rerr := rc.Read(buf)
		if n > 0 {
			chunk := buf[:n]
			if int64(n) > st.remaining {
				chunk = chunk[:st.remaining]
				st.done = true
				st.inv.truncated = true
			}
			_, _ = w.Write(chunk)
			st.remaining -= int64(len(chunk))
			if st.inv.out.Full() {
				st.done = true
				st.inv.truncated = true
			}
			if st.done {
				return nil
			}
		}
		if errors.Is(rerr, io.EOF) {
			return nil
		}
		if rerr != nil {
			if ctxErr := st.inv.ctx.Err(); ctxErr != nil {
				return ctxErr
			}
			return rerr
		}
	}
}

// prefixWriter writes prefix at the start of every line.
type prefixWriter struct {
	w       io.Writer
	prefix  []byte
	atStart bool
}

// Write implements io.Writer.
func (p *prefixWriter) Write(b []byte) (int, error) {
	n := len(b)
	var out bytes.Buffer
	for len(b) > 0 {
		if p.atStart {
			out.Write(p.prefix)
			p.atStart = false
		}
		i := bytes.IndexByte(b, '\n')
		if i < 0 {
			out.Write(b)
			break
		}
		out.Write(b[:i+1])
		b = b[i+1:]
		p.atStart = true
	}
	if _, err := p.w.Write(out.Bytes()); err != nil {
		return 0, err
	}
	return n, nil
}

// isPodMapping reports whether m maps core Pods.
func isPodMapping(m *meta.RESTMapping) bool {
	return m.GroupVersionKind.Group == "" && m.GroupVersionKind.Kind == "Pod"
}

// notFoundIn words a missing logs target the way kubectl logs does:
// `error: error from server (NotFound): pods "x" not found in namespace "y"`.
func notFoundIn(err error, ns string) error {
	var se *apierrors.StatusError
	if !apierrors.IsNotFound(err) || !errors.As(err, &se) {
		return err
	}
	return fmt.Errorf("error from server (NotFound): %s in namespace %q", se.ErrStatus.Message, ns)
}
