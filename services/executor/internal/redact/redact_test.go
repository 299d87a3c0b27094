package redact_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"

	"kubently.io/services/executor/internal/redact"
)

// b64Mask is base64("REDACTED"), the mask of []byte fields.
const b64Mask = "UkVEQUNURUQ="

// newRedactor builds a Redactor for cfg or fails the test.
func newRedactor(t testing.TB, cfg redact.Config) *redact.Redactor {
	t.Helper()
	r, err := redact.New(cfg)
	if err != nil {
		t.Fatalf("New(%+v): %v", cfg, err)
	}
	return r
}

// decodeJSON decodes a JSON document the way the redactor does, for
// comparison with cmp.Diff.
func decodeJSON(t testing.TB, b []byte) any {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		t.Fatalf("decoding %s: %v", b, err)
	}
	return v
}

// lastApplied returns a JSON string literal holding doc, the way kubectl
// stores it (with a trailing newline).
func lastApplied(doc string) string {
	b, err := json.Marshal(doc + "\n")
	if err != nil {
		panic(err)
	}
	return string(b)
}

var (
	secretKind    = redact.Kind{Kind: "Secret"}
	configMapKind = redact.Kind{Kind: "ConfigMap"}
	vaultKind     = redact.Kind{Group: "example.com", Kind: "VaultEntry"}
)

func TestJSON(t *testing.T) {
	const redactedMeta = `"annotations":{"kubently.io/redacted":"true"}`
	tests := []struct {
		name string
		cfg  redact.Config
		hint redact.Kind
		in   string
		want string // "" means unchanged
	}{
		{
			name: "secret object",
			in:   `{"apiVersion":"v1","kind":"Secret","metadata":{"name":"s","resourceVersion":"12345678901234567890"},"type":"Opaque","data":{"password":"aHVudGVyMg==","user":"YWRtaW4=","empty":null}}`,
			want: `{"apiVersion":"v1","kind":"Secret","metadata":{"name":"s","resourceVersion":"12345678901234567890",` + redactedMeta + `},"type":"Opaque","data":{"password":"` + b64Mask + `","user":"` + b64Mask + `","empty":null}}`,
		},
		{
			name: "secret stringData and existing annotations, masked",
			in:   `{"apiVersion":"v1","kind":"Secret","metadata":{"name":"s","annotations":{"a":"b"}},"stringData":{"token":"abcd"}}`,
			want: `{"apiVersion":"v1","kind":"Secret","metadata":{"name":"s","annotations":{"a":"REDACTED","kubently.io/redacted":"true"}},"stringData":{"token":"REDACTED"}}`,
		},
		{
			name: "secret without apiVersion is still core",
			in:   `{"kind":"Secret","data":{"k":"c2VjcmV0"}}`,
			want: `{"kind":"Secret","metadata":{` + redactedMeta + `},"data":{"k":"` + b64Mask + `"}}`,
		},
		{
			name: "kind spelled with a unicode escape",
			in:   `{"apiVersion":"v1","kind":"Secr\u0065t","data":{"k":"c2VjcmV0"}}`,
			want: `{"apiVersion":"v1","kind":"Secret","metadata":{` + redactedMeta + `},"data":{"k":"` + b64Mask + `"}}`,
		},
		{
			name: "Secret kind of another group is not core Secret",
			in:   `{"apiVersion":"example.com/v1","kind":"Secret","data":{"k":"c2VjcmV0"}}`,
		},
		{
			name: "already redacted secret is unchanged",
			in:   `{"apiVersion":"v1","kind":"Secret","metadata":{` + redactedMeta + `},"data":{"k":"` + b64Mask + `"},"stringData":{"s":"REDACTED"}}`,
		},
		{
			name: "SecretList items without kind",
			in:   `{"apiVersion":"v1","kind":"SecretList","metadata":{"resourceVersion":"7"},"items":[{"metadata":{"name":"a"},"data":{"k":"c2VjcmV0"}},{"metadata":{"name":"b"},"type":"kubernetes.io/service-account-token","data":{"token":"ZXlK"}},{"metadata":{"name":"c"}}]}`,
			want: `{"apiVersion":"v1","kind":"SecretList","metadata":{"resourceVersion":"7"},"items":[{"metadata":{"name":"a",` + redactedMeta + `},"data":{"k":"` + b64Mask + `"}},{"metadata":{"name":"b",` + redactedMeta + `},"type":"kubernetes.io/service-account-token","data":{"token":"` + b64Mask + `"}},{"metadata":{"name":"c"}}]}`,
		},
		{
			name: "v1 List mixing kinds",
			in: `{"apiVersion":"v1","kind":"List","items":[` +
				`{"apiVersion":"v1","kind":"Secret","metadata":{"name":"s"},"data":{"k":"c2VjcmV0"}},` +
				`{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"c"},"data":{"k":"plain"}},` +
				`{"apiVersion":"v1","kind":"Pod","metadata":{"name":"p"},"spec":{"containers":[{"name":"c","env":[{"name":"DB_PASSWORD","value":"hunter2"}]}]}}]}`,
			want: `{"apiVersion":"v1","kind":"List","items":[` +
				`{"apiVersion":"v1","kind":"Secret","metadata":{"name":"s",` + redactedMeta + `},"data":{"k":"` + b64Mask + `"}},` +
				`{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"c"},"data":{"k":"plain"}},` +
				`{"apiVersion":"v1","kind":"Pod","metadata":{"name":"p",` + redactedMeta + `},"spec":{"containers":[{"name":"c","env":[{"name":"DB_PASSWORD","value":"REDACTED"}]}]}}]}`,
		},
		{
			name: "list without kind takes the hint for its items",
			hint: secretKind,
			in:   `{"items":[{"data":{"k":"c2VjcmV0"}}]}`,
			want: `{"items":[{"metadata":{` + redactedMeta + `},"data":{"k":"` + b64Mask + `"}}]}`,
		},
		{
			name: "Table with full Secret rows",
			in: `{"apiVersion":"meta.k8s.io/v1","kind":"Table","metadata":{"resourceVersion":"9"},"columnDefinitions":[{"name":"Name","type":"string"},{"name":"Data","type":"integer"}],` +
				`"rows":[{"cells":["s",1],"object":{"apiVersion":"v1","kind":"Secret","metadata":{"name":"s"},"data":{"k":"c2VjcmV0"}}}]}`,
			want: `{"apiVersion":"meta.k8s.io/v1","kind":"Table","metadata":{"resourceVersion":"9"},"columnDefinitions":[{"name":"Name","type":"string"},{"name":"Data","type":"integer"}],` +
				`"rows":[{"cells":["s",1],"object":{"apiVersion":"v1","kind":"Secret","metadata":{"name":"s",` + redactedMeta + `},"data":{"k":"` + b64Mask + `"}}}]}`,
		},
		{
			name: "Table row object without kind takes the hint",
			hint: secretKind,
			in:   `{"apiVersion":"meta.k8s.io/v1","kind":"Table","rows":[{"cells":["s"],"object":{"metadata":{"name":"s"},"data":{"k":"c2VjcmV0"}}}]}`,
			want: `{"apiVersion":"meta.k8s.io/v1","kind":"Table","rows":[{"cells":["s"],"object":{"metadata":{"name":"s",` + redactedMeta + `},"data":{"k":"` + b64Mask + `"}}}]}`,
		},
		{
			name: "Table with PartialObjectMetadata carrying last-applied",
			in: `{"apiVersion":"meta.k8s.io/v1","kind":"Table","rows":[{"cells":["s"],"object":{"apiVersion":"meta.k8s.io/v1","kind":"PartialObjectMetadata","metadata":{"name":"s","annotations":{"kubectl.kubernetes.io/last-applied-configuration":` +
				lastApplied(`{"apiVersion":"v1","kind":"Secret","metadata":{"name":"s"},"data":{"k":"c2VjcmV0"},"stringData":{"p":"hunter2"}}`) + `}}}}]}`,
			want: `{"apiVersion":"meta.k8s.io/v1","kind":"Table","rows":[{"cells":["s"],"object":{"apiVersion":"meta.k8s.io/v1","kind":"PartialObjectMetadata","metadata":{"name":"s","annotations":{"kubently.io/redacted":"true","kubectl.kubernetes.io/last-applied-configuration":` +
				lastApplied(`{"apiVersion":"v1","data":{"k":"`+b64Mask+`"},"kind":"Secret","metadata":{"name":"s"},"stringData":{"p":"REDACTED"}}`) + `}}}}]}`,
		},
		{
			name: "Pod env sensitive, plain and valueFrom",
			in: `{"apiVersion":"v1","kind":"Pod","metadata":{"name":"p"},"spec":{"initContainers":[{"name":"i","env":[{"name":"github_token","value":"ghp_x"}]}],"containers":[{"name":"c","env":[` +
				`{"name":"DB_PASSWORD","value":"hunter2"},{"name":"LOG_LEVEL","value":"debug"},{"name":"API_KEY","valueFrom":{"secretKeyRef":{"name":"s","key":"k"}}},{"name":"EMPTY_SECRET","value":""},{"name":"NO_VALUE_TOKEN"}]}]}}`,
			want: `{"apiVersion":"v1","kind":"Pod","metadata":{"name":"p",` + redactedMeta + `},"spec":{"initContainers":[{"name":"i","env":[{"name":"github_token","value":"REDACTED"}]}],"containers":[{"name":"c","env":[` +
				`{"name":"DB_PASSWORD","value":"REDACTED"},{"name":"LOG_LEVEL","value":"debug"},{"name":"API_KEY","valueFrom":{"secretKeyRef":{"name":"s","key":"k"}}},{"name":"EMPTY_SECRET","value":""},{"name":"NO_VALUE_TOKEN"}]}]}}`,
		},
		{
			name: "Pod without sensitive env is unchanged",
			in:   `{"apiVersion":"v1","kind":"Pod","metadata":{"name":"p"},"spec":{"containers":[{"name":"c","env":[{"name":"LOG_LEVEL","value":"debug"}]}]}}`,
		},
		{
			name: "Deployment template env annotates the Deployment",
			in:   `{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"d","generation":3},"spec":{"replicas":2,"template":{"metadata":{"labels":{"app":"d"}},"spec":{"containers":[{"name":"c","env":[{"name":"AWS_SECRET_ACCESS_KEY","value":"abc"}]}]}}}}`,
			want: `{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"d","generation":3,` + redactedMeta + `},"spec":{"replicas":2,"template":{"metadata":{"labels":{"app":"d"}},"spec":{"containers":[{"name":"c","env":[{"name":"AWS_SECRET_ACCESS_KEY","value":"REDACTED"}]}]}}}}`,
		},
		{
			name: "custom SensitiveEnv adds to the built-in names",
			cfg:  redact.Config{SensitiveEnv: regexp.MustCompile(`^DSN$`)},
			in:   `{"kind":"Pod","spec":{"containers":[{"env":[{"name":"DSN","value":"postgres://u:p@h"},{"name":"PASSWORD","value":"x"}]}]}}`,
			want: `{"kind":"Pod","metadata":{` + redactedMeta + `},"spec":{"containers":[{"env":[{"name":"DSN","value":"REDACTED"},{"name":"PASSWORD","value":"REDACTED"}]}]}}`,
		},
		{
			name: "last-applied holding a Secret on the Secret",
			in: `{"apiVersion":"v1","kind":"Secret","metadata":{"name":"s","annotations":{"kubectl.kubernetes.io/last-applied-configuration":` +
				lastApplied(`{"apiVersion":"v1","kind":"Secret","metadata":{"name":"s"},"data":{"k":"c2VjcmV0"},"stringData":{"p":"hunter2"}}`) + `}},"data":{"k":"c2VjcmV0","p":"aHVudGVyMg=="}}`,
			want: `{"apiVersion":"v1","kind":"Secret","metadata":{"name":"s","annotations":{"kubently.io/redacted":"true","kubectl.kubernetes.io/last-applied-configuration":` +
				lastApplied(`{"apiVersion":"v1","data":{"k":"`+b64Mask+`"},"kind":"Secret","metadata":{"name":"s"},"stringData":{"p":"REDACTED"}}`) + `}},"data":{"k":"` + b64Mask + `","p":"` + b64Mask + `"}}`,
		},
		{
			name: "last-applied with env on a Deployment",
			in: `{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"d","annotations":{"kubectl.kubernetes.io/last-applied-configuration":` +
				lastApplied(`{"apiVersion":"apps/v1","kind":"Deployment","spec":{"template":{"spec":{"containers":[{"env":[{"name":"TOKEN","value":"t0k3n"}]}]}}}}`) + `}}}`,
			want: `{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"d","annotations":{"kubently.io/redacted":"true","kubectl.kubernetes.io/last-applied-configuration":` +
				lastApplied(`{"apiVersion":"apps/v1","kind":"Deployment","spec":{"template":{"spec":{"containers":[{"env":[{"name":"TOKEN","value":"REDACTED"}]}]}}}}`) + `}}}`,
		},
		{
			name: "harmless last-applied is kept verbatim",
			in: `{"apiVersion":"v1","kind":"Service","metadata":{"name":"x","annotations":{"kubectl.kubernetes.io/last-applied-configuration":` +
				lastApplied(`{"apiVersion":"v1","kind":"Service","metadata":{"name":"x"},  "spec":{"ports":[{"port":80}]}}`) + `}}}`,
		},
		{
			name: "unparseable last-applied",
			in:   `{"apiVersion":"v1","kind":"Service","metadata":{"name":"x","annotations":{"kubectl.kubernetes.io/last-applied-configuration":"{\"kind\":\"Secret\",\"data\":{\"k\":\"trunc"}}}`,
			want: `{"apiVersion":"v1","kind":"Service","metadata":{"name":"x","annotations":{"kubently.io/redacted":"true","kubectl.kubernetes.io/last-applied-configuration":"REDACTED"}}}`,
		},
		{
			name: "configured ConfigMap",
			cfg:  redact.Config{Kinds: []redact.Kind{configMapKind}},
			in:   `{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"c"},"data":{"app.properties":"password=x"},"binaryData":{"blob":"AAEC"}}`,
			want: `{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"c",` + redactedMeta + `},"data":{"app.properties":"REDACTED"},"binaryData":{"blob":"` + b64Mask + `"}}`,
		},
		{
			name: "ConfigMap not configured",
			in:   `{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"c"},"data":{"app.properties":"password=x"},"binaryData":{"blob":"AAEC"}}`,
		},
		{
			name: "configured ConfigMap in a ConfigMapList",
			cfg:  redact.Config{Kinds: []redact.Kind{configMapKind}},
			in:   `{"apiVersion":"v1","kind":"ConfigMapList","items":[{"metadata":{"name":"c"},"data":{"k":"v"}}]}`,
			want: `{"apiVersion":"v1","kind":"ConfigMapList","items":[{"metadata":{"name":"c",` + redactedMeta + `},"data":{"k":"REDACTED"}}]}`,
		},
		{
			name: "configured CRD kind",
			cfg:  redact.Config{Kinds: []redact.Kind{vaultKind}},
			in:   `{"apiVersion":"example.com/v1alpha1","kind":"VaultEntry","metadata":{"name":"v"},"spec":{"path":"kv/x"},"data":{"k":"v"},"stringData":{"s":"t"},"binaryData":{"b":"AAEC"}}`,
			want: `{"apiVersion":"example.com/v1alpha1","kind":"VaultEntry","metadata":{"name":"v",` + redactedMeta + `},"spec":{"path":"kv/x"},"data":{"k":"REDACTED"},"stringData":{"s":"REDACTED"},"binaryData":{"b":"` + b64Mask + `"}}`,
		},
		{
			name: "configured CRD kind in another group is untouched",
			cfg:  redact.Config{Kinds: []redact.Kind{vaultKind}},
			in:   `{"apiVersion":"other.io/v1","kind":"VaultEntry","metadata":{"name":"v"},"data":{"k":"v"}}`,
		},
		{
			name: "odd: Secret data as array and values of wrong types",
			in:   `{"apiVersion":"v1","kind":"Secret","data":["c2VjcmV0"],"stringData":{"n":12,"o":{"x":"y"},"b":true,"z":null}}`,
			want: `{"apiVersion":"v1","kind":"Secret","metadata":{` + redactedMeta + `},"data":"` + b64Mask + `","stringData":{"n":"REDACTED","o":"REDACTED","b":"REDACTED","z":null}}`,
		},
		{
			name: "odd: annotations as string",
			in:   `{"apiVersion":"v1","kind":"Secret","metadata":{"annotations":"x"},"data":{"k":"c2VjcmV0"}}`,
			want: `{"apiVersion":"v1","kind":"Secret","metadata":{"annotations":"x"},"data":{"k":"` + b64Mask + `"}}`,
		},
		{
			name: "odd: metadata as number",
			in:   `{"apiVersion":"v1","kind":"Secret","metadata":1e400,"data":{"k":"c2VjcmV0"}}`,
			want: `{"apiVersion":"v1","kind":"Secret","metadata":1e400,"data":{"k":"` + b64Mask + `"}}`,
		},
		{
			name: "odd: env as object, env entries of wrong types",
			in:   `{"kind":"Pod","spec":{"containers":[{"env":{"name":"PASSWORD","value":"x"}},{"env":["PASSWORD",1,null,{"name":7,"value":"x"},{"name":"TOKEN","value":{"deep":"x"}}]}]}}`,
			want: `{"kind":"Pod","metadata":{` + redactedMeta + `},"spec":{"containers":[{"env":{"name":"PASSWORD","value":"x"}},{"env":["PASSWORD",1,null,{"name":7,"value":"x"},{"name":"TOKEN","value":"REDACTED"}]}]}}`,
		},
		{
			name: "odd: items and rows of wrong types, kind not a string",
			in:   `{"kind":"SecretList","items":{"data":{"k":"x"}},"rows":"x","x":{"kind":["Secret"],"data":{"k":"x"}}}`,
		},
		{
			name: "odd: Table rows of wrong types",
			hint: secretKind,
			in:   `{"apiVersion":"meta.k8s.io/v1","kind":"Table","rows":[1,"x",null,{"object":"x"},{"object":[{"kind":"Secret","data":{"k":"eA=="}}]}]}`,
			want: `{"apiVersion":"meta.k8s.io/v1","kind":"Table","rows":[1,"x",null,{"object":"x"},{"object":[{"kind":"Secret","metadata":{` + redactedMeta + `},"data":{"k":"` + b64Mask + `"}}]}]}`,
		},
		{
			name: "odd: last-applied not a string",
			in:   `{"kind":"Service","metadata":{"annotations":{"kubectl.kubernetes.io/last-applied-configuration":{"kind":"Secret"}}}}`,
			want: `{"kind":"Service","metadata":{"annotations":{"kubectl.kubernetes.io/last-applied-configuration":"REDACTED","kubently.io/redacted":"true"}}}`,
		},
		{
			name: "odd: top-level array and scalar",
			in:   `[{"kind":"Secret","data":{"k":"eA=="}},{"env":[{"name":"TOKEN","value":"x"}]}]`,
			want: `[{"kind":"Secret","metadata":{` + redactedMeta + `},"data":{"k":"` + b64Mask + `"}},{"env":[{"name":"TOKEN","value":"REDACTED"}]}]`,
		},
		{
			name: "hint for a Secret without kind",
			hint: secretKind,
			in:   `{"metadata":{"name":"s"},"data":{"k":"c2VjcmV0"}}`,
			want: `{"metadata":{"name":"s",` + redactedMeta + `},"data":{"k":"` + b64Mask + `"}}`,
		},
		{
			name: "own kind beats the hint",
			hint: secretKind,
			in:   `{"apiVersion":"v1","kind":"Status","status":"Failure","reason":"NotFound","code":404,"details":{"name":"s","kind":"secrets"}}`,
		},
		{
			name: "large integers survive",
			in:   `{"kind":"Secret","metadata":{"generation":9007199254740993},"data":{"k":"eA=="}}`,
			want: `{"kind":"Secret","metadata":{"generation":9007199254740993,` + redactedMeta + `},"data":{"k":"` + b64Mask + `"}}`,
		},
		{
			name: "HTML characters are not escaped",
			in:   `{"kind":"Secret","metadata":{"labels":{"a":"<&>"}},"data":{"k":"eA=="}}`,
			want: `{"kind":"Secret","metadata":{"labels":{"a":"<&>"},` + redactedMeta + `},"data":{"k":"` + b64Mask + `"}}`,
		},
		{
			name: "env judged by name and value",
			in: `{"kind":"Pod","spec":{"containers":[{"env":[` +
				`{"name":"DB_PASS","value":"p1"},{"name":"PGPASS","value":"p2"},{"name":"JWT_SIGNING_KEY","value":"k3"},{"name":"STRIPE_SK","value":"sk_live_51Habcdefghijklmnop"},` +
				`{"name":"DATABASE_URL","value":"postgres://shop:Sh0p@db:5432/shop"},{"name":"SLACK_WEBHOOK_URL","value":"https://hooks.slack.com/services/T0/B0/XXXXYYYYZZZZ"},` +
				`{"name":"AUTHOR","value":"Jane"},{"name":"OAUTH_CALLBACK_URL","value":"https://x/cb"},{"name":"PASSWORD_MIN_LENGTH","value":"12"},{"name":"SECRET_NAME","value":"db"}]}]}}`,
			want: `{"kind":"Pod","metadata":{` + redactedMeta + `},"spec":{"containers":[{"env":[` +
				`{"name":"DB_PASS","value":"REDACTED"},{"name":"PGPASS","value":"REDACTED"},{"name":"JWT_SIGNING_KEY","value":"REDACTED"},{"name":"STRIPE_SK","value":"REDACTED"},` +
				`{"name":"DATABASE_URL","value":"postgres://shop:REDACTED@db:5432/shop"},{"name":"SLACK_WEBHOOK_URL","value":"https://hooks.slack.com/services/REDACTED"},` +
				`{"name":"AUTHOR","value":"Jane"},{"name":"OAUTH_CALLBACK_URL","value":"https://x/cb"},{"name":"PASSWORD_MIN_LENGTH","value":"12"},{"name":"SECRET_NAME","value":"db"}]}]}}`,
		},
		{
			name: "container args, command, probe and lifecycle headers and exec",
			in: `{"kind":"Pod","spec":{"containers":[{"name":"c","command":["app","--db-password=hunter22"],"args":["--token","t0k3n","--port","80","--dsn=postgres://u:pw99@db/x"],` +
				`"livenessProbe":{"httpGet":{"path":"/h","httpHeaders":[{"name":"Authorization","value":"Bearer abc"},{"name":"X-Trace","value":"1"}]}},` +
				`"readinessProbe":{"exec":{"command":["sh","-c","curl -H 'Authorization: Bearer s3cr3tT0k3n' localhost"]}},` +
				`"lifecycle":{"postStart":{"httpGet":{"path":"/x","httpHeaders":[{"name":"X-Api-Key","value":"k-123"}]}}}}]}}`,
			want: `{"kind":"Pod","metadata":{` + redactedMeta + `},"spec":{"containers":[{"name":"c","command":["app","--db-password=REDACTED"],"args":["--token","REDACTED","--port","80","--dsn=postgres://u:REDACTED@db/x"],` +
				`"livenessProbe":{"httpGet":{"path":"/h","httpHeaders":[{"name":"Authorization","value":"REDACTED"},{"name":"X-Trace","value":"1"}]}},` +
				`"readinessProbe":{"exec":{"command":["sh","-c","curl -H 'Authorization: Bearer REDACTED' localhost"]}},` +
				`"lifecycle":{"postStart":{"httpGet":{"path":"/x","httpHeaders":[{"name":"X-Api-Key","value":"REDACTED"}]}}}}]}}`,
		},
		{
			name: "harmless args are kept",
			in:   `{"kind":"Pod","spec":{"containers":[{"name":"c","command":["nginx","-g","daemon off;"],"args":["--port=80","--log-level","info"]}]}}`,
		},
		{
			name: "Secret annotations",
			in:   `{"kind":"Secret","metadata":{"name":"s","annotations":{"kubernetes.io/service-account.name":"sa","platform.example.com/token":"t0k3n"}},"type":"kubernetes.io/service-account-token"}`,
			want: `{"kind":"Secret","metadata":{"name":"s","annotations":{"kubernetes.io/service-account.name":"sa","platform.example.com/token":"REDACTED","kubently.io/redacted":"true"}},"type":"kubernetes.io/service-account-token"}`,
		},
		{
			name: "last-applied Secret in other spellings on another object",
			in: `{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"c","annotations":{"kubectl.kubernetes.io/last-applied-configuration":` +
				lastApplied(`{"apiVersion":"core/v1","kind":"secret","metadata":{"name":"s","annotations":{"t":"x1"}},"stringData":{"p":"hunter2"}}`) + `}}}`,
			want: `{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"c","annotations":{"kubently.io/redacted":"true","kubectl.kubernetes.io/last-applied-configuration":` +
				lastApplied(`{"apiVersion":"core/v1","kind":"secret","metadata":{"annotations":{"t":"REDACTED"},"name":"s"},"stringData":{"p":"REDACTED"}}`) + `}}}`,
		},
		{
			name: "last-applied SECRET with apiVersion v1",
			in: `{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"c","annotations":{"kubectl.kubernetes.io/last-applied-configuration":` +
				lastApplied(`{"apiVersion":"v1","kind":"SECRET","data":{"p":"aHVudGVyMg=="}}`) + `}}}`,
			want: `{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"c","annotations":{"kubently.io/redacted":"true","kubectl.kubernetes.io/last-applied-configuration":` +
				lastApplied(`{"apiVersion":"v1","data":{"p":"`+b64Mask+`"},"kind":"SECRET"}`) + `}}}`,
		},
		{
			name: "per-kind field paths on a custom resource list",
			cfg:  redact.Config{Paths: []redact.PathRule{{Kind: vaultKind, Paths: []string{"spec.password", "spec.auth.*.token", "spec.users.secret", "status.keys"}}}},
			in: `{"apiVersion":"example.com/v1","kind":"VaultEntryList","items":[{"apiVersion":"example.com/v1","kind":"VaultEntry","metadata":{"name":"v"},` +
				`"spec":{"host":"h","password":"pw","auth":{"a":{"token":"t1","user":"u"},"b":{"token":"t2"}},"users":[{"name":"x","secret":"s1"},{"name":"y"}]},"status":{"keys":{"k1":"v1","n":3}}}]}`,
			want: `{"apiVersion":"example.com/v1","kind":"VaultEntryList","items":[{"apiVersion":"example.com/v1","kind":"VaultEntry","metadata":{"name":"v",` + redactedMeta + `},` +
				`"spec":{"host":"h","password":"REDACTED","auth":{"a":{"token":"REDACTED","user":"u"},"b":{"token":"REDACTED"}},"users":[{"name":"x","secret":"REDACTED"},{"name":"y"}]},"status":{"keys":{"k1":"REDACTED","n":"REDACTED"}}}]}`,
		},
		{
			name: "a leading wildcard path skips the object's identity",
			cfg:  redact.Config{Paths: []redact.PathRule{{Kind: vaultKind, Paths: []string{"*"}}}},
			in:   `{"apiVersion":"example.com/v1","kind":"VaultEntry","metadata":{"name":"v"},"spec":{"password":"pw","n":1}}`,
			want: `{"apiVersion":"example.com/v1","kind":"VaultEntry","metadata":{"name":"v",` + redactedMeta + `},"spec":{"password":"REDACTED","n":"REDACTED"}}`,
		},
		{
			name: "the marker's key elsewhere is data like any other",
			cfg:  redact.Config{Paths: []redact.PathRule{{Kind: vaultKind, Paths: []string{"spec.*", "metadata"}}}},
			in:   `{"apiVersion":"example.com/v1","kind":"VaultEntry","metadata":{"name":"v","annotations":{"kubently.io/redacted":"true"}},"spec":{"kubently.io/redacted":"pw"}}`,
			want: `{"apiVersion":"example.com/v1","kind":"VaultEntry","metadata":{"name":"REDACTED","annotations":{"kubently.io/redacted":"true"}},"spec":{"kubently.io/redacted":"REDACTED"}}`,
		},
		{
			name: "a path through metadata never masks the redaction marker",
			cfg:  redact.Config{Paths: []redact.PathRule{{Kind: vaultKind, Paths: []string{"metadata.annotations.*", "metadata.labels"}}}},
			in:   `{"apiVersion":"example.com/v1","kind":"VaultEntry","metadata":{"name":"v","labels":{"kubently.io/redacted":"x","l":"y"},"annotations":{"kubently.io/redacted":"true","a":"b"}}}`,
			want: `{"apiVersion":"example.com/v1","kind":"VaultEntry","metadata":{"name":"v","labels":{"kubently.io/redacted":"REDACTED","l":"REDACTED"},"annotations":{"kubently.io/redacted":"true","a":"REDACTED"}}}`,
		},
		{
			name: "field paths match the kind case-insensitively, other kinds untouched",
			cfg:  redact.Config{Paths: []redact.PathRule{{Kind: redact.Kind{Group: "Example.com", Kind: "vaultentry"}, Paths: []string{"spec.password"}}}},
			in:   `{"kind":"List","items":[{"apiVersion":"example.com/v1","kind":"VaultEntry","spec":{"password":"pw"}},{"apiVersion":"other.com/v1","kind":"VaultEntry","spec":{"password":"pw"}}]}`,
			want: `{"kind":"List","items":[{"apiVersion":"example.com/v1","kind":"VaultEntry","metadata":{` + redactedMeta + `},"spec":{"password":"REDACTED"}},{"apiVersion":"other.com/v1","kind":"VaultEntry","spec":{"password":"pw"}}]}`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newRedactor(t, tt.cfg)
			in := []byte(tt.in)
			got, changed, err := r.JSON(in, tt.hint)
			if err != nil {
				t.Fatalf("JSON: got error %v; want nil", err)
			}
			if tt.want == "" {
				if changed || !sameSlice(got, in) {
					t.Fatalf("JSON: got changed=%v, %s; want the input slice unchanged", changed, got)
				}
				return
			}
			if !changed {
				t.Errorf("JSON: got changed=false; want true")
			}
			if diff := cmp.Diff(decodeJSON(t, []byte(tt.want)), decodeJSON(t, got)); diff != "" {
				t.Errorf("JSON mismatch (-want +got):\n%s\ngot: %s", diff, got)
			}
			if bytes.HasSuffix(got, []byte("\n")) {
				t.Errorf("JSON: output ends with a newline")
			}
			if strings.Contains(tt.want, "<&>") && !bytes.Contains(got, []byte("<&>")) {
				t.Errorf("JSON: got %s; want HTML characters unescaped", got)
			}
			if strings.Contains(tt.want, "9007199254740993") && !bytes.Contains(got, []byte("9007199254740993")) {
				t.Errorf("JSON: got %s; want the integer verbatim", got)
			}
			again, changed, err := r.JSON(got, tt.hint)
			if err != nil || changed || !sameSlice(again, got) {
				t.Errorf("JSON(JSON(x)): got changed=%v, err=%v; want unchanged", changed, err)
			}
		})
	}
}

// sameSlice reports whether a and b are the very same slice.
func sameSlice(a, b []byte) bool {
	return len(a) == len(b) && (len(a) == 0 || &a[0] == &b[0])
}

// A body with nothing that could be masked is passed on as it is, valid
// JSON or not: the client's decoder rejects a malformed one, so the fast
// path does not parse it twice.
func TestJSONFastPathPassesThrough(t *testing.T) {
	r := newRedactor(t, redact.Config{})
	for _, in := range []string{`{"kind":"Service",`, ``, `{"kind":"Namespace","description":"a \u003cb\u003e"}`} {
		got, changed, err := r.JSON([]byte(in), redact.Kind{})
		if err != nil || changed || string(got) != in {
			t.Errorf("JSON(%q) = %q, %v, %v; want it unchanged", in, got, changed, err)
		}
	}
}

func TestJSONErrors(t *testing.T) {
	tests := []struct {
		name    string
		cfg     redact.Config
		in      string
		wantErr error
	}{
		{name: "truncated Secret", in: `{"kind":"Secret","data":{"k":"x"`, wantErr: redact.ErrMalformed},
		{name: "bad JSON with a marker", in: `{"kind":"Service","env":`, wantErr: redact.ErrMalformed},
		{name: "two documents", in: `{"kind":"Secret"} {"kind":"Secret"}`, wantErr: redact.ErrMalformed},
		{name: "trailing garbage", in: `{"kind":"Secret"}x`, wantErr: redact.ErrMalformed},
		{name: "over MaxBody", cfg: redact.Config{MaxBody: 16}, in: `{"kind":"Service","metadata":{}}`, wantErr: redact.ErrTooLarge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newRedactor(t, tt.cfg)
			got, _, err := r.JSON([]byte(tt.in), redact.Kind{})
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("JSON: got %s, error %v; want error %v", got, err, tt.wantErr)
			}
		})
	}
}

func TestJSONAtMaxBody(t *testing.T) {
	in := []byte(`{"kind":"Secret","data":{"k":"eA=="}}`)
	r := newRedactor(t, redact.Config{MaxBody: int64(len(in))})
	if _, changed, err := r.JSON(in, redact.Kind{}); err != nil || !changed {
		t.Fatalf("JSON at exactly MaxBody: got changed=%v, err=%v; want changed, nil", changed, err)
	}
}

func TestNew(t *testing.T) {
	tests := []struct {
		name    string
		cfg     redact.Config
		wantErr error
	}{
		{name: "zero"},
		{name: "kinds", cfg: redact.Config{Kinds: []redact.Kind{secretKind, configMapKind, vaultKind}}},
		{name: "empty kind", cfg: redact.Config{Kinds: []redact.Kind{{Group: "x"}}}, wantErr: redact.ErrInvalidConfig},
		{name: "padded kind", cfg: redact.Config{Kinds: []redact.Kind{{Kind: " Secret"}}}, wantErr: redact.ErrInvalidConfig},
		{name: "negative MaxBody", cfg: redact.Config{MaxBody: -1}, wantErr: redact.ErrInvalidConfig},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := redact.New(tt.cfg)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("New: got error %v; want %v", err, tt.wantErr)
			}
		})
	}
}

func TestHintForPath(t *testing.T) {
	r := newRedactor(t, redact.Config{Kinds: []redact.Kind{configMapKind, vaultKind, {Group: "example.com", Kind: "KeyPolicy"}}})
	tests := []struct {
		path string
		want redact.Kind
	}{
		{"/api/v1/namespaces/default/secrets/s", secretKind},
		{"/api/v1/namespaces/default/secrets", secretKind},
		{"/api/v1/secrets", secretKind},
		{"/prefix/k8s/api/v1/namespaces/default/secrets/s", secretKind},
		{"/api/v1/namespaces/default/secrets/s/status", secretKind},
		{"/api/v1/namespaces/default/configmaps/c", configMapKind},
		{"/apis/example.com/v1/namespaces/ns/vaultentrys/v", vaultKind},
		{"/apis/example.com/v1/vaultentries", vaultKind},
		{"/apis/example.com/v1/namespaces/ns/keypolicies", redact.Kind{Group: "example.com", Kind: "KeyPolicy"}},
		{"/apis/other.io/v1/namespaces/ns/vaultentries/v", redact.Kind{}},
		{"/api/v1/namespaces/secrets", redact.Kind{}}, // the namespace named "secrets"
		{"/api/v1/namespaces/default/pods/p", redact.Kind{}},
		{"/api/v1/namespaces/default/pods/p/log", redact.Kind{}},
		{"/api/v1/namespaces/default/secrets/s/other", redact.Kind{}},
		{"/apis/apps/v1/namespaces/default/deployments/d", redact.Kind{}},
		{"/version", redact.Kind{}},
		{"", redact.Kind{}},
		{"/api", redact.Kind{}},
		{"/apis/example.com", redact.Kind{}},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			if got := r.HintForPath(tt.path); got != tt.want {
				t.Errorf("HintForPath(%q): got %v; want %v", tt.path, got, tt.want)
			}
		})
	}
}

func TestKindString(t *testing.T) {
	tests := []struct {
		kind redact.Kind
		want string
	}{
		{secretKind, "Secret"},
		{vaultKind, "VaultEntry.example.com"},
	}
	for _, tt := range tests {
		if got := tt.kind.String(); got != tt.want {
			t.Errorf("%#v.String(): got %q; want %q", tt.kind, got, tt.want)
		}
	}
}

// TestJSONConcurrent runs one Redactor from many goroutines, for -race.
func TestJSONConcurrent(t *testing.T) {
	r := newRedactor(t, redact.Config{})
	in := []byte(`{"kind":"List","items":[{"kind":"Secret","data":{"k":"eA=="}},{"kind":"Pod","spec":{"containers":[{"env":[{"name":"TOKEN","value":"x"}]}]}}]}`)
	want, _, err := r.JSON(in, redact.Kind{})
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for range 8 {
		wg.Go(func() {
			for range 50 {
				got, _, err := r.JSON(in, redact.Kind{})
				if err == nil && !bytes.Equal(got, want) {
					err = fmt.Errorf("got %s; want %s", got, want)
				}
				if err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}
