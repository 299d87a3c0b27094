package redact_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"kubently.io/services/executor/internal/redact"
)

// benchMeta returns object metadata shaped like a real API server response,
// including managedFields, which dominate the size of most objects.
func benchMeta(name string, i int) metav1.ObjectMeta {
	ts := metav1.NewTime(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC))
	return metav1.ObjectMeta{
		Name:              name,
		Namespace:         "shop",
		UID:               "3f1c2e4d-5a6b-4c7d-8e9f-0a1b2c3d4e5f",
		ResourceVersion:   fmt.Sprint(100000 + i),
		CreationTimestamp: ts,
		Labels:            map[string]string{"app.kubernetes.io/name": "checkout", "app.kubernetes.io/part-of": "shop", "pod-template-hash": "7d9f8c6b5"},
		Annotations:       map[string]string{"prometheus.io/scrape": "true", "prometheus.io/port": "9090"},
		ManagedFields: []metav1.ManagedFieldsEntry{{
			Manager: "kube-controller-manager", Operation: metav1.ManagedFieldsOperationUpdate, APIVersion: "v1", Time: &ts, FieldsType: "FieldsV1",
			FieldsV1: metav1.NewFieldsV1(`{"f:metadata":{"f:labels":{".":{},"f:app.kubernetes.io/name":{},"f:app.kubernetes.io/part-of":{}},"f:ownerReferences":{".":{},"k:{\"uid\":\"9b8a\"}":{}}},"f:spec":{"f:containers":{"k:{\"name\":\"app\"}":{".":{},"f:image":{},"f:imagePullPolicy":{},"f:name":{},"f:ports":{},"f:resources":{}}}}}`),
		}},
	}
}

// podList returns a PodList of n pods with two containers and 12 env vars
// each, four of them sensitive, as JSON.
func podList(tb testing.TB, n int) []byte {
	tb.Helper()
	env := []corev1.EnvVar{
		{Name: "LOG_LEVEL", Value: "info"}, {Name: "PORT", Value: "8080"}, {Name: "REGION", Value: "eu-west-1"},
		{Name: "DB_HOST", Value: "postgres.shop.svc.cluster.local"}, {Name: "DB_USER", Value: "checkout"},
		{Name: "DB_PASSWORD", Value: "c0rrect-horse-battery-staple"}, {Name: "STRIPE_API_KEY", Value: "sk_live_51Habcdefghijklmnop"},
		{Name: "JWT_SECRET", Value: "0123456789abcdef0123456789abcdef"}, {Name: "FEATURE_FLAGS", Value: "a,b,c"},
		{Name: "OTEL_EXPORTER_OTLP_ENDPOINT", Value: "http://otel-collector:4317"},
		{Name: "REDIS_TOKEN", ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: "redis"}, Key: "token"}}},
		{Name: "POD_NAME", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.name"}}},
	}
	container := func(name string) corev1.Container {
		return corev1.Container{
			Name: name, Image: "registry.example.com/shop/" + name + ":1.42.0", Env: env,
			Ports: []corev1.ContainerPort{{Name: "http", ContainerPort: 8080, Protocol: corev1.ProtocolTCP}},
			Resources: corev1.ResourceRequirements{
				Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("100m"), corev1.ResourceMemory: resource.MustParse("128Mi")},
				Limits:   corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("256Mi")},
			},
			VolumeMounts:             []corev1.VolumeMount{{Name: "kube-api-access-x7k2p", MountPath: "/var/run/secrets/kubernetes.io/serviceaccount", ReadOnly: true}},
			TerminationMessagePath:   "/dev/termination-log",
			TerminationMessagePolicy: corev1.TerminationMessageReadFile,
			ImagePullPolicy:          corev1.PullIfNotPresent,
		}
	}
	list := corev1.PodList{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "PodList"}, ListMeta: metav1.ListMeta{ResourceVersion: "999999"}}
	for i := range n {
		p := corev1.Pod{
			ObjectMeta: benchMeta(fmt.Sprintf("checkout-7d9f8c6b5-%05d", i), i),
			Spec: corev1.PodSpec{
				Containers:         []corev1.Container{container("app"), container("sidecar")},
				ServiceAccountName: "checkout", NodeName: fmt.Sprintf("node-%d", i%20), RestartPolicy: corev1.RestartPolicyAlways,
			},
			Status: corev1.PodStatus{
				Phase: corev1.PodRunning, PodIP: "10.1.2.3", HostIP: "192.168.0.10",
				Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}, {Type: corev1.PodScheduled, Status: corev1.ConditionTrue}},
				ContainerStatuses: []corev1.ContainerStatus{
					{Name: "app", Ready: true, RestartCount: 1, Image: "registry.example.com/shop/app:1.42.0", ContainerID: "containerd://abcdef"},
					{Name: "sidecar", Ready: true, Image: "registry.example.com/shop/sidecar:1.42.0", ContainerID: "containerd://012345"},
				},
			},
		}
		list.Items = append(list.Items, p)
	}
	return marshal(tb, list)
}

// serviceList returns a ServiceList of n services, which has nothing to
// mask, as JSON.
func serviceList(tb testing.TB, n int) []byte {
	tb.Helper()
	list := corev1.ServiceList{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "ServiceList"}, ListMeta: metav1.ListMeta{ResourceVersion: "999999"}}
	for i := range n {
		list.Items = append(list.Items, corev1.Service{
			ObjectMeta: benchMeta(fmt.Sprintf("checkout-%05d", i), i),
			Spec: corev1.ServiceSpec{
				Type: corev1.ServiceTypeClusterIP, ClusterIP: "10.96.0.10", ClusterIPs: []string{"10.96.0.10"},
				Selector: map[string]string{"app.kubernetes.io/name": "checkout"},
				Ports: []corev1.ServicePort{
					{Name: "http", Port: 80, TargetPort: intstr.FromString("http"), Protocol: corev1.ProtocolTCP},
					{Name: "metrics", Port: 9090, TargetPort: intstr.FromInt32(9090), Protocol: corev1.ProtocolTCP},
				},
				SessionAffinity: corev1.ServiceAffinityNone,
			},
		})
	}
	return marshal(tb, list)
}

func marshal(tb testing.TB, v any) []byte {
	tb.Helper()
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		tb.Fatal(err)
	}
	return buf.Bytes()
}

func BenchmarkJSON(b *testing.B) {
	r := newRedactor(b, redact.Config{})
	benches := []struct {
		name        string
		body        []byte
		wantChanged bool
	}{
		{name: "500 pods with env", body: podList(b, 500), wantChanged: true},
		{name: "500 services fast path", body: serviceList(b, 500), wantChanged: false},
		{name: "table of 30 applied namespaces", body: appliedNamespaces(30), wantChanged: false},
	}
	for _, bb := range benches {
		b.Run(bb.name, func(b *testing.B) {
			if _, changed, err := r.JSON(bb.body, redact.Kind{}); err != nil || changed != bb.wantChanged {
				b.Fatalf("JSON: got changed=%v, err=%v; want changed=%v", changed, err, bb.wantChanged)
			}
			b.SetBytes(int64(len(bb.body)))
			b.ReportAllocs()
			for b.Loop() {
				if _, _, err := r.JSON(bb.body, redact.Kind{}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// appliedNamespaces returns a Table of n namespaces as the API server sends
// it for get namespaces when they were created with kubectl apply: each
// row's metadata carries the last-applied annotation and its managedFields
// entry. Nothing in it is masked.
func appliedNamespaces(n int) []byte {
	var b strings.Builder
	b.WriteString(`{"kind":"Table","apiVersion":"meta.k8s.io/v1","metadata":{"resourceVersion":"1234"},"columnDefinitions":[` +
		`{"name":"Name","type":"string","format":"name","description":"Name must be unique within a namespace. Is required when creating resources, although some resources may allow a client to request the generation of an appropriate name automatically. Name is primarily intended for creation idempotence and configuration definition. Cannot be updated. More info: https://kubernetes.io/docs/concepts/overview/working-with-objects/names#names","priority":0},` +
		`{"name":"Status","type":"string","format":"","description":"The status of the namespace","priority":0},` +
		`{"name":"Age","type":"string","format":"","description":"CreationTimestamp is a timestamp representing the server time when this object was created. It is represented in RFC3339 form and is in UTC.\n\nPopulated by the system. Read-only. Null for lists. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#metadata","priority":0}],"rows":[`)
	for i := range n {
		if i > 0 {
			b.WriteByte(',')
		}
		applied := fmt.Sprintf(`{"apiVersion":"v1","kind":"Namespace","metadata":{"annotations":{},"labels":{"team":"t%d"},"name":"ns-%d"}}`+"\n", i, i)
		q, _ := json.Marshal(applied)
		fmt.Fprintf(&b, `{"cells":["ns-%d","Active","%dd"],"object":{"kind":"PartialObjectMetadata","apiVersion":"meta.k8s.io/v1",`+
			`"metadata":{"name":"ns-%d","uid":"6f1c2b9e-0000-4000-8000-%012d","resourceVersion":"%d","creationTimestamp":"2026-12-01T10:00:00Z",`+
			`"labels":{"kubernetes.io/metadata.name":"ns-%d","team":"t%d"},"annotations":{"kubectl.kubernetes.io/last-applied-configuration":%s},`+
			`"managedFields":[{"manager":"kubectl-client-side-apply","operation":"Update","apiVersion":"v1","time":"2026-12-01T10:00:00Z","fieldsType":"FieldsV1",`+
			`"fieldsV1":{"f:metadata":{"f:annotations":{".":{},"f:kubectl.kubernetes.io/last-applied-configuration":{}},"f:labels":{".":{},"f:kubernetes.io/metadata.name":{},"f:team":{}}}}}]}}}`,
			i, i, i, i, 100+i, i, i, q)
	}
	b.WriteString(`]}`)
	return []byte(b.String())
}

// answer is an http.RoundTripper that answers every request with one
// JSON body, as the API server would, without a network in between; with
// chunked set, without a Content-Length.
type answer struct {
	body    []byte
	chunked bool
}

func (a answer) RoundTrip(req *http.Request) (*http.Response, error) {
	h := http.Header{}
	h.Set("Content-Type", "application/json")
	n := int64(-1)
	if !a.chunked {
		n = int64(len(a.body))
		h.Set("Content-Length", strconv.Itoa(len(a.body)))
	}
	return &http.Response{StatusCode: http.StatusOK, Header: h, Body: io.NopCloser(bytes.NewReader(a.body)), ContentLength: n, Request: req}, nil
}

// BenchmarkTransport measures what the redacting transport adds to one
// answer of the API server (a Table of 30 namespaces created with kubectl
// apply, which it passes unchanged), the body read by the caller included.
func BenchmarkTransport(b *testing.B) {
	for _, chunked := range []bool{false, true} {
		name := "Content-Length"
		if chunked {
			name = "chunked"
		}
		b.Run(name, func(b *testing.B) {
			rt := newRedactor(b, redact.Config{}).Wrap(answer{body: appliedNamespaces(30), chunked: chunked})
			req, err := http.NewRequest(http.MethodGet, "https://apiserver/api/v1/namespaces?limit=500", nil)
			if err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			for b.Loop() {
				resp, err := rt.RoundTrip(req)
				if err != nil {
					b.Fatal(err)
				}
				if _, err := io.ReadAll(resp.Body); err != nil {
					b.Fatal(err)
				}
				_ = resp.Body.Close()
			}
		})
	}
}
