package httpapi

import (
	"context"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/google/go-cmp/cmp"
)

// TestOpenAPI validates the embedded document and checks that it
// describes exactly the routes the server registers (every method and
// path, :param as {param}); nothing is excluded.
func TestOpenAPI(t *testing.T) {
	loader := openapi3.NewLoader()
	doc, err := loader.LoadFromData(OpenAPI)
	if err != nil {
		t.Fatalf("load openapi.yaml: %v", err)
	}
	if err := doc.Validate(context.Background()); err != nil {
		t.Fatalf("openapi.yaml is invalid: %v", err)
	}
	var documented []string
	for path, item := range doc.Paths.Map() {
		for method := range item.Operations() {
			documented = append(documented, strings.ToUpper(method)+" "+path)
		}
	}
	e := newEnv(t, envOpts{})
	param := regexp.MustCompile(`:([A-Za-z_]+)`)
	var served []string
	for _, r := range e.srv.e.Routes() {
		served = append(served, r.Method+" "+param.ReplaceAllString(r.Path, "{$1}"))
	}
	slices.Sort(documented)
	slices.Sort(served)
	served = slices.Compact(served)
	if diff := cmp.Diff(served, documented); diff != "" {
		t.Errorf("routes (-served +documented):\n%s", diff)
	}

	// Served without authentication, as YAML and JSON.
	for _, p := range []string{"/v1/openapi.yaml", "/v1/openapi.json"} {
		r := e.do(t, "GET", p, "", nil)
		if r.status != http.StatusOK {
			t.Fatalf("%s: got %d; want 200", p, r.status)
		}
		if _, err := openapi3.NewLoader().LoadFromData(r.body); err != nil {
			t.Errorf("%s does not load: %v", p, err)
		}
	}
}
