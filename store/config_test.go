package store_test

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/runtimesd/runtimesd/store"
)

// full is a runtime declaring everything build_config_from_requirements reads.
const full = `{"id":"full","name":"Full","status":"available","features":["Code review","Streaming"],
"required_features":["streaming"],"model_requirements":{"default_model":"gpt-4o"},"default_environment":{"region":"eu"},
"requirements":{"model_requirement":{"description":"","supported_providers":["openai"],"supported_families":["gpt"],"examples":["gpt-4o"]},
"required_config_fields":[],"recommended_config_fields":[],"max_history_length":null,"requires_system_prompt":false,"requires_tools":false}}`

func catalogWith(t *testing.T, extra ...string) *store.Catalog {
	t.Helper()
	var raws []json.RawMessage
	if err := json.Unmarshal(store.SeedJSON(), &raws); err != nil {
		t.Fatal(err)
	}
	for _, e := range extra {
		raws = append(raws, json.RawMessage(e))
	}
	var rts []*store.Runtime
	for _, raw := range raws {
		req, err := store.InlineRequirements(raw)
		if err != nil {
			t.Fatal(err)
		}
		rt, err := store.NewRuntime(raw, req)
		if err != nil {
			t.Fatal(err)
		}
		rts = append(rts, rt)
	}
	c, err := store.NewCatalog(rts)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestBuildConfig(t *testing.T) {
	t.Parallel()
	v, _ := store.NewValidator(nil)
	c := catalogWith(t, full, `{"id":"bare","name":"Bare","status":"available"}`)
	t.Run("FilledFromRequirements", func(t *testing.T) {
		b, err := v.BuildConfig(c, "full", store.ConfigOverrides{})
		if err != nil {
			t.Fatal(err)
		}
		got, _ := json.Marshal(b)
		want := `{"config":{"runtime_type":"full","model_id":"gpt-4o","features":["streaming"],"environment":{"region":"eu"}},"valid":true,"errors":[],"warnings":[],"filled":["features","environment","model_id"]}`
		if string(got) != want {
			t.Fatalf("got  %s\nwant %s", got, want)
		}
	})
	t.Run("Overrides", func(t *testing.T) {
		m := "claude-3"
		b, err := v.BuildConfig(c, "full", store.ConfigOverrides{ModelID: &m, Features: []string{"code reveiw"}})
		if err != nil {
			t.Fatal(err)
		}
		if b.Valid || len(b.Errors) != 2 || !strings.Contains(b.Errors[1], "did you mean 'code review'") ||
			strings.Join(b.Filled, ",") != "environment" || len(b.Warnings) != 1 || !strings.Contains(b.Warnings[0], "streaming") {
			t.Fatalf("%+v", b)
		}
	})
	t.Run("PublicCatalog", func(t *testing.T) {
		for _, rt := range store.SeedCatalog().Runtimes() {
			b, err := v.BuildConfig(c, rt.ID, store.ConfigOverrides{})
			if err != nil || b.Config.RuntimeType != rt.ID || b.Valid != (len(b.Errors) == 0) {
				t.Fatalf("%s: %+v %v", rt.ID, b, err)
			}
		}
		b, _ := v.BuildConfig(c, "claude_code", store.ConfigOverrides{})
		// No default model: the verdict says so, and a warning says what to set.
		if b.Valid || b.Errors[0] != "Model ID is required for this runtime" || !strings.Contains(b.Warnings[0], "set model_id") {
			t.Fatalf("%+v", b)
		}
	})
	t.Run("NoRequirements", func(t *testing.T) {
		b, err := v.BuildConfig(c, "bare", store.ConfigOverrides{})
		if err != nil || !b.Valid || len(b.Warnings) != 1 || !strings.Contains(b.Warnings[0], "has no requirements") {
			t.Fatalf("%+v %v", b, err)
		}
	})
	t.Run("Unknown", func(t *testing.T) {
		_, err := v.BuildConfig(c, "claud_code", store.ConfigOverrides{})
		if !errors.Is(err, store.ErrUnknownRuntime) || !strings.Contains(err.Error(), `did you mean "claude_code"`) {
			t.Fatalf("%v", err)
		}
	})
}
