package deploy

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"

	dispatchapp "kubently.io/services/dispatcher/app"
	executorapp "kubently.io/services/executor/app"
	gatewayapp "kubently.io/services/gateway/app"
	sessionapp "kubently.io/services/session/app"
)

var (
	// repoRoot is the repository's top directory.
	repoRoot string
	// helmBin is the pinned Helm CLI.
	helmBin string
	// helmHome holds Helm's config, cache and data for this test run.
	helmHome string
)

func TestMain(m *testing.M) {
	code, err := run(m)
	if err != nil {
		fmt.Fprintln(os.Stderr, "deploy:", err)
		os.Exit(1)
	}
	os.Exit(code)
}

func run(m *testing.M) (int, error) {
	wd, err := os.Getwd()
	if err != nil {
		return 1, err
	}
	repoRoot = filepath.Clean(filepath.Join(wd, "..", ".."))
	if _, err := os.Stat(filepath.Join(repoRoot, "go.work")); err != nil {
		return 1, fmt.Errorf("repository root not found from %s: %w", wd, err)
	}
	helmBin = os.Getenv("KUBENTLY_HELM")
	if helmBin == "" {
		// hack/helm.sh installs the pinned Helm once and prints its path.
		cmd := exec.Command(filepath.Join(repoRoot, "hack", "helm.sh"))
		cmd.Stderr = os.Stderr
		out, err := cmd.Output()
		if err != nil {
			return 1, fmt.Errorf("hack/helm.sh: %w", err)
		}
		helmBin = strings.TrimSpace(string(out))
	}
	helmHome, err = os.MkdirTemp("", "kubently-deploy-helm-")
	if err != nil {
		return 1, err
	}
	defer func() { _ = os.RemoveAll(helmHome) }()
	return m.Run(), nil
}

// helm runs the Helm CLI and returns its stdout; the error carries stderr.
func helm(args ...string) (string, error) {
	cmd := exec.Command(helmBin, args...)
	cmd.Dir = repoRoot
	cmd.Env = append(os.Environ(),
		"HELM_CONFIG_HOME="+filepath.Join(helmHome, "config"),
		"HELM_CACHE_HOME="+filepath.Join(helmHome, "cache"),
		"HELM_DATA_HOME="+filepath.Join(helmHome, "data"),
	)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return stdout.String(), fmt.Errorf("helm %s: %w\n%s", strings.Join(args, " "), err, stderr.String())
	}
	return stdout.String(), nil
}

// Chart paths, relative to the repository root.
const (
	centralChart  = "deploy/helm/kubently"
	executorChart = "deploy/helm/kubently-executor"
)

// renderCase is one way of rendering a chart: helm template arguments
// after the chart (values files, --set, --namespace).
type renderCase struct {
	name  string
	chart string
	args  []string
}

// execRequired are the values the executor chart needs to render.
var execRequired = []string{"--set", "clusterId=staging-1", "--set", "gateway.url=https://kubently.example.com",
	"--set", "token=staging-token-0123456789abcdef"}

// goodCases are the renders every no-cluster test checks: each chart's
// defaults (the executor's with its three required values) and its
// production values file.
func goodCases() []renderCase {
	return []renderCase{
		{"central defaults", centralChart, nil},
		{"central production", centralChart, []string{"-f", centralChart + "/values-production.yaml"}},
		{"executor defaults", executorChart, execRequired},
		{"executor production", executorChart, []string{"-f", executorChart + "/values-production.yaml",
			"--set", "token=prod-token-0123456789abcdef"}},
		{"executor namespaced", executorChart, append([]string{"--set", "rbac.mode=namespaced",
			"--set", "rbac.namespaces={shop,data}"}, execRequired...)},
	}
}

// render runs helm template and decodes every object.
func render(t testing.TB, chart, release, namespace string, args ...string) []*unstructured.Unstructured {
	t.Helper()
	out, err := helm(append([]string{"template", release, chart, "--namespace", namespace}, args...)...)
	if err != nil {
		t.Fatal(err)
	}
	objs, err := decodeObjects(out)
	if err != nil {
		t.Fatalf("decode helm template output: %v", err)
	}
	return objs
}

// decodeObjects splits a multi-document YAML stream into objects,
// skipping empty documents.
func decodeObjects(stream string) ([]*unstructured.Unstructured, error) {
	dec := utilyaml.NewYAMLOrJSONDecoder(strings.NewReader(stream), 4096)
	var objs []*unstructured.Unstructured
	for {
		var m map[string]any
		err := dec.Decode(&m)
		if errors.Is(err, io.EOF) {
			return objs, nil
		}
		if err != nil {
			return nil, err
		}
		if len(m) == 0 {
			continue
		}
		objs = append(objs, &unstructured.Unstructured{Object: m})
	}
}

// byKind returns the objects of kind.
func byKind(objs []*unstructured.Unstructured, kind string) []*unstructured.Unstructured {
	var out []*unstructured.Unstructured
	for _, o := range objs {
		if o.GetKind() == kind {
			out = append(out, o)
		}
	}
	return out
}

// find returns the object of kind and name, or nil.
func find(objs []*unstructured.Unstructured, kind, name string) *unstructured.Unstructured {
	for _, o := range objs {
		if o.GetKind() == kind && o.GetName() == name {
			return o
		}
	}
	return nil
}

// envNames returns the env tags of a Config struct, embedded structs
// included: the variables that service reads.
func envNames(t reflect.Type, into map[string]bool) {
	for i := range t.NumField() {
		f := t.Field(i)
		if f.Anonymous && f.Type.Kind() == reflect.Struct {
			envNames(f.Type, into)
			continue
		}
		if key, ok := f.Tag.Lookup("env"); ok {
			into[key] = true
		}
	}
}

// serviceConfigs maps each service (Dockerfile target, image name) to a
// pointer to a zero Config of that service.
func serviceConfigs() map[string]func() any {
	return map[string]func() any{
		"gateway":    func() any { return &gatewayapp.Config{} },
		"session":    func() any { return &sessionapp.Config{} },
		"dispatcher": func() any { return &dispatchapp.Config{} },
		"executor":   func() any { return &executorapp.Config{} },
	}
}

// knownEnv returns the variables service reads, from its Config type.
func knownEnv(t testing.TB, service string) map[string]bool {
	t.Helper()
	mk, ok := serviceConfigs()[service]
	if !ok {
		t.Fatalf("no Config known for service %q", service)
	}
	known := map[string]bool{}
	envNames(reflect.TypeOf(mk()).Elem(), known)
	return known
}
