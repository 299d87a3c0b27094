package repo

import (
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"

	dispatchapp "kubently.io/services/dispatcher/app"
	executorapp "kubently.io/services/executor/app"
	gatewayapp "kubently.io/services/gateway/app"
	sessionapp "kubently.io/services/session/app"
)

// envVars returns the env tags of a config struct, embedded structs included.
func envVars(t reflect.Type, into map[string]bool) {
	for i := range t.NumField() {
		f := t.Field(i)
		if f.Anonymous && f.Type.Kind() == reflect.Struct {
			envVars(f.Type, into)
			continue
		}
		if key, ok := f.Tag.Lookup("env"); ok {
			into[key] = true
		}
	}
}

// TestConfigDocumented keeps the README's configuration table and the
// compose file true to the services' Config structs.
func TestConfigDocumented(t *testing.T) {
	root := repoRoot(t)
	known := map[string]bool{}
	for _, c := range []any{gatewayapp.Config{}, sessionapp.Config{}, dispatchapp.Config{}, executorapp.Config{}} {
		envVars(reflect.TypeOf(c), known)
	}
	readme, err := os.ReadFile(filepath.Join(root, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	for key := range known {
		if key == "KUBECONFIG" {
			continue
		}
		if !strings.Contains(string(readme), "`"+key+"`") {
			t.Errorf("README.md does not document %s", key)
		}
	}
	compose, err := os.ReadFile(filepath.Join(root, "docker-compose.yml"))
	if err != nil {
		t.Fatal(err)
	}
	re := regexp.MustCompile(`(?m)^\s+((?:KUBENTLY_|CLUSTER_ID)[A-Z_]*):`)
	matches := re.FindAllStringSubmatch(string(compose), -1)
	if len(matches) == 0 {
		t.Fatal("no environment keys found in docker-compose.yml")
	}
	for _, m := range matches {
		if !known[m[1]] {
			t.Errorf("docker-compose.yml sets %s, which no service reads", m[1])
		}
	}
}
