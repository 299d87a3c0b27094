package dispatcher

import (
	"os/exec"
	"strings"
	"testing"
)

// TestDeps guards the service boundary: forbidden imports and other
// services' internal packages.
func TestDeps(t *testing.T) {
	if testing.Short() {
		t.Skip("go list is slow; skipped in -short")
	}
	out, err := exec.Command("go", "list", "-deps", "./...").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	bad := map[string]string{
		"k8s.io/client-go":            "only the executor talks to Kubernetes",
		"github.com/labstack/echo/v4": "only the gateway serves the HTTP API",
	}
	for _, dep := range strings.Fields(string(out)) {
		for prefix, why := range bad {
			if why != "" && (dep == prefix || strings.HasPrefix(dep, prefix+"/")) {
				t.Errorf("imports %s: %s", dep, why)
			}
		}
		if strings.HasPrefix(dep, "kubently.io/services/") && dep != "kubently.io/services/dispatcher" && !strings.HasPrefix(dep, "kubently.io/services/dispatcher/") {
			t.Errorf("imports another service's package %s", dep)
		}
	}
}
