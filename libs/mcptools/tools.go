package mcptools

import (
	"context"
	"encoding/json"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"kubently.io/libs/contracts"
)

// tools registers every tool; a command tool is one row: its description,
// its paging and the func that builds its argv.
var tools = []func(*mcp.Server, *server){
	addClustersList,
	command(commandRun, commandSpec{}, runArgv),
	command(resourcesList, commandSpec{header: true}, listArgv),
	command(resourcesGet, commandSpec{}, getArgv),
	command(resourcesDescribe, commandSpec{}, describeArgv),
	command(podsLog, commandSpec{}, logArgv),
	command(eventsList, commandSpec{header: true}, eventsArgv),
	command(podsTop, commandSpec{header: true}, topPodsArgv),
	command(nodesTop, commandSpec{header: true}, topNodesArgv),
	command(rolloutHistory, commandSpec{}, rolloutArgv("history")),
	command(rolloutStatus, commandSpec{}, rolloutArgv("status")),
	command(apiResources, commandSpec{header: true}, apiResourcesArgv),
	command(explain, commandSpec{}, explainArgv),
	command(diagnose, commandSpec{}, diagnoseArgv),
}

// Input bounds, checked before anything is sent (the policy checks again).
const (
	maxNameLen     = 253
	maxSelectorLen = 1024
	maxGrepLen     = 512
)

var (
	// nameRE: kinds (pods, deploy, deployments.apps), names, kind/name,
	// namespaces; never a flag.
	nameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._/:-]*$`)
	// durationRE: --since values (5m, 1h30m, 10s).
	durationRE = regexp.MustCompile(`^[0-9]+(h|m|s)([0-9]+(m|s))?([0-9]+s)?$`)
)

func badArg(format string, args ...any) error {
	return contracts.Errorf(contracts.CodeBadRequest, format, args...)
}

// name checks one positional value (a kind, a name, kind/name).
func name(what, v string, required bool) error {
	switch {
	case v == "" && required:
		return badArg("%s is required", what)
	case v == "":
		return nil
	case len(v) > maxNameLen || !nameRE.MatchString(v):
		return badArg("%s %q: want a Kubernetes name (letters, digits, '.', '-', '/', ':'), not a flag", what, clip(v, 80))
	}
	return nil
}

// argv builds a command's argv; the first error sticks and ends it.
type argv struct {
	words []string
	err   error
}

func cmd(words ...string) *argv { return &argv{words: words} }

// check keeps the first of errs that is not nil (checks in order).
func (a *argv) check(errs ...error) *argv {
	for _, err := range errs {
		if a.err == nil {
			a.err = err
		}
	}
	return a
}

// add appends words when cond holds.
func (a *argv) add(cond bool, words ...string) *argv {
	if cond && a.err == nil {
		a.words = append(a.words, words...)
	}
	return a
}

// scope appends the namespace flags: -n NS, or -A.
func (a *argv) scope(ns string, all bool) *argv {
	if ns != "" && all {
		return a.check(badArg("give namespace or all_namespaces, not both"))
	}
	return a.check(name("namespace", ns, false)).
		add(ns != "", "--namespace="+ns).
		add(ns == "" && all, "--all-namespaces")
}

// flag appends --name=value when value is set, bounded to n bytes.
func (a *argv) flag(flagName, value string, n int) *argv {
	if len(value) > n {
		return a.check(badArg("%s is %d bytes, at most %d allowed", flagName, len(value), n))
	}
	return a.add(value != "", "--"+flagName+"="+value)
}

// done returns the argv, or the first error.
func (a *argv) done() ([]string, error) {
	if a.err != nil {
		return nil, a.err
	}
	return a.words, nil
}

// errIf is a bad-argument error when cond holds.
func errIf(cond bool, format string, args ...any) error {
	if cond {
		return badArg(format, args...)
	}
	return nil
}

// ---- clusters_list

// ClustersInput is clusters_list's input.
type ClustersInput struct {
	// MaxBytes is the answer's budget; zero means DefaultMaxBytes.
	MaxBytes int `json:"max_bytes,omitempty" jsonschema:"the most bytes the answer may hold (default 32768)"`
}

// ClustersOutput is clusters_list's structured content.
type ClustersOutput struct {
	// Clusters are the clusters in the caller's scopes that fit the
	// budget.
	Clusters []Cluster `json:"clusters"`
	// Count is how many there are in all.
	Count int `json:"count"`
	// Truncated reports that some did not fit.
	Truncated bool `json:"truncated"`
}

func (in ClustersInput) maxBytes() int { return in.MaxBytes }

func addClustersList(srv *mcp.Server, s *server) {
	runTool(srv, s, mcp.Tool{Name: "clusters_list", Title: "List clusters",
		Description: "List the Kubernetes clusters your key may read, with presence: connected (an executor is connected now), executors, last seen. Start here; other tools take cluster."},
		func(ctx context.Context, _ ClustersInput, budget int) (*mcp.CallToolResult, ClustersOutput, error) {
			cs, err := s.cfg.Backend.Clusters(ctx)
			if err != nil {
				return nil, ClustersOutput{}, err
			}
			return clustersAnswer(cs, budget)
		}, func(_ ClustersInput, _ ClustersOutput, err error, _ int) (*mcp.CallToolResult, ClustersOutput, error) {
			res, _, _ := s.reject(Output{}, err, MinMaxBytes)
			return res, ClustersOutput{Clusters: []Cluster{}}, nil
		})
}

// clustersAnswer renders the clusters as a table and keeps as many as fit
// the budget (each costs its row and its JSON).
func clustersAnswer(cs []Cluster, budget int) (*mcp.CallToolResult, ClustersOutput, error) {
	var b strings.Builder
	w := tabwriter.NewWriter(&b, 0, 8, 3, ' ', 0)
	fmt.Fprintln(w, "CLUSTER\tCONNECTED\tEXECUTORS\tLAST SEEN")
	for _, c := range cs {
		seen := "never"
		if c.LastSeen != nil {
			seen = c.LastSeen.UTC().Format(time.RFC3339)
		}
		fmt.Fprintf(w, "%s\t%t\t%d\t%s\n", c.ID, c.Connected, c.Executors, seen)
	}
	_ = w.Flush()
	lines := strings.SplitAfter(b.String(), "\n")
	out := ClustersOutput{Clusters: []Cluster{}, Count: len(cs)}
	const reserve = 128 // the note, the JSON envelope
	used := len(lines[0]) + reserve
	text := lines[0]
	for i, c := range cs {
		j, _ := json.Marshal(c)
		if used+len(lines[i+1])+len(j)+1 > budget {
			out.Truncated = true
			text += fmt.Sprintf("(%d more clusters; raise max_bytes)\n", len(cs)-i)
			break
		}
		used += len(lines[i+1]) + len(j) + 1
		text += lines[i+1]
		out.Clusters = append(out.Clusters, c)
	}
	return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: text}}}, out, nil
}

// ---- command_run

// RunInput is command_run's input.
type RunInput struct {
	Target
	// Argv is the command without "kubectl".
	Argv []string `json:"argv" jsonschema:"the read-only kubectl command as an argv list without 'kubectl', e.g. [\"get\",\"pods\",\"-n\",\"demo\",\"-o\",\"wide\"]"`
	// Namespace is added as -n unless argv names one.
	Namespace string `json:"namespace,omitempty" jsonschema:"namespace to add as -n unless argv names one"`
}

var commandRun = mcp.Tool{Name: "command_run", Title: "Run a read-only kubectl command",
	Description: "Run any read-only kubectl-style command Kubently's policy allows, given as argv (get, describe, logs, events, top, rollout history|status, api-resources, api-versions, version, cluster-info, explain, auth can-i). " +
		"Prefer the dedicated tools where one fits. Example: {\"cluster\":\"prod\",\"argv\":[\"get\",\"deploy\",\"-n\",\"shop\",\"-o\",\"wide\"]}."}

func runArgv(in RunInput) ([]string, error) {
	if len(in.Argv) == 0 {
		return nil, badArg("argv is required, e.g. [\"get\",\"pods\"]")
	}
	if err := contracts.ValidateArgv(in.Argv); err != nil {
		return nil, err
	}
	a := cmd(append([]string(nil), in.Argv...)...)
	if in.Namespace == "" || namesNamespace(a.words) {
		return a.done()
	}
	return a.scope(in.Namespace, false).done()
}

// namesNamespace reports whether argv already names a namespace or all.
func namesNamespace(argv []string) bool {
	for _, a := range argv {
		if a == "--" {
			break
		}
		if a == "-n" || a == "--namespace" || a == "-A" || a == "--all-namespaces" ||
			strings.HasPrefix(a, "--namespace=") || (strings.HasPrefix(a, "-n") && !strings.HasPrefix(a, "--")) {
			return true
		}
	}
	return false
}

// ---- resources_list

// ListInput is resources_list's input.
type ListInput struct {
	Target
	// Kind is the resource type.
	Kind string `json:"kind" jsonschema:"the resource type, e.g. pods, deployments, svc, nodes, certificates.cert-manager.io"`
	// Namespace limits the list; empty is the executor's default.
	Namespace string `json:"namespace,omitempty" jsonschema:"namespace to list in"`
	// AllNamespaces lists across namespaces.
	AllNamespaces bool `json:"all_namespaces,omitempty" jsonschema:"list across all namespaces"`
	// LabelSelector filters by labels.
	LabelSelector string `json:"label_selector,omitempty" jsonschema:"label selector, e.g. app=web,tier!=cache"`
	// FieldSelector filters by fields.
	FieldSelector string `json:"field_selector,omitempty" jsonschema:"field selector, e.g. status.phase!=Running"`
	// Output is table (default), wide or name.
	Output string `json:"output,omitempty" jsonschema:"table (default), wide or name"`
	// Limit bounds the rows of one page.
	Limit int `json:"limit,omitempty" jsonschema:"the most rows in one page (1-10000); with continue, read the rest page by page"`
}

var resourcesList = mcp.Tool{Name: "resources_list", Title: "List resources",
	Description: "List resources of one kind as a kubectl table (get KIND), filtered by namespace, label and field selectors. Pages: limit and max_bytes bound a page; truncated=true comes with a continue token for the next. " +
		"Example: {\"cluster\":\"prod\",\"kind\":\"pods\",\"namespace\":\"shop\",\"field_selector\":\"status.phase!=Running\"}."}

func listArgv(in ListInput) ([]string, error) {
	return cmd("get", in.Kind).
		check(name("kind", in.Kind, true),
			errIf(strings.Contains(in.Kind, "/") || strings.Contains(in.Kind, ","), "kind %q: name one resource type (use resources_get for one object)", in.Kind),
			errIf(in.Limit < 0 || in.Limit > 10000, "limit %d is out of range [1, 10000]", in.Limit)).
		scope(in.Namespace, in.AllNamespaces).
		flag("selector", in.LabelSelector, maxSelectorLen).
		flag("field-selector", in.FieldSelector, maxSelectorLen).
		check(errIf(in.Output != "" && in.Output != "table" && in.Output != "wide" && in.Output != "name", "output %q: want table, wide or name", in.Output)).
		add(in.Output == "wide" || in.Output == "name", "--output="+in.Output).
		done()
}

// ---- resources_get

// GetInput is resources_get's input.
type GetInput struct {
	Target
	// Kind is the resource type.
	Kind string `json:"kind" jsonschema:"the resource type, e.g. deployment, pod, configmap"`
	// Name is the object's name.
	Name string `json:"name" jsonschema:"the object's name"`
	// Namespace is the object's namespace (empty for cluster-scoped kinds).
	Namespace string `json:"namespace,omitempty" jsonschema:"the object's namespace; omit for cluster-scoped kinds"`
	// Output is yaml (default) or json.
	Output string `json:"output,omitempty" jsonschema:"yaml (default) or json"`
}

var resourcesGet = mcp.Tool{Name: "resources_get", Title: "Get one resource",
	Description: "Get one object as YAML (default) or JSON, managed fields dropped and Secret values redacted. Example: {\"cluster\":\"prod\",\"kind\":\"deployment\",\"name\":\"web\",\"namespace\":\"shop\"}."}

func getArgv(in GetInput) ([]string, error) {
	out := in.Output
	if out == "" {
		out = "yaml"
	}
	return cmd("get", in.Kind, in.Name, "--output="+out).
		check(name("kind", in.Kind, true), name("name", in.Name, true),
			errIf(out != "yaml" && out != "json", "output %q: want yaml or json", in.Output)).
		scope(in.Namespace, false).
		done()
}

// ---- resources_describe

// DescribeInput is resources_describe's input.
type DescribeInput struct {
	Target
	// Kind is the resource type.
	Kind string `json:"kind" jsonschema:"the resource type, e.g. pod, deployment, node"`
	// Name is the object's name (or a name prefix, as kubectl describe
	// takes); empty with LabelSelector describes the matching objects.
	Name string `json:"name,omitempty" jsonschema:"the object's name; omit to describe all matching label_selector"`
	// Namespace is the objects' namespace.
	Namespace string `json:"namespace,omitempty" jsonschema:"the namespace"`
	// LabelSelector selects objects when Name is empty.
	LabelSelector string `json:"label_selector,omitempty" jsonschema:"label selector, when name is omitted"`
}

var resourcesDescribe = mcp.Tool{Name: "resources_describe", Title: "Describe resources",
	Description: "kubectl describe: an object's state, conditions and recent events in prose. Example: {\"cluster\":\"prod\",\"kind\":\"pod\",\"name\":\"web-7d4b9\",\"namespace\":\"shop\"}."}

func describeArgv(in DescribeInput) ([]string, error) {
	return cmd("describe", in.Kind).
		check(name("kind", in.Kind, true), name("name", in.Name, false),
			errIf(in.Name == "" && in.LabelSelector == "", "give name or label_selector")).
		add(in.Name != "", in.Name).
		scope(in.Namespace, false).
		flag("selector", in.LabelSelector, maxSelectorLen).
		done()
}

// ---- pods_log

// LogInput is pods_log's input.
type LogInput struct {
	Target
	// Name is a pod, or a workload as kind/name (deploy/web).
	Name string `json:"name" jsonschema:"a pod name, or a workload as kind/name, e.g. deploy/web, statefulset/db, job/backup"`
	// Namespace is the pod's namespace.
	Namespace string `json:"namespace,omitempty" jsonschema:"the pod's namespace"`
	// Container picks a container.
	Container string `json:"container,omitempty" jsonschema:"the container; default the pod's default container"`
	// Previous reads the previous (crashed) container's log.
	Previous bool `json:"previous,omitempty" jsonschema:"the previous instance's log: why a CrashLoopBackOff container died"`
	// Tail is how many last lines to read; zero means 500.
	Tail int `json:"tail,omitempty" jsonschema:"read only the last N lines (default 500; -1 for all the executor allows)"`
	// Since reads only newer lines (5m, 1h).
	Since string `json:"since,omitempty" jsonschema:"only lines newer than this duration, e.g. 10m, 2h"`
	// Grep keeps only matching lines; the search runs in the cluster.
	Grep string `json:"grep,omitempty" jsonschema:"keep only lines containing this text (searched inside the cluster, so only matches travel)"`
	// GrepRegex treats Grep as an RE2 regular expression.
	GrepRegex bool `json:"grep_regex,omitempty" jsonschema:"treat grep as an RE2 regular expression"`
	// GrepContext adds lines around each match.
	GrepContext int `json:"grep_context,omitempty" jsonschema:"lines of context around each match (0-10)"`
	// IgnoreCase makes Grep case-insensitive.
	IgnoreCase bool `json:"ignore_case,omitempty" jsonschema:"case-insensitive grep"`
}

var podsLog = mcp.Tool{Name: "pods_log", Title: "Read logs",
	Description: "Read a pod's or workload's log (kubectl logs), bounded by tail and since, optionally searched inside the cluster with grep (plain or grep_regex, with grep_context lines). " +
		"Example: {\"cluster\":\"prod\",\"name\":\"deploy/web\",\"namespace\":\"shop\",\"grep\":\"error\",\"ignore_case\":true,\"grep_context\":2}."}

func logArgv(in LogInput) ([]string, error) {
	tail := in.Tail
	if tail == 0 {
		tail = 500
	}
	grep := in.Grep != ""
	return cmd("logs", in.Name, "--tail="+strconv.Itoa(tail)).
		check(name("name", in.Name, true), name("container", in.Container, false),
			errIf(in.Tail < -1 || in.Tail > 100000, "tail %d is out of range [-1, 100000]", in.Tail),
			errIf(in.Since != "" && !durationRE.MatchString(in.Since), "since %q: want a duration such as 30s, 10m or 2h", clip(in.Since, 40)),
			errIf(in.GrepContext < 0 || in.GrepContext > 10, "grep_context %d is out of range [0, 10]", in.GrepContext),
			errIf(!grep && (in.GrepRegex || in.GrepContext > 0 || in.IgnoreCase), "grep_regex, grep_context and ignore_case need grep")).
		add(in.Container != "", "--container="+in.Container).
		add(in.Previous, "--previous").
		add(in.Since != "", "--since="+in.Since).
		flag("grep", in.Grep, maxGrepLen).
		add(grep && in.GrepRegex, "--grep-regex").
		add(grep && in.GrepContext > 0, "--grep-context="+strconv.Itoa(in.GrepContext)).
		add(grep && in.IgnoreCase, "--ignore-case").
		scope(in.Namespace, false).
		done()
}

// ---- events_list

// EventsInput is events_list's input.
type EventsInput struct {
	Target
	// Namespace limits the events.
	Namespace string `json:"namespace,omitempty" jsonschema:"namespace of the events"`
	// AllNamespaces lists events of every namespace.
	AllNamespaces bool `json:"all_namespaces,omitempty" jsonschema:"events of all namespaces"`
	// For limits the events to one object (kind/name).
	For string `json:"for,omitempty" jsonschema:"only events about this object, as kind/name, e.g. pod/web-7d4b9"`
	// Types filters by type (Normal, Warning).
	Types string `json:"types,omitempty" jsonschema:"comma-separated event types, e.g. Warning"`
}

var typesRE = regexp.MustCompile(`^(Normal|Warning)(,(Normal|Warning))?$`)

var eventsList = mcp.Tool{Name: "events_list", Title: "List events",
	Description: "List events (kubectl events), newest last, optionally only Warnings or only those about one object. Example: {\"cluster\":\"prod\",\"namespace\":\"shop\",\"types\":\"Warning\"}."}

func eventsArgv(in EventsInput) ([]string, error) {
	return cmd("events").
		check(name("for", in.For, false),
			errIf(in.Types != "" && !typesRE.MatchString(in.Types), "types %q: want Normal, Warning or both comma-separated", clip(in.Types, 40))).
		scope(in.Namespace, in.AllNamespaces).
		flag("for", in.For, maxNameLen).
		flag("types", in.Types, 32).
		done()
}

// ---- pods_top, nodes_top

// TopPodsInput is pods_top's input.
type TopPodsInput struct {
	Target
	// Namespace limits the pods.
	Namespace string `json:"namespace,omitempty" jsonschema:"namespace of the pods"`
	// AllNamespaces covers every namespace.
	AllNamespaces bool `json:"all_namespaces,omitempty" jsonschema:"pods of all namespaces"`
	// LabelSelector filters the pods.
	LabelSelector string `json:"label_selector,omitempty" jsonschema:"label selector"`
	// Containers shows each container.
	Containers bool `json:"containers,omitempty" jsonschema:"one row per container"`
	// SortBy is cpu or memory.
	SortBy string `json:"sort_by,omitempty" jsonschema:"cpu or memory"`
}

var podsTop = mcp.Tool{Name: "pods_top", Title: "Pod resource usage",
	Description: "CPU and memory use of pods from metrics-server (kubectl top pod). Example: {\"cluster\":\"prod\",\"namespace\":\"shop\",\"sort_by\":\"memory\"}."}

func topPodsArgv(in TopPodsInput) ([]string, error) {
	return cmd("top", "pod").
		check(sortBy(in.SortBy)).
		add(in.Containers, "--containers").
		scope(in.Namespace, in.AllNamespaces).
		flag("selector", in.LabelSelector, maxSelectorLen).
		flag("sort-by", in.SortBy, 16).
		done()
}

// sortBy checks a top tool's sort_by.
func sortBy(v string) error {
	return errIf(v != "" && v != "cpu" && v != "memory", "sort_by %q: want cpu or memory", clip(v, 40))
}

// TopNodesInput is nodes_top's input.
type TopNodesInput struct {
	Target
	// LabelSelector filters the nodes.
	LabelSelector string `json:"label_selector,omitempty" jsonschema:"label selector"`
	// SortBy is cpu or memory.
	SortBy string `json:"sort_by,omitempty" jsonschema:"cpu or memory"`
}

var nodesTop = mcp.Tool{Name: "nodes_top", Title: "Node resource usage",
	Description: "CPU and memory use of nodes from metrics-server (kubectl top node). Example: {\"cluster\":\"prod\",\"sort_by\":\"cpu\"}."}

func topNodesArgv(in TopNodesInput) ([]string, error) {
	return cmd("top", "node").
		check(sortBy(in.SortBy)).
		flag("selector", in.LabelSelector, maxSelectorLen).
		flag("sort-by", in.SortBy, 16).
		done()
}

// ---- rollout_history, rollout_status

// RolloutInput is the input of rollout_history and rollout_status.
type RolloutInput struct {
	Target
	// Name is the workload as kind/name.
	Name string `json:"name" jsonschema:"the workload as kind/name, e.g. deployment/web, statefulset/db, daemonset/agent"`
	// Namespace is the workload's namespace.
	Namespace string `json:"namespace,omitempty" jsonschema:"the workload's namespace"`
	// Revision picks one revision (history: its details; status: wait
	// for it).
	Revision int `json:"revision,omitempty" jsonschema:"a revision number: history shows its pod template"`
}

func rolloutArgv(sub string) func(RolloutInput) ([]string, error) {
	return func(in RolloutInput) ([]string, error) {
		return cmd("rollout", sub, in.Name).
			check(name("name", in.Name, true),
				errIf(!strings.Contains(in.Name, "/"), "name %q: give the workload as kind/name, e.g. deployment/web", in.Name),
				errIf(in.Revision < 0, "revision %d is negative", in.Revision)).
			add(in.Revision > 0, "--revision="+strconv.Itoa(in.Revision)).
			add(sub == "status", "--watch=false").
			scope(in.Namespace, false).
			done()
	}
}

var rolloutHistory = mcp.Tool{Name: "rollout_history", Title: "Rollout history",
	Description: "Revisions of a deployment, statefulset or daemonset (kubectl rollout history); with revision, that revision's pod template. Example: {\"cluster\":\"prod\",\"name\":\"deployment/web\",\"namespace\":\"shop\"}."}

var rolloutStatus = mcp.Tool{Name: "rollout_status", Title: "Rollout status",
	Description: "Whether a rollout finished or is stuck (kubectl rollout status --watch=false). Example: {\"cluster\":\"prod\",\"name\":\"deployment/web\",\"namespace\":\"shop\"}."}

// ---- api_resources

// APIResourcesInput is api_resources's input.
type APIResourcesInput struct {
	Target
	// Namespaced filters by scope: "true", "false" or empty for both.
	Namespaced string `json:"namespaced,omitempty" jsonschema:"true: only namespaced kinds; false: only cluster-scoped; omit for all"`
	// APIGroup limits to one API group.
	APIGroup string `json:"api_group,omitempty" jsonschema:"only this API group, e.g. apps, cert-manager.io"`
}

var apiResources = mcp.Tool{Name: "api_resources", Title: "API resources",
	Description: "The resource kinds the cluster serves (kubectl api-resources), incl. CRDs, with short names. Example: {\"cluster\":\"prod\",\"api_group\":\"apps\"}."}

func apiResourcesArgv(in APIResourcesInput) ([]string, error) {
	return cmd("api-resources").
		check(errIf(in.Namespaced != "" && in.Namespaced != "true" && in.Namespaced != "false", "namespaced %q: want true, false or nothing", clip(in.Namespaced, 20))).
		add(in.Namespaced != "", "--namespaced="+in.Namespaced).
		check(name("api_group", in.APIGroup, false)).
		flag("api-group", in.APIGroup, maxNameLen).
		done()
}

// ---- explain

// ExplainInput is explain's input.
type ExplainInput struct {
	Target
	// Resource is a kind or a field path.
	Resource string `json:"resource" jsonschema:"a kind or a field path, e.g. pods, deployment.spec.strategy"`
	// Recursive shows every nested field.
	Recursive bool `json:"recursive,omitempty" jsonschema:"list every nested field"`
}

var explain = mcp.Tool{Name: "explain", Title: "Explain a resource",
	Description: "Document a kind or one of its fields from the cluster's OpenAPI schema (kubectl explain). Example: {\"cluster\":\"prod\",\"resource\":\"deployment.spec.strategy\"}."}

func explainArgv(in ExplainInput) ([]string, error) {
	return cmd("explain", in.Resource).
		check(name("resource", in.Resource, true)).
		add(in.Recursive, "--recursive").
		done()
}

// DiagnoseInput is diagnose's input.
type DiagnoseInput struct {
	Target
	// Namespace is the namespace to diagnose; empty means default.
	Namespace string `json:"namespace,omitempty" jsonschema:"the namespace to diagnose (default: default)"`
	// AllNamespaces diagnoses the whole cluster, nodes included.
	AllNamespaces bool `json:"all_namespaces,omitempty" jsonschema:"diagnose every namespace and the nodes"`
}

var diagnose = mcp.Tool{Name: "diagnose", Title: "Diagnose a namespace or cluster",
	Description: "Find what is broken, run by the executor inside the cluster: one finding per root cause (CrashLoopBackOff, image pulls, OOMKilled, unschedulable pods, " +
		"stuck rollouts, failed Jobs, Services without endpoints, nodes, ...) with severity, evidence, an explanation and the next read commands to run. " +
		"Start here, then follow the findings' next commands. Example: {\"cluster\":\"prod\",\"namespace\":\"shop\"}."}

func diagnoseArgv(in DiagnoseInput) ([]string, error) {
	return cmd("diagnose").scope(in.Namespace, in.AllNamespaces).done()
}
