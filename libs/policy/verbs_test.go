package policy

import (
	"strings"
	"testing"
)

func TestVerbLabel(t *testing.T) {
	tests := []struct {
		name string
		argv []string
		want string
	}{
		{"allowed verb", []string{"get", "pods"}, "get"},
		{"two-word verb", []string{"rollout", "history", "deploy/web"}, "rollout"},
		{"api-resources", []string{"api-resources"}, "api-resources"},
		{"denied word", []string{"delete", "pod", "x"}, VerbOther},
		{"made-up word", []string{"frobnicate"}, VerbOther},
		{"empty argv", nil, VerbInvalid},
		{"empty verb", []string{""}, VerbInvalid},
		{"flag first", []string{"--token=x", "get"}, VerbInvalid},
		{"upper case", []string{"GET"}, VerbInvalid},
		{"digits", []string{"get2"}, VerbInvalid},
		{"binary", []string{"\x00\xff"}, VerbInvalid},
		{"long word", []string{strings.Repeat("a", 33)}, VerbInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := VerbLabel(tt.argv); got != tt.want {
				t.Errorf("VerbLabel(%q) = %q; want %q", tt.argv, got, tt.want)
			}
		})
	}
}

// TestVerbLabelClosedSet: whatever argv holds, the label is a known verb
// or one of the two buckets.
func TestVerbLabelClosedSet(t *testing.T) {
	seen := map[string]bool{}
	for i := range 5000 {
		w := strings.Repeat(string(rune('a'+i%26)), 1+i%40) + string(rune('a'+(i/26)%26))
		seen[VerbLabel([]string{w})] = true
	}
	for l := range seen {
		if l != VerbOther && l != VerbInvalid && !IsVerb(l) {
			t.Errorf("label %q is neither a verb nor a bucket", l)
		}
	}
	if !IsVerb("get") || IsVerb("delete") {
		t.Errorf("IsVerb(get) = %v, IsVerb(delete) = %v; want true, false", IsVerb("get"), IsVerb("delete"))
	}
}
