package httpapi

import (
	_ "embed"
	"net/http"
	"sync"

	"github.com/labstack/echo/v4"
	"sigs.k8s.io/yaml"
)

// OpenAPI is the OpenAPI 3 document of the gateway's HTTP API (YAML).
// openapi_test.go checks it is valid and lists exactly the routes served.
//
//go:embed openapi.yaml
var OpenAPI []byte

var openapiJSON = sync.OnceValues(func() ([]byte, error) { return yaml.YAMLToJSON(OpenAPI) })

func (s *Server) openapiYAML(c echo.Context) error {
	return c.Blob(http.StatusOK, "application/yaml", OpenAPI)
}

func (s *Server) openapiJSON(c echo.Context) error {
	b, err := openapiJSON()
	if err != nil {
		return err
	}
	return c.JSONBlob(http.StatusOK, b)
}
