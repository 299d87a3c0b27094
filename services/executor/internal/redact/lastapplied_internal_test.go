package redact

import (
	"encoding/json"
	"testing"
)

// fuzzRedactor masks Secrets, a configured kind with a k (which the
// Kelvin sign can spell) and a path kind.
func fuzzRedactor(t testing.TB) *Redactor {
	t.Helper()
	r, err := New(Config{
		Kinds: []Kind{{Group: "example.com", Kind: "Bank"}},
		Paths: []PathRule{{Kind: Kind{Group: "example.com", Kind: "VaultEntry"}, Paths: []string{"spec.password"}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

var nestedSeeds = []string{
	`{"apiVersion":"v1","kind":"Namespace","metadata":{"annotations":{},"name":"shop"}}` + "\n",
	`{"kind":"secret","data":{"k":"x"}}`,
	`{"kind":"BAN` + "\u212a" + `","data":{"k":"x"}}`,
	`{"spec":{"args":["--password=x"]}}`,
	`{"spec":{"containers":[{"\u0065nv":[{"name":"PASSWORD","value":"x"}]}]}}`,
	`{"metadata":{"annotations":{"kubectl.kubernetes.io/last-applied-configuration":"{\"kind\":\"Secret\"}"}}}`,
	`{"apiVersion":"example.com/v1","kind":"vaultentry","spec":{"password":"x"}}`,
	`{"items":[{"data":{"k":"x"}}]}`,
	`REDACTED`,
	`{`,
}

// FuzzNestedClean checks that nestedClean never passes a last-applied
// document the full redaction would change, whatever kind the enclosing
// object gives it (the screen lets only unmasked kinds through), and that
// lastAppliedClean judges an annotation holding it exactly as nestedClean
// does.
func FuzzNestedClean(f *testing.F) {
	for _, s := range nestedSeeds {
		f.Add(s)
	}
	r := fuzzRedactor(f)
	f.Fuzz(func(t *testing.T, doc string) {
		// The walk redacts a last-applied document with its object's
		// kind as the hint; for kinds that are not masked, which kind
		// must not matter (lastAppliedClean redacts with the zero Kind).
		want, wantChanged, wantErr := r.redact([]byte(doc), Kind{}, false)
		for _, hint := range []Kind{{Kind: "Namespace"}, {Group: "meta.k8s.io", Kind: "PartialObjectMetadata"}, {Kind: "Pod"}, {Group: "example.com", Kind: "Widget"}} {
			got, changed, err := r.redact([]byte(doc), hint, false)
			if changed != wantChanged || (err == nil) != (wantErr == nil) || string(got) != string(want) {
				t.Fatalf("redact(%q) with hint %v = %q, %v, %v; with no hint %q, %v, %v", doc, hint, got, changed, err, want, wantChanged, wantErr)
			}
		}
		clean := r.nestedClean([]byte(doc))
		if clean {
			for _, hint := range []Kind{{}, {Kind: "Namespace"}, {Group: "meta.k8s.io", Kind: "PartialObjectMetadata"}} {
				out, changed, err := r.redact([]byte(doc), hint, false)
				if err != nil || changed {
					t.Fatalf("nestedClean(%q) = true, but redact with hint %v gives %q, changed=%v, err=%v", doc, hint, out, changed, err)
				}
			}
		}
		v, err := json.Marshal(doc)
		if err != nil {
			return
		}
		body := []byte(`{"kind":"PartialObjectMetadata","metadata":{"annotations":{"kubectl.kubernetes.io/last-applied-configuration":` + string(v) + `}}}`)
		if r.screen(body, Kind{}) == screenLastApplied {
			if got := r.lastAppliedClean(body); got != (wantErr == nil && !wantChanged) {
				t.Fatalf("lastAppliedClean(%s) = %v; redacting the document alone gives changed=%v, err=%v", body, got, wantChanged, wantErr)
			}
		}
	})
}

// FuzzLastAppliedClean checks that lastAppliedClean, for a valid
// document the screen sends it, passes it only when every last-applied
// annotation in it, at any depth, holds a string whose document the
// redaction leaves as it is.
func FuzzLastAppliedClean(f *testing.F) {
	for _, s := range nestedSeeds {
		v, _ := json.Marshal(s)
		f.Add(`{"kind":"Table","rows":[{"object":{"metadata":{"annotations":{"kubectl.kubernetes.io/last-applied-configuration":` + string(v) + `}}}}]}`)
	}
	f.Add(`{"a":{"kubectl.kubernetes.io\/last-applied-configuration":"{}","kubectl.kubernetes.io/last-applied-configuration":"{\"env\":1}"}}`)
	f.Add(`{"x":"last-applied-configuration","kubectl.kubernetes.io/last-applied-configuration" : "{}"}`)
	f.Add(`{"kubectl.kubernetes.io/last-applied-configuration":null}`)
	r := fuzzRedactor(f)
	f.Fuzz(func(t *testing.T, body string) {
		b := []byte(body)
		if !json.Valid(b) || r.screen(b, Kind{}) != screenLastApplied || !r.lastAppliedClean(b) {
			return
		}
		var doc any
		if err := json.Unmarshal(b, &doc); err != nil {
			t.Fatal(err)
		}
		var walk func(v any)
		walk = func(v any) {
			switch t2 := v.(type) {
			case map[string]any:
				for k, e := range t2 {
					if k == lastAppliedKey {
						s, ok := e.(string)
						if !ok {
							t.Fatalf("lastAppliedClean(%s) = true, but it holds %#v", body, e)
						}
						if _, changed, err := r.redact([]byte(s), Kind{}, false); err != nil || changed {
							t.Fatalf("lastAppliedClean(%s) = true, but its document %q is redacted (changed=%v, err=%v)", body, s, changed, err)
						}
					}
					walk(e)
				}
			case []any:
				for _, e := range t2 {
					walk(e)
				}
			}
		}
		walk(doc)
	})
}

// FuzzUnquoteASCII checks that unquoteASCII decodes what it accepts
// exactly as encoding/json does.
func FuzzUnquoteASCII(f *testing.F) {
	for _, s := range []string{`"{\"kind\":\"Namespace\"}\n"`, `"a\/b\\c\t\r\b\f"`, `"\u0041"`, `"x\"`, `"é"`, `"a"b"`, `""`, `"\q"`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, quoted string) {
		got, ok := unquoteASCII([]byte(quoted))
		if !ok {
			return
		}
		var want string
		if err := json.Unmarshal([]byte(quoted), &want); err != nil || string(got) != want {
			t.Fatalf("unquoteASCII(%s) = %q; encoding/json gives %q, %v", quoted, got, want, err)
		}
	})
}
