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
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/util/duration"
	"k8s.io/cli-runtime/pkg/printers"
	kubectlevents "k8s.io/kubectl/pkg/cmd/events"

	"kubently.io/libs/policy"
)

// maxEvents bounds how many events one events command reads: they are
// sorted by time, so all of them are held in memory.
const maxEvents = 50000

// errTooManyEvents is returned when more than maxEvents events match.
var errTooManyEvents = fmt.Errorf("too many events to sort (more than %d); narrow with -n, --for or --types", maxEvents)

// eventsOptions are the flags of events.
type eventsOptions struct {
	namespace     string
	allNamespaces bool
	forObject     string
	types         []string
	output        string
	noHeaders     bool
	chunkSize     int64
}

// parseEventsFlags parses and validates the flags of events.
func parseEventsFlags(cmd *policy.Command) (eventsOptions, []string, error) {
	var o eventsOptions
	fs := newFlagSet(cmd)
	fs.StringVarP(&o.namespace, "namespace", "n", "default", "namespace")
	fs.BoolVarP(&o.allNamespaces, "all-namespaces", "A", false, "across all namespaces")
	fs.StringVar(&o.forObject, "for", "", "TYPE/NAME")
	fs.StringSliceVar(&o.types, "types", nil, "Normal,Warning")
	fs.StringVarP(&o.output, "output", "o", "", "output format")
	fs.BoolVar(&o.noHeaders, "no-headers", false, "omit headers")
	fs.Int64Var(&o.chunkSize, "chunk-size", DefaultChunkSize, "page size")
	rest, err := applyFlags(fs, cmd)
	if err != nil {
		return o, nil, err
	}
	if o.namespace == "" {
		o.namespace = "default"
	}
	for _, t := range o.types {
		if !strings.EqualFold(t, corev1.EventTypeNormal) && !strings.EqualFold(t, corev1.EventTypeWarning) {
			return o, nil, errors.New("valid --types are Normal or Warning")
		}
	}
	switch o.output {
	case "", outJSON, outYAML, outName:
	default:
		return o, nil, fmt.Errorf("unable to match a printer suitable for the output format %q, allowed formats are: json,name,yaml", o.output)
	}
	if o.chunkSize < 0 {
		return o, nil, fmt.Errorf("invalid --chunk-size %d: must not be negative", o.chunkSize)
	}
	if o.chunkSize == 0 {
		o.chunkSize = DefaultChunkSize
	}
	return o, rest, nil
}

// events implements "kubectl events": core/v1 events of a namespace (or
// all), optionally of one object, oldest first.
func (r *Runner) events(inv *invocation, cmd *policy.Command) error {
	o, args, err := parseEventsFlags(cmd)
	if err != nil {
		return err
	}
	if len(args) > 0 {
		return fmt.Errorf("unexpected arguments %q; use --for TYPE/NAME to select an object", args)
	}
	ns := o.namespace
	if o.allNamespaces {
		ns = ""
	}
	opts := metav1.ListOptions{Limit: o.chunkSize}
	if o.forObject != "" {
		typ, name, err := policy.ParseTypeName(o.forObject)
		if errors.Is(err, policy.ErrNotTypeName) {
			return policy.ErrForNotTypeName
		}
		if err != nil {
			return err
		}
		m, err := r.mappingFor(inv.ctx, strings.ToLower(typ))
		if err != nil {
			return err
		}
		gvk := m.GroupVersionKind
		opts.FieldSelector = fields.AndSelectors(
			fields.OneTermEqualSelector("involvedObject.kind", gvk.Kind),
			fields.OneTermEqualSelector("involvedObject.apiVersion", gvk.GroupVersion().String()),
			fields.OneTermEqualSelector("involvedObject.name", name),
		).String()
	}

	var events []corev1.Event
	for {
		list, err := r.core.CoreV1().Events(ns).List(inv.ctx, opts)
		if err != nil {
			return err
		}
		for _, e := range list.Items {
			if !eventTypeWanted(o.types, e.Type) {
				continue
			}
			e.APIVersion, e.Kind = "v1", "Event"
			events = append(events, e)
		}
		if len(events) > maxEvents {
			return errTooManyEvents
		}
		if opts.Continue = list.Continue; opts.Continue == "" {
			break
		}
	}
	if len(events) == 0 {
		if o.allNamespaces {
			inv.errorf("No events found.")
		} else {
			inv.errorf("No events found in %s namespace.", o.namespace)
		}
		return nil
	}
	sortEvents(events)
	list := &corev1.EventList{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "EventList"}, Items: events}
	inv.setStructured(list)

	switch o.output {
	case outJSON, outYAML:
		var p printers.ResourcePrinter = &printers.JSONPrinter{}
		if o.output == outYAML {
			p = &printers.YAMLPrinter{}
		}
		return p.PrintObj(list, inv.out)
	case outName:
		for _, e := range events {
			fmt.Fprintf(inv.out, "event/%s\n", e.Name)
		}
		return nil
	}

	var buf bytes.Buffer
	printEventTable(&buf, events, o.allNamespaces, o.noHeaders, r.now())
	out, dropped := keepNewest(buf.Bytes(), r.maxOutput, !o.noHeaders)
	if dropped {
		inv.truncated = true
		inv.truncNote = "oldest events omitted"
	}
	_, _ = inv.out.Write(out)
	return nil
}

// eventTypeWanted reports whether an event of type t passes --types.
func eventTypeWanted(types []string, t string) bool {
	if len(types) == 0 {
		return true
	}
	for _, want := range types {
		if strings.EqualFold(want, t) {
			return true
		}
	}
	return false
}

// sortEvents orders events oldest first with kubectl's own sorter
// (events.SortableEvents and sort.Sort): the sort is not stable, and the
// same algorithm on the same API order is what puts events of the same
// second in kubectl's order.
func sortEvents(events []corev1.Event) {
	sort.Sort(kubectlevents.SortableEvents(events))
}

// printEventTable prints events in the columns of kubectl events. It is
// not kubectl's events.EventPrinter, on purpose: that printer reads ages
// from time.Now (the Runner's Config.Clock would not apply, and LAST SEEN
// could not be pinned in tests) and prints a message's line breaks raw,
// which splits one event over several rows of the table (oneLine).
func printEventTable(w io.Writer, events []corev1.Event, allNamespaces, noHeaders bool, now time.Time) {
	tw := printers.GetNewTabWriter(w)
	if !noHeaders {
		if allNamespaces {
			fmt.Fprint(tw, "NAMESPACE\t")
		}
		fmt.Fprint(tw, "LAST SEEN\tTYPE\tREASON\tOBJECT\tMESSAGE\n")
	}
	for _, e := range events {
		if allNamespaces {
			fmt.Fprintf(tw, "%s\t", e.Namespace)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s/%s\t%s\n",
			eventInterval(e, now),
			printers.EscapeTerminal(e.Type),
			printers.EscapeTerminal(e.Reason),
			printers.EscapeTerminal(e.InvolvedObject.Kind),
			printers.EscapeTerminal(e.InvolvedObject.Name),
			printers.EscapeTerminal(oneLine(strings.TrimSpace(e.Message))),
		)
	}
	_ = tw.Flush()
}

// oneLine replaces line breaks, which would break the table, with spaces.
func oneLine(s string) string {
	return strings.NewReplacer("\r\n", " ", "\n", " ", "\r", " ").Replace(s)
}

// eventInterval renders the LAST SEEN column: "5m", or "5m (x3 over 10m)"
// for repeated events.
func eventInterval(e corev1.Event, now time.Time) string {
	first := since(now, e.EventTime.Time)
	if e.EventTime.IsZero() {
		first = since(now, e.FirstTimestamp.Time)
	}
	switch {
	case e.Series != nil:
		return fmt.Sprintf("%s (x%d over %s)", since(now, e.Series.LastObservedTime.Time), e.Series.Count, first)
	case e.Count > 1:
		return fmt.Sprintf("%s (x%d over %s)", since(now, e.LastTimestamp.Time), e.Count, first)
	default:
		return first
	}
}

// since renders the age of t like kubectl, or <unknown> for a zero time.
func since(now, t time.Time) string {
	if t.IsZero() {
		return "<unknown>"
	}
	return duration.HumanDuration(now.Sub(t))
}

// keepNewest fits a table of events, oldest first, into max bytes by
// dropping its oldest rows, since the newest matter most when debugging.
// The header line, if any, is kept. It reports whether rows were dropped.
func keepNewest(table []byte, max int, hasHeader bool) ([]byte, bool) {
	if len(table) <= max {
		return table, false
	}
	var header []byte
	body := table
	if hasHeader {
		if i := bytes.IndexByte(table, '\n'); i >= 0 {
			header, body = table[:i+1], table[i+1:]
		}
	}
	room := max - len(header)
	if room <= 0 {
		return cutAtLine(table[:max]), true
	}
	start := len(body) - room
	if start > 0 && body[start-1] != '\n' {
		// Skip the partial row; if the newest row alone does not fit,
		// keep its end.
		if i := bytes.IndexByte(body[start:], '\n'); i >= 0 && start+i+1 < len(body) {
			start += i + 1
		}
	}
	tail := body[start:]
	out := make([]byte, 0, len(header)+len(tail))
	out = append(out, header...)
	out = append(out, tail...)
	return out, true
}
