package integration

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"testing"

	"k8s.io/client-go/kubernetes"

	"kubently.io/libs/contracts"
	"kubently.io/libs/testbed"
	executorapp "kubently.io/services/executor/app"
)

// BenchmarkRoundTrip measures what Kubently adds to one read: the baseline
// is the same server-side Table list client-go does for `get namespaces`,
// made directly from this process; the second is the whole path (HTTP →
// gateway → NATS → dispatcher → bridge → SSE → executor → kube-apiserver →
// result → NATS → HTTP). Compare the two ns/op of one run.
func BenchmarkRoundTrip(b *testing.B) {
	s := startStack(b, false)
	cs := directClient(b)
	ctx := context.Background()
	b.Run("client-go-direct", func(b *testing.B) {
		for b.Loop() {
			_, err := directGetNamespaces(ctx, cs)
			if err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("kubently", func(b *testing.B) { benchExecute(b, s.url, "get", "namespaces") })
}

// benchExecute runs argv on the live cluster through POST /v1/execute at
// url once per b.Loop iteration, failing on anything but success.
func benchExecute(b *testing.B, url string, argv ...string) {
	body, err := json.Marshal(map[string]any{"cluster_id": live, "argv": argv})
	if err != nil {
		b.Fatal(err)
	}
	hc := &http.Client{}
	for b.Loop() {
		postExecute(b, hc, url, body)
	}
}

// postExecute posts body (an execute request) to url's POST /v1/execute
// as alice and fails b on anything but success.
func postExecute(b *testing.B, hc *http.Client, url string, body []byte) {
	req, _ := http.NewRequest(http.MethodPost, url+"/v1/execute", bytes.NewReader(body))
	req.Header.Set(contracts.HeaderAPIKey, aliceKey)
	resp, err := hc.Do(req)
	if err != nil {
		b.Fatal(err)
	}
	var res contracts.CommandResult
	err = json.NewDecoder(resp.Body).Decode(&res)
	_ = resp.Body.Close()
	if err != nil || res.Status != contracts.StatusSuccess {
		b.Fatalf("%v %+v", err, res)
	}
}

// directClient is the baseline's client-go clientset for the testbed,
// with no client-side rate limit.
func directClient(b *testing.B) *kubernetes.Clientset {
	b.Helper()
	rc, err := executorapp.RESTConfig(executorapp.Config{Kubeconfig: testbed.Kubeconfig(b)})
	if err != nil {
		b.Fatal(err)
	}
	rc.QPS, rc.Burst = 1e6, 1e6
	cs, err := kubernetes.NewForConfig(rc)
	if err != nil {
		b.Fatal(err)
	}
	return cs
}

// directGetNamespaces is the baseline read: the server-side Table list
// kubectl asks for on `get namespaces`.
func directGetNamespaces(ctx context.Context, cs *kubernetes.Clientset) ([]byte, error) {
	return cs.CoreV1().RESTClient().Get().Resource("namespaces").
		SetHeader("Accept", "application/json;as=Table;v=v1;g=meta.k8s.io").Do(ctx).Raw()
}
