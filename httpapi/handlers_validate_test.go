package httpapi_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/runtimesd/runtimesd/httpapi"
	rsync "github.com/runtimesd/runtimesd/sync"
	"github.com/runtimesd/runtimesd/sync/fakecp"
)

// upstreamAnswer is a control plane's validate endpoint answering a fixed status, body and
// error (what sync.Client.ValidateUpstream returns).
type upstreamAnswer struct {
	status int
	body   string
	err    error
}

func (u upstreamAnswer) ValidateUpstream(context.Context, []byte, string) (int, []byte, error) {
	return u.status, []byte(u.body), u.err
}

// TestDropInValidate_UpstreamFallback: in upstream mode the control plane's answer is relayed
// as it is below 500 (its own 4xx included); a 5xx or a failed call is answered locally, with
// X-Runtimes-Validation-Fallback saying why on one printable line of at most 200 bytes.
func TestDropInValidate_UpstreamFallback(t *testing.T) {
	t.Parallel()
	// 29 bytes, then two-byte runes: the 200-byte cut falls inside one, which is dropped.
	long := "dial tcp:! \x00\r\nX-Injected: 1\x7f " + strings.Repeat("é", 150)
	for _, tc := range []struct {
		name     string
		up       upstreamAnswer
		status   int
		by       string
		fallback string
	}{
		{"Relays499", upstreamAnswer{499, `{"detail":"client closed"}`, nil}, 499, "upstream", ""},
		{"Relays422", upstreamAnswer{422, `{"detail":[]}`, nil}, 422, "upstream", ""},
		{"LocalOn500", upstreamAnswer{500, `{"detail":"boom"}`, nil}, 200, "local", "control plane answered 500"},
		{"RelaysVerdict", upstreamAnswer{200, `{"valid":false,"errors":["Model ID is required for this runtime"]}`, nil}, 200, "upstream", ""},
		// A 200 that is JSON but no verdict (a proxy's, a control plane's bug) was relayed to SDKs
		// reading result["valid"].
		{"LocalOnObjectWithoutVerdict", upstreamAnswer{200, `{"status":"ok"}`, nil}, 200, "local", `control plane answered 200 without a verdict ({"valid": bool, "errors": [...]})`},
		{"LocalOnArray", upstreamAnswer{200, `[]`, nil}, 200, "local", `control plane answered 200 without a verdict ({"valid": bool, "errors": [...]})`},
		{"LocalOnErrorsNotStrings", upstreamAnswer{200, `{"valid":true,"errors":[1]}`, nil}, 200, "local", `control plane answered 200 without a verdict ({"valid": bool, "errors": [...]})`},
		{"LocalOnError", upstreamAnswer{0, "", errors.New(long)}, 200, "local", "dial tcp:!    X-Injected: 1  " + strings.Repeat("é", 85)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t, fakecp.Options{}, func(o *httpapi.Options, _ *rsync.Client) {
				o.ValidateMode, o.UpstreamValidator = httpapi.ValidateUpstream, tc.up
			})
			a := do(t, "POST", h.url+"/api/v1/runtimes/validate", `{"runtime_type":"default","model_id":"gpt-4o"}`, "Content-Type", "application/json")
			if a.status != tc.status || a.header.Get(httpapi.HeaderValidatedBy) != tc.by {
				t.Fatalf("%d validated by %q, want %d by %q: %s", a.status, a.header.Get(httpapi.HeaderValidatedBy), tc.status, tc.by, a.body)
			}
			if tc.by == "upstream" && string(a.body) != tc.up.body {
				t.Errorf("relayed body %s, want the control plane's %s", a.body, tc.up.body)
			}
			if tc.by == "local" && a.json(t)["valid"] == nil {
				t.Errorf("local answer %s", a.body)
			}
			if got := a.header.Get("X-Runtimes-Validation-Fallback"); got != tc.fallback || len(got) > 200 || a.header.Get("X-Injected") != "" {
				t.Errorf("X-Runtimes-Validation-Fallback %q (%d bytes), want %q", got, len(got), tc.fallback)
			}
		})
	}
}

// TestValidate_NativeBadBodiesNamed: each way a POST /v1/validate body can be wrong is a 400
// whose code and message name that problem (not another one's), and null fields are absent.
func TestValidate_NativeBadBodiesNamed(t *testing.T) {
	t.Parallel()
	h := newHarness(t, fakecp.Options{})
	for _, tc := range []struct {
		name, body, code, message string
	}{
		{"Empty", ``, "bad_body", "the body is empty"},
		{"Blank", " \n\t", "bad_body", "the body is empty"},
		{"NotUTF8", "{\"runtime_type\":\"\xff\"}", "bad_body", "not valid UTF-8"},
		{"Null", ` null `, "bad_body", "the body is null"},
		{"Array", `[{"runtime_type":"default"}]`, "bad_body", "the body is not a JSON object"},
		{"Truncated", `{"runtime_type":"default"`, "bad_body", "the body is not a JSON object"},
		{"TrailingObject", `{"runtime_type":"default"} {}`, "bad_body", "data after the JSON object"},
		{"TrailingBrace", `{"runtime_type":"default"}}`, "bad_body", "data after the JSON object"},
		{"TrailingBracket", "{\"runtime_type\":\"default\"}\n]", "bad_body", "data after the JSON object"},
		{"MissingRuntime", `{"model_id":"gpt-4o"}`, "missing_field", "runtime_type is required"},
		{"NullRuntime", `{"runtime_type":null}`, "missing_field", "runtime_type is required"},
		{"RuntimeNumber", `{"runtime_type":5}`, "bad_field", "runtime_type must be a string"},
		{"ModelNumber", `{"runtime_type":"default","model_id":5}`, "bad_field", "model_id must be a string or null"},
		{"ConfigArray", `{"runtime_type":"default","agent_config":[]}`, "bad_field", "agent_config must be a JSON object or null"},
		{"ConfigString", `{"runtime_type":"default","agent_config":"x"}`, "bad_field", "agent_config must be a JSON object or null"},
		{"ConfigOverflow", `{"runtime_type":"default","agent_config":{"a":{"b":[1,1e999]}}}`, "bad_field", "agent_config.a.b[1] is a number beyond what a double can hold"},
		{"PromptNumber", `{"runtime_type":"default","system_prompt":1}`, "bad_field", "system_prompt must be a string or null"},
		{"FeaturesString", `{"runtime_type":"default","features":"a"}`, "bad_field", "features must be an array of strings"},
	} {
		a := do(t, "POST", h.url+"/v1/validate", tc.body, "Content-Type", "application/json")
		e, _ := a.json(t)["error"].(map[string]any)
		if a.status != 400 || e["code"] != tc.code || !strings.Contains(fmt.Sprint(e["message"]), tc.message) {
			t.Errorf("%s: %d %s, want 400 %s %q", tc.name, a.status, a.body, tc.code, tc.message)
		}
	}
	// Null optional fields are as absent; escaped strings are decoded.
	for _, body := range []string{
		`{"runtime_type":"default","model_id":null,"agent_config":null,"system_prompt":null,"features":null}`,
		`{"runtime_type":"def\u0061ult","agent_config":{"n":1e308,"l":[1.5]}}`,
	} {
		a := do(t, "POST", h.url+"/v1/validate", body, "Content-Type", "application/json")
		m := a.json(t)
		if a.status != 200 || m["runtime"].(map[string]any)["id"] != "default" {
			t.Errorf("%s: %d %s", body, a.status, a.body)
		}
	}
	// Escapes in the string fields are decoded once, whatever else the string holds.
	for lit, want := range map[string]string{`"\\\\"`: `\\`, `"a\"b"`: `a"b`, `"tab\there"`: "tab\there", `"plain é"`: "plain é"} {
		a := do(t, "POST", h.url+"/v1/validate", `{"runtime_type":"default","model_id":`+lit+`}`)
		vc, _ := a.json(t)["validated_config"].(map[string]any)
		if a.status != 200 || vc["model_id"] != want {
			t.Errorf("model_id %s: %d, validated_config.model_id %q, want %q", lit, a.status, vc["model_id"], want)
		}
	}
}

// TestValidate_NativeNestingBound: a body may nest 900 levels (what the control plane's own
// parser reads), and the answer, which holds agent_config and unknown keys one level deeper,
// still decodes with encoding/json; one level more is a 400 naming the bound. Before the bound,
// a body at encoding/json's 10,000 levels was answered with JSON no Go client could decode.
func TestValidate_NativeNestingBound(t *testing.T) {
	t.Parallel()
	h := newHarness(t, fakecp.Options{})
	nested := func(levels int) string { // root, agent_config, then levels-2 arrays: levels in all
		// Strings closed by a bracket come first: the depth count must not skip that bracket.
		return `{"runtime_type":"default","pad":[["s"],["]"],{"k":"v"}],"agent_config":{"x":` + strings.Repeat("[", levels-2) + `"s"` +
			strings.Repeat("]", levels-2) + `},"extra":{"k":[1]}}`
	}
	a := do(t, "POST", h.url+"/v1/validate", nested(900), "Content-Type", "application/json")
	var answer map[string]any
	if a.status != 200 || json.Unmarshal(a.body, &answer) != nil {
		t.Fatalf("900 levels: %d, %.200s", a.status, a.body)
	}
	for _, levels := range []int{901, 10000} {
		a := do(t, "POST", h.url+"/v1/validate", nested(levels), "Content-Type", "application/json")
		e, _ := a.json(t)["error"].(map[string]any)
		if a.status != 400 || e["code"] != "bad_body" || !strings.Contains(fmt.Sprint(e["message"]), "nests deeper than 900 levels") {
			t.Errorf("%d levels: %d %.300s, want 400 bad_body naming the bound", levels, a.status, a.body)
		}
	}
}
