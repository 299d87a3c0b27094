package kubeexec

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/rest"
	"k8s.io/kubectl/pkg/describe"

	"kubently.io/libs/policy"
	"kubently.io/services/executor/internal/readonly"
)

// describeOptions are the flags of describe.
type describeOptions struct {
	namespace     string
	allNamespaces bool
	selector      string
	showEvents    bool
	chunkSize     int64
}

// parseDescribeFlags parses the flags of describe. showEventsSet reports an
// explicit --show-events.
func parseDescribeFlags(cmd *policy.Command) (o describeOptions, rest []string, showEventsSet bool, err error) {
	fs := newFlagSet(cmd)
	fs.StringVarP(&o.namespace, "namespace", "n", "default", "namespace")
	fs.BoolVarP(&o.allNamespaces, "all-namespaces", "A", false, "across all namespaces")
	fs.StringVarP(&o.selector, "selector", "l", "", "label selector")
	fs.BoolVar(&o.showEvents, "show-events", true, "show events")
	fs.Int64Var(&o.chunkSize, "chunk-size", DefaultChunkSize, "page size")
	rest, err = applyFlags(fs, cmd)
	if err != nil {
		return o, nil, false, err
	}
	if o.namespace == "" {
		o.namespace = "default"
	}
	if o.chunkSize < 0 {
		return o, nil, false, fmt.Errorf("invalid --chunk-size %d: must not be negative", o.chunkSize)
	}
	if o.chunkSize == 0 {
		o.chunkSize = DefaultChunkSize
	}
	return o, rest, fs.Changed("show-events"), nil
}

// describeItem is one object to describe.
type describeItem struct {
	mapping   *meta.RESTMapping
	namespace string
	name      string
}

// describe implements "kubectl describe" with kubectl's own describers.
func (r *Runner) describe(inv *invocation, cmd *policy.Command) error {
	o, args, showEventsSet, err := parseDescribeFlags(cmd)
	if err != nil {
		return err
	}
	if len(args) == 0 {
		return errors.New(`you must specify the type of resource to describe; use "kubectl api-resources" for a complete list of supported resources`)
	}
	ra, err := parseResourceArgs(args)
	if err != nil {
		return err
	}
	switch {
	case len(ra.tuples) > 0 && o.selector != "":
		return errors.New("selectors and the all flag cannot be used when passing resource/name arguments")
	case len(ra.names) > 0 && o.selector != "":
		return errors.New("name cannot be provided when a selector is specified")
	}
	targets, err := r.resolve(inv.ctx, ra)
	if err != nil {
		return err
	}
	ns := o.namespace
	if o.allNamespaces {
		ns = ""
	}

	d := &describeRun{r: r, inv: inv, settings: describe.DescriberSettings{ShowEvents: o.showEvents, ChunkSize: o.chunkSize}, first: true}
	// Like kubectl, describing several objects leaves out their events
	// unless --show-events is given.
	severalObjects := len(targets) > 1 || (len(ra.tuples)+len(ra.names)) > 1
	if severalObjects && !showEventsSet {
		d.settings.ShowEvents = false
	}

	var errs []error
	found := 0
	for _, t := range targets {
		if err := inv.ctx.Err(); err != nil {
			errs = append(errs, err)
			break
		}
		if inv.out.Full() {
			inv.truncated = true
			break
		}
		reqNS := namespaceFor(t.mapping, ns)
		if len(t.names) > 0 {
			if o.allNamespaces && t.mapping.Scope.Name() == meta.RESTScopeNameNamespace {
				errs = append(errs, errors.New("a resource cannot be retrieved by name across all namespaces"))
				continue
			}
			for _, name := range t.names {
				if err := inv.ctx.Err(); err != nil {
					errs = append(errs, err)
					break
				}
				if inv.out.Full() {
					inv.truncated = true
					break
				}
				err := d.one(describeItem{mapping: t.mapping, namespace: reqNS, name: name})
				if apierrors.IsNotFound(err) && len(args) == 2 && len(ra.names) == 1 {
					// kubectl describes every object whose name starts with
					// the given one when there is no exact match, without
					// events unless asked for.
					if !showEventsSet {
						d.settings.ShowEvents = false
					}
					n, perr := d.matching(t.mapping, reqNS, name, o)
					if perr != nil {
						err = perr
					} else if n > 0 {
						err = nil
					}
				}
				if err != nil {
					errs = append(errs, err)
					continue
				}
				found++
			}
			continue
		}
		opts := metav1.ListOptions{LabelSelector: o.selector, Limit: o.chunkSize}
		n, err := d.list(t.mapping, reqNS, opts, func(string) bool { return true }, func(count int, more bool) {
			if (count > 1 || more || severalObjects) && !showEventsSet {
				d.settings.ShowEvents = false
			}
		})
		found += n
		if err != nil {
			errs = append(errs, err)
		}
	}
	if found == 0 && len(errs) == 0 {
		if o.allNamespaces {
			inv.errorf("No resources found")
		} else {
			inv.errorf("No resources found in %s namespace.", o.namespace)
		}
	}
	inv.failAll(errs)
	return nil
}

// describeRun holds the state of one describe command.
type describeRun struct {
	r          *Runner
	inv        *invocation
	settings   describe.DescriberSettings
	describers map[schema.GroupKind]describe.ResourceDescriber
	first      bool
	prefixMode bool // printing prefix matches: kubectl ends each with a newline
}

// one describes one object and prints it.
func (d *describeRun) one(it describeItem) error {
	describer, err := d.describerFor(it.mapping)
	if err != nil {
		return err
	}
	s, err := describer.Describe(it.namespace, it.name, d.settings)
	if err != nil {
		if ctxErr := d.inv.ctx.Err(); ctxErr != nil {
			return ctxErr
		}
		return err
	}
	switch {
	case d.prefixMode:
		fmt.Fprintf(d.inv.out, "%s\n", s)
	case d.first:
		fmt.Fprint(d.inv.out, s)
	default:
		fmt.Fprintf(d.inv.out, "\n\n%s", s)
	}
	d.first = false
	return nil
}

// list describes every object of m in ns that matches opts and keep, page
// by page, until the output is full. onPage is told the size of the first
// page and whether more follow, before anything is described.
func (d *describeRun) list(m *meta.RESTMapping, ns string, opts metav1.ListOptions, keep func(string) bool, onFirstPage func(count int, more bool)) (int, error) {
	found := 0
	firstPage := true
	for {
		obj, _, err := d.r.read(d.inv.ctx, readRequest{mapping: m, namespace: ns, accept: acceptMetadata, opts: opts})
		if err != nil {
			return found, err
		}
		items := listItems(obj)
		opts.Continue = continueToken(obj)
		if firstPage && onFirstPage != nil {
			onFirstPage(len(items), opts.Continue != "")
		}
		firstPage = false
		for _, it := range items {
			if d.inv.out.Full() || d.inv.ctx.Err() != nil {
				d.inv.truncated = d.inv.truncated || d.inv.out.Full()
				return found, d.inv.ctx.Err()
			}
			if !keep(it.GetName()) {
				continue
			}
			if err := d.one(describeItem{mapping: m, namespace: it.GetNamespace(), name: it.GetName()}); err != nil {
				return found, err
			}
			found++
		}
		if opts.Continue == "" {
			return found, nil
		}
	}
}

// matching describes the objects of m in ns whose names start with prefix.
func (d *describeRun) matching(m *meta.RESTMapping, ns, prefix string, o describeOptions) (int, error) {
	opts := metav1.ListOptions{Limit: o.chunkSize}
	d.prefixMode = true
	defer func() { d.prefixMode = false }()
	return d.list(m, ns, opts, func(name string) bool { return strings.HasPrefix(name, prefix) }, nil)
}

// describerFor returns kubectl's describer for m, or its generic one.
func (d *describeRun) describerFor(m *meta.RESTMapping) (describe.ResourceDescriber, error) {
	gk := m.GroupVersionKind.GroupKind()
	if x, ok := d.describers[gk]; ok {
		return x, nil
	}
	cfg := d.r.describeConfig(d.inv.ctx)
	x, ok := describe.DescriberFor(gk, cfg)
	if !ok {
		x, ok = describe.GenericDescriberFor(m, cfg)
	}
	if !ok {
		return nil, fmt.Errorf("no description has been implemented for %s", m.GroupVersionKind.String())
	}
	if d.describers == nil {
		d.describers = map[schema.GroupKind]describe.ResourceDescriber{}
	}
	d.describers[gk] = x
	return x, nil
}

// describeConfig returns a rest.Config for kubectl's describers. They make
// their API calls without a context, so the config's transport attaches
// ctx to every request: the command's deadline and cancellation still
// apply. It reuses the Runner's authenticated, read-only transport and its
// connections.
func (r *Runner) describeConfig(ctx context.Context) *rest.Config {
	base := r.httpClient.Transport
	if base == nil {
		base = readonly.Wrap(http.DefaultTransport)
	}
	cfg := &rest.Config{
		Host:           r.restConfig.Host,
		APIPath:        r.restConfig.APIPath,
		Transport:      readonly.Wrap(&contextTransport{ctx: ctx, next: base}),
		QPS:            r.restConfig.QPS,
		Burst:          r.restConfig.Burst,
		UserAgent:      r.restConfig.UserAgent,
		WarningHandler: rest.NoWarnings{},
		// JSON only: the transport redacts responses and refuses protobuf.
		ContentConfig: rest.ContentConfig{ContentType: "application/json", AcceptContentTypes: "application/json"},
	}
	if dl, ok := ctx.Deadline(); ok {
		if left := time.Until(dl); left > 0 {
			cfg.Timeout = left
		}
	}
	return cfg
}

// contextTransport gives requests that carry no cancellable context the
// context of the command.
type contextTransport struct {
	ctx  context.Context
	next http.RoundTripper
}

// RoundTrip implements http.RoundTripper.
func (t *contextTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.Context().Done() == nil {
		req = req.WithContext(t.ctx)
	}
	return t.next.RoundTrip(req)
}
