package httpapi_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/runtimesd/runtimesd/httpapi"
	"github.com/runtimesd/runtimesd/store"
)

func fuzzServer(tb testing.TB) http.Handler {
	tb.Helper()
	live := store.NewLive(&store.Snapshot{Source: store.SourceSeed, Catalog: store.SeedCatalog()})
	api, err := httpapi.New(httpapi.Options{Live: live, Syncer: noSync{}, MaxBodyBytes: 1 << 20})
	if err != nil {
		tb.Fatal(err)
	}
	return api.Handler()
}

// fuzzPost sends one body and checks the invariants every answer must keep: no 5xx, a JSON
// body, and for a 200 the documented shape.
func fuzzPost(t *testing.T, h http.Handler, path, contentType string, body []byte) {
	req := httptest.NewRequest("POST", path, strings.NewReader(string(body)))
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code >= 500 {
		t.Fatalf("%s answered %d to %q (%s): %s", path, rec.Code, body, contentType, rec.Body)
	}
	var m map[string]any
	if err := json.Unmarshal(rec.Body.Bytes(), &m); err != nil {
		t.Fatalf("%s answered non-JSON %q to %q", path, rec.Body, body)
	}
	if rec.Code == 200 {
		if _, ok := m["valid"].(bool); !ok {
			t.Fatalf("200 without a boolean valid: %s", rec.Body)
		}
		if errs, ok := m["errors"].([]any); !ok || (len(errs) == 0) != m["valid"].(bool) {
			t.Fatalf("valid must be true exactly when errors is empty: %s", rec.Body)
		}
	}
}

var fuzzSeeds = []string{
	`{"runtime_type":"claude_code","model_id":"gpt-4"}`,
	`{"runtime_type":"default","model_id":null,"agent_config":{"a":[1,2,{"b":NaN}]},"system_prompt":"x"}`,
	`{"runtime_type":"claude_code","model_id":"\ud800\udc00\ud800"}`,
	`{runtime_type:"default"}`,
	`[1,2,`,
	`{"a":1e999999,"b":-0.0e-5,"c":"\u00e9\t"}`,
	"\xef\xbb\xbf{\"runtime_type\":\"default\"}",
	`{"runtime_type":"x","features":["a",null]}`,
	"",
	"\xff\xfe{\x00\"\x00r\x00u\x00n\x00t\x00i\x00m\x00e\x00_\x00t\x00y\x00p\x00e\x00\"\x00:\x00\"\x00d\x00\"\x00}\x00", // UTF-16 with BOM
	"{\x00\x00\x00}\x00\x00\x00", // UTF-32-LE, no BOM
}

func FuzzDropInValidate(f *testing.F) {
	for _, s := range fuzzSeeds {
		f.Add([]byte(s), "application/json")
		f.Add([]byte(s), "text/plain")
	}
	h := fuzzServer(f)
	f.Fuzz(func(t *testing.T, body []byte, contentType string) {
		fuzzPost(t, h, "/api/v1/runtimes/validate", contentType, body)
	})
}

func FuzzNativeValidate(f *testing.F) {
	for _, s := range fuzzSeeds {
		f.Add([]byte(s))
	}
	h := fuzzServer(f)
	f.Fuzz(func(t *testing.T, body []byte) {
		fuzzPost(t, h, "/v1/validate", "application/json", body)
	})
}
