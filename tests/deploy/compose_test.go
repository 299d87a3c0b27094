package deploy

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/compose-spec/compose-go/v2/cli"
	"github.com/compose-spec/compose-go/v2/types"

	"kubently.io/libs/config"
)

// composeEnv is the environment `docker compose` runs with in the tests:
// the two secrets the file requires.
var composeEnv = map[string]string{
	"KUBENTLY_API_KEYS":       "me:admin:compose-test-key-0123456789",
	"KUBENTLY_EXECUTOR_TOKEN": "compose-test-token-0123456789",
}

func loadCompose(t testing.TB, env map[string]string, profiles ...string) (*types.Project, error) {
	t.Helper()
	var list []string
	for k, v := range env {
		list = append(list, k+"="+v)
	}
	opts, err := cli.NewProjectOptions([]string{filepath.Join(repoRoot, "docker-compose.yml")},
		cli.WithWorkingDirectory(repoRoot), cli.WithEnv(list), cli.WithProfiles(profiles), cli.WithName("kubently"))
	if err != nil {
		return nil, err
	}
	return opts.LoadProject(context.Background())
}

// checkServiceEnv checks a service's environment against its Config: every
// variable is one the Config reads, and the config loader and Validate
// accept the values (so a missing required variable fails too).
func checkServiceEnv(service string, env map[string]string) []error {
	mk, ok := serviceConfigs()[service]
	if !ok {
		return []error{fmt.Errorf("no Config known for service %q", service)}
	}
	cfg := mk()
	var errs []error
	known := map[string]bool{}
	envNames(reflect.TypeOf(cfg).Elem(), known)
	var names []string
	for k := range env {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		if !known[k] {
			errs = append(errs, fmt.Errorf("%s: %s is not read by its Config", service, k))
		}
	}
	if err := config.Load(cfg, func(k string) (string, bool) { v, ok := env[k]; return v, ok }); err != nil {
		errs = append(errs, fmt.Errorf("%s: config.Load: %w", service, err))
		return errs
	}
	if err := cfg.(interface{ Validate() error }).Validate(); err != nil {
		errs = append(errs, fmt.Errorf("%s: Validate: %w", service, err))
	}
	return errs
}

// TestCheckServiceEnv makes sure the check above can fail.
func TestCheckServiceEnv(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		service string
		env     map[string]string
		want    string // substring of the first error; empty: no error
	}{
		{"ok", "session", map[string]string{"KUBENTLY_NATS_URL": "nats://n:4222"}, ""},
		{"unknown variable", "session", map[string]string{"KUBENTLY_NATS_URL": "nats://n:4222", "KUBENTLY_SESION_TTL": "1h"}, "KUBENTLY_SESION_TTL is not read"},
		{"variable of another service", "session", map[string]string{"KUBENTLY_GATEWAY_ADDR": ":8080"}, "KUBENTLY_GATEWAY_ADDR is not read"},
		{"missing required", "executor", map[string]string{"KUBENTLY_API_URL": "http://g:8080"}, "Validate"},
		{"bad value", "dispatcher", map[string]string{"KUBENTLY_DISPATCH_DRAIN_TIMEOUT": "soon"}, "KUBENTLY_DISPATCH_DRAIN_TIMEOUT"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			errs := checkServiceEnv(tt.service, tt.env)
			switch {
			case tt.want == "" && len(errs) > 0:
				t.Errorf("errors %v; want none", errs)
			case tt.want != "" && (len(errs) == 0 || !strings.Contains(errs[0].Error(), tt.want)):
				t.Errorf("errors %v; want one with %q", errs, tt.want)
			}
		})
	}
}

// TestCompose loads docker-compose.yml the way Docker Compose does (the
// compose-spec loader) for the default and the cluster profile, and checks
// every Kubently service's environment against its Config, the
// healthchecks and start order, hardening, and that the kubeconfig mount
// stays out of git and out of the image build context.
func TestCompose(t *testing.T) {
	t.Parallel()
	natsVersion := natsServerVersion(t)
	cases := []struct {
		name     string
		env      map[string]string
		profiles []string
		services []string
	}{
		{"single NATS", composeEnv, nil, []string{"nats", "redis", "session", "dispatcher", "gateway", "executor"}},
		{"3-node NATS cluster", merge(composeEnv, map[string]string{
			"KUBENTLY_NATS_URL": "nats://nats-1:4222,nats://nats-2:4222,nats://nats-3:4222", "KUBENTLY_AUDIT_REPLICAS": "3"}),
			[]string{"cluster"}, []string{"nats", "nats-1", "nats-2", "nats-3", "redis", "session", "dispatcher", "gateway", "executor"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			p, err := loadCompose(t, tc.env, tc.profiles...)
			if err != nil {
				t.Fatalf("load docker-compose.yml: %v", err)
			}
			got := p.ServiceNames()
			sort.Strings(got)
			want := append([]string(nil), tc.services...)
			sort.Strings(want)
			if strings.Join(got, ",") != strings.Join(want, ",") {
				t.Errorf("services %v; want %v", got, want)
			}
			for _, name := range got {
				s := p.Services[name]
				checkComposeService(t, p, s, natsVersion)
			}
		})
	}
}

func checkComposeService(t *testing.T, p *types.Project, s types.ServiceConfig, natsVersion string) {
	t.Helper()
	if s.HealthCheck == nil || len(s.HealthCheck.Test) == 0 {
		t.Errorf("%s: no healthcheck", s.Name)
	}
	if s.Restart == "" {
		t.Errorf("%s: no restart policy", s.Name)
	}
	if !s.ReadOnly {
		t.Errorf("%s: root filesystem not read-only", s.Name)
	}
	for dep, d := range s.DependsOn {
		if d.Condition != types.ServiceConditionHealthy {
			t.Errorf("%s: depends_on %s with condition %q; want service_healthy", s.Name, dep, d.Condition)
		}
		if _, ok := p.Services[dep]; !ok && d.Required {
			t.Errorf("%s: depends on %s, which is not defined", s.Name, dep)
		}
	}
	if strings.HasPrefix(s.Image, "nats:") && !strings.HasPrefix(s.Image, "nats:"+natsVersion) {
		t.Errorf("%s: image %s; want the nats-server the tests use (%s)", s.Name, s.Image, natsVersion)
	}
	for _, v := range s.Volumes {
		if v.Type != types.VolumeTypeBind {
			continue
		}
		rel, err := filepath.Rel(repoRoot, v.Source)
		if err != nil || strings.HasPrefix(rel, "..") {
			t.Errorf("%s: bind mount %s outside the repository", s.Name, v.Source)
			continue
		}
		if !gitIgnored(t, rel) {
			t.Errorf("%s: bind mount %s is not ignored by git", s.Name, rel)
		}
		if !dockerIgnored(t, rel) {
			t.Errorf("%s: bind mount %s is in the image build context (.dockerignore)", s.Name, rel)
		}
		if !v.ReadOnly {
			t.Errorf("%s: bind mount %s is writable", s.Name, rel)
		}
	}
	if s.Build == nil {
		return
	}
	if s.Build.Dockerfile != "deploy/Dockerfile" || s.Build.Target != s.Name {
		t.Errorf("%s: builds %s target %s; want deploy/Dockerfile target %s", s.Name, s.Build.Dockerfile, s.Build.Target, s.Name)
	}
	if len(s.CapDrop) != 1 || s.CapDrop[0] != "ALL" {
		t.Errorf("%s: cap_drop %v; want [ALL]", s.Name, s.CapDrop)
	}
	env := map[string]string{}
	for k, v := range s.Environment {
		if v == nil {
			t.Errorf("%s: %s has no value", s.Name, k)
			continue
		}
		env[k] = *v
	}
	for _, err := range checkServiceEnv(s.Name, env) {
		t.Error(err)
	}
}

// TestComposeRequiresSecrets: without the two secrets the file does not
// load, and says which one is missing.
func TestComposeRequiresSecrets(t *testing.T) {
	t.Parallel()
	for _, missing := range []string{"KUBENTLY_API_KEYS", "KUBENTLY_EXECUTOR_TOKEN"} {
		env := merge(composeEnv, nil)
		delete(env, missing)
		_, err := loadCompose(t, env)
		if err == nil || !strings.Contains(err.Error(), missing) {
			t.Errorf("without %s: err = %v; want one naming it", missing, err)
		}
	}
}

func merge(a, b map[string]string) map[string]string {
	out := map[string]string{}
	for k, v := range a {
		out[k] = v
	}
	for k, v := range b {
		out[k] = v
	}
	return out
}

// natsServerVersion is the nats-server version the tests build (from the
// gateway's go.mod, which lists it directly).
func natsServerVersion(t testing.TB) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(repoRoot, "services", "gateway", "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`github.com/nats-io/nats-server/v2 v([0-9.]+)`).FindSubmatch(b)
	if m == nil {
		t.Fatal("no nats-server version in services/gateway/go.mod")
	}
	return string(m[1])
}

func gitIgnored(t testing.TB, rel string) bool {
	t.Helper()
	cmd := exec.Command("git", "check-ignore", "-q", "--no-index", rel)
	cmd.Dir = repoRoot
	return cmd.Run() == nil
}

// dockerIgnored reports whether .dockerignore excludes rel (its patterns
// are matched against the path and each of its parent directories).
func dockerIgnored(t testing.TB, rel string) bool {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(repoRoot, ".dockerignore"))
	if err != nil {
		t.Fatal(err)
	}
	ignored := false
	for _, line := range strings.Split(string(b), "\n") {
		pat := strings.TrimSpace(line)
		if pat == "" || strings.HasPrefix(pat, "#") {
			continue
		}
		neg := strings.HasPrefix(pat, "!")
		pat = strings.TrimPrefix(pat, "!")
		for p := rel; p != "." && p != ""; p = filepath.Dir(p) {
			if globMatch(pat, p) {
				ignored = !neg
				break
			}
		}
	}
	return ignored
}

// globMatch matches a .dockerignore pattern: filepath.Match with "**/"
// matching any number of leading directories.
func globMatch(pat, p string) bool {
	if rest, ok := strings.CutPrefix(pat, "**/"); ok {
		parts := strings.Split(p, "/")
		for i := range parts {
			if ok, _ := filepath.Match(rest, strings.Join(parts[i:], "/")); ok {
				return true
			}
		}
		return false
	}
	ok, _ := filepath.Match(pat, p)
	return ok
}
