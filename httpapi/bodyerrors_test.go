package httpapi_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/runtimesd/runtimesd/sync/fakecp"
)

// TestBodyRoutes_ErrorsNameTheProblem: the native POST routes take their input in the JSON
// body. A wrong-typed field is a 400 naming the field and the type wanted, in JSON terms (no
// Go type names such as "Go struct field SelectRequest.limit of type int"), and a query
// parameter on them is a 400 rather than silently ignored (POST /v1/select?limit=1 used to
// answer 20 candidates).
func TestBodyRoutes_ErrorsNameTheProblem(t *testing.T) {
	t.Parallel()
	h := newHarness(t, fakecp.Options{})
	h.sync(t)
	for _, tc := range []struct {
		name, path, body string
		code             string
		want             []string
	}{
		{"SelectLimitFraction", "/v1/select", `{"limit":1.5}`, "bad_body", []string{`field "limit" must be an integer`, "number 1.5"}},
		{"SelectLimitString", "/v1/select", `{"limit":"5"}`, "bad_body", []string{`field "limit" must be an integer`, "a string"}},
		{"SelectArray", "/v1/select", `[]`, "bad_body", []string{"must be a JSON object, got an array"}},
		{"SelectFeaturesNumbers", "/v1/select", `{"features":[1]}`, "bad_body", []string{`field "features" must be a string`}},
		{"SelectUnknownField", "/v1/select", `{"limt":1}`, "bad_body", []string{`unknown field "limt"`}},
		{"ValidateArray", "/v1/validate", `[]`, "bad_body", []string{"must be a JSON object, got an array"}},
		{"ConfigArray", "/v1/runtimes/claude_code/config", `[]`, "bad_body", []string{"must be a JSON object, got an array"}},
		{"ConfigModelNumber", "/v1/runtimes/claude_code/config", `{"model_id":5}`, "bad_body", []string{`field "model_id" must be a string`, "got number"}},
		{"ConfigFeaturesString", "/v1/runtimes/claude_code/config", `{"features":"x"}`, "bad_body", []string{`field "features" must be an array of strings`}},
		{"ConfigTruncated", "/v1/runtimes/claude_code/config", `{"model_id":`, "bad_body", []string{"ends too early"}},
		// json.Decoder.More is false before a stray } or ]: these once passed as one object.
		{"SelectStrayBrace", "/v1/select", `{"limit":1}}`, "bad_body", []string{"data after the JSON object"}},
		{"ConfigStrayBracket", "/v1/runtimes/claude_code/config", "{\"model_id\":\"claude-sonnet-4\"}\n]", "bad_body", []string{"data after the JSON object"}},
		{"ValidateStrayBrace", "/v1/validate", `{"runtime_type":"default"} }`, "bad_body", []string{"data after the JSON object"}},
		// Only JSON's white space (space, tab, CR, LF) may follow the object, as json.Decoder.More
		// and json.Valid have it: not the rest of Unicode's (bytes.TrimSpace's) white space.
		{"SelectFormFeedAfter", "/v1/select", "{\"limit\":1}\f", "bad_body", []string{"data after the JSON object"}},
		{"ConfigNBSPAfter", "/v1/runtimes/claude_code/config", "{\"model_id\":\"claude-sonnet-4\"}\u00a0", "bad_body", []string{"data after the JSON object"}},
		{"ValidateVerticalTabAfter", "/v1/validate", "{\"runtime_type\":\"default\"}\v", "bad_body", []string{"data after the JSON object"}},
		{"ValidateLineSeparatorAfter", "/v1/validate", "{\"runtime_type\":\"default\"} \u2028", "bad_body", []string{"data after the JSON object"}},
		{"QueryOnSelect", "/v1/select?limit=1", `{}`, "unknown_parameter", []string{"POST /v1/select takes no query parameters", `"limit"`}},
		{"QueryOnValidate", "/v1/validate?runtime_type=default", `{"runtime_type":"default"}`, "unknown_parameter", []string{"POST /v1/validate takes no query parameters"}},
		{"QueryOnConfigPost", "/v1/runtimes/claude_code/config?model_id=claude-sonnet-4", `{}`, "unknown_parameter", []string{"takes no query parameters", `"model_id"`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := do(t, "POST", h.url+tc.path, tc.body, "Content-Type", "application/json")
			var e struct {
				Error struct{ Code, Message string }
			}
			if err := json.Unmarshal(a.body, &e); err != nil || a.status != 400 || e.Error.Code != tc.code {
				t.Fatalf("%d %s, want 400 %s", a.status, a.body, tc.code)
			}
			for _, w := range tc.want {
				if !strings.Contains(e.Error.Message, w) {
					t.Errorf("message %q does not say %q", e.Error.Message, w)
				}
			}
			for _, leak := range []string{"Go struct", "Go value", "json.RawMessage", "health.", "json: "} {
				if strings.Contains(e.Error.Message, leak) {
					t.Errorf("message %q shows Go internals (%q)", e.Error.Message, leak)
				}
			}
		})
	}
}
