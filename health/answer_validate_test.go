package health_test

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/runtimesd/runtimesd/health"
	"github.com/runtimesd/runtimesd/store"
)

// catalogOf builds a catalog from runtime objects (the control plane's shape).
func catalogOf(t testing.TB, objs ...string) *store.Catalog {
	t.Helper()
	cat, err := store.ParseSnapshotFile([]byte("[" + strings.Join(objs, ",") + "]"))
	if err != nil {
		t.Fatal(err)
	}
	return cat
}

// request decodes a body as httpapi does: the keys verbatim, agent_config with json.Number.
func request(t testing.TB, body string) health.ValidateRequest {
	t.Helper()
	var req health.ValidateRequest
	if err := json.Unmarshal([]byte(body), &req.Raw); err != nil {
		t.Fatal(err)
	}
	str := func(k string) *string {
		var s *string
		if raw, ok := req.Raw[k]; ok {
			_ = json.Unmarshal(raw, &s)
		}
		return s
	}
	if s := str("runtime_type"); s != nil {
		req.RuntimeType = *s
	}
	req.ModelID, req.SystemPrompt = str("model_id"), str("system_prompt")
	if raw, ok := req.Raw["agent_config"]; ok {
		d := json.NewDecoder(bytes.NewReader(raw))
		d.UseNumber()
		_ = d.Decode(&req.AgentConfig)
	}
	if raw, ok := req.Raw["features"]; ok {
		_ = json.Unmarshal(raw, &req.Features)
	}
	return req
}

const (
	strictRT = `{"id":"strict","name":"Strict","status":"error","features":["code-review"],"required_features":["streaming"],
		"model_requirements":{"default_model":"gpt-4o"},"default_environment":{"region":"eu"},
		"requirements":{"model_requirement":{"supported_families":["gpt"],"supported_providers":["openai"]},
		"required_config_fields":["timeout"],"recommended_config_fields":["temperature"],"requires_system_prompt":true}}`
	betaRT = `{"id":"b","name":"B","status":"beta","features":["x"],"requirements":{"model_requirement":{"supported_families":["claude"]}}}`
	soonRT = `{"id":"soon","name":"Soon","status":"coming_soon"}`
	bareRT = `{"id":"bare","name":"Bare","status":"available"}`
)

func TestAnswers_Validate(t *testing.T) {
	t.Parallel()
	v, _ := store.NewValidator(nil)
	cls, _ := health.NewClassifier(nil)
	now := time.Unix(1_700_000_100, 0)
	cat := catalogOf(t, strictRT, betaRT, soonRT, bareRT)
	strict, _ := cat.Get("strict")
	strict.Degraded = "x" // set by a sync whose requirements fetch failed
	snap := &store.Snapshot{Revision: 9, Source: store.SourceUpstream, FetchedAt: time.Unix(1_700_000_000, 0), Catalog: cat}
	a := health.Answers{Validator: v, Classifier: cls, MaxStale: time.Hour}
	cases := []struct {
		name, body            string
		valid, vcValid        bool
		met                   health.RequirementsMet
		errs, warns, notWarns []string
		filled                string
		runtimeHealth         health.Class
	}{
		{"StrictEverythingWrong", `{"runtime_type":"strict","agent_config":{"x":1},"features":["code review","time travel"],"model":"gpt-4"}`,
			false, false, health.RequirementsMet{RuntimeKnown: true, Model: false, Config: false, SystemPrompt: false, Features: false},
			[]string{"Model ID is required", "Feature 'time travel' is not supported by runtime 'strict'"},
			[]string{"recommended field 'temperature' is not set", `runtime "strict" is unhealthy (status error)`,
				`runtime "strict" is degraded (x)`, "runtime 'strict' requires feature 'streaming', which features does not list",
				"the request has model but no model_id"}, []string{"no model-id patterns"},
			"model_id,environment", health.Unhealthy},
		{"StrictFilledMakesValid", `{"runtime_type":"strict","agent_config":{"timeout":1,"temperature":0.5},"system_prompt":"s","environment":{"k":1}}`,
			false, true, health.RequirementsMet{RuntimeKnown: true, Model: false, Config: true, SystemPrompt: true, Features: true},
			[]string{"Model ID is required"}, nil, []string{"recommended field", "has model but"}, "model_id", health.Unhealthy},
		{"Beta", `{"runtime_type":"b","model_id":"claude-3"}`, true, true,
			health.RequirementsMet{RuntimeKnown: true, Model: true, Config: true, SystemPrompt: true, Features: true},
			nil, []string{`runtime "b" is in beta`, `no model-id patterns are known for runtime "b"`}, []string{"unhealthy"}, "", health.Healthy},
		{"ComingSoonNoRequirements", `{"runtime_type":"soon"}`, true, true,
			health.RequirementsMet{RuntimeKnown: false, Model: true, Config: true, SystemPrompt: true, Features: true},
			nil, []string{`runtime "soon" has no requirements`, `runtime "soon" is not available yet (status coming_soon)`}, nil, "", health.Unhealthy},
		{"UnknownWithSuggestion", `{"runtime_type":"Strict","features":["a","b"]}`, false, false,
			health.RequirementsMet{RuntimeKnown: false, Model: true, Config: true, SystemPrompt: true, Features: false},
			[]string{"Features a, b cannot be checked: runtime type 'Strict' is not in the catalog"},
			[]string{`runtime type "Strict" is not in the catalog`, `did you mean "strict"?`}, nil, "", ""},
		{"UnknownNoFeatures", `{"runtime_type":"zzzzzzzz"}`, true, true,
			health.RequirementsMet{RuntimeKnown: false, Model: true, Config: true, SystemPrompt: true, Features: true},
			nil, []string{`runtime type "zzzzzzzz" is not in the catalog: the control plane accepts it without checks`}, []string{"did you mean"}, "", ""},
		{"BareKnownFeatureSupported", `{"runtime_type":"bare","model_id":"m"}`, true, true,
			health.RequirementsMet{RuntimeKnown: false, Model: true, Config: true, SystemPrompt: true, Features: true},
			nil, []string{`runtime "bare" has no requirements`}, []string{"stale"}, "", health.Healthy},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			rep := a.Validate(snap, now, request(t, c.body))
			if rep.Valid != c.valid || rep.ValidatedConfigValid != c.vcValid || rep.RequirementsMet != c.met {
				t.Fatalf("valid=%v vc_valid=%v met=%+v, want %v %v %+v\nerrors %q\nwarnings %q", rep.Valid, rep.ValidatedConfigValid,
					rep.RequirementsMet, c.valid, c.vcValid, c.met, rep.Errors, rep.Warnings)
			}
			errs, warns := strings.Join(rep.Errors, "\n"), strings.Join(rep.Warnings, "\n")
			for _, e := range c.errs {
				if !strings.Contains(errs, e) {
					t.Errorf("errors lack %q:\n%s", e, errs)
				}
			}
			if len(c.errs) == 0 && len(rep.Errors) != 0 {
				t.Errorf("errors %q", rep.Errors)
			}
			for _, w := range c.warns {
				if !strings.Contains(warns, w) {
					t.Errorf("warnings lack %q:\n%s", w, warns)
				}
			}
			for _, w := range c.notWarns {
				if strings.Contains(warns, w) {
					t.Errorf("warnings have %q:\n%s", w, warns)
				}
			}
			if got := strings.Join(rep.Filled, ","); got != c.filled {
				t.Errorf("filled %q, want %q", got, c.filled)
			}
			if (rep.Runtime == nil) != (c.runtimeHealth == "") || (rep.Runtime != nil && rep.Runtime.Health != c.runtimeHealth) {
				t.Errorf("runtime %+v, want health %q", rep.Runtime, c.runtimeHealth)
			}
			if rep.Revision != 9 || rep.Stale || rep.Warnings == nil {
				t.Errorf("provenance %+v warnings %v", rep.Provenance, rep.Warnings)
			}
			// The hand encoder writes encoding/json's bytes for every case.
			var sb strings.Builder
			enc := json.NewEncoder(&sb)
			enc.SetEscapeHTML(false)
			_ = enc.Encode(rep)
			got, ok := rep.AppendJSON(nil)
			if !ok || string(got) != strings.TrimSuffix(sb.String(), "\n") {
				t.Errorf("AppendJSON (ok=%v):\n%s\nencoding/json:\n%s", ok, got, sb.String())
			}
		})
	}
	t.Run("ValidatedConfig", func(t *testing.T) {
		t.Parallel()
		rep := a.Validate(snap, now, request(t, `{"runtime_type":"strict","x_extra": [1, {"b":2}],"system_prompt":null}`))
		vc := rep.ValidatedConfig
		if vc["model_id"] != "gpt-4o" || vc["system_prompt"] != nil || string(vc["x_extra"].(json.RawMessage)) != `[1, {"b":2}]` ||
			string(vc["environment"].(json.RawMessage)) != `{"region":"eu"}` || len(vc["agent_config"].(map[string]any)) != 0 {
			t.Fatalf("validated_config %v", vc)
		}
		b, _ := rep.AppendJSON(nil)
		if !strings.Contains(string(b), `"x_extra":[1,{"b":2}]`) {
			t.Fatalf("raw values are written compact: %s", b)
		}
	})
	t.Run("StaleWarns", func(t *testing.T) {
		t.Parallel()
		rep := a.Validate(snap, now.Add(2*time.Hour), request(t, `{"runtime_type":"bare"}`))
		if !rep.Stale || !strings.Contains(strings.Join(rep.Warnings, "|"), "validated against stale data: data older than max_stale (1h0m0s)") {
			t.Fatalf("stale=%v warnings %q", rep.Stale, rep.Warnings)
		}
	})
	t.Run("UnencodableFallsBack", func(t *testing.T) {
		t.Parallel()
		rep := a.Validate(snap, now, request(t, `{"runtime_type":"bare"}`))
		rep.ValidatedConfig["odd"] = 1.5 // not a type a decoded request holds
		if _, ok := rep.AppendJSON(nil); ok {
			t.Fatal("AppendJSON claimed to encode a float64")
		}
	})
}
