package contracts

import (
	"fmt"
	"io"
	"strings"
)

// TypeDiagnoseReport is the type string of a DiagnoseReport: the
// Structured form of a diagnose command's result and the body of
// POST /v1/diagnose.
const TypeDiagnoseReport = "io.kubently.diagnose.v1.report"

// Severity ranks a Finding.
type Severity string

// Severities, most urgent first.
const (
	// SeverityCritical: something does not run or does not serve.
	SeverityCritical Severity = "critical"
	// SeverityWarning: degraded or at risk (restarts, a stuck rollout
	// with the old version still serving, a blocking budget).
	SeverityWarning Severity = "warning"
	// SeverityInfo: worth knowing, not broken (a suspended CronJob, a
	// cordoned node).
	SeverityInfo Severity = "info"
)

// Rank orders severities: 0 for critical, 1 warning, 2 info, 3 unknown.
func (s Severity) Rank() int {
	switch s {
	case SeverityCritical:
		return 0
	case SeverityWarning:
		return 1
	case SeverityInfo:
		return 2
	}
	return 3
}

// ObjectRef names one Kubernetes object.
type ObjectRef struct {
	Kind      string `json:"kind"`
	Namespace string `json:"namespace,omitempty"`
	Name      string `json:"name"`
}

// String is kind/name, with the namespace first when set: "shop/Deployment/cart".
func (o ObjectRef) String() string {
	if o.Namespace == "" {
		return o.Kind + "/" + o.Name
	}
	return o.Namespace + "/" + o.Kind + "/" + o.Name
}

// Evidence is one fact a Finding rests on: a field of an object, an event,
// or matching lines of a container log. Secret values are never evidence.
type Evidence struct {
	// Source is "field", "event" or "log".
	Source string `json:"source"`
	// Object is the object the fact is about ("Pod/cart-6d64f7c9b7-ztlpn").
	Object string `json:"object"`
	// Field is the field path, the event reason, or the container whose
	// log was searched.
	Field string `json:"field,omitempty"`
	// Value is the field's value, the event message (with its count), or
	// the matching log lines.
	Value string `json:"value"`
}

// Finding is one root cause found by a diagnosis: a workload, its
// ReplicaSets and its pods with one problem are one Finding.
type Finding struct {
	// ID is stable across runs for the same problem: rule, namespace,
	// kind and name ("crashloop/shop/Deployment/cart").
	ID string `json:"id"`
	// Rule is the rule that fired (crashloop, image_pull, …; see
	// docs/diagnose.md).
	Rule string `json:"rule"`
	// Cause classifies the problem within the rule (image_not_found,
	// node_selector_mismatch, BackoffLimitExceeded, …); empty when the
	// rule has one cause.
	Cause    string   `json:"cause,omitempty"`
	Severity Severity `json:"severity"`
	// Object is the root object: the top owner of the affected pods (a
	// Deployment, a CronJob) or the object the rule is about.
	Object ObjectRef `json:"object"`
	// Title is one line saying what is wrong.
	Title string `json:"title"`
	// Explanation says, in plain language, what it means and why.
	Explanation string `json:"explanation"`
	// Pods are the affected pods (at most 20 names); PodCount counts all.
	Pods     []string `json:"pods,omitempty"`
	PodCount int      `json:"pod_count,omitempty"`
	// Related are other objects involved (ReplicaSets, Services, PVCs).
	Related  []ObjectRef `json:"related,omitempty"`
	Evidence []Evidence  `json:"evidence"`
	// Next are read commands to run through Kubently next, as command
	// lines for `kubently exec CLUSTER -- …` (never a write).
	Next []string `json:"next"`
}

// DiagnoseReport is the result of one diagnosis of one cluster.
type DiagnoseReport struct {
	Type string `json:"type"`
	// Cluster is the cluster diagnosed; set by the gateway.
	Cluster string `json:"cluster_id,omitempty"`
	// Namespaces lists the namespaces diagnosed; empty with AllNamespaces.
	Namespaces    []string `json:"namespaces,omitempty"`
	AllNamespaces bool     `json:"all_namespaces,omitempty"`
	// Findings, most severe first.
	Findings []Finding `json:"findings"`
	// Skipped lists what was not read and why (a kind the policy profile
	// restricts, the executor may not list, or the cluster does not serve).
	Skipped []string `json:"skipped,omitempty"`
	// Truncated is set when findings or lists were cut at their caps.
	Truncated bool `json:"truncated,omitempty"`
	// APICalls counts the requests the executor made to the API server.
	APICalls int `json:"api_calls"`
	// DurationMS is the time the executor spent.
	DurationMS int64 `json:"duration_ms"`
	// CommandIDs are the commands that produced the report (one per
	// namespace of a list); set by the gateway.
	CommandIDs []string `json:"command_ids,omitempty"`
}

// Merge adds o's findings, skips and counters to r (one report for a
// list of namespaces) and keeps findings most severe first.
func (r *DiagnoseReport) Merge(o DiagnoseReport) {
	r.Findings = append(r.Findings, o.Findings...)
	r.Skipped = append(r.Skipped, o.Skipped...)
	r.Truncated = r.Truncated || o.Truncated
	r.APICalls += o.APICalls
	r.DurationMS += o.DurationMS
	SortFindings(r.Findings)
}

// SortFindings orders findings by severity, then namespace, object and rule.
func SortFindings(fs []Finding) {
	less := func(a, b Finding) bool {
		if a.Severity.Rank() != b.Severity.Rank() {
			return a.Severity.Rank() < b.Severity.Rank()
		}
		if a.Object.Namespace != b.Object.Namespace {
			return a.Object.Namespace < b.Object.Namespace
		}
		if a.Object.Kind != b.Object.Kind {
			return a.Object.Kind < b.Object.Kind
		}
		if a.Object.Name != b.Object.Name {
			return a.Object.Name < b.Object.Name
		}
		return a.Rule < b.Rule
	}
	// Insertion sort: reports hold few findings, and the order is stable.
	for i := 1; i < len(fs); i++ {
		for j := i; j > 0 && less(fs[j], fs[j-1]); j-- {
			fs[j], fs[j-1] = fs[j-1], fs[j]
		}
	}
}

// WriteText writes r as a readable report grouped by severity. cluster
// goes into the suggested commands ("kubently exec CLUSTER -- …"); empty
// means r.Cluster, and "CLUSTER" when that is empty too.
func (r *DiagnoseReport) WriteText(w io.Writer, cluster string) error {
	if cluster == "" {
		cluster = r.Cluster
	}
	if cluster == "" {
		cluster = "CLUSTER"
	}
	var b strings.Builder
	scope := "all namespaces"
	if !r.AllNamespaces {
		scope = "namespace " + strings.Join(r.Namespaces, ", ")
		if len(r.Namespaces) > 1 {
			scope = "namespaces " + strings.Join(r.Namespaces, ", ")
		}
	}
	counts := map[Severity]int{}
	for _, f := range r.Findings {
		counts[f.Severity]++
	}
	if len(r.Findings) == 0 {
		fmt.Fprintf(&b, "No problems found in %s (%d API calls, %d ms).\n", scope, r.APICalls, r.DurationMS)
	} else {
		fmt.Fprintf(&b, "%d finding(s) in %s: %d critical, %d warning, %d info (%d API calls, %d ms)\n",
			len(r.Findings), scope, counts[SeverityCritical], counts[SeverityWarning], counts[SeverityInfo], r.APICalls, r.DurationMS)
	}
	for i, f := range r.Findings {
		fmt.Fprintf(&b, "\n%d. [%s] %s\n", i+1, strings.ToUpper(string(f.Severity)), f.Title)
		rule := f.Rule
		if f.Cause != "" {
			rule += " / " + f.Cause
		}
		fmt.Fprintf(&b, "   %s   rule: %s\n", f.Object, rule)
		if f.Explanation != "" {
			fmt.Fprintf(&b, "   %s\n", f.Explanation)
		}
		if len(f.Pods) > 0 {
			more := ""
			if f.PodCount > len(f.Pods) {
				more = fmt.Sprintf(" (and %d more)", f.PodCount-len(f.Pods))
			}
			fmt.Fprintf(&b, "   pods: %s%s\n", strings.Join(f.Pods, ", "), more)
		}
		if len(f.Related) > 0 {
			rel := make([]string, len(f.Related))
			for j, o := range f.Related {
				rel[j] = o.Kind + "/" + o.Name
			}
			fmt.Fprintf(&b, "   related: %s\n", strings.Join(rel, ", "))
		}
		if len(f.Evidence) > 0 {
			b.WriteString("   evidence:\n")
			for _, e := range f.Evidence {
				field := e.Field
				if field != "" {
					field = " " + field
				}
				val := strings.ReplaceAll(e.Value, "\n", "\n        | ")
				fmt.Fprintf(&b, "     - %s %s%s: %s\n", e.Source, e.Object, field, val)
			}
		}
		if len(f.Next) > 0 {
			b.WriteString("   next:\n")
			for _, n := range f.Next {
				fmt.Fprintf(&b, "     kubently exec %s -- %s\n", cluster, n)
			}
		}
	}
	if len(r.Skipped) > 0 {
		fmt.Fprintf(&b, "\nnot read: %s\n", strings.Join(r.Skipped, "; "))
	}
	if r.Truncated {
		b.WriteString("\nnote: the report was cut at its caps; diagnose one namespace at a time for the rest\n")
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// DiagnoseRequest is the body of POST /v1/diagnose.
type DiagnoseRequest struct {
	Cluster string `json:"cluster_id"`
	// Namespace or Namespaces (at most MaxDiagnoseNamespaces) or
	// AllNamespaces; none of them means the namespace "default".
	Namespace      string   `json:"namespace,omitempty"`
	Namespaces     []string `json:"namespaces,omitempty"`
	AllNamespaces  bool     `json:"all_namespaces,omitempty"`
	TimeoutSeconds int      `json:"timeout_seconds,omitempty"`
}

// MaxDiagnoseNamespaces bounds DiagnoseRequest.Namespaces.
const MaxDiagnoseNamespaces = 50

// DefaultDiagnoseTimeoutSeconds is the timeout of a diagnose command when
// the request gives none.
const DefaultDiagnoseTimeoutSeconds = 60
