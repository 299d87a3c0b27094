package kubeexec

import (
	"errors"
	"fmt"
	"io"
	"math"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/cli-runtime/pkg/printers"
	"k8s.io/client-go/kubernetes/scheme"
	kubectlget "k8s.io/kubectl/pkg/cmd/get"

	"kubently.io/libs/policy"
)

// output formats of get.
const (
	outTable = ""
	outWide  = "wide"
	outJSON  = "json"
	outYAML  = "yaml"
	outName  = "name"

	// Templated formats: -o jsonpath=TEMPLATE and friends. The *-file
	// forms and go-template are not supported: they read files or run
	// arbitrary templates.
	outJSONPath       = "jsonpath"
	outJSONPathAsJSON = "jsonpath-as-json"
	outCustomColumns  = "custom-columns"
)

// maxTemplateLen bounds -o jsonpath=… and custom-columns=… templates, as
// the policy does.
const maxTemplateLen = 1024

// maxContinueLen bounds a --continue token, as the policy does.
const maxContinueLen = 4096

// getOptions are the flags of get.
type getOptions struct {
	namespace         string
	allNamespaces     bool
	selector          string
	fieldSelector     string
	output            string // format, without a template
	template          string // of jsonpath, jsonpath-as-json, custom-columns
	showLabels        bool
	showKind          bool
	noHeaders         bool
	labelColumns      []string
	chunkSize         int64
	ignoreNotFound    bool
	showManagedFields bool
	sortBy            string
	continueToken     string // --continue: resume a list cut at the byte cap
}

// parseGetFlags reads the flags of get from cmd and returns the positional
// arguments.
func parseGetFlags(cmd *policy.Command) (getOptions, []string, error) {
	var o getOptions
	fs := newFlagSet(cmd)
	fs.StringVarP(&o.namespace, "namespace", "n", "default", "namespace")
	fs.BoolVarP(&o.allNamespaces, "all-namespaces", "A", false, "list across all namespaces")
	fs.StringVarP(&o.selector, "selector", "l", "", "label selector")
	fs.StringVar(&o.fieldSelector, "field-selector", "", "field selector")
	fs.StringVarP(&o.output, "output", "o", "", "output format")
	fs.BoolVar(&o.showLabels, "show-labels", false, "show labels")
	fs.BoolVar(&o.showKind, "show-kind", false, "show kind")
	fs.BoolVar(&o.noHeaders, "no-headers", false, "omit headers")
	fs.StringSliceVarP(&o.labelColumns, "label-columns", "L", nil, "label columns")
	fs.Int64Var(&o.chunkSize, "chunk-size", DefaultChunkSize, "page size")
	fs.BoolVar(&o.ignoreNotFound, "ignore-not-found", false, "ignore not found")
	fs.BoolVar(&o.showManagedFields, "show-managed-fields", false, "keep managedFields")
	fs.StringVar(&o.sortBy, "sort-by", "", "JSONPath to sort by")
	fs.StringVar(&o.continueToken, "continue", "", "continue token of a list cut at the byte cap")
	rest, err := applyFlags(fs, cmd)
	if err != nil {
		return o, nil, err
	}
	if o.namespace == "" {
		o.namespace = "default"
	}
	if err := o.splitTemplate(); err != nil {
		return o, nil, err
	}
	if o.chunkSize < 0 {
		return o, nil, fmt.Errorf("invalid --chunk-size %d: must not be negative", o.chunkSize)
	}
	if o.sortBy != "" {
		if _, err := sortExpression(o.sortBy); err != nil {
			return o, nil, err
		}
	}
	if o.continueToken != "" {
		if len(o.continueToken) > maxContinueLen {
			return o, nil, fmt.Errorf("--continue token is %d bytes; at most %d allowed", len(o.continueToken), maxContinueLen)
		}
		if o.sortBy != "" {
			return o, nil, errors.New("--continue cannot be combined with --sort-by: sorting reads the whole list")
		}
	}
	if o.chunkSize == 0 {
		// kubectl reads the whole list at once here; a capped executor
		// never does, so 0 means the default page size.
		o.chunkSize = DefaultChunkSize
	}
	return o, rest, nil
}

// splitTemplate splits -o FORMAT=TEMPLATE and checks the format.
func (o *getOptions) splitTemplate() error {
	switch o.output {
	case outTable, outWide, outJSON, outYAML, outName:
		return nil
	}
	format, tmpl, ok := strings.Cut(o.output, "=")
	switch {
	case ok && (format == outJSONPath || format == outJSONPathAsJSON || format == outCustomColumns):
	case format == outJSONPath || format == outJSONPathAsJSON:
		return errors.New("template format specified but no template given")
	case format == outCustomColumns:
		return errors.New("custom-columns format specified but no custom columns given")
	default:
		return fmt.Errorf("unable to match a printer suitable for the output format %q, allowed formats are: custom-columns,json,jsonpath,jsonpath-as-json,name,wide,yaml", o.output)
	}
	if tmpl == "" {
		if format == outCustomColumns {
			return errors.New("custom-columns format specified but no custom columns given")
		}
		return errors.New("template format specified but no template given")
	}
	if len(tmpl) > maxTemplateLen {
		return fmt.Errorf("the output template is %d bytes; at most %d are allowed", len(tmpl), maxTemplateLen)
	}
	o.output, o.template = format, tmpl
	return nil
}

// objectPrinter returns the printer of the object formats (json, yaml and
// the templated ones), set up as kubectl sets it up.
func (o getOptions) objectPrinter() (printers.ResourcePrinter, error) {
	switch o.output {
	case outYAML:
		return &printers.YAMLPrinter{}, nil
	case outJSONPath, outJSONPathAsJSON:
		p, err := printers.NewJSONPathPrinter(o.template)
		if err != nil {
			return nil, fmt.Errorf("error parsing jsonpath %s, %w", o.template, err)
		}
		p.AllowMissingKeys(true)
		p.EnableJSONOutput(o.output == outJSONPathAsJSON)
		return p, nil
	case outCustomColumns:
		decoder := scheme.Codecs.UniversalDecoder(scheme.Scheme.PrioritizedVersionsAllGroups()...)
		return kubectlget.NewCustomColumnsPrinterFromSpec(o.template, decoder, o.noHeaders)
	default:
		return &printers.JSONPrinter{}, nil
	}
}

// page is one answer of the API server, kept until it is printed.
type page struct {
	mapping *meta.RESTMapping
	table   *metav1.Table  // table output
	other   runtime.Object // table output when the server sent no Table
	items   []*unstructured.Unstructured
}

// get implements "kubectl get".
func (r *Runner) get(inv *invocation, cmd *policy.Command) error {
	o, args, err := parseGetFlags(cmd)
	if err != nil {
		return err
	}
	if len(args) == 0 {
		return errors.New(`required resource not specified: you must specify the type of resource to get; use "kubectl api-resources" for a complete list of supported resources`)
	}
	ra, err := parseResourceArgs(args)
	if err != nil {
		return err
	}
	hasSelector := o.selector != "" || o.fieldSelector != ""
	switch {
	case len(ra.tuples) > 0 && hasSelector:
		return errors.New("selectors and the all flag cannot be used when passing resource/name arguments")
	case len(ra.names) > 0 && hasSelector:
		return errors.New("name cannot be provided when a selector is specified")
	}
	targets, err := r.resolve(inv.ctx, ra)
	if err != nil {
		return err
	}
	if o.continueToken != "" && (len(targets) != 1 || len(targets[0].names) > 0) {
		return errors.New("--continue resumes a list of one resource type; name exactly one type and no objects")
	}

	if o.sortBy != "" {
		release, err := r.acquireSort(inv)
		if err != nil {
			return err
		}
		defer release()
	}
	pages, errs := r.fetchForGet(inv, o, targets)
	if o.sortBy != "" && len(pages) > 0 {
		sorted, err := sortPages(o, pages)
		if err != nil {
			inv.failAll(append(errs, err))
			return nil
		}
		pages = sorted
	}

	switch o.output {
	case outTable, outWide:
		errs = append(errs, r.printTables(inv, o, targets, pages, len(errs) == 0)...)
	case outName:
		for _, p := range pages {
			for _, it := range p.items {
				fmt.Fprintln(inv.out, kindName(p.mapping, it.GetName()))
			}
		}
	default:
		printer, err := o.objectPrinter()
		if err != nil {
			errs = append(errs, err)
			break
		}
		if err := inv.printObjects(printer, o, ra.singleItem(), pages, len(errs) > 0); err != nil {
			errs = append(errs, err)
		}
	}
	inv.failAll(errs)
	return nil
}

// fetchForGet reads every target, page by page, until all is read or the
// estimated output exceeds the byte cap.
func (r *Runner) fetchForGet(inv *invocation, o getOptions, targets []target) ([]page, []error) {
	accept := acceptJSON
	switch o.output {
	case outTable, outWide:
		accept = acceptTable
	case outName:
		if o.sortBy == "" { // sorting needs more than metadata
			accept = acceptMetadata
		}
	}
	ns := o.namespace
	if o.allNamespaces {
		ns = ""
	}
	include := ""
	if o.sortBy != "" && accept == acceptTable {
		include = "Object"
	}
	var (
		pages   []page
		errs    []error
		used    int
		objects int
		// sortRead and sortObjects count the answers of a sorted get:
		// its objects stay in memory until printed, so their bytes are
		// bounded (r.sortBudget()) as well as their number.
		sortRead, sortObjects int64
	)
	// Sorting needs every object, so the output budget does not stop
	// reading then; maxSortObjects and r.sortBudget() do.
	budget := r.maxOutput
	if o.sortBy != "" {
		budget = math.MaxInt - 1
	}
	full := func() bool { return used > budget }
	tooMany := func(p page) bool {
		objects += len(p.items)
		if p.table != nil {
			objects += len(p.table.Rows)
		}
		return o.sortBy != "" && objects > maxSortObjects
	}
	for _, t := range targets {
		if err := inv.ctx.Err(); err != nil {
			errs = append(errs, err)
			break
		}
		if full() {
			break
		}
		reqNS := namespaceFor(t.mapping, ns)
		if len(t.names) > 0 {
			if o.allNamespaces && t.mapping.Scope.Name() == meta.RESTScopeNameNamespace {
				errs = append(errs, errors.New("a resource cannot be retrieved by name across all namespaces"))
				continue
			}
			for _, name := range t.names {
				if full() || inv.ctx.Err() != nil {
					break // reported by the outer loop
				}
				obj, n, err := r.read(inv.ctx, readRequest{mapping: t.mapping, namespace: reqNS, name: name, accept: accept, includeObject: include})
				if err != nil {
					if !o.ignoreNotFound || !apierrors.IsNotFound(err) {
						errs = append(errs, err)
					}
					continue
				}
				if o.sortBy != "" {
					if sortRead += int64(n); sortRead > r.sortBudget() {
						return nil, append(errs, tooLargeToSort(sortRead, r.sortBudget()))
					}
				}
				p, size, _, err := makePage(o, t.mapping, obj, n, budget+1-used)
				if err != nil {
					errs = append(errs, err)
					continue
				}
				pages = append(pages, p)
				used += size
			}
			continue
		}
		opts := metav1.ListOptions{LabelSelector: o.selector, FieldSelector: o.fieldSelector, Limit: o.chunkSize, Continue: o.continueToken}
		// resumable: the list can be resumed at a page boundary with
		// --continue when it is the only target and is not sorted.
		resumable := len(targets) == 1 && o.sortBy == ""
		for first := true; ; first = false {
			if o.sortBy != "" {
				opts.Limit = sortLimit(o.chunkSize, sortRead, sortObjects, r.sortBudget())
			}
			obj, n, err := r.read(inv.ctx, readRequest{mapping: t.mapping, namespace: reqNS, accept: accept, opts: opts, includeObject: include})
			if err != nil {
				errs = append(errs, listError(err, t.mapping, o.selector, o.fieldSelector))
				break
			}
			if o.sortBy != "" {
				sortRead += int64(n)
				sortObjects += int64(len(listItems(obj)))
				switch t := obj.(type) {
				case *metav1.Table:
					sortObjects += int64(len(t.Rows))
				case *unstructured.Unstructured:
					if tableGVKs[t.GroupVersionKind()] {
						rows, _, _ := unstructured.NestedSlice(t.Object, "rows")
						sortObjects += int64(len(rows))
					}
				}
				if sortRead > r.sortBudget() {
					return nil, append(errs, tooLargeToSort(sortRead, r.sortBudget()))
				}
			}
			p, size, trimmed, err := makePage(o, t.mapping, obj, n, budget+1-used)
			if err != nil {
				errs = append(errs, err)
				break
			}
			if trimmed && resumable && !first && opts.Continue != "" {
				// This page does not fit whole: leave it for the next
				// call, which starts at it with the token that read it.
				inv.truncated = true
				inv.continueToken = opts.Continue
				inv.truncNote = moreNote(t.mapping, pageObject(p, obj), false)
				break
			}
			if tooMany(p) {
				return nil, append(errs, errTooManyToSort)
			}
			pages = append(pages, p)
			used += size
			opts.Continue = continueToken(pageObject(p, obj))
			if trimmed || (full() && opts.Continue != "") {
				inv.truncated = true
				if !trimmed && resumable {
					inv.continueToken = opts.Continue
				}
				inv.truncNote = moreNote(t.mapping, pageObject(p, obj), trimmed)
				break
			}
			if opts.Continue == "" || full() {
				break
			}
		}
	}
	if full() {
		inv.truncated = true
	}
	return pages, errs
}

// moreNote says what was left unread of a list cut at the byte cap, and
// how to read the rest: the server's remaining-item estimate when it gave
// one, and a narrower command.
func moreNote(m *meta.RESTMapping, obj runtime.Object, trimmed bool) string {
	var remaining *int64
	switch t := obj.(type) {
	case *metav1.Table:
		remaining = t.RemainingItemCount
	case *unstructured.UnstructuredList:
		remaining = t.GetRemainingItemCount()
	}
	what := "more " + m.Resource.Resource + " remain"
	if remaining != nil && !trimmed {
		what = fmt.Sprintf("about %d more %s remain", *remaining, m.Resource.Resource)
	}
	return what + "; to read on, select fewer with -l/--field-selector, name them, or use -o name"
}

// pageObject returns what the continue token of a page is read from.
func pageObject(p page, obj runtime.Object) runtime.Object {
	if p.table != nil {
		return p.table
	}
	return obj
}

// makePage turns one decoded answer into a page, keeping rows or items only
// while the estimated output stays within room bytes. It returns the
// estimated size kept and whether anything was dropped.
func makePage(o getOptions, m *meta.RESTMapping, obj runtime.Object, bodyLen, room int) (page, int, bool, error) {
	p := page{mapping: m}
	switch o.output {
	case outTable, outWide:
		table, ok, err := asTable(obj)
		if err != nil {
			return p, 0, false, err
		}
		if !ok {
			p.other = obj
			return p, len(listItems(obj)) * 40, false, nil
		}
		used, trimmed := 0, false
		for i, row := range table.Rows {
			if used > room {
				table.Rows = table.Rows[:i]
				trimmed = true
				break
			}
			used += rowWidth(row, table.ColumnDefinitions, o.output == outWide)
		}
		if err := decodeRows(table, rowObjects(o)); err != nil {
			return p, 0, false, err
		}
		p.table = table
		return p, used, trimmed, nil
	default:
		items := listItems(obj)
		per := 0
		if len(items) > 0 {
			per = bodyLen / len(items)
		}
		used := 0
		for i, it := range items {
			if used > room {
				p.items = items[:i]
				return p, used, true, nil
			}
			if o.output == outName {
				used += len(kindName(m, it.GetName())) + 1
			} else {
				used += per
			}
		}
		p.items = items
		return p, used, false, nil
	}
}

// printTables prints table pages the way kubectl get does: one table per
// resource type, separated by blank lines, with a NAMESPACE column for -A
// and kind-qualified names when several kinds are shown.
func (r *Runner) printTables(inv *invocation, o getOptions, targets []target, pages []page, noErrors bool) []error {
	// Like kubectl, show kinds when answers of several kinds came back,
	// even if some of them are empty tables.
	kinds := map[schema.GroupVersionKind]bool{}
	for _, p := range pages {
		kinds[p.mapping.GroupVersionKind] = true
	}
	withKind := o.showKind || len(kinds) > 1

	tracking := &countingWriter{w: inv.out}
	sep := &separatorWriter{w: tracking}
	tw := printers.GetNewTabWriter(sep)
	var (
		printer printers.ResourcePrinter
		last    *meta.RESTMapping
		errs    []error
	)
	for _, p := range pages {
		if printer == nil || last == nil || p.mapping.Resource != last.Resource {
			_ = tw.Flush()
			tw.SetRememberedWidths(nil)
			if last != nil && !o.noHeaders && tracking.n > 0 {
				sep.ready = true
			}
			printer = printers.NewTablePrinter(printers.PrintOptions{
				Kind:          p.mapping.GroupVersionKind.GroupKind(),
				WithKind:      withKind,
				NoHeaders:     o.noHeaders,
				Wide:          o.output == outWide,
				WithNamespace: o.allNamespaces && p.mapping.Scope.Name() == meta.RESTScopeNameNamespace,
				ShowLabels:    o.showLabels,
				ColumnLabels:  o.labelColumns,
			})
			last = p.mapping
		}
		var obj runtime.Object = p.table
		if p.table == nil {
			obj = p.other
		}
		if err := printer.PrintObj(obj, tw); err != nil {
			errs = append(errs, err)
		}
		if inv.out.Full() {
			break
		}
	}
	_ = tw.Flush()

	if tracking.n == 0 && noErrors && !o.ignoreNotFound {
		allNamespaced := !o.allNamespaces
		for _, t := range targets {
			allNamespaced = allNamespaced && t.mapping.Scope.Name() == meta.RESTScopeNameNamespace
		}
		if allNamespaced {
			inv.errorf("No resources found in %s namespace.", o.namespace)
		} else {
			inv.errorf("No resources found")
		}
	}
	return errs
}

// printObjects prints the object formats (-o json, yaml, jsonpath=…,
// custom-columns=…): the object itself when the arguments named exactly
// one, else a kind: List like kubectl. It also keeps the JSON of what it
// printed as the Result's Structured form.
func (inv *invocation) printObjects(printer printers.ResourcePrinter, o getOptions, singleItem bool, pages []page, hadErrors bool) error {
	var objs []*unstructured.Unstructured
	for _, p := range pages {
		objs = append(objs, p.items...)
	}
	if !o.showManagedFields {
		for _, obj := range objs {
			obj.SetManagedFields(nil)
		}
	}
	if singleItem {
		if hadErrors || len(objs) != 1 {
			return nil
		}
		inv.setStructured(objs[0])
		return printer.PrintObj(objs[0], inv.out)
	}
	if len(objs) == 0 && o.ignoreNotFound {
		return nil
	}
	list := &unstructured.UnstructuredList{Object: map[string]any{
		"apiVersion": "v1",
		"kind":       "List",
		"metadata":   map[string]any{"resourceVersion": ""},
	}}
	list.Items = make([]unstructured.Unstructured, 0, len(objs))
	for _, obj := range objs {
		list.Items = append(list.Items, *obj)
	}
	inv.setStructured(list)
	return printer.PrintObj(list, inv.out)
}

// countingWriter counts the bytes written through it.
type countingWriter struct {
	w io.Writer
	n int
}

// Write implements io.Writer.
func (c *countingWriter) Write(p []byte) (int, error) {
	c.n += len(p)
	return c.w.Write(p)
}

// separatorWriter writes an empty line before the next non-empty write once
// ready is set, to separate the tables of different resource types.
type separatorWriter struct {
	w     io.Writer
	ready bool
}

// Write implements io.Writer.
func (s *separatorWriter) Write(p []byte) (int, error) {
	if len(p) != 0 && s.ready {
		if _, err := s.w.Write([]byte{'\n'}); err != nil {
			return 0, err
		}
		s.ready = false
	}
	return s.w.Write(p)
}

// listError words a failed list the way kubectl's resource builder does:
// for a bad request, a missing resource or an expired continue token it
// names the resource and the selectors in the server's message.
func listError(err error, m *meta.RESTMapping, labelSel, fieldSel string) error {
	var se *apierrors.StatusError
	if !errors.As(err, &se) || (!apierrors.IsResourceExpired(err) && !apierrors.IsBadRequest(err) && !apierrors.IsNotFound(err)) {
		return err
	}
	out := *se
	if labelSel == "" && fieldSel == "" {
		out.ErrStatus.Message = fmt.Sprintf("Unable to list %q: %v", m.Resource, se.ErrStatus.Message)
	} else {
		out.ErrStatus.Message = fmt.Sprintf("Unable to find %q that match label selector %q, field selector %q: %v", m.Resource, labelSel, fieldSel, se.ErrStatus.Message)
	}
	return &out
}
