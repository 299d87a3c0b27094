package kubeexec

import (
	"errors"
	"fmt"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/cli-runtime/pkg/printers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/kubectl/pkg/polymorphichelpers"

	"kubently.io/libs/policy"
)

// rolloutOptions are the flags of rollout history and rollout status.
type rolloutOptions struct {
	namespace string
	revision  int64
	watch     bool
}

// errWatch is returned for rollout status --watch=true: a command must
// end. (The policy refuses it first.)
var errWatch = errors.New("watching is not supported: a command must end; drop -w/--watch/--watch-only")

// rollout implements "kubectl rollout history" and "kubectl rollout
// status". Other subcommands change the cluster and are refused.
func (r *Runner) rollout(inv *invocation, cmd *policy.Command) error {
	sub := cmd.Sub
	var o rolloutOptions
	fs := newFlagSet(cmd)
	fs.StringVarP(&o.namespace, "namespace", "n", "default", "namespace")
	fs.Int64Var(&o.revision, "revision", 0, "revision")
	if sub == "status" {
		fs.BoolVar(&o.watch, "watch", false, "refused when true")
	}
	rest, err := applyFlags(fs, cmd)
	if err != nil {
		return err
	}
	if o.watch {
		// kubectl waits by default; a command here must end, so status
		// always behaves like --watch=false.
		return errWatch
	}
	if o.namespace == "" {
		o.namespace = "default"
	}
	if o.revision < 0 {
		return fmt.Errorf("revision must be a positive integer: %v", o.revision)
	}
	if len(rest) == 0 {
		return errors.New("required resource not specified")
	}
	ra, err := parseResourceArgs(rest)
	if err != nil {
		return err
	}
	targets, err := r.resolve(inv.ctx, ra)
	if err != nil {
		return err
	}
	objs, err := r.rolloutObjects(inv, o.namespace, targets)
	if err != nil {
		return err
	}
	if len(objs) == 0 {
		inv.errorf("No resources found in %s namespace.", o.namespace)
		return nil
	}
	var errs []error
	for _, obj := range objs {
		var err error
		if sub == "history" {
			err = r.rolloutHistory(inv, o, obj.mapping, obj.obj)
		} else {
			err = rolloutStatus(inv, o, obj.mapping, obj.obj)
		}
		if err != nil {
			errs = append(errs, err)
		}
	}
	inv.failAll(errs)
	return nil
}

// rolloutObject is one object rollout works on.
type rolloutObject struct {
	mapping *meta.RESTMapping
	obj     *unstructured.Unstructured
}

// rolloutObjects reads the objects named by targets, or every object of a
// target's type in the namespace when it names none.
func (r *Runner) rolloutObjects(inv *invocation, ns string, targets []target) ([]rolloutObject, error) {
	var out []rolloutObject
	for _, t := range targets {
		res := r.dyn.Resource(t.mapping.Resource).Namespace(namespaceFor(t.mapping, ns))
		if len(t.names) == 0 {
			list, err := res.List(inv.ctx, metav1.ListOptions{Limit: DefaultChunkSize})
			if err != nil {
				return nil, err
			}
			for i := range list.Items {
				out = append(out, rolloutObject{mapping: t.mapping, obj: &list.Items[i]})
			}
			continue
		}
		for _, name := range t.names {
			obj, err := res.Get(inv.ctx, name, metav1.GetOptions{})
			if err != nil {
				return nil, err
			}
			out = append(out, rolloutObject{mapping: t.mapping, obj: obj})
		}
	}
	return out, nil
}

// rolloutHistory prints the revisions of one object like kubectl rollout
// history: "deployment.apps/web " and the history table, or the pod
// template of one revision with --revision.
func (r *Runner) rolloutHistory(inv *invocation, o rolloutOptions, m *meta.RESTMapping, obj *unstructured.Unstructured) error {
	// kubectl's history viewers make their calls without a context; the
	// describe config attaches the command's context to each.
	cs, err := kubernetes.NewForConfig(r.describeConfig(inv.ctx))
	if err != nil {
		return err
	}
	viewer, err := polymorphichelpers.HistoryViewerFor(m.GroupVersionKind.GroupKind(), cs)
	if err != nil {
		return err
	}
	history, err := viewer.ViewHistory(obj.GetNamespace(), obj.GetName(), o.revision)
	if err != nil {
		return err
	}
	withRevision := ""
	if o.revision > 0 {
		withRevision = fmt.Sprintf("with revision #%d", o.revision)
	}
	p := &printers.NamePrinter{Operation: fmt.Sprintf("%s\n%s", withRevision, history)}
	return p.PrintObj(obj, inv.out)
}

// rolloutStatus prints the current rollout status of one object, as
// kubectl rollout status --watch=false does: the status line, exit code 0
// whether or not the rollout is complete.
func rolloutStatus(inv *invocation, o rolloutOptions, m *meta.RESTMapping, obj *unstructured.Unstructured) error {
	viewer, err := polymorphichelpers.StatusViewerFor(m.GroupVersionKind.GroupKind())
	if err != nil {
		return err
	}
	status, _, err := viewer.Status(obj, o.revision)
	if err != nil {
		return err
	}
	fmt.Fprint(inv.out, status)
	return nil
}
