package executor

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
		"github.com/redis/go-redis/v9": "the executor holds no store; it talks only to the gateway",
		"github.com/labstack/echo/v4":  "the executor serves no API",
		"github.com/nats-io/nats.go":   "the executor reaches the system only through the gateway",
	}
	for _, dep := range strings.Fields(string(out)) {
		for prefix, why := range bad {
			if why != "" && (dep == prefix || strings.HasPrefix(dep, prefix+"/")) {
				t.Errorf("imports %s: %s", dep, why)
			}
		}
		if strings.HasPrefix(dep, "kubently.io/services/") && dep != "kubently.io/services/executor" && !strings.HasPrefix(dep, "kubently.io/services/executor/") {
			t.Errorf("imports another service's package %s", dep)
		}
	}
}
