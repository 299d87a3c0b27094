package session

import (
	"testing"

	"kubently.io/libs/deptest"
)

// TestDeps guards the service boundary: forbidden imports and other
// services' internal packages.
func TestDeps(t *testing.T) {
	if testing.Short() {
		t.Skip("go list is slow; skipped in -short")
	}
	deptest.Check(t, "kubently.io/services/session", map[string]string{
		"k8s.io/client-go":            "only the executor talks to Kubernetes",
		"github.com/labstack/echo/v4": "only the gateway serves the HTTP API",
	})
}
