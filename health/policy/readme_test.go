package policy_test

import (
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/runtimesd/runtimesd/health/policy"
	"github.com/runtimesd/runtimesd/store"
)

var readmePolicyRE = regexp.MustCompile("(?s)\n## Policy\n.*?```yaml\n(.*?)```")

// TestReadmePolicyExamples compiles README's "Policy" examples as written and checks that each
// decides as the README says against the seed catalog, with configurations shaped as callers
// pass them (policy.ValidationConfig).
func TestReadmePolicyExamples(t *testing.T) {
	t.Parallel()
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	m := readmePolicyRE.FindSubmatch(readme)
	if m == nil {
		t.Fatal("README has no yaml block in its Policy section")
	}
	var doc struct {
		Policy struct {
			Rules []policy.Rule `yaml:"rules"`
		} `yaml:"policy"`
	}
	dec := yaml.NewDecoder(strings.NewReader(string(m[1])))
	dec.KnownFields(true)
	if err := dec.Decode(&doc); err != nil {
		t.Fatal(err)
	}
	s, err := policy.Compile(doc.Policy.Rules, policy.Options{})
	if err != nil {
		t.Fatalf("README's rules do not compile: %v", err)
	}
	model := func(m string) *string { return &m }
	configs := map[string]store.ValidationRequest{
		"none":      {},
		"kubiya":    {ModelID: model("kubiya/claude-sonnet-4"), AgentConfig: map[string]any{"environment": map[string]any{"timeout": 30.0}}},
		"openai":    {ModelID: model("gpt-4"), AgentConfig: map[string]any{"environment": map[string]any{"timeout": 30.0}}},
		"notimeout": {ModelID: model("kubiya/claude-sonnet-4"), AgentConfig: map[string]any{"environment": map[string]any{"debug": true}}},
		"nomodel":   {AgentConfig: map[string]any{"environment": map[string]any{"timeout": 30.0}}},
	}
	// rule -> config ("" : no configuration decided) -> the seed runtimes it denies.
	want := map[string]map[string][]string{
		"no-beta":            {"": {"claude_code"}, "kubiya": {"claude_code"}},
		"require-openai":     {"": {"claude_code"}, "kubiya": {"claude_code"}},
		"bounded-history":    {"": {"claude_code"}, "kubiya": {"claude_code"}},
		"require-timeout":    {"": nil, "kubiya": nil, "notimeout": {"claude_code", "default"}, "none": {"claude_code", "default"}},
		"kubiya-models-only": {"": nil, "kubiya": nil, "openai": {"claude_code", "default"}, "nomodel": nil},
	}
	if len(doc.Policy.Rules) != len(want) {
		t.Fatalf("README has %d rules, the test knows %d", len(doc.Policy.Rules), len(want))
	}
	for rule, byConfig := range want {
		for cfgName, wantDenied := range byConfig {
			var denied []string
			for _, rt := range store.SeedCatalog().Runtimes() {
				var cfg map[string]any
				if cfgName != "" {
					req := configs[cfgName]
					req.RuntimeType = rt.ID
					cfg = policy.ValidationConfig(req, nil)
				}
				for _, v := range s.Check(rt, cfg) {
					if v.Rule != rule {
						continue
					}
					if v.Outcome != "deny" {
						t.Errorf("%s with config %q on %s could not be evaluated: %s", rule, cfgName, rt.ID, v.Message)
					}
					denied = append(denied, rt.ID)
				}
			}
			slices.Sort(denied)
			if !slices.Equal(denied, wantDenied) {
				t.Errorf("%s with config %q denies %v, want %v", rule, cfgName, denied, wantDenied)
			}
		}
	}
	// Severity as documented: require-timeout is the only warning.
	for _, st := range s.Stats() {
		if (st.Severity == "warning") != (st.Name == "require-timeout") {
			t.Errorf("%s has severity %s", st.Name, st.Severity)
		}
	}
}
