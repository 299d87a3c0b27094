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

// tools registers every tool; adding one is one small function here.
var tools = []func(*mcp.Server, *server){
	addClustersList, addCommandRun, addResourcesList, addResourcesGet, addResourcesDescribe,
	addPodsLog, addEventsList, addPodsTop, addNodesTop, addRolloutHistory, addRolloutStatus,
	addAPIResources, addExplain, addDiagnose,
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

// scope appends the namespace flags: -n NS, or -A.
func scope(argv []string, ns string, all bool) ([]string, error) {
	if ns != "" && all {
		return nil, badArg("give namespace or all_namespaces, not both")
	}
	if err := name("namespace", ns, false); err != nil {
		return nil, err
	}
	if ns != "" {
		return append(argv, "--namespace="+ns), nil
	}
	if all {
		return append(argv, "--all-namespaces"), nil
	}
	return argv, nil
}

// flag appends --name=value when value is set, bounded to n bytes.
func flag(argv []string, flagName, value string, n int) ([]string, error) {
	if value == "" {
		return argv, nil
	}
	if len(value) > n {
		return nil, badArg("%s is %d bytes, at most %d allowed", flagName, len(value), n)
	}
	return append(argv, "--"+flagName+"="+value), nil
}

// each applies the argv builders in order, stopping at the first error.
func each(argv []string, steps ...func([]string) ([]string, error)) ([]string, error) {
	var err error
	for _, f := range steps {
		if argv, err = f(argv); err != nil {
			return nil, err
		}
	}
	return argv, nil
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

func addClustersList(srv *mcp.Server, s *server) {
	t := &mcp.Tool{Name: "clusters_list", Title: "List clusters",
		Description: "List the Kubernetes clusters your key may read, with presence: connected (an executor is connected now), executors, last seen. Start here; other tools take cluster."}
	readOnly(t)
	mcp.AddTool(srv, t, func(ctx context.Context, _ *mcp.CallToolRequest, in ClustersInput) (*mcp.CallToolResult, ClustersOutput, error) {
		budget, err := s.budget(in.MaxBytes)
		if err == nil {
			var cs []Cluster
			if cs, err = s.cfg.Backend.Clusters(ctx); err == nil {
				return clustersAnswer(cs, budget)
			}
		}
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

func addCommandRun(srv *mcp.Server, s *server) {
	addCommand(srv, s, &mcp.Tool{Name: "command_run", Title: "Run a read-only kubectl command",
		Description: "Run any read-only kubectl-style command Kubently's policy allows, given as argv (get, describe, logs, events, top, rollout history|status, api-resources, api-versions, version, cluster-info, explain, auth can-i). " +
			"Prefer the dedicated tools where one fits. Example: {\"cluster\":\"prod\",\"argv\":[\"get\",\"deploy\",\"-n\",\"shop\",\"-o\",\"wide\"]}."},
		commandSpec{}, func(in RunInput) ([]string, error) {
			if len(in.Argv) == 0 {
				return nil, badArg("argv is required, e.g. [\"get\",\"pods\"]")
			}
			if err := contracts.ValidateArgv(in.Argv); err != nil {
				return nil, err
			}
			argv := append([]string(nil), in.Argv...)
			if in.Namespace == "" || namesNamespace(argv) {
				return argv, nil
			}
			return scope(argv, in.Namespace, false)
		})
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

func addResourcesList(srv *mcp.Server, s *server) {
	addCommand(srv, s, &mcp.Tool{Name: "resources_list", Title: "List resources",
		Description: "List resources of one kind as a kubectl table (get KIND), filtered by namespace, label and field selectors. Pages: limit and max_bytes bound a page; truncated=true comes with a continue token for the next. " +
			"Example: {\"cluster\":\"prod\",\"kind\":\"pods\",\"namespace\":\"shop\",\"field_selector\":\"status.phase!=Running\"}."},
		commandSpec{header: true}, func(in ListInput) ([]string, error) {
			if err := name("kind", in.Kind, true); err != nil {
				return nil, err
			}
			if strings.Contains(in.Kind, "/") || strings.Contains(in.Kind, ",") {
				return nil, badArg("kind %q: name one resource type (use resources_get for one object)", in.Kind)
			}
			if in.Limit < 0 || in.Limit > 10000 {
				return nil, badArg("limit %d is out of range [1, 10000]", in.Limit)
			}
			argv := []string{"get", in.Kind}
			return each(argv,
				func(a []string) ([]string, error) { return scope(a, in.Namespace, in.AllNamespaces) },
				func(a []string) ([]string, error) { return flag(a, "selector", in.LabelSelector, maxSelectorLen) },
				func(a []string) ([]string, error) { return flag(a, "field-selector", in.FieldSelector, maxSelectorLen) },
				func(a []string) ([]string, error) {
					switch in.Output {
					case "", "table":
						return a, nil
					case "wide", "name":
						return append(a, "--output="+in.Output), nil
					}
					return nil, badArg("output %q: want table, wide or name", in.Output)
				})
		})
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

func addResourcesGet(srv *mcp.Server, s *server) {
	addCommand(srv, s, &mcp.Tool{Name: "resources_get", Title: "Get one resource",
		Description: "Get one object as YAML (default) or JSON, managed fields dropped and Secret values redacted. Example: {\"cluster\":\"prod\",\"kind\":\"deployment\",\"name\":\"web\",\"namespace\":\"shop\"}."},
		commandSpec{}, func(in GetInput) ([]string, error) {
			if err := name("kind", in.Kind, true); err != nil {
				return nil, err
			}
			if err := name("name", in.Name, true); err != nil {
				return nil, err
			}
			out := in.Output
			switch out {
			case "":
				out = "yaml"
			case "yaml", "json":
			default:
				return nil, badArg("output %q: want yaml or json", in.Output)
			}
			return scope([]string{"get", in.Kind, in.Name, "--output=" + out}, in.Namespace, false)
		})
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

func addResourcesDescribe(srv *mcp.Server, s *server) {
	addCommand(srv, s, &mcp.Tool{Name: "resources_describe", Title: "Describe resources",
		Description: "kubectl describe: an object's state, conditions and recent events in prose. Example: {\"cluster\":\"prod\",\"kind\":\"pod\",\"name\":\"web-7d4b9\",\"namespace\":\"shop\"}."},
		commandSpec{}, func(in DescribeInput) ([]string, error) {
			if err := name("kind", in.Kind, true); err != nil {
				return nil, err
			}
			if err := name("name", in.Name, false); err != nil {
				return nil, err
			}
			if in.Name == "" && in.LabelSelector == "" {
				return nil, badArg("give name or label_selector")
			}
			argv := []string{"describe", in.Kind}
			if in.Name != "" {
				argv = append(argv, in.Name)
			}
			return each(argv,
				func(a []string) ([]string, error) { return scope(a, in.Namespace, false) },
				func(a []string) ([]string, error) { return flag(a, "selector", in.LabelSelector, maxSelectorLen) })
		})
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

func addPodsLog(srv *mcp.Server, s *server) {
	addCommand(srv, s, &mcp.Tool{Name: "pods_log", Title: "Read logs",
		Description: "Read a pod's or workload's log (kubectl logs), bounded by tail and since, optionally searched inside the cluster with grep (plain or grep_regex, with grep_context lines). " +
			"Example: {\"cluster\":\"prod\",\"name\":\"deploy/web\",\"namespace\":\"shop\",\"grep\":\"error\",\"ignore_case\":true,\"grep_context\":2}."},
		commandSpec{}, func(in LogInput) ([]string, error) {
			if err := name("name", in.Name, true); err != nil {
				return nil, err
			}
			if err := name("container", in.Container, false); err != nil {
				return nil, err
			}
			if in.Tail < -1 || in.Tail > 100000 {
				return nil, badArg("tail %d is out of range [-1, 100000]", in.Tail)
			}
			if in.Since != "" && !durationRE.MatchString(in.Since) {
				return nil, badArg("since %q: want a duration such as 30s, 10m or 2h", clip(in.Since, 40))
			}
			if in.GrepContext < 0 || in.GrepContext > 10 {
				return nil, badArg("grep_context %d is out of range [0, 10]", in.GrepContext)
			}
			if in.Grep == "" && (in.GrepRegex || in.GrepContext > 0 || in.IgnoreCase) {
				return nil, badArg("grep_regex, grep_context and ignore_case need grep")
			}
			tail := in.Tail
			if tail == 0 {
				tail = 500
			}
			argv := []string{"logs", in.Name, "--tail=" + strconv.Itoa(tail)}
			if in.Container != "" {
				argv = append(argv, "--container="+in.Container)
			}
			if in.Previous {
				argv = append(argv, "--previous")
			}
			if in.Since != "" {
				argv = append(argv, "--since="+in.Since)
			}
			if in.Grep != "" {
				var err error
				if argv, err = flag(argv, "grep", in.Grep, maxGrepLen); err != nil {
					return nil, err
				}
				if in.GrepRegex {
					argv = append(argv, "--grep-regex")
				}
				if in.GrepContext > 0 {
					argv = append(argv, "--grep-context="+strconv.Itoa(in.GrepContext))
				}
				if in.IgnoreCase {
					argv = append(argv, "--ignore-case")
				}
			}
			return scope(argv, in.Namespace, false)
		})
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

func addEventsList(srv *mcp.Server, s *server) {
	addCommand(srv, s, &mcp.Tool{Name: "events_list", Title: "List events",
		Description: "List events (kubectl events), newest last, optionally only Warnings or only those about one object. Example: {\"cluster\":\"prod\",\"namespace\":\"shop\",\"types\":\"Warning\"}."},
		commandSpec{header: true}, func(in EventsInput) ([]string, error) {
			if err := name("for", in.For, false); err != nil {
				return nil, err
			}
			if in.Types != "" && !typesRE.MatchString(in.Types) {
				return nil, badArg("types %q: want Normal, Warning or both comma-separated", clip(in.Types, 40))
			}
			argv := []string{"events"}
			return each(argv,
				func(a []string) ([]string, error) { return scope(a, in.Namespace, in.AllNamespaces) },
				func(a []string) ([]string, error) { return flag(a, "for", in.For, maxNameLen) },
				func(a []string) ([]string, error) { return flag(a, "types", in.Types, 32) })
		})
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

func addPodsTop(srv *mcp.Server, s *server) {
	addCommand(srv, s, &mcp.Tool{Name: "pods_top", Title: "Pod resource usage",
		Description: "CPU and memory use of pods from metrics-server (kubectl top pod). Example: {\"cluster\":\"prod\",\"namespace\":\"shop\",\"sort_by\":\"memory\"}."},
		commandSpec{header: true}, func(in TopPodsInput) ([]string, error) {
			if in.SortBy != "" && in.SortBy != "cpu" && in.SortBy != "memory" {
				return nil, badArg("sort_by %q: want cpu or memory", clip(in.SortBy, 40))
			}
			argv := []string{"top", "pod"}
			if in.Containers {
				argv = append(argv, "--containers")
			}
			return each(argv,
				func(a []string) ([]string, error) { return scope(a, in.Namespace, in.AllNamespaces) },
				func(a []string) ([]string, error) { return flag(a, "selector", in.LabelSelector, maxSelectorLen) },
				func(a []string) ([]string, error) { return flag(a, "sort-by", in.SortBy, 16) })
		})
}

// TopNodesInput is nodes_top's input.
type TopNodesInput struct {
	Target
	// LabelSelector filters the nodes.
	LabelSelector string `json:"label_selector,omitempty" jsonschema:"label selector"`
	// SortBy is cpu or memory.
	SortBy string `json:"sort_by,omitempty" jsonschema:"cpu or memory"`
}

func addNodesTop(srv *mcp.Server, s *server) {
	addCommand(srv, s, &mcp.Tool{Name: "nodes_top", Title: "Node resource usage",
		Description: "CPU and memory use of nodes from metrics-server (kubectl top node). Example: {\"cluster\":\"prod\",\"sort_by\":\"cpu\"}."},
		commandSpec{header: true}, func(in TopNodesInput) ([]string, error) {
			if in.SortBy != "" && in.SortBy != "cpu" && in.SortBy != "memory" {
				return nil, badArg("sort_by %q: want cpu or memory", clip(in.SortBy, 40))
			}
			return each([]string{"top", "node"},
				func(a []string) ([]string, error) { return flag(a, "selector", in.LabelSelector, maxSelectorLen) },
				func(a []string) ([]string, error) { return flag(a, "sort-by", in.SortBy, 16) })
		})
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
		if err := name("name", in.Name, true); err != nil {
			return nil, err
		}
		if !strings.Contains(in.Name, "/") {
			return nil, badArg("name %q: give the workload as kind/name, e.g. deployment/web", in.Name)
		}
		if in.Revision < 0 {
			return nil, badArg("revision %d is negative", in.Revision)
		}
		argv := []string{"rollout", sub, in.Name}
		if in.Revision > 0 {
			argv = append(argv, "--revision="+strconv.Itoa(in.Revision))
		}
		if sub == "status" {
			argv = append(argv, "--watch=false")
		}
		return scope(argv, in.Namespace, false)
	}
}

func addRolloutHistory(srv *mcp.Server, s *server) {
	addCommand(srv, s, &mcp.Tool{Name: "rollout_history", Title: "Rollout history",
		Description: "Revisions of a deployment, statefulset or daemonset (kubectl rollout history); with revision, that revision's pod template. Example: {\"cluster\":\"prod\",\"name\":\"deployment/web\",\"namespace\":\"shop\"}."},
		commandSpec{}, rolloutArgv("history"))
}

func addRolloutStatus(srv *mcp.Server, s *server) {
	addCommand(srv, s, &mcp.Tool{Name: "rollout_status", Title: "Rollout status",
		Description: "Whether a rollout finished or is stuck (kubectl rollout status --watch=false). Example: {\"cluster\":\"prod\",\"name\":\"deployment/web\",\"namespace\":\"shop\"}."},
		commandSpec{}, rolloutArgv("status"))
}

// ---- api_resources

// APIResourcesInput is api_resources's input.
type APIResourcesInput struct {
	Target
	// Namespaced filters by scope: "true", "false" or empty for both.
	Namespaced string `json:"namespaced,omitempty" jsonschema:"true: only namespaced kinds; false: only cluster-scoped; omit for all"`
	// APIGroup limits to one API group.
	APIGroup string `json:"api_group,omitempty" jsonschema:"only this API group, e.g. apps, cert-manager.io"`
}

func addAPIResources(srv *mcp.Server, s *server) {
	addCommand(srv, s, &mcp.Tool{Name: "api_resources", Title: "API resources",
		Description: "The resource kinds the cluster serves (kubectl api-resources), incl. CRDs, with short names. Example: {\"cluster\":\"prod\",\"api_group\":\"apps\"}."},
		commandSpec{header: true}, func(in APIResourcesInput) ([]string, error) {
			argv := []string{"api-resources"}
			switch in.Namespaced {
			case "":
			case "true", "false":
				argv = append(argv, "--namespaced="+in.Namespaced)
			default:
				return nil, badArg("namespaced %q: want true, false or nothing", clip(in.Namespaced, 20))
			}
			if err := name("api_group", in.APIGroup, false); err != nil {
				return nil, err
			}
			return flag(argv, "api-group", in.APIGroup, maxNameLen)
		})
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

func addExplain(srv *mcp.Server, s *server) {
	addCommand(srv, s, &mcp.Tool{Name: "explain", Title: "Explain a resource",
		Description: "Document a kind or one of its fields from the cluster's OpenAPI schema (kubectl explain). Example: {\"cluster\":\"prod\",\"resource\":\"deployment.spec.strategy\"}."},
		commandSpec{}, func(in ExplainInput) ([]string, error) {
			if err := name("resource", in.Resource, true); err != nil {
				return nil, err
			}
			argv := []string{"explain", in.Resource}
			if in.Recursive {
				argv = append(argv, "--recursive")
			}
			return argv, nil
		})
}

// DiagnoseInput is diagnose's input.
type DiagnoseInput struct {
	Target
	// Namespace is the namespace to diagnose; empty means default.
	Namespace string `json:"namespace,omitempty" jsonschema:"the namespace to diagnose (default: default)"`
	// AllNamespaces diagnoses the whole cluster, nodes included.
	AllNamespaces bool `json:"all_namespaces,omitempty" jsonschema:"diagnose every namespace and the nodes"`
}

func addDiagnose(srv *mcp.Server, s *server) {
	addCommand(srv, s, &mcp.Tool{Name: "diagnose", Title: "Diagnose a namespace or cluster",
		Description: "Find what is broken, run by the executor inside the cluster: one finding per root cause (CrashLoopBackOff, image pulls, OOMKilled, unschedulable pods, " +
			"stuck rollouts, failed Jobs, Services without endpoints, nodes, ...) with severity, evidence, an explanation and the next read commands to run. " +
			"Start here, then follow the findings' next commands. Example: {\"cluster\":\"prod\",\"namespace\":\"shop\"}."},
		commandSpec{}, func(in DiagnoseInput) ([]string, error) {
			return scope([]string{"diagnose"}, in.Namespace, in.AllNamespaces)
		})
}
