package main

import (
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/runtimesd/runtimesd/sync/fakecp"
)

// config check refuses bad rules naming the key, the line, the rule and CEL's error.
func TestConfigCheck_PolicyRules(t *testing.T) {
	t.Parallel()
	bad := filepath.Join(t.TempDir(), "bad.yaml")
	os.WriteFile(bad, []byte(`policy:
  rules:
    - name: no-beta
      deny: runtime.status == "beta"
    - name: typo
      deny: runtime.statuz == "beta"
    - name: no-beta
      deny: "true"
    - name: loud
      severity: fatal
      deny: "true"
    - name: not-bool
      message: m
      deny: runtime.name
    - name: ""
      deny: "true"
    - name: syntax
      deny: runtime.status == "beta
    - name: careless
      on_error: ignore
      deny: "true"
    - name: nothing
      deny: ""
`), 0o600)
	code, _, stderr := runMain(t, map[string]string{}, "config", "check", bad)
	if code != 1 {
		t.Fatalf("code %d:\n%s", code, stderr)
	}
	for _, want := range []string{
		`policy.rules[1].deny (line 6): rule "typo": does not compile: runtime has no field "statuz"`,
		`policy.rules[2].name (line 7): rule "no-beta": "no-beta" is used by another rule`,
		`policy.rules[3].severity (line 10): rule "loud": "fatal": want error or warning`,
		`policy.rules[4].deny (line 14): rule "not-bool": does not compile: the expression is dyn, want a boolean`,
		`policy.rules[5].name (line 15): rule #6: must not be empty`,
		`policy.rules[6].deny (line 18): rule "syntax": does not compile: 1:19:`,
		`policy.rules[7].on_error (line 20): rule "careless": "ignore": want deny or allow`,
		`policy.rules[8].deny (line 23): rule "nothing": must not be empty`,
	} {
		if !strings.Contains(stderr, want) {
			t.Errorf("config check does not say %q:\n%s", want, stderr)
		}
	}
	if strings.Contains(stderr, "rules[0]") {
		t.Errorf("the good rule was blamed:\n%s", stderr)
	}

	many := "policy:\n  rules:\n"
	for i := range 257 {
		many += "    - {name: r" + itoa(i) + ", deny: 'false'}\n"
	}
	os.WriteFile(bad, []byte(many), 0o600)
	if code, _, stderr := runMain(t, map[string]string{}, "config", "check", bad); code != 1 || !strings.Contains(stderr, "policy.rules (line 2): 257 rules, at most 256") {
		t.Fatalf("257 rules: code %d:\n%s", code, stderr)
	}
	os.WriteFile(bad, []byte("policy:\n  rules:\n    - name: x\n      deny: 'true'\n      when: always\n"), 0o600)
	if code, _, stderr := runMain(t, map[string]string{}, "config", "check", bad); code != 1 || !strings.Contains(stderr, "policy.rules[0].when (line 5): unknown key") {
		t.Fatalf("unknown rule key: code %d:\n%s", code, stderr)
	}
	good := filepath.Join(t.TempDir(), "good.yaml")
	os.WriteFile(good, []byte("policy:\n  enforce_dropin: true\n  rules:\n    - name: no-beta\n      deny: runtime.status == \"beta\"\n"), 0o600)
	if code, stdout, stderr := runMain(t, map[string]string{}, "config", "check", good); code != 0 || !strings.Contains(stdout, "no-beta") {
		t.Fatalf("good rules: code %d:\n%s\n%s", code, stdout, stderr)
	}
}

func postJSON(t *testing.T, url, body string) (int, string) {
	t.Helper()
	resp, err := http.Post(url, "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestPolicy_Daemon runs the real binary with rules: the drop-in hook, metrics and
// GET /v1/policy see them, SIGHUP swaps them, and a rule that does not compile is refused
// with its line while the running rules stay.
func TestPolicy_Daemon(t *testing.T) {
	t.Parallel()
	bin := buildBinary(t)
	fake, err := fakecp.Start(fakecp.Options{APIKey: "policy-secret"})
	if err != nil {
		t.Fatal(err)
	}
	defer fake.Close()
	cfgPath := filepath.Join(t.TempDir(), "runtimesd.yaml")
	write := func(s string) {
		if err := os.WriteFile(cfgPath, []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("policy:\n  enforce_dropin: true\n  rules:\n    - name: no-beta\n      deny: runtime.status == \"beta\"\n      message: beta runtimes are not allowed in production\n")
	env := append(baseEnv(t), EnvAPIKey+"=policy-secret", EnvBaseURL+"="+fake.URL())
	d := start(t, bin, env, "serve", "--config", cfgPath, "--data", t.TempDir(), "--listen", "127.0.0.1:0")
	base := "http://" + d.addr
	waitBootSync(t, base)

	const req = `{"runtime_type":"claude_code","model_id":"claude-sonnet-4"}`
	if code, body := postJSON(t, base+"/api/v1/runtimes/validate", req); code != 200 ||
		body != `{"valid":false,"errors":["Policy rule 'no-beta': beta runtimes are not allowed in production"]}` {
		t.Fatalf("drop-in validate with enforce_dropin: %d %s", code, body)
	}
	postJSON(t, base+"/api/v1/runtimes/validate", `{"runtime_type":"default","model_id":"gpt-4"}`)
	_, metrics := get(t, base+"/metrics")
	for _, want := range []string{
		`runtimesd_policy_decisions_total{outcome="deny",rule="no-beta"} 1`,
		`runtimesd_policy_decisions_total{outcome="allow",rule="no-beta"} 1`,
		`runtimesd_policy_decisions_total{outcome="error",rule="no-beta"} 0`,
		"runtimesd_policy_rules 1",
		"runtimesd_policy_generation 1",
	} {
		if !strings.Contains(string(metrics), want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	_, pol := get(t, base+"/v1/policy")
	if !strings.Contains(string(pol), `"generation":1,`) || !strings.Contains(string(pol), `"enforce_dropin":true`) || !strings.Contains(string(pol), `"denied":1,"allowed":1,"errors":0`) {
		t.Errorf("/v1/policy: %s", pol)
	}

	// Reload: no-beta becomes a warning (kept counters), a rule is added, the drop-in hook is off.
	write("policy:\n  rules:\n    - name: no-beta\n      deny: runtime.status == \"beta\"\n      severity: warning\n    - name: no-openai\n      deny: '\"openai\" in runtime.providers'\n")
	d.cmd.Process.Signal(syscall.SIGHUP)
	waitLog(t, d, "config reloaded")
	_, pol = get(t, base+"/v1/policy")
	if !strings.Contains(string(pol), `"generation":2,`) || !strings.Contains(string(pol), `"enforce_dropin":false`) ||
		!strings.Contains(string(pol), `"name":"no-openai"`) || !strings.Contains(string(pol), `"severity":"warning","on_error":"allow","uses_config":false,"denied":1,"allowed":1`) {
		t.Errorf("/v1/policy after reload: %s", pol)
	}
	if code, body := postJSON(t, base+"/api/v1/runtimes/validate", req); code != 200 || body != `{"valid":true,"errors":[]}` {
		t.Fatalf("drop-in validate after enforce_dropin went off: %d %s", code, body)
	}

	// policy test asks the running daemon for the catalog, with the rules of the file.
	code, stdout, stderr := runMain(t, map[string]string{"HOME": t.TempDir()}, "policy", "test", "--addr", d.addr, "--config", cfgPath)
	if code != 0 || !strings.Contains(stdout, "no-openai  error     deny      default") || !strings.Contains(stdout, "source upstream") {
		t.Errorf("policy test against the daemon: code %d\n%s\n%s", code, stdout, stderr)
	}

	write("policy:\n  rules:\n    - name: typo\n      deny: runtime.statuz == \"beta\"\n")
	d.cmd.Process.Signal(syscall.SIGHUP)
	waitLog(t, d, "config reload rejected")
	if !strings.Contains(d.stderr.String(), `policy.rules[0].deny (line 4): rule \"typo\": does not compile: runtime has no field \"statuz\"`) {
		t.Errorf("the rejection must name the rule, its line and the error:\n%s", d.stderr)
	}
	_, pol = get(t, base+"/v1/policy")
	if !strings.Contains(string(pol), `"generation":2,`) || !strings.Contains(string(pol), `"name":"no-openai"`) {
		t.Errorf("a rejected reload must keep the running rules: %s", pol)
	}
	d.stop(t)
}

func TestPolicyTestCLI(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	cfg := filepath.Join(dir, "c.yaml")
	os.WriteFile(cfg, []byte(`policy:
  rules:
    - name: no-beta
      deny: runtime.status == "beta"
    - name: kubiya-models
      deny: '!config.model_id.startsWith("kubiya/")'
      severity: warning
`), 0o600)
	env := map[string]string{"HOME": t.TempDir()}
	seed := []string{"policy", "test", "--config", cfg, "--offline", "--builtin-seed", "--data", filepath.Join(dir, "none")}

	code, stdout, stderr := runMain(t, env, seed...)
	if code != 0 || !strings.Contains(stdout, "no-beta        error     deny      claude_code                   -") ||
		!strings.Contains(stdout, "kubiya-models  warning   allow     (reads config: give --input)  -") {
		t.Fatalf("without --input: code %d\n%s\n%s", code, stdout, stderr)
	}
	// --input takes the shape the daemon gives config (health.PolicyInput): a missing model_id
	// is null, so a rule calling a string method on it cannot be evaluated.
	code, stdout, stderr = runMain(t, env, append(seed, "--input", `{"model": "kubiya/x"}`)...)
	if code != 1 || !strings.Contains(stdout, "kubiya-models on default: policy rule \"kubiya-models\" could not be evaluated (on_error: allow, so it allows): no such overload") ||
		!strings.Contains(stderr, `policy rule "kubiya-models" could not be evaluated on 2 runtime(s)`) {
		t.Fatalf("--input without model_id: code %d\n%s\n%s", code, stdout, stderr)
	}
	code, stdout, stderr = runMain(t, env, append(seed, "--json", "--input", `{"model_id":"kubiya/claude-opus-4"}`)...)
	var rep policyTestReport
	if code != 0 || json.Unmarshal([]byte(stdout), &rep) != nil || rep.Runtimes != 2 || rep.Source != "seed" ||
		strings.Join(rep.Rules[0].Denies, ",") != "claude_code" || len(rep.Rules[1].Denies) != 0 || len(rep.Rules[1].Errors) != 0 {
		t.Fatalf("--json: code %d\n%s\n%s", code, stdout, stderr)
	}
	for _, bad := range [][]string{
		{"--input", `[1]`}, {"--input", `{"a":1} {}`}, {"--input", `{"a":1}}`}, {"--input", "{\"a\":1}\f"}, {"--input", "{\"a\":1}\u00a0"}, {"--input", `null`}, {"extra"},
	} {
		args := append(append([]string{}, seed...), bad...)
		if bad[0] == "extra" {
			args = append([]string{"policy", "test", "extra"}, seed[2:]...)
		}
		if code, _, stderr := runMain(t, env, args...); code != 2 {
			t.Errorf("%v: code %d, want 2 (bad usage): %s", bad, code, stderr)
		}
	}
	os.WriteFile(cfg, []byte("policy:\n  rules:\n    - name: typo\n      deny: runtime.statuz == 1\n"), 0o600)
	if code, _, stderr := runMain(t, env, seed...); code != 1 || !strings.Contains(stderr, `policy.rules[0].deny (line 4): rule "typo": does not compile`) {
		t.Fatalf("bad rule: code %d: %s", code, stderr)
	}
}
