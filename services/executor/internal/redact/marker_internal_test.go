package redact

import "testing"

func TestHasMarkerEscape(t *testing.T) {
	tests := []struct {
		body string
		want bool
	}{
		{`{"description":"a \u003cb\u003e \u0026 c"}`, false},
		{`{"kind":"Secr\u0065t"}`, true},
		{`{"\u0065nv":[]}`, true},
		{`{"x":"\u0022"}`, true},
		{`{"x":"\u2028"}`, false},
		{`{"x":"\u00e9"}`, false},
		{`{"x":"\u00"}`, true},
		{`{"x":"\uzzzz"}`, true},
		{`{"x":"plain"}`, false},
	}
	for _, tt := range tests {
		if got := hasMarkerEscape([]byte(tt.body)); got != tt.want {
			t.Errorf("hasMarkerEscape(%s) = %v; want %v", tt.body, got, tt.want)
		}
	}
}

func TestContainsFold(t *testing.T) {
	for _, tt := range []struct {
		b, m string
		want bool
	}{
		{`"kind":"VaultEntry"`, "vaultentry", true},
		{`"kind":"VAULTENTRY"`, "VaultEntry", true},
		{`vvvvvvVaultEntr`, "vaultentry", false},
		{`x-1y`, "-1Y", true},
		{``, "a", false},
		{`abc`, "", true},
	} {
		if got := containsFold([]byte(tt.b), []byte(tt.m)); got != tt.want {
			t.Errorf("containsFold(%q, %q) = %v; want %v", tt.b, tt.m, got, tt.want)
		}
	}
}
