package httpapi_test

import (
	"strings"
	"testing"

	"github.com/runtimesd/runtimesd/store"
	"github.com/runtimesd/runtimesd/sync/fakecp"
)

// TestRuntimeConfig: GET/POST /v1/runtimes/{id}/config build a configuration from requirements
// like the seed's build_config_from_requirements, and every bad input is a 4xx naming it.
func TestRuntimeConfig(t *testing.T) {
	t.Parallel()
	const bare = `{"id":"bare","name":"Bare","status":"available"}`
	cat := strings.TrimSuffix(string(catalogWithStrict(t)), "]") + "," + bare + "]"
	h := newHarness(t, fakecp.Options{Catalog: []byte(cat)})
	h.sync(t)

	t.Run("FilledFromRequirements", func(t *testing.T) {
		a := do(t, "GET", h.url+"/v1/runtimes/strict/config", "")
		m := a.json(t)
		cfg := m["config"].(map[string]any)
		if a.status != 200 || cfg["runtime_type"] != "strict" || cfg["model_id"] != "gpt-4o" ||
			cfg["environment"].(map[string]any)["region"] != "eu" || strings.Join(toStrings(m["filled"]), ",") != "environment,model_id" {
			t.Fatalf("%d %s", a.status, a.body)
		}
		// strict requires a system prompt and a timeout field: the verdict on the built config says so.
		if m["valid"] != false || !strings.Contains(strings.Join(toStrings(m["errors"]), "|"), "System prompt is required") {
			t.Errorf("verdict: %s", a.body)
		}
		if m["revision"] == nil {
			t.Errorf("no provenance: %s", a.body)
		}
	})
	t.Run("PublicCatalog", func(t *testing.T) {
		for _, id := range []string{"default", "claude_code"} {
			a := do(t, "GET", h.url+"/v1/runtimes/"+id+"/config", "")
			if a.status != 200 || a.json(t)["config"].(map[string]any)["runtime_type"] != id {
				t.Errorf("%s: %d %s", id, a.status, a.body)
			}
		}
		m := do(t, "GET", h.url+"/v1/runtimes/claude_code/config?model_id=claude-sonnet-4", "").json(t)
		if m["valid"] != true || m["config"].(map[string]any)["model_id"] != "claude-sonnet-4" {
			t.Errorf("override: %v", m)
		}
	})
	t.Run("NoRequirements", func(t *testing.T) {
		a := do(t, "GET", h.url+"/v1/runtimes/bare/config", "")
		if a.status != 200 || a.json(t)["valid"] != true || !strings.Contains(string(a.body), "has no requirements") {
			t.Fatalf("%d %s", a.status, a.body)
		}
	})
	t.Run("Post", func(t *testing.T) {
		a := do(t, "POST", h.url+"/v1/runtimes/strict/config", `{"model_id":"gpt-4.1","features":["code reveiw"],"environment":{"region":"us"}}`,
			"Content-Type", "application/json")
		m := a.json(t)
		cfg := m["config"].(map[string]any)
		if a.status != 200 || cfg["model_id"] != "gpt-4.1" || cfg["environment"].(map[string]any)["region"] != "us" ||
			len(toStrings(m["filled"])) != 0 || !strings.Contains(string(a.body), "did you mean 'code review'") {
			t.Fatalf("%d %s", a.status, a.body)
		}
		if a := do(t, "POST", h.url+"/v1/runtimes/strict/config", ""); a.status != 200 {
			t.Errorf("empty body = no overrides: %d %s", a.status, a.body)
		}
	})
	t.Run("BadInput", func(t *testing.T) {
		for _, tc := range []struct{ method, path, body, want string }{
			{"GET", "/v1/runtimes/claud_code/config", "", `did you mean \"claude_code\"`},
			{"GET", "/v1/runtimes/strict/config?environment=[1]", "", "environment must be a JSON object"},
			{"GET", "/v1/runtimes/strict/config?model=x", "", "model"},
			{"GET", "/v1/runtimes/strict/config?model_id=a&model_id=b", "", "model_id"},
			{"POST", "/v1/runtimes/strict/config", `{"model":"x"}`, "unknown field"},
			{"POST", "/v1/runtimes/strict/config", `{"features":"x"}`, "features"},
			{"POST", "/v1/runtimes/strict/config", `{"environment":"x"}`, "environment must be a JSON object"},
			{"POST", "/v1/runtimes/strict/config", `{} {}`, "data after"},
			{"POST", "/v1/runtimes/strict/config", "\xff", "UTF-8"},
			{"POST", "/v1/runtimes/nope/config", `{}`, "no runtime has the id"},
			{"POST", "/v1/runtimes/strict/config", `{"features":[` + strings.Repeat(`"x",`, 64) + `"x"]}`, "at most 64"},
			{"GET", "/v1/runtimes/strict/config?" + strings.Repeat("feature=x&", 65), "", "feature"},
			{"POST", "/v1/validate", `{"runtime_type":"strict","features":[` + strings.Repeat(`"x",`, 64) + `"x"]}`, "at most 64"},
		} {
			a := do(t, tc.method, h.url+tc.path, tc.body, "Content-Type", "application/json")
			if a.status < 400 || a.status >= 500 || !strings.Contains(string(a.body), tc.want) {
				t.Errorf("%s %s %q: %d %s", tc.method, tc.path, tc.body, a.status, a.body)
			}
		}
	})
}

// TestRuntimeList_TypeFilter: the public catalog has no type field, so a type filter is a 400
// that says so instead of an empty list; once upstream sends types, the filter works.
func TestRuntimeList_TypeFilter(t *testing.T) {
	t.Parallel()
	h := newHarness(t, fakecp.Options{})
	h.sync(t)
	for range 2 { // the second time could come from the memoised filters
		a := do(t, "GET", h.url+"/v1/runtimes?type=agent", "")
		if a.status != 400 || !strings.Contains(string(a.body), "no runtime in the catalog has a type field") {
			t.Fatalf("%d %s", a.status, a.body)
		}
	}
	if a := do(t, "GET", h.url+"/v1/runtimes/default", ""); strings.Contains(string(a.body), `"type":`) {
		t.Errorf("a runtime without type shows one: %s", a.body)
	}
	typed := strings.TrimSuffix(string(store.SeedJSON()), "]") +
		`,{"id":"a","name":"A","status":"available","type":"agent"},{"id":"b","name":"B","status":"available","type":"workflow"}]`
	if err := h.fake.SetCatalog([]byte(typed)); err != nil {
		t.Fatal(err)
	}
	h.sync(t)
	a := do(t, "GET", h.url+"/v1/runtimes?type=AGENT", "")
	if a.status != 200 || a.json(t)["count"] != 1.0 {
		t.Fatalf("%d %s", a.status, a.body)
	}
}
