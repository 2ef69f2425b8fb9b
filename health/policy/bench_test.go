package policy_test

import (
	"fmt"
	"testing"

	"github.com/runtimesd/runtimesd/health/policy"
)

// benchRules returns n rules, alternating between rules on the runtime only (cacheable) and
// rules reading the configuration, in the shapes of the README examples.
func benchRules(n int) []policy.Rule {
	rules := make([]policy.Rule, n)
	for i := range rules {
		deny := fmt.Sprintf(`runtime.status == "beta-%d" || !("anthropic" in runtime.providers)`, i)
		if i%2 == 1 {
			deny = fmt.Sprintf(`has(config.model_id) && !config.model_id.startsWith("kubiya-%d/")`, i)
		}
		rules[i] = policy.Rule{Name: fmt.Sprintf("rule-%d", i), Deny: deny, Severity: "warning"}
	}
	return rules
}

// BenchmarkCheck evaluates 0, 10 and 100 rules against one seed runtime and a configuration,
// with the per-runtime cache and without it (the ratio shows what the cache buys).
func BenchmarkCheck(b *testing.B) {
	rt := seedRuntime(b, "claude_code")
	cfg := map[string]any{"model_id": "kubiya/claude-sonnet-4", "environment": map[string]any{"timeout": "30"}}
	for _, n := range []int{0, 10, 100} {
		for _, noCache := range []bool{false, true} {
			name := fmt.Sprintf("rules=%d/cache=%v", n, !noCache)
			b.Run(name, func(b *testing.B) {
				s := mustCompile(b, policy.Options{NoCache: noCache}, benchRules(n)...)
				b.ReportAllocs()
				for b.Loop() {
					s.Check(rt, cfg)
				}
			})
		}
	}
}
