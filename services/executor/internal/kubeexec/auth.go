package kubeexec

import (
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"

	authorizationv1 "k8s.io/api/authorization/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/cli-runtime/pkg/printers"
	"k8s.io/kubectl/pkg/describe"
	rbacutil "k8s.io/kubectl/pkg/util/rbac"

	"kubently.io/libs/policy"
)

// Verbs kubectl auth can-i knows; others draw a warning.
var (
	knownResourceVerbs    = sets.New("get", "list", "watch", "create", "update", "patch", "delete", "deletecollection", "use", "bind", "impersonate", "*", "approve", "sign", "escalate", "attest")
	knownNonResourceVerbs = sets.New("get", "put", "post", "head", "options", "delete", "patch", "*")
	nonStandardResources  = sets.New("users", "groups")
)

// canIOptions are the flags of auth can-i.
type canIOptions struct {
	namespace     string
	allNamespaces bool
	quiet         bool
	subresource   string
	list          bool
	noHeaders     bool
}

// auth implements "kubectl auth can-i" for the executor's own identity:
// a SelfSubjectAccessReview, or a SelfSubjectRulesReview with --list.
// Impersonation (--as) is refused, and so are the other auth subcommands.
func (r *Runner) auth(inv *invocation, cmd *policy.Command) error {
	var o canIOptions
	fs := newFlagSet(cmd)
	fs.StringVarP(&o.namespace, "namespace", "n", "default", "namespace")
	fs.BoolVarP(&o.allNamespaces, "all-namespaces", "A", false, "all namespaces")
	fs.BoolVarP(&o.quiet, "quiet", "q", false, "exit code only")
	fs.StringVar(&o.subresource, "subresource", "", "subresource")
	fs.BoolVar(&o.list, "list", false, "list allowed actions")
	fs.BoolVar(&o.noHeaders, "no-headers", false, "omit headers")
	rest, err := applyFlags(fs, cmd)
	if err != nil {
		return err
	}
	if o.namespace == "" {
		o.namespace = "default"
	}
	if o.allNamespaces {
		o.namespace = ""
	}
	if o.list {
		if len(rest) != 0 {
			return errors.New("list option must be specified with no arguments")
		}
		if o.quiet || o.allNamespaces || o.subresource != "" {
			return errors.New("list option can't be specified with neither quiet, all-namespaces nor subresource options")
		}
		return r.canIList(inv, o)
	}
	if len(rest) != 2 {
		inv.failText("you must specify two arguments: verb resource or verb resource/resourceName.\nSee 'kubectl auth can-i -h' for help and examples.")
		return nil
	}
	if o.noHeaders {
		return errors.New("--no-headers cannot be set without --list specified")
	}
	return r.canI(inv, o, rest[0], rest[1])
}

// canI answers one "can I VERB RESOURCE" question: "yes" with exit code
// 0, or "no" (with the authorizer's reason) and exit code 1.
func (r *Runner) canI(inv *invocation, o canIOptions, verb, what string) error {
	var (
		gvr    schema.GroupVersionResource
		name   string
		nonURL string
		// kubectl's messages end with a newline of their own.
		warning = func(msg string) { inv.errorf("Warning: %s\n", msg) }
	)
	if strings.HasPrefix(what, "/") {
		nonURL = what
	} else {
		typ, n, _ := strings.Cut(what, "/")
		name = n
		gvr = r.canIResource(inv, typ, warning)
	}
	if nonURL != "" {
		if o.subresource != "" {
			return errors.New("--subresource can not be used with NonResourceURL")
		}
		if !knownNonResourceVerbs.Has(verb) {
			warning(fmt.Sprintf("verb '%s' is not a known verb", verb))
		}
	} else if !gvr.Empty() && !o.allNamespaces {
		if namespaced, err := r.isNamespaced(inv, gvr); err == nil && !namespaced {
			if gvr.Group == "" {
				warning(fmt.Sprintf("resource '%s' is not namespace scoped", gvr.Resource))
			} else {
				warning(fmt.Sprintf("resource '%s' is not namespace scoped in group '%s'", gvr.Resource, gvr.Group))
			}
		}
		if !knownResourceVerbs.Has(verb) {
			warning(fmt.Sprintf("verb '%s' is not a known verb", verb))
		}
	}

	sar := &authorizationv1.SelfSubjectAccessReview{}
	if nonURL != "" {
		sar.Spec.NonResourceAttributes = &authorizationv1.NonResourceAttributes{Verb: verb, Path: nonURL}
	} else {
		sar.Spec.ResourceAttributes = &authorizationv1.ResourceAttributes{
			Namespace:   o.namespace,
			Verb:        verb,
			Group:       gvr.Group,
			Resource:    gvr.Resource,
			Subresource: o.subresource,
			Name:        name,
		}
	}
	resp, err := r.core.AuthorizationV1().SelfSubjectAccessReviews().Create(inv.ctx, sar, metav1.CreateOptions{})
	if err != nil {
		return err
	}
	inv.setStructured(resp.Status)
	var out io.Writer = inv.out
	if o.quiet {
		out = io.Discard
	}
	if resp.Status.Allowed {
		fmt.Fprintln(out, "yes")
		return nil
	}
	fmt.Fprint(out, "no")
	if resp.Status.Reason != "" {
		fmt.Fprintf(out, " - %v", resp.Status.Reason)
	}
	if resp.Status.EvaluationError != "" {
		fmt.Fprintf(out, " - %v", resp.Status.EvaluationError)
	}
	fmt.Fprintln(out)
	inv.failed = true // kubectl exits 1 on "no"
	return nil
}

// canIResource resolves the resource argument of can-i like kubectl: a
// type discovery does not know is asked about as written, with a warning.
func (r *Runner) canIResource(inv *invocation, arg string, warning func(string)) schema.GroupVersionResource {
	if arg == "*" {
		return schema.GroupVersionResource{Resource: arg}
	}
	full, gr := schema.ParseResourceArg(strings.ToLower(arg))
	var gvr schema.GroupVersionResource
	if full != nil {
		gvr, _ = r.mapper.ResourceForWithContext(inv.ctx, *full)
	}
	if gvr.Empty() {
		var err error
		gvr, err = r.mapper.ResourceForWithContext(inv.ctx, gr.WithVersion(""))
		if err != nil && r.refreshDiscovery(inv.ctx) {
			gvr, err = r.mapper.ResourceForWithContext(inv.ctx, gr.WithVersion(""))
		}
		if err != nil {
			if !nonStandardResources.Has(gr.String()) {
				if gr.Group == "" {
					warning(fmt.Sprintf("the server doesn't have a resource type '%s'", gr.Resource))
				} else {
					warning(fmt.Sprintf("the server doesn't have a resource type '%s' in group '%s'", gr.Resource, gr.Group))
				}
			}
			return schema.GroupVersionResource{Resource: arg}
		}
	}
	return gvr
}

// isNamespaced reports whether discovery lists gvr as namespaced.
func (r *Runner) isNamespaced(inv *invocation, gvr schema.GroupVersionResource) (bool, error) {
	if gvr.Resource == "*" {
		return true, nil
	}
	list, err := r.discovery.ServerResourcesForGroupVersionWithContext(inv.ctx, gvr.GroupVersion().String())
	if err != nil {
		return true, err
	}
	for _, res := range list.APIResources {
		if res.Name == gvr.Resource {
			return res.Namespaced, nil
		}
	}
	return false, fmt.Errorf("the server doesn't have a resource type '%s' in group '%s'", gvr.Resource, gvr.Group)
}

// canIList prints what the executor may do in a namespace, like kubectl
// auth can-i --list.
func (r *Runner) canIList(inv *invocation, o canIOptions) error {
	review := &authorizationv1.SelfSubjectRulesReview{Spec: authorizationv1.SelfSubjectRulesReviewSpec{Namespace: o.namespace}}
	resp, err := r.core.AuthorizationV1().SelfSubjectRulesReviews().Create(inv.ctx, review, metav1.CreateOptions{})
	if err != nil {
		return err
	}
	status := resp.Status
	if status.Incomplete {
		inv.errorf("Warning: the list may be incomplete: %v", status.EvaluationError)
	}
	var rules []rbacv1.PolicyRule
	for _, rr := range status.ResourceRules {
		rules = append(rules, rbacutil.BreakdownRule(rbacv1.PolicyRule{
			Verbs: rr.Verbs, APIGroups: rr.APIGroups, Resources: rr.Resources, ResourceNames: rr.ResourceNames,
		})...)
	}
	for _, nr := range status.NonResourceRules {
		rules = append(rules, rbacutil.BreakdownRule(rbacv1.PolicyRule{Verbs: nr.Verbs, NonResourceURLs: nr.NonResourceURLs})...)
	}
	compact, err := rbacutil.CompactRules(rules)
	if err != nil {
		return err
	}
	sort.Stable(rbacutil.SortableRuleSlice(compact))
	inv.setStructured(status)

	w := printers.GetNewTabWriter(inv.out)
	if !o.noHeaders {
		fmt.Fprintln(w, "Resources\tNon-Resource URLs\tResource Names\tVerbs")
	}
	for _, rule := range compact {
		fmt.Fprintf(w, "%s\t%v\t%v\t%v\n", describe.CombineResourceGroup(rule.Resources, rule.APIGroups), rule.NonResourceURLs, rule.ResourceNames, rule.Verbs)
	}
	return w.Flush()
}
