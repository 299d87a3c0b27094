package app

import (
	"strings"
	"testing"
	"time"

	"kubently.io/libs/config"
)

func TestConfigValidate(t *testing.T) {
	valid := func() Config {
		return Config{Platform: config.Platform{NATSURL: "nats://127.0.0.1:4222", LogLevel: "info"},
			MaxInFlight: 1024, PolicyReload: 5 * time.Second, AuditMaxAge: 2160 * time.Hour, AuditReplicas: 1, DrainTimeout: 10 * time.Second}
	}
	tests := []struct {
		name string
		mod  func(*Config)
		want string // error substring; empty: valid
	}{
		{"defaults", func(*Config) {}, ""},
		{"three replicas", func(c *Config) { c.AuditReplicas = 3 }, ""},
		{"short max age", func(c *Config) { c.AuditMaxAge = time.Minute }, "KUBENTLY_AUDIT_MAX_AGE"},
		{"no replicas", func(c *Config) { c.AuditReplicas = 0 }, "KUBENTLY_AUDIT_REPLICAS"},
		{"too many replicas", func(c *Config) { c.AuditReplicas = 6 }, "KUBENTLY_AUDIT_REPLICAS"},
		{"no drain", func(c *Config) { c.DrainTimeout = 0 }, "KUBENTLY_DISPATCH_DRAIN_TIMEOUT"},
		{"endless drain", func(c *Config) { c.DrainTimeout = time.Hour }, "KUBENTLY_DISPATCH_DRAIN_TIMEOUT"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := valid()
			tt.mod(&c)
			err := c.Validate()
			if tt.want == "" && err != nil {
				t.Fatalf("Validate: %v; want nil", err)
			}
			if tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)) {
				t.Fatalf("Validate: %v; want an error naming %s", err, tt.want)
			}
		})
	}
}
