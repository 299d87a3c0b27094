package policy

import (
	"context"
	"strings"
	"testing"
)

func TestScopeNamespace(t *testing.T) {
	tests := []struct {
		argv []string
		ns   string
		all  bool
	}{
		{[]string{"get", "pods"}, "default", false},
		{[]string{"get", "pods", "-n", "shop"}, "shop", false},
		{[]string{"get", "pods", "-A"}, "", true},
		{[]string{"get", "nodes"}, "", false},
		{[]string{"get", "nodes", "-n", "shop"}, "", false},
		{[]string{"get", "nodes,pods", "-n", "shop"}, "", false},              // mixed: -n does not bound the nodes
		{[]string{"get", "widgets.example.com", "-n", "shop"}, "shop", false}, // unknown: namespaced
		{[]string{"describe", "node/x"}, "", false},
		{[]string{"logs", "web-1", "-n", "shop"}, "shop", false},
		{[]string{"events"}, "default", false},
		{[]string{"version"}, "", false},
		{[]string{"api-resources"}, "", false},
		{[]string{"auth", "can-i", "get", "pods", "-n", "shop"}, "shop", false},
		{[]string{"auth", "can-i", "list", "pods", "-A"}, "", true},
		{[]string{"diagnose"}, "default", false},
		{[]string{"diagnose", "-n", "shop"}, "shop", false},
		{[]string{"diagnose", "-A"}, "", true},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.argv, " "), func(t *testing.T) {
			cmd, d, ok := Parse(tt.argv)
			if !ok {
				t.Fatalf("Parse: %+v", d)
			}
			ns, all := cmd.ScopeNamespace(context.Background(), StaticResolver)
			if ns != tt.ns || all != tt.all {
				t.Errorf("got %q, %v; want %q, %v", ns, all, tt.ns, tt.all)
			}
		})
	}
}
