package httpapi_test

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/legacy"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/runtimesd/runtimesd/httpapi"
	rsync "github.com/runtimesd/runtimesd/sync"
)

var (
	docOnce   sync.Once
	docRouter routers.Router
	docErr    error

	// validated records the documented operations whose answers were checked.
	validatedMu sync.Mutex
	validated   = map[string]bool{}
)

// TestMain runs the package's tests, then (on a full run) fails if some documented operation
// never had an answer checked against the document.
func TestMain(m *testing.M) {
	code := m.Run()
	if code == 0 && flag.Lookup("test.run").Value.String() == "" && docRouter != nil {
		doc, _ := openapi3.NewLoader().LoadFromData(httpapi.OpenAPIYAML)
		var missing []string
		for path, item := range doc.Paths.Map() {
			for method := range item.Operations() {
				key := method + " " + path
				if path == "/v1/watch" { // a stream: not buffered for checking
					continue
				}
				if !validated[key] {
					missing = append(missing, key)
				}
			}
		}
		if len(missing) > 0 {
			sort.Strings(missing)
			fmt.Fprintf(os.Stderr, "FAIL: no test checked an answer of these documented operations against openapi.yaml:\n  %s\n", strings.Join(missing, "\n  "))
			code = 1
		}
	}
	os.Exit(code)
}

func loadDoc() (routers.Router, error) {
	docOnce.Do(func() {
		loader := openapi3.NewLoader()
		doc, err := loader.LoadFromData(httpapi.OpenAPIYAML)
		if err != nil {
			docErr = err
			return
		}
		if err := doc.Validate(context.Background()); err != nil {
			docErr = err
			return
		}
		docRouter, docErr = legacy.NewRouter(doc)
		openapi3filter.RegisterBodyDecoder("text/csv", openapi3filter.FileBodyDecoder)
		openapi3filter.RegisterBodyDecoder("text/html", openapi3filter.FileBodyDecoder)
		openapi3filter.RegisterBodyDecoder("application/yaml", openapi3filter.FileBodyDecoder)
	})
	return docRouter, docErr
}

// TestOpenAPIOperationalRoutes exercises the routes no other test reads, so that their
// answers are checked against the document too.
func TestOpenAPIOperationalRoutes(t *testing.T) {
	reg := prometheus.NewRegistry()
	h := newHarness(t, fakeDefault(), func(o *httpapi.Options, _ *rsync.Client) { o.Registerer, o.Gatherer = reg, reg })
	h.sync(t)
	for _, path := range []string{"/metrics", "/dashboard", "/openapi.json", "/openapi.yaml", "/healthz", "/readyz", "/api/health", "/api/ready"} {
		if a := do(t, "GET", h.url+path, ""); a.status != 200 {
			t.Errorf("%s: %d", path, a.status)
		}
	}
	if a := do(t, "POST", h.url+"/v1/sync", ""); a.status != 200 {
		t.Errorf("POST /v1/sync: %d", a.status)
	}
}

func TestOpenAPIDocument(t *testing.T) {
	if _, err := loadDoc(); err != nil {
		t.Fatalf("openapi.yaml: %v", err)
	}
	// Every route the server has is in the document.
	h := newHarness(t, fakeDefault())
	for _, path := range []string{"/openapi.json", "/openapi.yaml"} {
		a := do(t, "GET", h.url+path, "")
		if a.status != 200 || !bytes.Contains(a.body, []byte("/v1/runtimes")) {
			t.Errorf("%s: %d", path, a.status)
		}
	}
	for _, route := range h.api.Routes() {
		if route.Method == http.MethodHead {
			continue
		}
		req := httptest.NewRequest(route.Method, strings.ReplaceAll(route.Path, ":id", "x"), nil)
		if _, _, err := docRouter.FindRoute(req); err != nil {
			t.Errorf("route %s %s is not in openapi.yaml: %v", route.Method, route.Path, err)
		}
	}
}

// validating wraps a handler so that every answer the test suite receives is checked against
// openapi.yaml. Requests are not checked (tests send bad input on purpose); answers to routes
// the document does not have, streams, 304s and compressed bodies are passed through.
func validating(t *testing.T, next http.Handler) http.Handler {
	router, err := loadDoc()
	if err != nil {
		t.Fatalf("openapi.yaml: %v", err)
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/v1/watch" {
			next.ServeHTTP(w, r)
			return
		}
		var body []byte
		if r.Body != nil {
			body, _ = io.ReadAll(r.Body)
			r.Body = io.NopCloser(bytes.NewReader(body))
		}
		rec := httptest.NewRecorder()
		next.ServeHTTP(rec, r)
		for k, v := range rec.Header() {
			w.Header()[k] = v
		}
		w.WriteHeader(rec.Code)
		w.Write(rec.Body.Bytes())

		if rec.Header().Get("Content-Encoding") != "" || rec.Code == http.StatusNotModified {
			return
		}
		vr := r.Clone(context.Background())
		vr.Body = io.NopCloser(bytes.NewReader(body))
		route, params, err := router.FindRoute(vr)
		if err != nil {
			return // not a documented route: the 404/405 tests
		}
		in := &openapi3filter.ResponseValidationInput{
			RequestValidationInput: &openapi3filter.RequestValidationInput{Request: vr, PathParams: params, Route: route,
				Options: &openapi3filter.Options{ExcludeRequestBody: true, ExcludeRequestQueryParams: true}},
			Status:  rec.Code,
			Header:  rec.Header(),
			Options: &openapi3filter.Options{IncludeResponseStatus: true, MultiError: true},
		}
		in.SetBodyBytes(rec.Body.Bytes())
		validatedMu.Lock()
		validated[r.Method+" "+route.Path] = true
		validatedMu.Unlock()
		if err := openapi3filter.ValidateResponse(context.Background(), in); err != nil {
			t.Errorf("answer to %s %s (%d) does not match openapi.yaml: %v\nbody: %.300s", r.Method, r.URL, rec.Code, err, rec.Body.Bytes())
		}
	})
}
