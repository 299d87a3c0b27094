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

// The screen sends a document to lastAppliedClean only when nothing but
// last-applied annotations could hold a secret.
func TestScreen(t *testing.T) {
	r, err := New(Config{})
	if err != nil {
		t.Fatal(err)
	}
	ann := func(v string) string {
		return `{"kind":"PartialObjectMetadata","metadata":{"annotations":{"kubectl.kubernetes.io/last-applied-configuration":` + v + `}}}`
	}
	tests := []struct {
		name  string
		body  string
		want  int
		clean bool // lastAppliedClean's answer, for screenLastApplied
	}{
		{name: "nothing", body: `{"kind":"Namespace","metadata":{"name":"a"}}`, want: screenClean},
		{name: "a Secret", body: `{"kind":"Secret"}`, want: screenFull},
		{name: "harmless last-applied", body: ann(`"{\"kind\":\"Namespace\"}\n"`), want: screenLastApplied, clean: true},
		{name: "two harmless", body: `[` + ann(`"{}"`) + `,` + ann(`"{\"a\":[1,2]}"`) + `]`, want: screenLastApplied, clean: true},
		{name: "harmless env inside", body: ann(`"{\"env\":[]}"`), want: screenLastApplied, clean: true},
		{name: "env inside", body: ann(`"{\"env\":[{\"name\":\"PASSWORD\",\"value\":\"x1\"}]}"`), want: screenLastApplied},
		{name: "the marker in a value", body: `{"description":"see last-applied-configuration","metadata":{}}`, want: screenLastApplied, clean: true},
		{name: "managedFields", body: `{"managedFields":[{"fieldsV1":{"f:metadata":{"f:annotations":{"f:kubectl.kubernetes.io/last-applied-configuration":{}}}}}]}`, want: screenLastApplied, clean: true},
		{name: "another key ending in the marker", body: `{"x/last-applied-configuration":"{\"env\":[]}"}`, want: screenLastApplied, clean: true},
		{name: "the key with escaped dots and slash", body: `{"kubectl\u002ekubernetes.io\/last-applied-configuration":"{\"env\":[{\"name\":\"PASSWORD\",\"value\":\"x1\"}]}"}`, want: screenLastApplied},
		{name: "the key with escaped dots, harmless", body: `{"kubectl\u002ekubernetes.io\/last-applied-configuration":"{}"}`, want: screenLastApplied, clean: true},
		{name: "another key with an escaped quote", body: `{"a\"kubectl.kubernetes.io/last-applied-configuration":"{\"env\":[]}"}`, want: screenLastApplied, clean: true},
		{name: "after a string ending in a backslash", body: `{"a":"x\\","kubectl.kubernetes.io/last-applied-configuration":"{\"env\":[{\"name\":\"PASSWORD\",\"value\":\"x1\"}]}"}`, want: screenLastApplied},
		{name: "the marker as a key of a null", body: ann(`null`), want: screenLastApplied},
		{name: "unterminated", body: `{"metadata":{"annotations":{"kubectl.kubernetes.io/last-applied-configuration":"{}`, want: screenLastApplied},
		{name: "control character", body: ann("\"{\n}\""), want: screenLastApplied},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			body := []byte(tt.body)
			if got := r.screen(body, Kind{}); got != tt.want {
				t.Fatalf("screen = %d; want %d", got, tt.want)
			}
			if tt.want == screenLastApplied {
				if got := r.lastAppliedClean(body); got != tt.clean {
					t.Errorf("lastAppliedClean = %v; want %v", got, tt.clean)
				}
			}
		})
	}
}
