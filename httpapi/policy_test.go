package httpapi_test

import (
	"bytes"
	"encoding/json"
	"strconv"
	"strings"
	"testing"

	"github.com/runtimesd/runtimesd/health/policy"
	"github.com/runtimesd/runtimesd/httpapi"
	rsync "github.com/runtimesd/runtimesd/sync"
)

func policyHolder(t *testing.T, enforce bool, rules ...policy.Rule) *policy.Holder {
	t.Helper()
	h := &policy.Holder{}
	if _, err := h.Replace(rules, policy.Options{EnforceDropIn: enforce}); err != nil {
		t.Fatal(err)
	}
	return h
}

var policyTestRules = []policy.Rule{
	{Name: "no-beta", Deny: `runtime.status == "beta"`, Message: "beta runtimes are not allowed in production"},
	{Name: "kubiya-models", Deny: `has(config.model_id) && type(config.model_id) == string && !config.model_id.startsWith("kubiya/")`, Severity: "warning"},
	{Name: "broken", Deny: `config.agent_config.max_tokens > 10`},
}

func TestPolicy_Endpoint(t *testing.T) {
	t.Parallel()
	gate := policyHolder(t, false, policyTestRules...)
	h := newHarness(t, fakeDefault(), func(o *httpapi.Options, _ *rsync.Client) { o.Policy = gate })
	claude, _ := h.live.Load().Catalog.Get("claude_code")
	gate.Check(claude, nil)
	gate.Check(claude, map[string]any{"model_id": "openai/gpt-4", "agent_config": map[string]any{"max_tokens": 5.0}})

	a := do(t, "GET", h.url+"/v1/policy", "")
	if a.status != 200 {
		t.Fatalf("status %d: %s", a.status, a.body)
	}
	var got struct {
		Generation    uint64             `json:"generation"`
		LoadedAt      *string            `json:"loaded_at"`
		EnforceDropIn bool               `json:"enforce_dropin"`
		Rules         []policy.RuleStats `json:"rules"`
	}
	if err := json.Unmarshal(a.body, &got); err != nil {
		t.Fatal(err)
	}
	if got.Generation != 1 || got.LoadedAt == nil || got.EnforceDropIn || len(got.Rules) != 3 {
		t.Fatalf("answer %s", a.body)
	}
	want := []struct {
		name                  string
		denied, allowed, errs uint64
		severity, onErr       string
		usesConfig            bool
	}{
		{"no-beta", 2, 0, 0, "error", "deny", false},
		// Rules on config are not evaluated where no configuration is decided (nil).
		{"kubiya-models", 1, 0, 0, "warning", "allow", true},
		{"broken", 0, 1, 0, "error", "deny", true},
	}
	for i, w := range want {
		r := got.Rules[i]
		if r.Name != w.name || r.Denied != w.denied || r.Allowed != w.allowed || r.Errors != w.errs ||
			r.Severity != w.severity || r.OnError != w.onErr || r.UsesConfig != w.usesConfig {
			t.Errorf("rule %d = %+v, want %+v", i, r, w)
		}
	}
	if a := do(t, "GET", h.url+"/v1/policy?verbose=1", ""); a.status != 400 || !strings.Contains(string(a.body), "verbose") {
		t.Fatalf("unknown parameter: %d %s", a.status, a.body)
	}
}

func TestPolicy_EndpointWithoutPolicy(t *testing.T) {
	t.Parallel()
	h := newHarness(t, fakeDefault())
	a := do(t, "GET", h.url+"/v1/policy", "")
	if a.status != 200 || string(a.body) != `{"generation":0,"loaded_at":null,"enforce_dropin":false,"rules":[]}` {
		t.Fatalf("status %d: %s", a.status, a.body)
	}
}

// The drop-in validate answer is the control plane's unless policy.enforce_dropin is set.
func TestPolicy_DropInValidate(t *testing.T) {
	t.Parallel()
	plain := newHarness(t, fakeDefault())
	off := newHarness(t, fakeDefault(), func(o *httpapi.Options, _ *rsync.Client) { o.Policy = policyHolder(t, false, policyTestRules...) })
	on := newHarness(t, fakeDefault(), func(o *httpapi.Options, _ *rsync.Client) { o.Policy = policyHolder(t, true, policyTestRules...) })
	for _, body := range []string{
		`{"runtime_type":"claude_code","model_id":"claude-sonnet-4"}`,
		`{"runtime_type":"default","model_id":"gpt-4","agent_config":{"max_tokens":50}}`,
		`{"runtime_type":"nope","model_id":"x"}`,
		`{"runtime_type":"claude_code"`,
		`[]`,
	} {
		want := do(t, "POST", plain.url+"/api/v1/runtimes/validate", body, "Content-Type", "application/json")
		got := do(t, "POST", off.url+"/api/v1/runtimes/validate", body, "Content-Type", "application/json")
		if got.status != want.status || !bytes.Equal(got.body, want.body) {
			t.Fatalf("enforce_dropin off changed the answer to %s:\n got %d %s\nwant %d %s", body, got.status, got.body, want.status, want.body)
		}
	}
	for _, tc := range []struct{ body, want string }{
		// Denied by no-beta: the control plane said valid.
		{`{"runtime_type":"claude_code","model_id":"claude-sonnet-4"}`,
			`{"valid":false,"errors":["Policy rule 'no-beta': beta runtimes are not allowed in production","policy rule \"broken\" could not be evaluated (on_error: deny, so it denies): no such key: max_tokens"]}`},
		// broken cannot be evaluated (no agent_config.max_tokens) and its on_error is deny.
		{`{"runtime_type":"default","model_id":"gpt-4"}`,
			`{"valid":false,"errors":["policy rule \"broken\" could not be evaluated (on_error: deny, so it denies): no such key: max_tokens"]}`},
		// Allowed by every rule (the warning does not block): the control plane's answer.
		{`{"runtime_type":"default","model_id":"gpt-4","agent_config":{"max_tokens":5}}`, `{"valid":true,"errors":[]}`},
		// An unknown runtime is the control plane's business.
		{`{"runtime_type":"nope","model_id":"x"}`, ""},
	} {
		got := do(t, "POST", on.url+"/api/v1/runtimes/validate", tc.body, "Content-Type", "application/json")
		want := tc.want
		if want == "" {
			want = string(do(t, "POST", plain.url+"/api/v1/runtimes/validate", tc.body, "Content-Type", "application/json").body)
		}
		if got.status != 200 || string(got.body) != want || got.header.Get("Content-Length") != "" && got.header.Get("Content-Length") != strconv.Itoa(len(got.body)) {
			t.Errorf("POST %s:\n got %d %s\nwant %s", tc.body, got.status, got.body, want)
		}
	}
	// Bad input keeps the control plane's error answers.
	for _, body := range []string{`{"runtime_type":"claude_code"`, `[]`, ``} {
		want := do(t, "POST", plain.url+"/api/v1/runtimes/validate", body, "Content-Type", "application/json")
		got := do(t, "POST", on.url+"/api/v1/runtimes/validate", body, "Content-Type", "application/json")
		if got.status != want.status || !bytes.Equal(got.body, want.body) {
			t.Errorf("bad body %q: got %d %s, want %d %s", body, got.status, got.body, want.status, want.body)
		}
	}
}

// The drop-in parser keeps numbers as written (NaN, Infinity, beyond float64): a policy rule
// reads them as the control plane's Python does, as doubles, so a numeric bound holds against
// Infinity and 1e400 instead of failing to evaluate ("no such overload" on the string
// "Infinity"), which on_error: allow would have let through.
func TestPolicy_DropInNumbers(t *testing.T) {
	t.Parallel()
	on := newHarness(t, fakeDefault(), func(o *httpapi.Options, _ *rsync.Client) {
		o.Policy = policyHolder(t, true, policy.Rule{Name: "history", Deny: `config.agent_config.max_history_length > 50`,
			Message: "history over 50", OnError: "allow"})
	})
	const denied = `{"valid":false,"errors":["Policy rule 'history': history over 50"]}`
	const allowed = `{"valid":true,"errors":[]}`
	for _, tc := range []struct{ n, want string }{
		{"51", denied},
		{"50", allowed},
		{"50.5", denied},
		{"Infinity", denied},
		{"1e400", denied},
		{"12345678901234567890123", denied},
		{"-Infinity", allowed},
		{"-1e400", allowed},
		{"NaN", allowed}, // NaN > 50 is false, in CEL as in Python
	} {
		body := `{"runtime_type":"default","model_id":"gpt-4","agent_config":{"max_history_length":` + tc.n + `}}`
		got := do(t, "POST", on.url+"/api/v1/runtimes/validate", body, "Content-Type", "application/json")
		if got.status != 200 || string(got.body) != tc.want {
			t.Errorf("max_history_length %s: got %d %s, want %s", tc.n, got.status, got.body, tc.want)
		}
	}
}

// A large GET /v1/policy (40 rules: more than 2 KiB) is chunked like the large cached reads,
// and its HEAD still names the length of the GET's body (handlers_native.go:347 survivor: a
// large answer written whole got an explicit length on GET and none on HEAD).
func TestPolicy_EndpointLargeAnswerLength(t *testing.T) {
	t.Parallel()
	var rules []policy.Rule
	for i := range 40 {
		rules = append(rules, policy.Rule{Name: "rule-" + strconv.Itoa(i), Deny: `runtime.status == "beta"`, Message: "beta runtimes are not allowed here"})
	}
	h := newHarness(t, fakeDefault(), func(o *httpapi.Options, _ *rsync.Client) { o.Policy = policyHolder(t, false, rules...) })
	get := do(t, "GET", h.url+"/v1/policy", "")
	head := do(t, "HEAD", h.url+"/v1/policy", "")
	if get.status != 200 || head.status != 200 || len(get.body) <= 2048 || len(head.body) != 0 {
		t.Fatalf("GET %d (%d bytes), HEAD %d (%d bytes); want 200s, more than 2 KiB, no HEAD body", get.status, len(get.body), head.status, len(head.body))
	}
	if get.header.Get("Content-Length") != "" || head.header.Get("Content-Length") != strconv.Itoa(len(get.body)) {
		t.Errorf("GET Content-Length %q (want none: chunked), HEAD Content-Length %q (want %d)",
			get.header.Get("Content-Length"), head.header.Get("Content-Length"), len(get.body))
	}
}
