package contracts

import (
	"fmt"
	"regexp"
	"sort"
	"strings"
)

// Fleet fan-out: one read or diagnosis sent to many clusters, selected by
// cluster labels or listed, with the results streamed back per cluster
// (POST /v1/fleet/execute and /v1/fleet/diagnose).

// Type strings of the fleet stream's lines (NDJSON) or events (SSE).
const (
	// TypeFleetResult is one cluster's outcome.
	TypeFleetResult = "io.kubently.fleet.v1.result"
	// TypeFleetSummary is the stream's last line: the counts and the
	// reason for every cluster that did not succeed.
	TypeFleetSummary = "io.kubently.fleet.v1.summary"
)

// HeaderFanoutID names the fan-out of a fleet response (its fanout_id).
const HeaderFanoutID = "X-Kubently-Fanout-Id"

// Bounds of fleet requests and cluster labels.
const (
	// MaxClusterLabels bounds the labels of one cluster.
	MaxClusterLabels = 32
	// MaxLabelEdits bounds the label changes of one request.
	MaxLabelEdits = 64
	// MaxSelectorLen bounds a label selector's length in bytes.
	MaxSelectorLen = 1024
	// MaxFleetClusters bounds the clusters one fan-out reaches.
	MaxFleetClusters = 1000
	// DefaultFleetConcurrency is how many clusters a fan-out runs at once
	// when the request gives no concurrency.
	DefaultFleetConcurrency = 32
	// MaxFleetConcurrency bounds a fan-out's concurrency.
	MaxFleetConcurrency = 256
	// MaxFleetOutputBytes bounds the output one cluster's result carries
	// in a fleet stream when the request sets no smaller max_output_bytes.
	MaxFleetOutputBytes = 64 << 10
)

// FleetTarget selects the clusters of a fan-out: a label selector or a
// list of cluster ids, exactly one of them.
type FleetTarget struct {
	// Selector is a label selector in the Kubernetes syntax
	// ("env=prod,region in (eu,us)", "!canary"); empty when Clusters is
	// given.
	Selector string `json:"selector,omitempty"`
	// Clusters lists cluster ids (at most MaxFleetClusters); empty when
	// Selector is given.
	Clusters []string `json:"clusters,omitempty"`
	// Concurrency is how many clusters run at once, 1 to
	// MaxFleetConcurrency; zero means DefaultFleetConcurrency.
	Concurrency int `json:"concurrency,omitempty"`
	// TimeoutSeconds is each cluster's deadline (as timeout_seconds of
	// /v1/execute); zero means the command's default.
	TimeoutSeconds int `json:"timeout_seconds,omitempty"`
	// MaxOutputBytes cuts each cluster's output in the stream (marked
	// truncated); zero means MaxFleetOutputBytes, the most allowed.
	MaxOutputBytes int `json:"max_output_bytes,omitempty"`
}

// Validate checks the target's shape (not the selector's syntax, which
// the gateway parses): exactly one of Selector and Clusters, valid and
// not too many cluster ids, concurrency and output bounds.
func (t FleetTarget) Validate() error {
	switch {
	case t.Selector == "" && len(t.Clusters) == 0:
		return Errorf(CodeBadRequest, "give selector or clusters: which clusters to reach")
	case t.Selector != "" && len(t.Clusters) > 0:
		return Errorf(CodeBadRequest, "give selector or clusters, not both")
	case len(t.Selector) > MaxSelectorLen:
		return Errorf(CodeBadRequest, "selector is %d bytes: at most %d", len(t.Selector), MaxSelectorLen)
	case len(t.Clusters) > MaxFleetClusters:
		return Errorf(CodeBadRequest, "%d clusters: at most %d per fan-out", len(t.Clusters), MaxFleetClusters)
	case t.Concurrency < 0 || t.Concurrency > MaxFleetConcurrency:
		return Errorf(CodeBadRequest, "concurrency %d out of range [1, %d] (0 means %d)", t.Concurrency, MaxFleetConcurrency, DefaultFleetConcurrency)
	case t.MaxOutputBytes < 0 || t.MaxOutputBytes > MaxFleetOutputBytes:
		return Errorf(CodeBadRequest, "max_output_bytes %d out of range [1, %d] (0 means %d)", t.MaxOutputBytes, MaxFleetOutputBytes, MaxFleetOutputBytes)
	}
	for _, c := range t.Clusters {
		if err := ValidateID("cluster", c); err != nil {
			return err
		}
	}
	if _, err := ValidateTimeout(t.TimeoutSeconds); err != nil {
		return err
	}
	return nil
}

// FleetExecuteRequest is the body of POST /v1/fleet/execute: one read
// command run on every selected cluster.
type FleetExecuteRequest struct {
	FleetTarget
	// Argv is the command, as for /v1/execute; or Command, one line.
	Argv    []string `json:"argv,omitempty"`
	Command string   `json:"command,omitempty"`
	// Namespace appends -n NS unless the command names one.
	Namespace string `json:"namespace,omitempty"`
}

// FleetDiagnoseRequest is the body of POST /v1/fleet/diagnose: a diagnosis
// of the same namespaces on every selected cluster.
type FleetDiagnoseRequest struct {
	FleetTarget
	// Namespace, Namespaces or AllNamespaces, as for /v1/diagnose.
	Namespace     string   `json:"namespace,omitempty"`
	Namespaces    []string `json:"namespaces,omitempty"`
	AllNamespaces bool     `json:"all_namespaces,omitempty"`
}

// FleetOutcome is how one cluster of a fan-out ended.
type FleetOutcome string

// Fleet outcomes.
const (
	// FleetSucceeded: the command ran and exited 0 (a diagnosis ran).
	FleetSucceeded FleetOutcome = "succeeded"
	// FleetFailed: the command ran and failed (non-zero exit), or the
	// executor or a service reported an error.
	FleetFailed FleetOutcome = "failed"
	// FleetDenied: refused by role, scopes, rate limit or policy.
	FleetDenied FleetOutcome = "denied"
	// FleetUnreachable: no executor connected, unknown or revoked cluster.
	FleetUnreachable FleetOutcome = "unreachable"
	// FleetTimedOut: the cluster's deadline passed first.
	FleetTimedOut FleetOutcome = "timed_out"
)

// FleetResult is one cluster's outcome in a fleet stream.
type FleetResult struct {
	// Type is TypeFleetResult.
	Type string `json:"type"`
	// FanoutID names the fan-out; every audit record of it carries it.
	FanoutID string `json:"fanout_id"`
	// Cluster is the cluster id.
	Cluster string `json:"cluster_id"`
	// Outcome is how it ended; Reason the machine-readable why (a policy
	// reason or error code) when it did not succeed, Message the human
	// one.
	Outcome FleetOutcome `json:"outcome"`
	Reason  string       `json:"reason,omitempty"`
	Message string       `json:"message,omitempty"`
	// Result is the command's result (fleet execute), its output cut at
	// the request's max_output_bytes; nil when the command never ran.
	Result *CommandResult `json:"result,omitempty"`
	// Report is the diagnosis (fleet diagnose); nil when it did not run.
	Report *DiagnoseReport `json:"report,omitempty"`
	// DurationMS is how long the cluster took, as the gateway saw it.
	DurationMS int64 `json:"duration_ms"`
	// Done and Total are the progress after this result.
	Done  int `json:"done"`
	Total int `json:"total"`
}

// FleetFailure names one cluster that did not succeed, in a summary.
type FleetFailure struct {
	Cluster string       `json:"cluster_id"`
	Outcome FleetOutcome `json:"outcome"`
	Reason  string       `json:"reason,omitempty"`
	Message string       `json:"message,omitempty"`
}

// FleetSummary ends a fleet stream.
type FleetSummary struct {
	// Type is TypeFleetSummary.
	Type     string `json:"type"`
	FanoutID string `json:"fanout_id"`
	// Total is the number of clusters selected; the others count them by
	// outcome and add up to Total.
	Total       int `json:"total"`
	Succeeded   int `json:"succeeded"`
	Failed      int `json:"failed"`
	Denied      int `json:"denied"`
	Unreachable int `json:"unreachable"`
	TimedOut    int `json:"timed_out"`
	// Failures lists every cluster that did not succeed, sorted by id.
	Failures []FleetFailure `json:"failures"`
	// DurationMS is the fan-out's wall time.
	DurationMS int64 `json:"duration_ms"`
}

// Add counts r into the summary.
func (s *FleetSummary) Add(r FleetResult) {
	switch r.Outcome {
	case FleetSucceeded:
		s.Succeeded++
		return
	case FleetDenied:
		s.Denied++
	case FleetUnreachable:
		s.Unreachable++
	case FleetTimedOut:
		s.TimedOut++
	default:
		s.Failed++
	}
	s.Failures = append(s.Failures, FleetFailure{Cluster: r.Cluster, Outcome: r.Outcome, Reason: r.Reason, Message: r.Message})
	sort.Slice(s.Failures, func(i, j int) bool { return s.Failures[i].Cluster < s.Failures[j].Cluster })
}

// ClusterLabelRequest is the body of POST /v1/clusters/{cluster}/labels:
// labels to set and label keys to remove, applied at once.
type ClusterLabelRequest struct {
	// Set maps keys to values to set (added or replaced).
	Set map[string]string `json:"set,omitempty"`
	// Remove lists keys to remove; a key not present is no error.
	Remove []string `json:"remove,omitempty"`
}

// Validate checks every key and value and the number of edits.
func (r ClusterLabelRequest) Validate() error {
	if len(r.Set)+len(r.Remove) == 0 {
		return Errorf(CodeBadRequest, "no label changes: give set or remove")
	}
	if len(r.Set)+len(r.Remove) > MaxLabelEdits {
		return Errorf(CodeBadRequest, "%d label changes: at most %d", len(r.Set)+len(r.Remove), MaxLabelEdits)
	}
	for k, v := range r.Set {
		if err := ValidateLabel(k, v); err != nil {
			return err
		}
	}
	for _, k := range r.Remove {
		if err := ValidateLabelKey(k); err != nil {
			return err
		}
		if _, ok := r.Set[k]; ok {
			return Errorf(CodeBadRequest, "label %q is both set and removed", k)
		}
	}
	return nil
}

var (
	labelNameRE   = regexp.MustCompile(`^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$`)
	labelPrefixRE = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$`)
)

// ValidateLabelKey checks a label key by the Kubernetes rules: an optional
// DNS-subdomain prefix (at most 253 bytes) and "/", then a name of 1-63
// alphanumerics, '-', '_' or '.', starting and ending alphanumeric.
func ValidateLabelKey(k string) error {
	name, prefix := k, ""
	if i := strings.LastIndexByte(k, '/'); i >= 0 {
		prefix, name = k[:i], k[i+1:]
		if prefix == "" || len(prefix) > 253 || !labelPrefixRE.MatchString(prefix) {
			return Errorf(CodeBadRequest, "label key %q: the prefix must be a DNS subdomain of at most 253 characters", truncate(k, 80))
		}
	}
	if name == "" || len(name) > 63 || !labelNameRE.MatchString(name) {
		return Errorf(CodeBadRequest, "label key %q: the name must be 1-63 characters of [A-Za-z0-9-_.], starting and ending alphanumeric", truncate(k, 80))
	}
	return nil
}

// ValidateLabel checks a label key and value by the Kubernetes rules; the
// value is empty or up to 63 characters like a key's name.
func ValidateLabel(k, v string) error {
	if err := ValidateLabelKey(k); err != nil {
		return err
	}
	if v != "" && (len(v) > 63 || !labelNameRE.MatchString(v)) {
		return Errorf(CodeBadRequest, "label %s value %q: want at most 63 characters of [A-Za-z0-9-_.], starting and ending alphanumeric", k, truncate(v, 80))
	}
	return nil
}

// ValidateLabels checks a whole label set: each label and their number.
func ValidateLabels(labels map[string]string) error {
	if len(labels) > MaxClusterLabels {
		return Errorf(CodeBadRequest, "%d labels: at most %d per cluster", len(labels), MaxClusterLabels)
	}
	for k, v := range labels {
		if err := ValidateLabel(k, v); err != nil {
			return err
		}
	}
	return nil
}

// FormatLabels renders labels as k=v pairs sorted by key, comma-separated
// ("" for none).
func FormatLabels(labels map[string]string) string {
	keys := make([]string, 0, len(labels))
	for k := range labels {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	for i, k := range keys {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, "%s=%s", k, labels[k])
	}
	return b.String()
}
