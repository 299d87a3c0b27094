package testbed_test

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"kubently.io/libs/testbed"
)

func TestKubeconfigReachesReadyCluster(t *testing.T) {
	c := newClient(t, testbed.Kubeconfig(t))

	if code, body := c.do(t, http.MethodGet, "/readyz", ""); code != http.StatusOK || string(body) != "ok" {
		t.Fatalf("GET /readyz = %d %q; want 200 \"ok\"", code, body)
	}

	code, body := c.do(t, http.MethodGet, "/api/v1/nodes/"+testbed.NodeName, "")
	if code != http.StatusOK {
		t.Fatalf("GET node %s = %d %s; want 200", testbed.NodeName, code, body)
	}
	var node struct {
		Status struct {
			Conditions []struct{ Type, Status string }
		}
	}
	if err := json.Unmarshal(body, &node); err != nil {
		t.Fatalf("decoding node: %v", err)
	}
	ready := ""
	for _, cond := range node.Status.Conditions {
		if cond.Type == "Ready" {
			ready = cond.Status
		}
	}
	if ready != "True" {
		t.Errorf("node %s Ready condition = %q; want %q", testbed.NodeName, ready, "True")
	}
}

func TestViewerKubeconfigIsReadOnly(t *testing.T) {
	c := newClient(t, testbed.ViewerKubeconfig(t))
	const cm = `{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"testbed-viewer-probe"}}`

	tests := []struct {
		name       string
		method     string
		path       string
		body       string
		wantStatus int
	}{
		{"list pods", http.MethodGet, "/api/v1/namespaces/kube-system/pods", "", http.StatusOK},
		{"list deployments", http.MethodGet, "/apis/apps/v1/deployments", "", http.StatusOK},
		// dryRun=All: authorization still runs, nothing would be stored.
		{"create configmap", http.MethodPost, "/api/v1/namespaces/default/configmaps?dryRun=All", cm, http.StatusForbidden},
		{"delete serviceaccount", http.MethodDelete, "/api/v1/namespaces/default/serviceaccounts/default?dryRun=All", "", http.StatusForbidden},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if code, body := c.do(t, tt.method, tt.path, tt.body); code != tt.wantStatus {
				t.Errorf("%s %s = %d %s; want %d", tt.method, tt.path, code, body, tt.wantStatus)
			}
		})
	}
}

// client talks to the API server named in a kubeconfig written by testbed.sh,
// with only the standard library.
type client struct {
	server, token string
	http          *http.Client
}

// newClient reads server, certificate-authority-data and token from a
// kubeconfig. It is a minimal line parser for the files testbed.sh writes, not
// a general kubeconfig loader.
func newClient(t *testing.T, kubeconfig string) *client {
	t.Helper()
	raw, err := os.ReadFile(kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	field := func(key string) string {
		for _, line := range strings.Split(string(raw), "\n") {
			if v, ok := strings.CutPrefix(strings.TrimSpace(line), key+":"); ok {
				return strings.TrimSpace(v)
			}
		}
		t.Fatalf("%s: no %q field", kubeconfig, key)
		return ""
	}
	caPEM, err := base64.StdEncoding.DecodeString(field("certificate-authority-data"))
	if err != nil {
		t.Fatalf("%s: certificate-authority-data: %v", kubeconfig, err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(caPEM) {
		t.Fatalf("%s: certificate-authority-data holds no PEM certificate", kubeconfig)
	}
	return &client{
		server: field("server"),
		token:  field("token"),
		http: &http.Client{
			Timeout:   10 * time.Second,
			Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}},
		},
	}
}

func (c *client) do(t *testing.T, method, path, body string) (int, []byte) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, c.server+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.http.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: reading body: %v", method, path, err)
	}
	return resp.StatusCode, b
}
