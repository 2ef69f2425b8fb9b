package httpapi_test

import (
	"strings"
	"testing"

	"github.com/runtimesd/runtimesd/health"
	"github.com/runtimesd/runtimesd/httpapi"
	"github.com/runtimesd/runtimesd/store"
	rsync "github.com/runtimesd/runtimesd/sync"
)

// TestGate_NativeAnswers: a policy passed in Options reaches every native answer it concerns
// (validate, select, resolve, matrix, build-config) and leaves the drop-in surface alone. Every
// answer is checked against openapi.yaml by the harness.
func TestGate_NativeAnswers(t *testing.T) {
	t.Parallel()
	gate := health.GateFunc(func(rt *store.Runtime, _ map[string]any) []health.Verdict {
		if rt.ID == "claude_code" {
			return []health.Verdict{{Rule: "no-beta", Severity: health.SeverityError, Outcome: health.VerdictDeny,
				Message: "beta runtimes are not allowed", Blocking: true}}
		}
		return nil
	})
	h := newHarness(t, fakeDefault(), func(o *httpapi.Options, _ *rsync.Client) {
		o.Gate = gate
		o.Fallback = health.FallbackRules{Chains: map[string][]string{"claude_code": {"default"}}}
	})
	h.sync(t)
	body := `{"runtime_type":"claude_code","model_id":"claude-3-opus","agent_config":{"timeout":30}}`

	a := do(t, "POST", h.url+"/v1/validate", body, "Content-Type", "application/json")
	m := a.json(t)
	if a.status != 200 || m["valid"] != false || !strings.Contains(string(a.body), `"policy":[{"rule":"no-beta"`) ||
		!strings.Contains(strings.Join(toStrings(m["errors"]), "|"), "policy rule 'no-beta' denies runtime 'claude_code'") {
		t.Fatalf("validate: %d %s", a.status, a.body)
	}
	if a := do(t, "POST", h.url+"/api/v1/runtimes/validate", body, "Content-Type", "application/json"); a.status != 200 ||
		strings.Contains(string(a.body), "policy") {
		t.Fatalf("drop-in validate must not apply the policy: %d %s", a.status, a.body)
	}
	a = do(t, "POST", h.url+"/v1/runtimes/claude_code/config", "")
	if m := a.json(t); a.status != 403 || m["error"].(map[string]any)["code"] != "policy_denied" ||
		!strings.Contains(string(a.body), "no-beta") {
		t.Fatalf("build-config: %d %s", a.status, a.body)
	}
	a = do(t, "GET", h.url+"/v1/resolve/claude_code", "")
	if m := a.json(t); a.status != 200 || m["is_fallback"] != true || !strings.Contains(m["reason"].(string), "denied by policy rule 'no-beta'") {
		t.Fatalf("resolve: %d %s", a.status, a.body)
	}
	a = do(t, "POST", h.url+"/v1/select", `{"candidates":["claude_code"],"allow_unhealthy":true}`, "Content-Type", "application/json")
	if a.status != 404 || !strings.Contains(string(a.body), "denied by policy rule 'no-beta'") {
		t.Fatalf("select: %d %s", a.status, a.body)
	}
	a = do(t, "GET", h.url+"/v1/matrix?format=csv", "")
	if lines := strings.Split(string(a.body), "\n"); !strings.HasSuffix(lines[0], ",POLICY") || !strings.Contains(string(a.body), "denied by no-beta") {
		t.Fatalf("matrix csv: %s", a.body)
	}
	a = do(t, "GET", h.url+"/v1/matrix", "")
	if !strings.Contains(string(a.body), `"policy":"allowed"`) || !strings.Contains(string(a.body), `"policy":"denied by no-beta"`) {
		t.Fatalf("matrix json: %s", a.body)
	}
	if a = do(t, "GET", h.url+"/v1/matrix?format=table&columns=id,policy", ""); a.status != 200 || !strings.Contains(string(a.body), "denied by no-beta") {
		t.Fatalf("matrix table: %d %s", a.status, a.body)
	}
}
