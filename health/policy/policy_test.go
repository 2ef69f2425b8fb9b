package policy_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	gosync "sync"
	"testing"
	"time"

	"github.com/runtimesd/runtimesd/health"
	"github.com/runtimesd/runtimesd/health/policy"
	"github.com/runtimesd/runtimesd/store"
)

func seedRuntime(t testing.TB, id string) *store.Runtime {
	t.Helper()
	rt, ok := store.SeedCatalog().Get(id)
	if !ok {
		t.Fatalf("seed catalog has no %q", id)
	}
	return rt
}

func mustCompile(t testing.TB, opts policy.Options, rules ...policy.Rule) *policy.Set {
	t.Helper()
	s, err := policy.Compile(rules, opts)
	if err != nil {
		t.Fatalf("Compile: %v", err)
	}
	return s
}

func newRuntime(t testing.TB, raw string) *store.Runtime {
	t.Helper()
	rt, err := store.NewRuntime(json.RawMessage(raw), nil)
	if err != nil {
		t.Fatalf("NewRuntime(%s): %v", raw, err)
	}
	return rt
}

func TestCompile_Refuses(t *testing.T) {
	t.Parallel()
	ok := policy.Rule{Name: "ok", Deny: "false"}
	for _, tc := range []struct {
		name  string
		rules []policy.Rule
		field string
		want  string
	}{
		{"EmptyName", []policy.Rule{{Deny: "true"}}, "name", "must not be empty"},
		{"DuplicateName", []policy.Rule{ok, ok}, "name", `"ok" is used by another rule`},
		{"NameChars", []policy.Rule{{Name: "a b{}", Deny: "true"}}, "name", "letters, digits"},
		{"NameTooLong", []policy.Rule{{Name: strings.Repeat("n", 65), Deny: "true"}}, "name", "longer than 64"},
		{"Severity", []policy.Rule{{Name: "s", Deny: "true", Severity: "fatal"}}, "severity", `"fatal": want error or warning`},
		{"OnError", []policy.Rule{{Name: "s", Deny: "true", OnError: "ignore"}}, "on_error", `"ignore": want deny or allow`},
		{"EmptyDeny", []policy.Rule{{Name: "s", Deny: "  "}}, "deny", "must not be empty"},
		{"HugeDeny", []policy.Rule{{Name: "s", Deny: strings.Repeat("true || ", 1000) + "true"}}, "deny", "longer than 4096"},
		{"HugeMessage", []policy.Rule{{Name: "s", Deny: "true", Message: strings.Repeat("m", 2000)}}, "message", "longer than 1024"},
		{"NotBoolean", []policy.Rule{{Name: "s", Deny: "runtime.status"}}, "deny", "want a boolean"},
		{"NotBooleanInt", []policy.Rule{{Name: "s", Deny: "1 + 2"}}, "deny", "is int, want a boolean"},
		{"SyntaxError", []policy.Rule{{Name: "s", Deny: `runtime.status == "beta`}}, "deny", "1:"},
		{"UndeclaredVariable", []policy.Rule{{Name: "s", Deny: `agent.status == "beta"`}}, "deny", "undeclared reference to 'agent'"},
		{"UnknownRuntimeField", []policy.Rule{{Name: "s", Deny: `runtime.statuz == "beta"`}}, "deny", `runtime has no field "statuz"`},
		{"DeepNesting", []policy.Rule{{Name: "s", Deny: strings.Repeat("(", 500) + "true" + strings.Repeat(")", 500)}}, "deny", ""},
		{"InvalidUTF8", []policy.Rule{{Name: "s", Deny: "\xff == \xfe"}}, "deny", "UTF-8"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := policy.Compile(tc.rules, policy.Options{})
			var re *policy.RuleError
			if !errors.As(err, &re) {
				t.Fatalf("Compile = %v, want a *RuleError", err)
			}
			if re.Field != tc.field || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Compile error field %q: %v; want field %q containing %q", re.Field, err, tc.field, tc.want)
			}
		})
	}
	t.Run("TooMany", func(t *testing.T) {
		t.Parallel()
		rules := make([]policy.Rule, policy.MaxRules+1)
		for i := range rules {
			rules[i] = policy.Rule{Name: fmt.Sprintf("r%d", i), Deny: "false"}
		}
		if _, err := policy.Compile(rules, policy.Options{}); !errors.Is(err, policy.ErrTooManyRules) {
			t.Fatalf("Compile(%d rules) = %v, want ErrTooManyRules", len(rules), err)
		}
		if _, err := policy.Compile(rules[:policy.MaxRules], policy.Options{}); err != nil {
			t.Fatalf("Compile(%d rules) = %v", policy.MaxRules, err)
		}
	})
	t.Run("AllProblemsNamed", func(t *testing.T) {
		t.Parallel()
		_, err := policy.Compile([]policy.Rule{{Name: "a", Deny: "1"}, ok, {Name: "c", Deny: "runtime.nope"}}, policy.Options{})
		if err == nil || !strings.Contains(err.Error(), `policy rule "a"`) || !strings.Contains(err.Error(), `policy rule "c"`) {
			t.Fatalf("Compile = %v, want both bad rules named", err)
		}
	})
}

func TestCheck_Verdicts(t *testing.T) {
	t.Parallel()
	s := mustCompile(t, policy.Options{},
		policy.Rule{Name: "no-beta", Deny: `runtime.status == "beta"`, Message: "beta runtimes are not allowed"},
		policy.Rule{Name: "warn-anthropic-only", Deny: `runtime.providers == ["anthropic"]`, Severity: "warning"},
		policy.Rule{Name: "healthy-only", Deny: `runtime.health != "healthy"`},
		policy.Rule{Name: "type-known", Deny: `runtime.type == "nope" || runtime.id == "" || runtime.name == ""`},
	)
	got := s.Check(seedRuntime(t, "claude_code"), nil)
	want := []health.Verdict{
		{Rule: "no-beta", Severity: "error", Outcome: "deny", Message: "beta runtimes are not allowed", Blocking: true},
		{Rule: "warn-anthropic-only", Severity: "warning", Outcome: "deny", Message: `denied by policy rule "warn-anthropic-only"`, Blocking: false},
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("claude_code verdicts:\n got %+v\nwant %+v", got, want)
	}
	if got := s.Check(seedRuntime(t, "default"), nil); len(got) != 0 {
		t.Fatalf("default verdicts = %+v, want none", got)
	}
	st := s.Stats()
	if st[0].Denied != 1 || st[0].Allowed != 1 || st[0].Errors != 0 || st[0].Severity != "error" || st[0].OnError != "deny" {
		t.Fatalf("no-beta stats = %+v", st[0])
	}
	if st[1].OnError != "allow" {
		t.Fatalf("warning rule's default on_error = %q, want allow", st[1].OnError)
	}
	var nilSet *policy.Set
	if v := nilSet.Check(seedRuntime(t, "default"), nil); v != nil {
		t.Fatalf("nil set = %v", v)
	}
}

// A classifier from the config decides runtime.health.
func TestCheck_HealthFromClassifier(t *testing.T) {
	t.Parallel()
	cls, err := health.NewClassifier(map[string]string{"beta": "unhealthy"})
	if err != nil {
		t.Fatal(err)
	}
	s := mustCompile(t, policy.Options{Classifier: cls}, policy.Rule{Name: "healthy-only", Deny: `runtime.health != "healthy"`})
	if v := s.Check(seedRuntime(t, "claude_code"), nil); len(v) != 1 || v[0].Rule != "healthy-only" {
		t.Fatalf("verdicts = %+v, want healthy-only", v)
	}
}

func TestCheck_EvalErrors(t *testing.T) {
	t.Parallel()
	s := mustCompile(t, policy.Options{},
		policy.Rule{Name: "err-default", Deny: `config.max_tokens > 1000`},
		policy.Rule{Name: "err-allow", Deny: `config.max_tokens > 1000`, OnError: "allow"},
		policy.Rule{Name: "warn-default", Deny: `config.max_tokens > 1000`, Severity: "warning"},
		policy.Rule{Name: "warn-deny", Deny: `config.max_tokens > 1000`, Severity: "warning", OnError: "deny"},
		policy.Rule{Name: "wrong-type", Deny: `config.model_id.startsWith("x")`},
	)
	rt := seedRuntime(t, "default")
	got := s.Check(rt, map[string]any{"model_id": 42.0})
	if len(got) != 5 {
		t.Fatalf("verdicts = %+v, want 5 errors", got)
	}
	for i, wantBlocking := range []bool{true, false, false, true, true} {
		v := got[i]
		if v.Outcome != health.VerdictError || v.Blocking != wantBlocking || !strings.Contains(v.Message, "could not be evaluated") {
			t.Errorf("verdict %d = %+v, want an error with blocking %v", i, v, wantBlocking)
		}
	}
	if !strings.Contains(got[0].Message, "no such key: max_tokens") {
		t.Errorf("message %q does not say what was missing", got[0].Message)
	}
	// The same rules decide normally once the field is there.
	if got := s.Check(rt, map[string]any{"max_tokens": 10.0, "model_id": "xy"}); len(got) != 1 || got[0].Rule != "wrong-type" || got[0].Outcome != "deny" {
		t.Fatalf("verdicts = %+v, want wrong-type deny only", got)
	}
	if st := s.Stats()[0]; st.Errors != 1 || st.Allowed != 1 {
		t.Fatalf("stats = %+v", st)
	}
	// A huge key in the error is cut.
	long := strings.Repeat("k", 10000)
	s2 := mustCompile(t, policy.Options{}, policy.Rule{Name: "k", Deny: `config[config.key] == 1`})
	v := s2.Check(rt, map[string]any{"key": long})
	if len(v) != 1 || len(v[0].Message) > 400 {
		t.Fatalf("verdict message of %d bytes: %.100s", len(v[0].Message), v[0].Message)
	}
}

// A rule that would run for long is stopped by the cost limit; the deadline is the second guard.
func TestCheck_Bounded(t *testing.T) {
	t.Parallel()
	xs := make([]any, 2000)
	for i := range xs {
		xs[i] = float64(i)
	}
	cfg := map[string]any{"xs": xs}
	rule := policy.Rule{Name: "quadratic", Deny: `config.xs.all(a, config.xs.all(b, a + b >= 0.0))`}
	for _, tc := range []struct {
		name string
		opts policy.Options
		want string
	}{
		{"CostLimit", policy.Options{Timeout: time.Minute}, "cost limit exceeded"},
		{"Deadline", policy.Options{CostLimit: 1 << 62, Timeout: 5 * time.Millisecond}, "deadline"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := mustCompile(t, tc.opts, rule)
			v := s.Check(seedRuntime(t, "default"), cfg)
			if len(v) != 1 || v[0].Outcome != health.VerdictError || !v[0].Blocking || !strings.Contains(v[0].Message, tc.want) {
				t.Fatalf("verdicts = %+v, want a blocking error mentioning %q", v, tc.want)
			}
		})
	}
}

// The runtime-level cache is keyed by content: a runtime whose status changes under the same
// id is decided again.
func TestCheck_CacheFollowsContent(t *testing.T) {
	t.Parallel()
	for _, noCache := range []bool{false, true} {
		s := mustCompile(t, policy.Options{NoCache: noCache}, policy.Rule{Name: "no-beta", Deny: `runtime.status == "beta"`})
		beta := newRuntime(t, `{"id":"x","name":"X","status":"beta"}`)
		ga := newRuntime(t, `{"id":"x","name":"X","status":"available"}`)
		for range 3 {
			if v := s.Check(beta, nil); len(v) != 1 {
				t.Fatalf("noCache=%v: beta verdicts = %+v", noCache, v)
			}
			if v := s.Check(ga, nil); len(v) != 0 {
				t.Fatalf("noCache=%v: available verdicts = %+v", noCache, v)
			}
		}
		if st := s.Stats()[0]; st.Denied != 3 || st.Allowed != 3 {
			t.Fatalf("noCache=%v: cached answers must still count: %+v", noCache, st)
		}
	}
}

func TestHolder_Replace(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	h := &policy.Holder{Now: func() time.Time { return now }}
	rt := seedRuntime(t, "claude_code")
	if v := h.Check(rt, nil); v != nil {
		t.Fatalf("empty holder = %v", v)
	}
	if _, err := h.Replace([]policy.Rule{{Name: "no-beta", Deny: `runtime.status == "beta"`}}, policy.Options{}); err != nil {
		t.Fatal(err)
	}
	h.Check(rt, nil)
	s, err := h.Replace([]policy.Rule{{Name: "no-beta", Deny: `runtime.status == "beta"`, Severity: "warning"}, {Name: "other", Deny: "false"}}, policy.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if s.Generation() != 2 || !s.LoadedAt().Equal(now) || h.Current() != s {
		t.Fatalf("generation %d loaded %v", s.Generation(), s.LoadedAt())
	}
	if v := h.Check(rt, nil); len(v) != 1 || v[0].Blocking {
		t.Fatalf("after reload verdicts = %+v, want one warning", v)
	}
	if st := s.Stats(); st[0].Denied != 2 || st[1].Allowed != 1 {
		t.Fatalf("counters not carried over by name: %+v", st)
	}
	if _, err := h.Replace([]policy.Rule{{Name: "bad", Deny: "runtime."}}, policy.Options{}); err == nil {
		t.Fatal("a bad rule set was accepted")
	}
	if h.Current() != s {
		t.Fatal("a rejected reload replaced the running rules")
	}
}

// Concurrent checks during reloads: run under -race.
func TestHolder_Concurrent(t *testing.T) {
	t.Parallel()
	h := &policy.Holder{}
	rules := []policy.Rule{{Name: "no-beta", Deny: `runtime.status == "beta"`}, {Name: "cfg", Deny: `has(config.x) && config.x == 1`}}
	if _, err := h.Replace(rules, policy.Options{}); err != nil {
		t.Fatal(err)
	}
	cat := store.SeedCatalog()
	var wg gosync.WaitGroup
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 200 {
				for _, rt := range cat.Runtimes() {
					h.Check(rt, map[string]any{"x": float64((i + g) % 2)})
				}
			}
		}()
	}
	for range 20 {
		if _, err := h.Replace(rules, policy.Options{}); err != nil {
			t.Error(err)
		}
	}
	wg.Wait()
	st := h.Current().Stats()
	if total := st[0].Denied + st[0].Allowed + st[0].Errors; total != 4*200*2 {
		t.Fatalf("no-beta decisions = %d, want %d", total, 4*200*2)
	}
}

// Numbers decoded with UseNumber and an environment kept as raw JSON (store.AgentConfig) read
// as numbers and maps, not as strings and bytes.
func TestCheck_JSONValues(t *testing.T) {
	t.Parallel()
	s := mustCompile(t, policy.Options{},
		policy.Rule{Name: "tokens", Deny: `config.agent_config.max_tokens > 1000`},
		policy.Rule{Name: "timeout", Deny: `!("timeout" in config.environment)`},
		policy.Rule{Name: "ratio", Deny: `config.ratio > 0.5`},
	)
	rt := seedRuntime(t, "default")
	cfg := map[string]any{"agent_config": map[string]any{"max_tokens": marshalerNumber("4096")},
		"environment": json.RawMessage(`{"timeout": 30}`), "ratio": json.Number("0.75"), "n": []any{json.Number("1")}}
	got := s.Check(rt, cfg)
	if len(got) != 2 || got[0].Rule != "tokens" || got[0].Outcome != "deny" || got[1].Rule != "ratio" || got[1].Outcome != "deny" {
		t.Fatalf("verdicts = %+v, want tokens and ratio denying", got)
	}
	if _, ok := cfg["environment"].(json.RawMessage); !ok {
		t.Fatal("the caller's config was modified")
	}
}

// marshalerNumber is a caller's own number type (as httpapi's drop-in parser has).
type marshalerNumber string

func (n marshalerNumber) MarshalJSON() ([]byte, error) { return []byte(n), nil }

// Where no configuration is decided (nil), rules that read config are not evaluated nor
// counted; an empty configuration is decided by every rule.
func TestCheck_NoConfigDecided(t *testing.T) {
	t.Parallel()
	s := mustCompile(t, policy.Options{},
		policy.Rule{Name: "no-beta", Deny: `runtime.status == "beta"`},
		policy.Rule{Name: "kubiya", Deny: `has(config.model_id) && !config.model_id.startsWith("kubiya/")`},
		policy.Rule{Name: "timeout", Deny: `!("timeout" in config.environment)`})
	rt := seedRuntime(t, "claude_code")
	if v := s.Check(rt, nil); len(v) != 1 || v[0].Rule != "no-beta" {
		t.Fatalf("nil config: %+v, want no-beta only", v)
	}
	if st := s.Stats(); st[1].Allowed+st[1].Denied+st[1].Errors != 0 || st[2].Allowed+st[2].Denied+st[2].Errors != 0 {
		t.Fatalf("rules on config were counted without a configuration: %+v", st)
	}
	v := s.Check(rt, map[string]any{})
	if len(v) != 2 || v[1].Rule != "timeout" || v[1].Outcome != health.VerdictError || !v[1].Blocking {
		t.Fatalf("empty config: %+v, want no-beta and timeout (could not be evaluated)", v)
	}
}

// CEL's cost model undercounts operations on dynamic values (config is a map of dyn: a string
// concatenation there costs 1 whatever its length), so a comprehension over a hostile config
// can do megabytes of work per iteration within the cost limit. The deadline must then stop it
// at the next iteration, not after a hundred: with a 1 MiB string and a 500,000-element list
// sent in one request body, a check interrupted every 100 iterations ran 2.5 s and allocated
// 200 MB against a 100 ms deadline.
func TestCheck_DeadlineStopsEveryIteration(t *testing.T) {
	t.Parallel()
	xs := make([]any, 50)
	for i := range xs {
		xs[i] = float64(i)
	}
	cfg := map[string]any{"xs": xs, "s": strings.Repeat("a", 64<<10)}
	s := mustCompile(t, policy.Options{CostLimit: 1 << 62, Timeout: time.Nanosecond},
		policy.Rule{Name: "concat", Deny: `config.xs.exists(a, (config.s + config.s).size() == 0)`})
	v := s.Check(seedRuntime(t, "default"), cfg)
	if len(v) != 1 || v[0].Outcome != health.VerdictError || !strings.Contains(v[0].Message, "deadline") {
		t.Fatalf("verdicts = %+v, want the deadline to stop the comprehension before its 50 iterations ended", v)
	}
}

// A regular expression is compiled when matches runs, inside one call that neither the cost
// limit nor the deadline can interrupt: a 250 KB pattern sent in a request body took 0.56 s, a
// 900 KB one 1.1 s, against a 100 ms deadline. A rule's pattern must therefore be a constant.
func TestCompile_MatchesNeedsConstantPattern(t *testing.T) {
	t.Parallel()
	for _, deny := range []string{`config.model_id.matches(config.p)`, `matches(config.model_id, runtime.name)`, `runtime.id.matches("^" + config.p)`} {
		_, err := policy.Compile([]policy.Rule{{Name: "re", Deny: deny}}, policy.Options{})
		var re *policy.RuleError
		if !errors.As(err, &re) || re.Field != "deny" || !strings.Contains(err.Error(), "pattern must be a constant") {
			t.Errorf("%s: %v, want refused: the pattern must be a constant", deny, err)
		}
	}
	s := mustCompile(t, policy.Options{}, policy.Rule{Name: "kubiya", Deny: `!config.model_id.matches("^kubiya/")`})
	if v := s.Check(seedRuntime(t, "default"), map[string]any{"model_id": "openai/gpt-4"}); len(v) != 1 || v[0].Outcome != "deny" {
		t.Fatalf("a constant pattern: %+v", v)
	}
}
