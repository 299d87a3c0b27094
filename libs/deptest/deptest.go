// Package deptest guards service boundaries in tests: it lists a module's
// dependencies with `go list -deps` and fails on forbidden imports and on
// any other service's packages.
package deptest

import (
	"os/exec"
	"strings"
	"testing"
)

// Check runs `go list -deps ./...` in the current directory (a service
// module's root) and fails tb for every dependency under a prefix in bad
// (mapped to the reason) and every package of a service other than own
// (e.g. "kubently.io/services/gateway").
func Check(tb testing.TB, own string, bad map[string]string) {
	tb.Helper()
	out, err := exec.Command("go", "list", "-deps", "./...").CombinedOutput()
	if err != nil {
		tb.Fatalf("go list: %v\n%s", err, out)
	}
	for _, dep := range strings.Fields(string(out)) {
		for prefix, why := range bad {
			if dep == prefix || strings.HasPrefix(dep, prefix+"/") {
				tb.Errorf("imports %s: %s", dep, why)
			}
		}
		if strings.HasPrefix(dep, "kubently.io/services/") && dep != own && !strings.HasPrefix(dep, own+"/") {
			tb.Errorf("imports another service's package %s", dep)
		}
	}
}
