package httpapi

import (
	_ "embed"
	"encoding/json"
	"fmt"
	"net/http"
	stdsync "sync"

	"github.com/labstack/echo/v4"
	"go.yaml.in/yaml/v3"
)

// OpenAPIYAML is the OpenAPI 3 document of this API, the source of truth: a test validates
// every answer of the test suite against it.
//
//go:embed openapi.yaml
var OpenAPIYAML []byte

// openAPIJSON is OpenAPIYAML converted once, on first use: parsing the YAML at package init
// cost every start of the binary (daemon and CLI alike) 20-50 ms before main ran.
var openAPIJSON = stdsync.OnceValue(func() []byte {
	var doc any
	if err := yaml.Unmarshal(OpenAPIYAML, &doc); err != nil {
		panic(fmt.Sprintf("httpapi: openapi.yaml: %v", err)) // a build defect, caught by tests
	}
	b, err := json.Marshal(doc)
	if err != nil {
		panic(fmt.Sprintf("httpapi: openapi.yaml as JSON: %v", err))
	}
	return b
})

func (s *Server) handleOpenAPIJSON(c echo.Context) error {
	return c.Blob(http.StatusOK, echo.MIMEApplicationJSON, openAPIJSON())
}

func (s *Server) handleOpenAPIYAML(c echo.Context) error {
	return c.Blob(http.StatusOK, "application/yaml", OpenAPIYAML)
}
