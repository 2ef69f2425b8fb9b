package policy_test

import (
	"encoding/json"
	"math"
	"strings"
	"testing"

	"github.com/runtimesd/runtimesd/health"
	"github.com/runtimesd/runtimesd/health/policy"
	"github.com/runtimesd/runtimesd/store"
)

// fuzzRules read config and runtime in the ways platform teams write rules: fields that may be
// missing or of another type, strings, lists, maps, numbers, comprehensions.
var fuzzRules = []policy.Rule{
	{Name: "model-prefix", Deny: `has(config.model_id) && !config.model_id.startsWith("kubiya/")`},
	{Name: "env-timeout", Deny: `!("timeout" in config.environment)`, Severity: "warning"},
	{Name: "history", Deny: `config.max_history_length > runtime.requirements.max_history_length`},
	{Name: "features", Deny: `config.features.exists(f, !(f in runtime.features))`, OnError: "allow"},
	{Name: "sizes", Deny: `size(config) > 50 || size(string(config.model_id)) > 100`},
	{Name: "nested", Deny: `config.a.b.c.d == runtime.id`},
	{Name: "status", Deny: `runtime.status == "beta" || runtime.health == "unhealthy"`},
	{Name: "providers", Deny: `runtime.providers.all(p, p != "openai")`},
	{Name: "numbers", Deny: `double(config.n) / 0.0 > 1.0 || int(config.n) % 7 == 3`},
	{Name: "any-key", Deny: `config.exists(k, k.contains("secret") || config[k] == null)`},
}

func FuzzPolicyEval(f *testing.F) {
	f.Add([]byte(`{"model_id":"kubiya/claude","environment":{"timeout":"30"},"features":["a"]}`), []byte(`{"id":"x","name":"X","status":"beta"}`), byte(0))
	f.Add([]byte(`{"model_id":42,"environment":"timeout","max_history_length":"1e309"}`), []byte(`{"id":"y","name":"Y","status":"available","requirements":{"max_history_length":5}}`), byte(1))
	f.Add([]byte(`{"a":{"b":{"c":{"d":"x"}}},"n":-9.2e18}`), []byte(`{"id":"x","name":"","features":["f"],"supported_features":["g"]}`), byte(2))
	f.Add([]byte(strings.Repeat(`{"a":`, 5000)+"1"+strings.Repeat("}", 5000)), []byte(`{"id":"d"}`), byte(3))
	f.Add([]byte(`{"features":[`+strings.Repeat(`"x",`, 3000)+`"y"],"secret":null}`), []byte(`{"id":"e","status":"`+strings.Repeat("s", 1<<16)+`"}`), byte(4))
	s, err := policy.Compile(fuzzRules, policy.Options{})
	if err != nil {
		f.Fatal(err)
	}
	names := map[string]policy.Rule{}
	for _, st := range s.Stats() {
		names[st.Name] = policy.Rule{Severity: st.Severity, OnError: st.OnError}
	}
	f.Fuzz(func(t *testing.T, cfgJSON, rtJSON []byte, mode byte) {
		var cfg map[string]any
		if json.Unmarshal(cfgJSON, &cfg) != nil {
			cfg = map[string]any{}
		}
		// Values a Go caller could hand over that JSON cannot carry.
		switch mode % 6 {
		case 1:
			cfg["n"], cfg["max_history_length"] = math.NaN(), math.Inf(1)
		case 2:
			cfg["n"], cfg["model_id"] = json.Number("12345678901234567890"), []byte("kubiya/x")
		case 3:
			cfg["n"], cfg["features"] = int64(math.MinInt64), []string{"a", "b"}
		case 4:
			cfg["environment"] = map[string]string{"timeout": "1"}
			cfg["a"] = map[string]any{"b": []any{nil, map[string]any{}}}
		case 5:
			cfg = nil
		}
		rt, err := store.NewRuntime(json.RawMessage(rtJSON), nil)
		if err != nil {
			return
		}
		for _, v := range s.Check(rt, cfg) {
			r, ok := names[v.Rule]
			if !ok {
				t.Fatalf("verdict for unknown rule %q", v.Rule)
			}
			switch v.Outcome {
			case health.VerdictDeny:
				if v.Blocking != (r.Severity == health.SeverityError) {
					t.Fatalf("deny verdict %+v: blocking does not follow severity", v)
				}
			case health.VerdictError:
				if v.Blocking != (r.OnError == policy.OnErrorDeny) || len(v.Message) > 1024 {
					t.Fatalf("error verdict %+v: blocking does not follow on_error, or message unbounded", v)
				}
			default:
				t.Fatalf("verdict %+v: unknown outcome", v)
			}
		}
	})
}
