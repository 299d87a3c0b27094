package redact_test

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"kubently.io/services/executor/internal/redact"
)

var fuzzSeeds = []string{
	`{"apiVersion":"v1","kind":"Secret","metadata":{"name":"s"},"data":{"password":"aHVudGVyMg=="},"stringData":{"p":"hunter2"}}`,
	`{"apiVersion":"v1","kind":"SecretList","items":[{"metadata":{"name":"a"},"data":{"k":"c2VjcmV0"}}]}`,
	`{"apiVersion":"v1","kind":"List","items":[{"apiVersion":"v1","kind":"Secret","data":{"k":"c2VjcmV0"}},{"kind":"Pod","spec":{"containers":[{"env":[{"name":"TOKEN","value":"abcd"}]}]}}]}`,
	`{"apiVersion":"meta.k8s.io/v1","kind":"Table","rows":[{"cells":["s"],"object":{"kind":"PartialObjectMetadata","metadata":{"annotations":{"kubectl.kubernetes.io/last-applied-configuration":"{\"kind\":\"Secret\",\"data\":{\"k\":\"c2VjcmV0\"}}\n"}}}}]}`,
	`{"apiVersion":"v1","kind":"Secret","metadata":{"annotations":{"kubectl.kubernetes.io/last-applied-configuration":"{\"kind\":\"Secret\",\"metadata\":{\"annotations\":{\"kubectl.kubernetes.io/last-applied-configuration\":\"{\\\"kind\\\":\\\"Secret\\\",\\\"data\\\":{\\\"k\\\":\\\"eHh4eA==\\\"}}\"}},\"data\":{\"k\":\"eHh4eA==\"}}"}},"data":{"k":"eHh4eA=="}}`,
	`{"kind":"Service","metadata":{"annotations":{"kubectl.kubernetes.io/last-applied-configuration":"{bad"}}}`,
	`{"kind":"Secret","data":["x"],"stringData":{"n":1},"metadata":{"annotations":"x"}}`,
	`{"kind":"Secr\u0065t","data":{"k":"abcdef"}}`,
	`[{"env":[{"name":"PASSWORD","value":1}]},{"kind":"SecretList","items":[1,{"data":{"k":"zzzz"}}]}]`,
	`{"items":[{"data":{"k":"abcd"}}],"data":{"j":"efgh"}}`,
	`{"kind":"Secret","data":{"k":"abcd"},"data":null}`,
	`{"kind":"Service","spec":{"ports":[{"port":80}]}}`,
	`"Secret"`,
	`12345678901234567890`,
	`{"kind":"Secret"`,
	`{"kind":"Pod","spec":{"containers":[{"args":["--token","t0k","--db-password=x1","DB_PASSWORD=y"],"command":["sh","-c","psql postgres://u:pw@h"],"env":[{"name":"DATABASE_URL","value":"redis://:pw1234@r:6379"},{"name":"SESSION_SALT","value":"Zq8v1Lm3Np5Rt7Wx9Yb2"}],"livenessProbe":{"httpGet":{"httpHeaders":[{"name":"Authorization","value":"Bearer x"},{"name":"X","value":"token=abc123"}]}}}]}}`,
	`{"kind":"Secret","metadata":{"annotations":{"a":"b","kubernetes.io/service-account.name":"sa"}}}`,
	`{"kind":"ConfigMap","metadata":{"annotations":{"kubectl.kubernetes.io/last-applied-configuration":"{\"apiVersion\":\"core/v1\",\"kind\":\"SECRET\",\"stringData\":{\"p\":\"x\"}}"}}}`,
	`{"apiVersion":"eXAmple.Com/","kind":"VAultEntrYList","items":[{"":{"":[{"":0}]}}]}`,
	`{"apiVersion":"example.com/v1","kind":"VaultEntryList","items":[{"kind":"VaultEntry","spec":{"password":"pw","auth":{"a":{"token":"t"}},"users":[{"secret":1}]}}]}`,
}

// FuzzJSON checks that redaction never panics, produces valid JSON, is
// idempotent, and never lets a distinctive Secret value through.
func FuzzJSON(f *testing.F) {
	for _, s := range fuzzSeeds {
		f.Add([]byte(s), false)
		f.Add([]byte(s), true)
	}
	r := newRedactor(f, redact.Config{Kinds: []redact.Kind{configMapKind},
		Paths: []redact.PathRule{{Kind: vaultKind, Paths: []string{"spec.password", "spec.auth.*.token", "spec.users.secret", "*"}}}})
	f.Fuzz(func(t *testing.T, in []byte, secretHint bool) {
		hint := redact.Kind{}
		if secretHint {
			hint = secretKind
		}
		orig := bytes.Clone(in)
		out, changed, err := r.JSON(in, hint)
		if !bytes.Equal(in, orig) {
			t.Fatalf("JSON modified its input")
		}
		if err != nil {
			return
		}
		if changed && !json.Valid(out) {
			t.Fatalf("JSON(%q) = %q: not valid JSON", in, out)
		}
		if !changed && !sameSlice(out, in) {
			t.Fatalf("JSON(%q): changed=false but returned a different slice", in)
		}
		again, changed2, err := r.JSON(out, hint)
		if err != nil || changed2 || !bytes.Equal(again, out) {
			t.Fatalf("JSON not idempotent:\nin:     %q\nonce:   %q\ntwice:  %q (changed=%v, err=%v)", in, out, again, changed2, err)
		}
		checkNoSecretValues(t, in, out, secretHint)
	})
}

// checkNoSecretValues asserts that, when in is a core Secret (by its own
// kind, or by the hint when it has none), no string value of its data or
// stringData (of length 4 or more) appears in out, unless the value also
// appears outside those fields in in, where it is legitimately visible
// (a key, a name, part of the mask...).
func checkNoSecretValues(t *testing.T, in, out []byte, secretHint bool) {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(in))
	dec.UseNumber()
	var doc any
	if err := dec.Decode(&doc); err != nil {
		return
	}
	m, ok := doc.(map[string]any)
	if !ok {
		return
	}
	kind, hasKind := m["kind"].(string)
	apiVersion, _ := m["apiVersion"].(string)
	isSecret := hasKind && kind == "Secret" && !strings.Contains(apiVersion, "/") || !hasKind && secretHint
	if !isSecret {
		return
	}
	var values []string
	allowed := []string{redact.Mask, b64Mask, redact.AnnotationRedacted, "true", "metadata", "annotations"}
	rest := map[string]any{}
	for k, v := range m {
		rest[k] = v
	}
	for _, field := range []string{"data", "stringData"} {
		vals, ok := m[field].(map[string]any)
		delete(rest, field)
		if !ok {
			continue
		}
		for k, v := range vals {
			allowed = append(allowed, k)
			if s, ok := v.(string); ok && len(s) >= 4 {
				values = append(values, s)
			}
		}
	}
	collectStrings(rest, true, &allowed)
	var got []string
	collectStrings(decodeJSON(t, out), false, &got)
	for _, v := range values {
		if containedIn(v, allowed) {
			continue
		}
		if containedIn(v, got) {
			t.Fatalf("Secret value %q leaked:\nin:  %q\nout: %q", v, in, out)
		}
	}
}

// collectStrings appends every object key and string in v to out. Strings
// that hold a JSON object or array contribute their own strings instead
// (and, when keepRaw is set, themselves too).
func collectStrings(v any, keepRaw bool, out *[]string) {
	switch t := v.(type) {
	case map[string]any:
		for k, e := range t {
			*out = append(*out, k)
			collectStrings(e, keepRaw, out)
		}
	case []any:
		for _, e := range t {
			collectStrings(e, keepRaw, out)
		}
	case string:
		trimmed := strings.TrimSpace(t)
		if strings.HasPrefix(trimmed, "{") || strings.HasPrefix(trimmed, "[") {
			var inner any
			if err := json.Unmarshal([]byte(t), &inner); err == nil {
				collectStrings(inner, keepRaw, out)
				if !keepRaw {
					return
				}
			}
		}
		*out = append(*out, t)
	}
}

func containedIn(v string, ss []string) bool {
	for _, s := range ss {
		if strings.Contains(s, v) {
			return true
		}
	}
	return false
}
