package deploy

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"go.starlark.net/starlark"
	"go.starlark.net/syntax"
)

// blob is Tilt's Blob: YAML text (what helm() returns).
type blob struct{ text string }

func (b blob) String() string        { return b.text }
func (b blob) Type() string          { return "blob" }
func (b blob) Freeze()               {}
func (b blob) Truth() starlark.Bool  { return b.text != "" }
func (b blob) Hash() (uint32, error) { return starlark.String(b.text).Hash() }

// portForward is Tilt's port_forward() value.
type portForward struct{ local, container int }

func (p portForward) String() string {
	return fmt.Sprintf("port_forward(%d, %d)", p.local, p.container)
}
func (p portForward) Type() string          { return "port_forward" }
func (p portForward) Freeze()               {}
func (p portForward) Truth() starlark.Bool  { return true }
func (p portForward) Hash() (uint32, error) { return uint32(p.local*65536 + p.container), nil }

// tiltRecord is what the Tiltfile asked Tilt to do.
type tiltRecord struct {
	images    []tiltImage
	objects   []*unstructured.Unstructured
	resources []tiltResource
	locals    map[string]string // local_resource name → cmd
	printed   strings.Builder
	contexts  []string
}

type tiltImage struct{ ref, context, dockerfile, target string }

type tiltResource struct {
	workload string
	deps     []string
	forwards []portForward
}

func strList(v starlark.Value) ([]string, error) {
	if v == nil || v == starlark.None {
		return nil, nil
	}
	if s, ok := starlark.AsString(v); ok {
		return []string{s}, nil
	}
	it, ok := v.(starlark.Iterable)
	if !ok {
		return nil, fmt.Errorf("want a string or a list of strings, got %s", v.Type())
	}
	var out []string
	iter := it.Iterate()
	defer iter.Done()
	var x starlark.Value
	for iter.Next(&x) {
		s, ok := starlark.AsString(x)
		if !ok {
			return nil, fmt.Errorf("want strings, got %s", x.Type())
		}
		out = append(out, s)
	}
	return out, nil
}

// repoPath checks that a path the Tiltfile names exists in the repository.
func repoPath(p string) (string, error) {
	full := filepath.Join(repoRoot, p)
	if _, err := os.Stat(full); err != nil {
		return "", fmt.Errorf("path %q does not exist in the repository", p)
	}
	return full, nil
}

// tiltBuiltins returns recording versions of the Tilt builtins the
// Tiltfile may call. Anything else is undefined, so the Tiltfile fails.
func tiltBuiltins(t testing.TB, rec *tiltRecord) starlark.StringDict {
	b := func(name string, fn func(args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error)) *starlark.Builtin {
		return starlark.NewBuiltin(name, func(_ *starlark.Thread, _ *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
			return fn(args, kwargs)
		})
	}
	return starlark.StringDict{
		"TRIGGER_MODE_AUTO":   starlark.MakeInt(0),
		"TRIGGER_MODE_MANUAL": starlark.MakeInt(1),
		"allow_k8s_contexts": b("allow_k8s_contexts", func(args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
			var v starlark.Value
			if err := starlark.UnpackArgs("allow_k8s_contexts", args, kwargs, "contexts", &v); err != nil {
				return nil, err
			}
			l, err := strList(v)
			rec.contexts = append(rec.contexts, l...)
			return starlark.None, err
		}),
		"docker_build": b("docker_build", func(args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
			var ref, context, dockerfile, target string
			var only, ignore, buildArgs, liveUpdate starlark.Value
			if err := starlark.UnpackArgs("docker_build", args, kwargs, "ref", &ref, "context", &context,
				"dockerfile?", &dockerfile, "target?", &target, "only?", &only, "ignore?", &ignore,
				"build_args?", &buildArgs, "live_update?", &liveUpdate); err != nil {
				return nil, err
			}
			if _, err := repoPath(context); err != nil {
				return nil, err
			}
			if dockerfile == "" {
				dockerfile = filepath.Join(context, "Dockerfile")
			}
			if _, err := repoPath(dockerfile); err != nil {
				return nil, err
			}
			paths, err := strList(only)
			if err != nil {
				return nil, err
			}
			for _, p := range paths {
				if _, err := repoPath(filepath.Join(context, p)); err != nil {
					return nil, fmt.Errorf("docker_build %s: only: %w", ref, err)
				}
			}
			rec.images = append(rec.images, tiltImage{ref: ref, context: context, dockerfile: dockerfile, target: target})
			return starlark.None, nil
		}),
		"helm": b("helm", func(args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
			var path, name, namespace string
			var values, set starlark.Value
			if err := starlark.UnpackArgs("helm", args, kwargs, "paths", &path, "name?", &name, "namespace?", &namespace,
				"values?", &values, "set?", &set); err != nil {
				return nil, err
			}
			if _, err := repoPath(filepath.Join(path, "Chart.yaml")); err != nil {
				return nil, fmt.Errorf("helm: %q is not a chart: %w", path, err)
			}
			hargs := []string{"template", name, path, "--namespace", namespace}
			files, err := strList(values)
			if err != nil {
				return nil, err
			}
			for _, f := range files {
				if _, err := repoPath(f); err != nil {
					return nil, err
				}
				hargs = append(hargs, "-f", f)
			}
			sets, err := strList(set)
			if err != nil {
				return nil, err
			}
			for _, s := range sets {
				hargs = append(hargs, "--set", s)
			}
			out, err := helm(hargs...)
			if err != nil {
				return nil, err
			}
			return blob{text: out}, nil
		}),
		"k8s_yaml": b("k8s_yaml", func(args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
			var v starlark.Value
			if err := starlark.UnpackArgs("k8s_yaml", args, kwargs, "yaml", &v); err != nil {
				return nil, err
			}
			var docs []string
			if bl, ok := v.(blob); ok {
				docs = append(docs, bl.text)
			} else {
				paths, err := strList(v)
				if err != nil {
					return nil, err
				}
				for _, p := range paths {
					full, err := repoPath(p)
					if err != nil {
						return nil, err
					}
					b, err := os.ReadFile(full)
					if err != nil {
						return nil, err
					}
					docs = append(docs, string(b))
				}
			}
			for _, d := range docs {
				objs, err := decodeObjects(d)
				if err != nil {
					return nil, err
				}
				rec.objects = append(rec.objects, objs...)
			}
			return starlark.None, nil
		}),
		"port_forward": b("port_forward", func(args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
			var local, container int
			var name, linkPath, host string
			if err := starlark.UnpackArgs("port_forward", args, kwargs, "local_port", &local, "container_port?", &container,
				"name?", &name, "link_path?", &linkPath, "host?", &host); err != nil {
				return nil, err
			}
			if container == 0 {
				container = local
			}
			return portForward{local: local, container: container}, nil
		}),
		"k8s_resource": b("k8s_resource", func(args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
			var workload, newName string
			var deps, forwards, labels, objects starlark.Value
			if err := starlark.UnpackArgs("k8s_resource", args, kwargs, "workload", &workload, "new_name?", &newName,
				"port_forwards?", &forwards, "resource_deps?", &deps, "labels?", &labels, "objects?", &objects); err != nil {
				return nil, err
			}
			r := tiltResource{workload: workload}
			var err error
			if r.deps, err = strList(deps); err != nil {
				return nil, err
			}
			if l, ok := forwards.(*starlark.List); ok {
				for i := range l.Len() {
					pf, ok := l.Index(i).(portForward)
					if !ok {
						return nil, fmt.Errorf("k8s_resource %s: port_forwards: want port_forward(), got %s", workload, l.Index(i).Type())
					}
					r.forwards = append(r.forwards, pf)
				}
			}
			rec.resources = append(rec.resources, r)
			return starlark.None, nil
		}),
		"local_resource": b("local_resource", func(args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
			var name, cmd string
			var deps, labels, resourceDeps starlark.Value
			var trigger starlark.Int
			var autoInit = true
			if err := starlark.UnpackArgs("local_resource", args, kwargs, "name", &name, "cmd?", &cmd, "deps?", &deps,
				"trigger_mode?", &trigger, "auto_init?", &autoInit, "labels?", &labels, "resource_deps?", &resourceDeps); err != nil {
				return nil, err
			}
			if cmd == "" {
				return nil, fmt.Errorf("local_resource %s: empty cmd", name)
			}
			rec.locals[name] = cmd
			return starlark.None, nil
		}),
	}
}

// TestTiltfile executes the Tiltfile with recording Tilt builtins and
// checks what it names against the repository and the rendered charts.
func TestTiltfile(t *testing.T) {
	t.Parallel()
	src, err := os.ReadFile(filepath.Join(repoRoot, "Tiltfile"))
	if err != nil {
		t.Fatal(err)
	}
	rec := &tiltRecord{locals: map[string]string{}}
	thread := &starlark.Thread{Name: "Tiltfile", Print: func(_ *starlark.Thread, msg string) { rec.printed.WriteString(msg + "\n") }}
	opts := &syntax.FileOptions{TopLevelControl: true, GlobalReassign: true, Set: true, While: true}
	globals, err := starlark.ExecFileOptions(opts, thread, "Tiltfile", src, tiltBuiltins(t, rec))
	if err != nil {
		var ee *starlark.EvalError
		if errors.As(err, &ee) {
			t.Fatalf("Tiltfile: %s", ee.Backtrace())
		}
		t.Fatalf("Tiltfile: %v", err)
	}
	if len(rec.contexts) == 0 {
		t.Error("the Tiltfile allows no kube context")
	}

	// Workloads by name, as Tilt names resources.
	workloads := map[string]corev1.PodSpec{}
	for _, o := range rec.objects {
		switch o.GetKind() {
		case "Deployment":
			workloads[o.GetName()] = toTyped[appsv1.Deployment](t, o).Spec.Template.Spec
		case "StatefulSet":
			workloads[o.GetName()] = toTyped[appsv1.StatefulSet](t, o).Spec.Template.Spec
		}
	}

	// Every image built is deployed, every Kubently image deployed is
	// built, and each build's target runs the binary of that service.
	built := map[string]tiltImage{}
	for _, im := range rec.images {
		built[im.ref] = im
		stage := dockerStage(t, filepath.Join(repoRoot, im.dockerfile), im.target)
		if stage == "" {
			t.Errorf("docker_build %s: %s has no target %q", im.ref, im.dockerfile, im.target)
		} else if want := "/usr/local/bin/" + imageService(im.ref); !strings.Contains(stage, want) {
			t.Errorf("docker_build %s: target %s does not run %s", im.ref, im.target, want)
		}
	}
	used := map[string]bool{}
	for name, ps := range workloads {
		for _, c := range ps.Containers {
			repo := c.Image
			if i := strings.LastIndex(repo, ":"); i > strings.LastIndex(repo, "/") {
				repo = repo[:i]
			}
			used[repo] = true
			if strings.HasPrefix(repo, "kubently/") {
				if _, ok := built[repo]; !ok {
					t.Errorf("workload %s runs %s, which the Tiltfile does not build", name, c.Image)
				}
			}
		}
	}
	for ref := range built {
		if !used[ref] {
			t.Errorf("docker_build %s: no deployed workload runs it", ref)
		}
	}

	// Resources name real workloads; dependencies name real resources;
	// forwarded ports are container ports of the workload.
	names := map[string]bool{}
	for n := range rec.locals {
		names[n] = true
	}
	for n := range workloads {
		names[n] = true
	}
	for _, r := range rec.resources {
		ps, ok := workloads[r.workload]
		if !ok {
			t.Errorf("k8s_resource(%q): no such workload in the deployed YAML", r.workload)
			continue
		}
		for _, d := range r.deps {
			if !names[d] {
				t.Errorf("k8s_resource(%q): resource_deps names %q, which is no resource", r.workload, d)
			}
		}
		for _, pf := range r.forwards {
			if !hasContainerPort(ps, pf.container) {
				t.Errorf("k8s_resource(%q): forwards to port %d, which no container declares", r.workload, pf.container)
			}
		}
	}
	for _, w := range []string{"kubently-gateway", "kubently-session", "kubently-dispatcher", "kubently-executor", "nats", "redis"} {
		if _, ok := workloads[w]; !ok {
			t.Errorf("the Tiltfile deploys no %s", w)
		}
	}
	if _, ok := rec.locals["unit-tests"]; !ok {
		t.Error("no unit-tests local_resource")
	}

	// The printed dev key is one the gateway accepts, and the executor
	// reaches the gateway with the token the gateway seeds.
	devKey, _ := starlark.AsString(globals["DEV_KEY"])
	if !strings.Contains(rec.printed.String(), "KUBENTLY_API_KEY="+devKey) || devKey == "" {
		t.Errorf("the Tiltfile does not print the dev key; printed:\n%s", rec.printed.String())
	}
	sum := sha256.Sum256([]byte(devKey))
	keys := secretData(t, rec.objects, "kubently-api-keys")["keys.yaml"]
	if !strings.Contains(keys, hex.EncodeToString(sum[:])) {
		t.Errorf("the gateway's key file does not hold the printed dev key's hash:\n%s", keys)
	}
	tokens := map[string]string{}
	if err := json.Unmarshal([]byte(secretData(t, rec.objects, "kubently-agent-tokens")["agent-tokens"]), &tokens); err != nil {
		t.Fatal(err)
	}
	execEnv := resolvedEnv(t, workloads["kubently-executor"].Containers[0], rec.objects, nil)
	if tok := tokens[execEnv["CLUSTER_ID"]]; tok == "" || tok != execEnv["KUBENTLY_TOKEN"] {
		t.Errorf("the executor's token for cluster %q is not the one the gateway seeds", execEnv["CLUSTER_ID"])
	}
	u, err := url.Parse(execEnv["KUBENTLY_API_URL"])
	if err != nil {
		t.Fatal(err)
	}
	if svc := find(rec.objects, "Service", strings.Split(u.Hostname(), ".")[0]); svc == nil {
		t.Errorf("the executor dials %s: no such Service", u.Host)
	}
}

// dockerStage returns the text of the Dockerfile stage named target.
func dockerStage(t testing.TB, dockerfile, target string) string {
	t.Helper()
	b, err := os.ReadFile(dockerfile)
	if err != nil {
		t.Fatal(err)
	}
	re := regexp.MustCompile(`(?mi)^FROM\s+\S+(\s+AS\s+(\S+))?\s*$`)
	locs := re.FindAllSubmatchIndex(b, -1)
	for i, l := range locs {
		if l[4] < 0 || !strings.EqualFold(string(b[l[4]:l[5]]), target) {
			continue
		}
		end := len(b)
		if i+1 < len(locs) {
			end = locs[i+1][0]
		}
		return string(b[l[0]:end])
	}
	return ""
}

func hasContainerPort(ps corev1.PodSpec, port int) bool {
	for _, c := range ps.Containers {
		for _, p := range c.Ports {
			if int(p.ContainerPort) == port {
				return true
			}
		}
	}
	return false
}
