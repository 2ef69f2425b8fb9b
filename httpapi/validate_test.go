package httpapi_test

import (
	"strings"
	"testing"

	"github.com/runtimesd/runtimesd/httpapi"
	"github.com/runtimesd/runtimesd/store"
	rsync "github.com/runtimesd/runtimesd/sync"
	"github.com/runtimesd/runtimesd/sync/fakecp"
)

const strictRuntime = `{"id":"strict","name":"Strict","status":"inactive","features":["Code review"],"model_requirements":{"default_model":"gpt-4o"},"default_environment":{"region":"eu"},"requirements":{"model_requirement":{"description":"","supported_providers":["openai"],"supported_families":["gpt"],"examples":["gpt-4o"]},"required_config_fields":["timeout"],"recommended_config_fields":["temperature"],"max_history_length":null,"requires_system_prompt":true,"requires_tools":false}}`

func catalogWithStrict(t *testing.T) []byte {
	seed := strings.TrimSuffix(string(store.SeedJSON()), "]")
	return []byte(seed + "," + strictRuntime + "]")
}

func TestValidate_UpstreamMode(t *testing.T) {
	h := newHarness(t, fakecp.Options{}, func(o *httpapi.Options, c *rsync.Client) {
		o.ValidateMode, o.UpstreamValidator = httpapi.ValidateUpstream, c
	})
	h.sync(t)
	body := `{"runtime_type":"claude_code","model_id":"gpt-4"}`

	a := do(t, "POST", h.url+"/api/v1/runtimes/validate", body, "Content-Type", "application/json")
	if a.status != 200 || a.header.Get(httpapi.HeaderValidatedBy) != "upstream" || a.json(t)["valid"] != false {
		t.Fatalf("upstream up: %d %v %s", a.status, a.header, a.body)
	}
	if n := h.fake.Count("/api/v1/runtimes/validate"); n != 1 {
		t.Fatalf("the fake control plane saw %d validate calls, want 1", n)
	}
	bad := do(t, "POST", h.url+"/api/v1/runtimes/validate", `{"model_id":1}`, "Content-Type", "application/json")
	if bad.status != 422 || bad.header.Get(httpapi.HeaderValidatedBy) != "upstream" {
		t.Errorf("the control plane's 422 must be relayed: %d %v", bad.status, bad.header)
	}

	h.fake.SetFault(fakecp.Fault500)
	a = do(t, "POST", h.url+"/api/v1/runtimes/validate", body, "Content-Type", "application/json")
	if a.status != 200 || a.header.Get(httpapi.HeaderValidatedBy) != "local" || a.header.Get("X-Runtimes-Validation-Fallback") == "" {
		t.Fatalf("upstream down: %d %v %s", a.status, a.header, a.body)
	}
	errs := a.json(t)["errors"].([]any)
	if len(errs) != 1 || !strings.HasPrefix(errs[0].(string), "Model 'gpt-4' is not compatible") {
		t.Errorf("local fallback answer: %s", a.body)
	}
}

func TestValidate_LocalModeNeverCallsUpstream(t *testing.T) {
	h := newHarness(t, fakecp.Options{})
	a := do(t, "POST", h.url+"/api/v1/runtimes/validate", `{"runtime_type":"default","model_id":"gpt-4"}`, "Content-Type", "application/json")
	if a.status != 200 || a.header.Get(httpapi.HeaderValidatedBy) != "local" || h.fake.Count("/api/v1/runtimes/validate") != 0 {
		t.Fatalf("%d %v calls=%d", a.status, a.header, h.fake.Count("/api/v1/runtimes/validate"))
	}
}

func TestValidate_Native(t *testing.T) {
	h := newHarness(t, fakecp.Options{Catalog: catalogWithStrict(t)})
	h.sync(t)
	post := func(body string) answer {
		return do(t, "POST", h.url+"/v1/validate", body, "Content-Type", "application/json")
	}

	t.Run("ErrorsWarningsAndNormalisedConfig", func(t *testing.T) {
		a := post(`{"runtime_type":"strict","agent_config":{"timeout":30,"custom":"kept"},"features":["code-review","time travel"],"x_extra":true}`)
		m := a.json(t)
		if a.status != 200 || m["valid"] != false || m["revision"] != 1.0 {
			t.Fatalf("%d %s", a.status, a.body)
		}
		errs := strings.Join(toStrings(m["errors"]), "\n")
		if !strings.Contains(errs, "Model ID is required") || !strings.Contains(errs, "System prompt is required") ||
			!strings.Contains(errs, "Feature 'time travel' is not supported by runtime 'strict'") || strings.Contains(errs, "code-review") {
			t.Errorf("errors:\n%s", errs)
		}
		warns := strings.Join(toStrings(m["warnings"]), "\n")
		for _, want := range []string{"recommended field 'temperature' is not set", `runtime "strict" is unhealthy`} {
			if !strings.Contains(warns, want) {
				t.Errorf("warnings lack %q:\n%s", want, warns)
			}
		}
		met := m["requirements_met"].(map[string]any)
		if met["model"] != false || met["config"] != true || met["system_prompt"] != false || met["features"] != false || met["runtime_known"] != true {
			t.Errorf("requirements_met %v", met)
		}
		vc := m["validated_config"].(map[string]any)
		if vc["model_id"] != "gpt-4o" || vc["x_extra"] != true || vc["agent_config"].(map[string]any)["custom"] != "kept" ||
			vc["environment"].(map[string]any)["region"] != "eu" {
			t.Errorf("validated_config %v", vc)
		}
		if m["runtime"].(map[string]any)["health"] != "unhealthy" {
			t.Errorf("runtime %v", m["runtime"])
		}
	})

	t.Run("Valid", func(t *testing.T) {
		a := post(`{"runtime_type":"claude_code","model_id":"claude-sonnet-4","agent_config":{"timeout":1,"max_tokens":2}}`)
		m := a.json(t)
		if m["valid"] != true || len(m["errors"].([]any)) != 0 {
			t.Fatalf("%s", a.body)
		}
		if warns := strings.Join(toStrings(m["warnings"]), "\n"); !strings.Contains(warns, "beta") || strings.Contains(warns, "recommended") {
			t.Errorf("warnings %s", warns)
		}
	})

	t.Run("FamiliesOnlyWarning", func(t *testing.T) {
		m := post(`{"runtime_type":"strict","model_id":"GPT-4o-mini","system_prompt":"x","agent_config":{"timeout":1}}`).json(t)
		if m["valid"] != true || !strings.Contains(strings.Join(toStrings(m["warnings"]), " "), "supported families only") {
			t.Errorf("%v", m)
		}
	})

	t.Run("UnknownRuntimeSuggestsID", func(t *testing.T) {
		m := post(`{"runtime_type":"Claude-Code"}`).json(t)
		if m["valid"] != true || !strings.Contains(strings.Join(toStrings(m["warnings"]), " "), `did you mean "claude_code"`) {
			t.Errorf("%v", m)
		}
	})

	for name, body := range map[string]string{
		"Empty":          ``,
		"NotJSON":        `runtime_type=default`,
		"Array":          `[]`,
		"Null":           `null`,
		"MissingRuntime": `{"model_id":"x"}`,
		"RuntimeNumber":  `{"runtime_type":5}`,
		"ConfigArray":    `{"runtime_type":"default","agent_config":[1]}`,
		"FeaturesString": `{"runtime_type":"default","features":"a"}`,
		"TrailingData":   `{"runtime_type":"default"} {}`,
		"DeepNesting":    `{"runtime_type":"default","agent_config":{"a":` + strings.Repeat("[", 20000) + strings.Repeat("]", 20000) + `}}`,
	} {
		t.Run("BadInput"+name, func(t *testing.T) {
			a := post(body)
			if a.status != 400 {
				t.Fatalf("%d %s", a.status, a.body)
			}
			if e := a.json(t)["error"].(map[string]any); e["code"] == "" || e["message"] == "" {
				t.Errorf("%s", a.body)
			}
		})
	}
}

// TestValidate_NoContradiction: POST /v1/validate's valid is the verdict on the request as
// sent (the control plane's), and validated_config_valid the verdict on validated_config, with
// filled naming what came from requirements, so the answer never says "Model ID is required"
// about a config it shows with a model. Plus the model-without-model_id warning, required
// features missing, and did-you-mean for feature typos.
func TestValidate_NoContradiction(t *testing.T) {
	t.Parallel()
	const needs = `{"id":"needs","name":"Needs","status":"available","features":["Streaming","Code review"],"required_features":["streaming"],"requirements":{"model_requirement":{"description":"","supported_providers":["openai"],"supported_families":["gpt"],"examples":["gpt-4o"]},"required_config_fields":[],"recommended_config_fields":[],"max_history_length":null,"requires_system_prompt":false,"requires_tools":false}}`
	cat := strings.TrimSuffix(string(catalogWithStrict(t)), "]") + "," + needs + "]"
	h := newHarness(t, fakecp.Options{Catalog: []byte(cat)})
	h.sync(t)
	post := func(body string) map[string]any {
		a := do(t, "POST", h.url+"/v1/validate", body, "Content-Type", "application/json")
		if a.status != 200 {
			t.Fatalf("%d %s", a.status, a.body)
		}
		return a.json(t)
	}

	m := post(`{"runtime_type":"strict","model":"gpt-4o","system_prompt":"x","agent_config":{"timeout":1}}`)
	errs, warns := strings.Join(toStrings(m["errors"]), "|"), strings.Join(toStrings(m["warnings"]), "|")
	vc := m["validated_config"].(map[string]any)
	if m["valid"] != false || !strings.Contains(errs, "Model ID is required") {
		t.Errorf("valid must stay the control plane's verdict on the request as sent: %v", m)
	}
	if vc["model_id"] != "gpt-4o" || m["validated_config_valid"] != true || strings.Join(toStrings(m["filled"]), ",") != "model_id,environment" {
		t.Errorf("validated_config and its verdict: %v", m)
	}
	if !strings.Contains(warns, "has model but no model_id") {
		t.Errorf("no warning about model without model_id: %s", warns)
	}

	m = post(`{"runtime_type":"strict","model_id":"gpt-4o","system_prompt":"x","agent_config":{"timeout":1}}`)
	if m["valid"] != true || m["validated_config_valid"] != true || strings.Join(toStrings(m["filled"]), ",") != "environment" {
		t.Errorf("nothing to contradict: %v", m)
	}
	m = post(`{"runtime_type":"claude_code"}`)
	if m["valid"] != false || m["validated_config_valid"] != false || len(toStrings(m["filled"])) != 0 {
		t.Errorf("no default model: both verdicts invalid: %v", m)
	}

	m = post(`{"runtime_type":"needs","model_id":"gpt-4o","features":["code reveiw"]}`)
	errs, warns = strings.Join(toStrings(m["errors"]), "|"), strings.Join(toStrings(m["warnings"]), "|")
	if !strings.Contains(errs, "Feature 'code reveiw' is not supported by runtime 'needs' (did you mean 'code review'?)") {
		t.Errorf("feature typo: %s", errs)
	}
	if !strings.Contains(warns, "requires feature 'streaming'") {
		t.Errorf("required feature missing: %s", warns)
	}
	if m["validated_config_valid"] != false {
		t.Errorf("an unsupported feature makes validated_config invalid too: %v", m)
	}
	m = post(`{"runtime_type":"needs","model_id":"gpt-4o","features":["streaming"]}`)
	if m["valid"] != true || strings.Contains(strings.Join(toStrings(m["warnings"]), "|"), "requires feature") {
		t.Errorf("%v", m)
	}
	m = post(`{"runtime_type":"claud_code"}`)
	if !strings.Contains(strings.Join(toStrings(m["warnings"]), "|"), `did you mean "claude_code"`) {
		t.Errorf("id typo: %v", m)
	}
}
