package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/runtimesd/runtimesd/health/policy"
	"github.com/runtimesd/runtimesd/sync/fakecp"
)

// The configured rules reach every native answer of the running daemon (issue 18 item 2), the
// drop-in answer stays the control plane's, and the offline CLI applies the same rules.
func TestPolicy_NativeAnswersAsWired(t *testing.T) {
	t.Parallel()
	bin := buildBinary(t)
	fake, err := fakecp.Start(fakecp.Options{APIKey: "policy-secret"})
	if err != nil {
		t.Fatal(err)
	}
	defer fake.Close()
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "runtimesd.yaml")
	rules := `policy:
  rules:
    - name: no-beta
      deny: runtime.status == "beta"
      message: beta runtimes are not allowed in production
    - name: require-timeout
      deny: '!("timeout" in config.environment)'
      message: set timeout in the environment
      severity: warning
`
	if err := os.WriteFile(cfgPath, []byte(rules), 0o600); err != nil {
		t.Fatal(err)
	}
	data := t.TempDir()
	env := append(baseEnv(t), EnvAPIKey+"=policy-secret", EnvBaseURL+"="+fake.URL())
	d := start(t, bin, env, "serve", "--config", cfgPath, "--data", data, "--listen", "127.0.0.1:0")
	base := "http://" + d.addr
	waitBootSync(t, base)

	code, body := postJSON(t, base+"/v1/validate", `{"runtime_type":"claude_code","model_id":"claude-sonnet-4"}`)
	if code != 200 || !strings.Contains(body, `"valid":false`) || !strings.Contains(body, "policy rule 'no-beta'") || !strings.Contains(body, `"rule":"no-beta"`) {
		t.Errorf("native validate of a denied runtime: %d %s", code, body)
	}
	code, body = postJSON(t, base+"/v1/validate", `{"runtime_type":"default","model_id":"gpt-4","agent_config":{"environment":{"timeout":"30"}}}`)
	if code != 200 || !strings.Contains(body, `"valid":true`) || strings.Contains(body, "require-timeout") {
		t.Errorf("native validate meeting every rule: %d %s", code, body)
	}
	code, body = postJSON(t, base+"/v1/validate", `{"runtime_type":"default","model_id":"gpt-4"}`)
	if code != 200 || !strings.Contains(body, `"valid":true`) || !strings.Contains(body, "require-timeout") {
		t.Errorf("a warning rule lists, never blocks: %d %s", code, body)
	}
	code, body = postJSON(t, base+"/v1/select", `{"candidates":["claude_code","default"],"allow_unhealthy":true}`)
	if code != 200 || !strings.Contains(body, `"best":{"rank":1,"id":"default"`) || !strings.Contains(body, "denied by policy rule 'no-beta'") {
		t.Errorf("select must pass over the denied runtime and say why: %d %s", code, body)
	}
	if _, b := get(t, base+"/v1/matrix?format=csv"); !strings.Contains(string(b), "denied by no-beta") {
		t.Errorf("matrix lacks the policy column: %s", b)
	}
	if resp, b := get(t, base+"/v1/runtimes/claude_code/config"); resp.StatusCode != 403 || !strings.Contains(string(b), "no-beta") {
		t.Errorf("build-config of a denied runtime: %d %s", resp.StatusCode, b)
	}
	// The drop-in surface stays the control plane's without enforce_dropin.
	if code, body := postJSON(t, base+"/api/v1/runtimes/validate", `{"runtime_type":"claude_code","model_id":"claude-sonnet-4"}`); code != 200 || body != `{"valid":true,"errors":[]}` {
		t.Errorf("drop-in validate must stay byte for byte: %d %s", code, body)
	}
	d.stop(t)

	// Offline, the CLI applies the config's rules to the data file the daemon left.
	code, stdout, stderr := runMain(t, map[string]string{"HOME": t.TempDir()}, "validate", "--offline", "--config", cfgPath, "--data", data,
		"--runtime", "claude_code", "--model", "claude-sonnet-4")
	if code != 1 || !strings.Contains(stdout, "policy rule 'no-beta'") {
		t.Errorf("offline validate: code %d\n%s\n%s", code, stdout, stderr)
	}
}

// policy.on_error is the default of every rule that sets none; a rule's own on_error wins.
func TestPolicyConfig_GlobalOnError(t *testing.T) {
	t.Parallel()
	p := PolicyConfig{OnError: "allow", Rules: []policy.Rule{
		{Name: "a", Deny: "runtime.status == 'x'"},
		{Name: "b", Deny: "runtime.status == 'x'", OnError: "deny"},
	}}
	got := p.rules()
	if got[0].OnError != "allow" || got[1].OnError != "deny" || p.Rules[0].OnError != "" {
		t.Errorf("rules() = %+v (config %+v)", got, p.Rules)
	}
	if errs := (PolicyConfig{OnError: "maybe"}).validate(); len(errs) != 1 || !strings.Contains(errs[0].Error(), `policy.on_error: "maybe": want deny or allow`) {
		t.Errorf("a bad policy.on_error: %v", errs)
	}
}
