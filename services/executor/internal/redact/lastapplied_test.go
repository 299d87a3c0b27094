package redact_test

import (
	"strings"
	"testing"

	"kubently.io/services/executor/internal/redact"
)

// nsTable returns a Table of namespaces as the API server sends it, whose
// second row's object carries annotation ann (a JSON key and value).
func nsTable(ann string) string {
	row := func(name, anns string) string {
		return `{"cells":["` + name + `","Active","5d"],"object":{"kind":"PartialObjectMetadata","apiVersion":"meta.k8s.io/v1","metadata":{"name":"` + name +
			`","labels":{"kubernetes.io/metadata.name":"` + name + `"},"annotations":{` + anns + `},"managedFields":[{"manager":"kubectl-client-side-apply","operation":"Update",` +
			`"apiVersion":"v1","fieldsType":"FieldsV1","fieldsV1":{"f:metadata":{"f:annotations":{".":{},"f:kubectl.kubernetes.io/last-applied-configuration":{}}}}}]}}}`
	}
	clean := `"kubectl.kubernetes.io/last-applied-configuration":` + lastApplied(`{"apiVersion":"v1","kind":"Namespace","metadata":{"annotations":{},"name":"shop"}}`)
	return `{"kind":"Table","apiVersion":"meta.k8s.io/v1","metadata":{"resourceVersion":"7"},"columnDefinitions":[` +
		`{"name":"Name","type":"string","format":"name","description":"Name must be unique within a namespace. More info: https://kubernetes.io/docs/concepts/overview/working-with-objects/names#names","priority":0},` +
		`{"name":"Status","type":"string","format":"","description":"The status of the namespace","priority":0},` +
		`{"name":"Age","type":"string","format":"","description":"CreationTimestamp is a timestamp \u003cRFC 3339\u003e.","priority":0}],"rows":[` +
		row("demo", clean) + `,` + row("shop", ann) + `]}`
}

// The fast path for documents whose only possible secrets sit in
// last-applied annotations (a Table of namespaces created with kubectl
// apply) still sends every annotation that holds something to mask
// through the full redaction: none of the values below may come out.
func TestJSONLastAppliedScreen(t *testing.T) {
	bank := redact.Kind{Group: "example.com", Kind: "Bank"}
	tests := []struct {
		name   string
		cfg    redact.Config
		ann    string // the annotation of the second row
		secret string // must not be in the output; "" means the body passes unchanged
	}{
		{name: "harmless", ann: `"kubectl.kubernetes.io/last-applied-configuration":` + lastApplied(`{"apiVersion":"v1","kind":"Namespace","metadata":{"name":"shop"}}`)},
		{name: "harmless, spaced and with an escaped slash", ann: `"kubectl.kubernetes.io\/last-applied-configuration" :  ` + lastApplied(`{"kind":"Namespace"}`)},
		{name: "no annotation of that name", ann: `"example.com/last-applied-configuration-hash":"abc"`, secret: ""},
		{
			name: "Secret in lower case", secret: "hunter2",
			ann: `"kubectl.kubernetes.io/last-applied-configuration":` + lastApplied(`{"apiVersion":"v1","kind":"secret","stringData":{"p":"hunter2"}}`),
		},
		{
			name: "env of a pod template", secret: "t0k3n-value",
			ann: `"kubectl.kubernetes.io/last-applied-configuration":` + lastApplied(`{"kind":"Deployment","spec":{"template":{"spec":{"containers":[{"env":[{"name":"TOKEN","value":"t0k3n-value"}]}]}}}}`),
		},
		{
			name: "args outside a pod spec", secret: "s3cr3t-pass",
			ann: `"kubectl.kubernetes.io/last-applied-configuration":` + lastApplied(`{"kind":"Runner","spec":{"args":["--password=s3cr3t-pass"]}}`),
		},
		{
			name: "command outside a pod spec", secret: "s3cr3t-pass",
			ann: `"kubectl.kubernetes.io/last-applied-configuration":` + lastApplied(`{"kind":"Runner","spec":{"command":["run","--token","s3cr3t-pass"]}}`),
		},
		{
			name: "probe headers", secret: "Bearer abc.def",
			ann: `"kubectl.kubernetes.io/last-applied-configuration":` + lastApplied(`{"kind":"Probe","spec":{"httpHeaders":[{"name":"Authorization","value":"Bearer abc.def"}]}}`),
		},
		{
			name: "last-applied nested in last-applied", secret: "nested-pw",
			ann: `"kubectl.kubernetes.io/last-applied-configuration":` + lastApplied(`{"kind":"Namespace","metadata":{"annotations":{"kubectl.kubernetes.io/last-applied-configuration":`+
				strings.TrimSuffix(lastApplied(`{"kind":"Deployment","spec":{"template":{"spec":{"containers":[{"env":[{"name":"DB_PASSWORD","value":"nested-pw"}]}]}}}}`), `\n"`)+`"}}}`),
		},
		{
			name: "a document that is not JSON", secret: "broken-doc",
			ann: `"kubectl.kubernetes.io/last-applied-configuration":"{\"kind\":\"Namespace\",\"x\":\"broken-doc\""`,
		},
		{
			name: "a value that is not a string", secret: "not-a-string",
			ann: `"kubectl.kubernetes.io/last-applied-configuration":{"kind":"Namespace","x":"not-a-string"}`,
		},
		{
			name: "a number", secret: "12345678",
			ann: `"kubectl.kubernetes.io/last-applied-configuration":12345678`,
		},
		{
			name: "a unicode escape spelling a key", secret: "esc4ped",
			ann: `"kubectl.kubernetes.io/last-applied-configuration":` + lastApplied(`{"kind":"Deployment","spec":{"containers":[{"\u0065nv":[{"name":"PASSWORD","value":"esc4ped"}]}]}}`),
		},
		{
			name: "a configured kind spelled with the Kelvin sign", cfg: redact.Config{Kinds: []redact.Kind{bank}}, secret: "vault-money",
			ann: `"kubectl.kubernetes.io/last-applied-configuration":` + lastApplied(`{"apiVersion":"example.com/v1","kind":"BAN`+"\u212a"+`","data":{"k":"vault-money"}}`),
		},
		{
			name: "a configured kind in another case", cfg: redact.Config{Kinds: []redact.Kind{bank}}, secret: "vault-money",
			ann: `"kubectl.kubernetes.io/last-applied-configuration":` + lastApplied(`{"apiVersion":"example.com/v1","kind":"bANK","data":{"k":"vault-money"}}`),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newRedactor(t, tt.cfg)
			in := []byte(nsTable(tt.ann))
			got, changed, err := r.JSON(in, redact.Kind{})
			if err != nil {
				t.Fatalf("JSON: %v", err)
			}
			if tt.secret == "" {
				if changed || !sameSlice(got, in) {
					t.Fatalf("JSON: changed=%v, %s; want the input unchanged", changed, got)
				}
				return
			}
			if !changed || strings.Contains(string(got), tt.secret) {
				t.Fatalf("JSON: changed=%v, %s; want %q masked", changed, got, tt.secret)
			}
			if !strings.Contains(string(got), redact.AnnotationRedacted) {
				t.Errorf("JSON: %s; want the object annotated %s", got, redact.AnnotationRedacted)
			}
		})
	}
}
