package store_test

import (
	"strings"
	"testing"

	"github.com/runtimesd/runtimesd/store"
)

func strp(s string) *string { return &s }

// strict requires config fields and a system prompt; it has no built-in model patterns.
const strict = `{"id":"strict","status":"available","requirements":{"model_requirement":{"description":"","supported_providers":["openai"],"supported_families":["gpt","o1"],"examples":["gpt-4o"]},"required_config_fields":["timeout","max_tokens"],"recommended_config_fields":["temperature"],"max_history_length":null,"requires_system_prompt":true,"requires_tools":false}}`

func TestValidator_Rules(t *testing.T) {
	cat := mustCatalog(t, strict, `{"id":"loose","status":"available"}`)
	seedAndStrict, err := store.NewCatalog(append(append([]*store.Runtime{}, store.SeedCatalog().Runtimes()...), cat.Runtimes()...))
	if err != nil {
		t.Fatal(err)
	}
	v, err := store.NewValidator(nil)
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		req  store.ValidationRequest
		want []string
	}{
		{"UnknownRuntimeValid", store.ValidationRequest{RuntimeType: "Default"}, nil},
		{"NoRequirementsValid", store.ValidationRequest{RuntimeType: "loose"}, nil},
		{"ModelRequired", store.ValidationRequest{RuntimeType: "default", ModelID: strp("")}, []string{"Model ID is required for this runtime"}},
		{"DefaultAcceptsAnyModel", store.ValidationRequest{RuntimeType: "default", ModelID: strp("\t")}, nil},
		{"ClaudePatternAnywhereAnyCase", store.ValidationRequest{RuntimeType: "claude_code", ModelID: strp("bedrock/ANTHROPIC.CLAUDE-v2")}, nil},
		{"ClaudeRefusesGPT", store.ValidationRequest{RuntimeType: "claude_code", ModelID: strp("gpt-4")}, []string{
			"Model 'gpt-4' is not compatible with this runtime. Expected models matching: claude, kubiya/claude, anthropic\\.claude. Supported families: claude. Examples: claude-3-opus-20240229, claude-3-sonnet-20240229, claude-3-5-sonnet-20241022, claude-3-haiku-20240307, claude-sonnet-4, claude-opus-4, kubiya/claude-sonnet-4, kubiya/claude-opus-4"}},
		{"AllRulesInOrder", store.ValidationRequest{RuntimeType: "strict", ModelID: strp("llama")}, []string{
			"Model 'llama' is not compatible with this runtime. Supported families: gpt, o1. Examples: gpt-4o",
			"Configuration is required for this runtime. Required fields: timeout, max_tokens",
			"System prompt is required for this runtime"}},
		{"FieldMissingOrNull", store.ValidationRequest{RuntimeType: "strict", ModelID: strp("GPT-4o"), SystemPrompt: strp("be nice"),
			AgentConfig: map[string]any{"timeout": nil, "other": 1}}, []string{
			"Required field 'timeout' is missing in configuration",
			"Required field 'max_tokens' is missing in configuration"}},
		{"EmptyPromptIsMissing", store.ValidationRequest{RuntimeType: "strict", ModelID: strp("o1-mini"), SystemPrompt: strp(""),
			AgentConfig: map[string]any{"timeout": 1, "max_tokens": 2}}, []string{"System prompt is required for this runtime"}},
		{"AllMet", store.ValidationRequest{RuntimeType: "strict", ModelID: strp("gpt-4"), SystemPrompt: strp("x"),
			AgentConfig: map[string]any{"timeout": 1, "max_tokens": false}}, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			res := v.Validate(seedAndStrict, tc.req)
			if strings.Join(res.Errors, "\n") != strings.Join(tc.want, "\n") {
				t.Fatalf("errors:\n%s\nwant:\n%s", strings.Join(res.Errors, "\n"), strings.Join(tc.want, "\n"))
			}
			if res.Valid != (len(tc.want) == 0) || res.Errors == nil {
				t.Errorf("valid=%v errors=%v", res.Valid, res.Errors)
			}
		})
	}
	t.Run("FamiliesOnlyIsApproximated", func(t *testing.T) {
		res := v.Validate(seedAndStrict, store.ValidationRequest{RuntimeType: "strict", ModelID: strp("gpt-4")})
		if !res.ModelRuleApproximated || !res.Model.Met {
			t.Errorf("%+v", res)
		}
	})
}

func TestValidator_ConfigOverrides(t *testing.T) {
	cat := mustCatalog(t, strict)
	v, err := store.NewValidator(map[string][]string{"strict": {"^llama-3"}, "claude_code": {"^sonnet$"}})
	if err != nil {
		t.Fatal(err)
	}
	if res := v.Validate(cat, store.ValidationRequest{RuntimeType: "strict", ModelID: strp("LLAMA-3-70b"), SystemPrompt: strp("x"),
		AgentConfig: map[string]any{"timeout": 1, "max_tokens": 1}}); !res.Valid || res.ModelRuleApproximated {
		t.Errorf("configured pattern must accept: %+v", res)
	}
	if p, _ := v.Patterns("claude_code"); strings.Join(p, ",") != "^sonnet$" {
		t.Errorf("an override replaces the built-in patterns: %v", p)
	}
	if p, _ := v.Patterns("default"); strings.Join(p, ",") != ".*" {
		t.Errorf("other built-ins stay: %v", p)
	}
	if _, err := store.NewValidator(map[string][]string{"x": {"("}}); err == nil || !strings.Contains(err.Error(), `runtime "x"`) {
		t.Errorf("bad pattern: %v", err)
	}
}

func TestSuggest(t *testing.T) {
	t.Parallel()
	c := store.SeedCatalog()
	for in, want := range map[string]string{
		"claud_code":  "claude_code", // a real typo: distance 1
		"Claude-Code": "claude_code", // case and separators
		"claudecode":  "claude_code",
		"defualt":     "default",
		"claude_code": "", // exists: nothing to suggest
		"cc":          "", // too short to guess
		"agno":        "",
		"xyz_runtime": "",
	} {
		if got := store.SuggestID(c, in); got != want {
			t.Errorf("SuggestID(%q) = %q, want %q", in, got, want)
		}
	}
	if got := store.SuggestID(c, strings.Repeat("claude_code", 100000)); got != "" {
		t.Errorf("huge input: %q", got)
	}
	rt, _ := c.Get("claude_code")
	for in, want := range map[string]string{
		"code reveiw":         "code review",
		"Code-Generaton":      "code generation",
		"repository awarness": "repository awareness",
		"kubernetes":          "",
	} {
		if got := store.SuggestFeature(c, rt, in); got != want {
			t.Errorf("SuggestFeature(%q) = %q, want %q", in, got, want)
		}
	}
	if got := store.SuggestFeature(c, nil, "sesion management"); got != "session management" {
		t.Errorf("catalog-wide: %q", got)
	}
}
