package httpapi

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"kubently.io/libs/contracts"
)

// TestExecutorDiscovery: an executor's discovery summary is stored for its
// own cluster only; bad summaries get a JSON 4xx and store nothing.
func TestExecutorDiscovery(t *testing.T) {
	e := newEnv(t, envOpts{})
	good := contracts.NewExecutorDiscovery([]contracts.DiscoveryResource{
		{Version: "v1", Resource: "pods", Singular: "pod", Kind: "Pod", ShortNames: []string{"po"}, Categories: []string{"all"}, Namespaced: true, Verbs: []string{"get", "list"}},
		{Group: "flowcontrol.apiserver.k8s.io", Version: "v1", Resource: "flowschemas", Singular: "flowschema", Kind: "FlowSchema"},
	})
	badHash := good
	badHash.Hash = strings.Repeat("0", 64)
	badName := contracts.NewExecutorDiscovery([]contracts.DiscoveryResource{{Version: "v1", Resource: "pods/log", Kind: "Pod"}})
	tooMany := contracts.NewExecutorDiscovery(make([]contracts.DiscoveryResource, contracts.MaxDiscoveryResources+1))
	post := func(cluster string, body any) resp {
		return e.do(t, http.MethodPost, "/v1/executor/discovery", "", body,
			"Authorization", "Bearer "+cluster+"-token-0123456789", contracts.HeaderClusterID, cluster, "Content-Type", "application/json")
	}
	tests := []struct {
		name     string
		body     any
		wantCode int
		wantErr  contracts.ErrorCode
	}{
		{"bad hash", badHash, 400, contracts.CodeBadRequest},
		{"bad name", badName, 400, contracts.CodeBadRequest},
		{"too many", tooMany, 400, contracts.CodeBadRequest},
		{"too large", `{"hash":"` + strings.Repeat("a", contracts.MaxDiscoveryBodyBytes) + `"}`, 413, contracts.CodeBodyTooLarge},
		{"unknown field", `{"hash":"x","resources":[],"extra":1}`, 400, contracts.CodeInvalidJSON},
		{"not JSON", `{`, 400, contracts.CodeInvalidJSON},
		{"good", good, 200, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := post("dev-1", tt.body)
			if r.status != tt.wantCode {
				t.Fatalf("POST /v1/executor/discovery = %d %s; want %d", r.status, r.body, tt.wantCode)
			}
			if tt.wantCode != 200 {
				if got := r.apiError(t).Code; got != tt.wantErr {
					t.Errorf("error code = %s; want %s", got, tt.wantErr)
				}
				return
			}
			var got contracts.ExecutorDiscoveryResponse
			if err := json.Unmarshal(r.body, &got); err != nil || got.Status != "stored" || got.Hash != good.Hash {
				t.Errorf("response = %+v, %v; want stored %s", got, err, good.Hash)
			}
		})
	}
	stored, err := e.st.GetDiscovery(t.Context(), "dev-1")
	if err != nil {
		t.Fatalf("GetDiscovery(dev-1): %v", err)
	}
	if d := cmp.Diff(good, stored); d != "" {
		t.Errorf("stored summary (-want +got):\n%s", d)
	}
	if _, err := e.st.GetDiscovery(t.Context(), "prod-1"); err == nil {
		t.Errorf("prod-1 has a summary; only dev-1 posted one")
	}
	if r := e.do(t, http.MethodPost, "/v1/executor/discovery", "", good); r.status != http.StatusUnauthorized {
		t.Errorf("POST /v1/executor/discovery without credentials = %d; want 401", r.status)
	}
}
