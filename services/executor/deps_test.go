package executor

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
	deptest.Check(t, "kubently.io/services/executor", map[string]string{
		"github.com/redis/go-redis/v9": "the executor holds no store; it talks only to the gateway",
		"github.com/labstack/echo/v4":  "the executor serves no API",
		"github.com/nats-io/nats.go":   "the executor reaches the system only through the gateway",
	})
}
