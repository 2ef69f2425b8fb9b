package main

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/runtimesd/runtimesd/sync/fakecp"
)

// startInProcess runs `serve` through Main and returns its address and a stop function.
func startInProcess(t *testing.T, env map[string]string, args ...string) (string, func()) {
	t.Helper()
	addr, _, stop := serveLogged(t, env, args...)
	return addr, stop
}

func TestClientCommands(t *testing.T) {
	t.Parallel()
	fake, err := fakecp.Start(fakecp.Options{APIKey: "k"})
	if err != nil {
		t.Fatal(err)
	}
	defer fake.Close()
	env := map[string]string{EnvAPIKey: "k", EnvBaseURL: fake.URL(), "HOME": t.TempDir()}
	data := t.TempDir()
	addr, stop := startInProcess(t, env, "--data", data)

	type tc struct {
		args       []string
		code       int
		want, deny []string
	}
	cases := map[string]tc{
		"List":               {[]string{"list"}, 0, []string{"default", "claude_code", "2 runtimes; revision 1, source upstream"}, nil},
		"ListFiltered":       {[]string{"list", "--status", "beta"}, 0, []string{"claude_code", "1 runtimes"}, []string{"Agno"}},
		"ListJSON":           {[]string{"list", "--json", "--feature", "session management"}, 0, []string{`"count": 1`, `"id": "default"`}, nil},
		"Get":                {[]string{"get", "claude_code"}, 0, []string{"Claude Code SDK", "Repository awareness"}, nil},
		"GetUnknown":         {[]string{"get", "nope"}, 1, nil, nil},
		"Requirements":       {[]string{"requirements", "claude_code"}, 0, []string{"timeout, max_tokens", "200"}, nil},
		"ValidateOK":         {[]string{"validate", "--runtime", "claude_code", "--model", "claude-sonnet-4", "--agent-config", `{"timeout":1,"max_tokens":9}`}, 0, []string{"valid for runtime claude_code", "beta"}, []string{"error:"}},
		"ValidateInvalid":    {[]string{"validate", "--runtime", "claude_code", "--model", "gpt-4"}, 1, []string{"invalid", "Model 'gpt-4' is not compatible"}, nil},
		"ValidateNoRuntime":  {[]string{"validate", "--model", "x"}, 2, nil, nil},
		"Select":             {[]string{"select", "--feature", "code review", "--provider", "anthropic"}, 0, []string{"best: claude_code"}, nil},
		"SelectNone":         {[]string{"select", "--feature", "teleport"}, 1, []string{"no runtime meets the request", `"teleport"`}, nil},
		"Matrix":             {[]string{"matrix"}, 0, []string{"ID", "HEALTH", "claude_code"}, nil},
		"MatrixCSV":          {[]string{"matrix", "--csv"}, 0, []string{"ID,NAME"}, nil},
		"Health":             {[]string{"health"}, 0, []string{"status:", "healthy: default, claude_code"}, nil},
		"BuildConfig":        {[]string{"build-config", "default", "--model", "gpt-4"}, 0, []string{`"runtime_type": "default"`, `"model_id": "gpt-4"`, "valid for runtime default"}, []string{"error:"}},
		"BuildConfigNoModel": {[]string{"build-config", "claude_code"}, 1, []string{"invalid for runtime claude_code", "Model ID is required", "set model_id"}, nil},
		"BuildConfigTypo":    {[]string{"build-config", "claud_code"}, 1, nil, nil},
		"BuildConfigUsage":   {[]string{"build-config"}, 2, nil, nil},
	}
	for name, c := range cases {
		t.Run("Online"+name, func(t *testing.T) {
			code, stdout, stderr := runMain(t, env, append(c.args, "--addr", addr)...)
			check(t, code, stdout, stderr, c.code, c.want, c.deny)
		})
	}
	t.Run("OfflineWhileDaemonHoldsFile", func(t *testing.T) {
		code, _, stderr := runMain(t, env, "list", "--offline", "--data", data)
		if code != 1 || !strings.Contains(stderr, "held by a running daemon") {
			t.Fatalf("code %d: %s", code, stderr)
		}
	})
	stop()
	for name, c := range cases {
		t.Run("Offline"+name, func(t *testing.T) {
			code, stdout, stderr := runMain(t, env, append(c.args, "--offline", "--data", data)...)
			c.want = replaceAll(c.want, "source upstream", "source cache")
			check(t, code, stdout, stderr, c.code, c.want, c.deny)
		})
	}
	t.Run("NoDaemon", func(t *testing.T) {
		code, _, stderr := runMain(t, env, "list", "--addr", closedPort(t))
		if code != 1 || !strings.Contains(stderr, "no daemon answers") {
			t.Fatalf("code %d: %s", code, stderr)
		}
	})
}

func replaceAll(list []string, old, new string) []string {
	out := make([]string, len(list))
	for i, s := range list {
		out[i] = strings.ReplaceAll(s, old, new)
	}
	return out
}

func check(t *testing.T, code int, stdout, stderr string, wantCode int, want, deny []string) {
	t.Helper()
	if code != wantCode {
		t.Fatalf("exit %d, want %d\nstdout:\n%s\nstderr:\n%s", code, wantCode, stdout, stderr)
	}
	for _, w := range want {
		if !strings.Contains(stdout, w) {
			t.Errorf("stdout lacks %q:\n%s", w, stdout)
		}
	}
	for _, d := range deny {
		if strings.Contains(stdout, d) {
			t.Errorf("stdout has %q:\n%s", d, stdout)
		}
	}
}

// The service's own config (deploy/systemd/config.yaml) names an API key file that only the
// service can read (a systemd credential). The commands that never call the control plane or
// a relay — the clients, policy test, export, import — read the file for `listen` and
// `data_dir` only: they failed with "control_plane.api_key_file: open …: no such file". sync
// --once, which calls the control plane, still needs the key.
func TestClientCommands_ServiceConfigWithUnreadableKeyFiles(t *testing.T) {
	t.Parallel()
	env := map[string]string{"HOME": t.TempDir()}
	data := t.TempDir()
	if code, _, stderr := runMain(t, env, "import", "--data", data, writeFile(t, t.TempDir(), "snap.json", `[{"id":"a","name":"A"}]`)); code != 0 {
		t.Fatalf("import: exit %d: %s", code, stderr)
	}
	gone := filepath.Join(t.TempDir(), "credentials", "api-key")
	cfgFor := func(listen string) string {
		return writeConfig(t, "listen: "+listen+"\ncontrol_plane:\n  api_key_file: "+gone+"\n  relay_token_file: "+gone+"\n")
	}
	offline := cfgFor("127.0.0.1:7878")
	for _, args := range [][]string{
		{"list", "--offline", "--data", data},
		{"export", "--data", data},
		{"import", "--data", data, writeFile(t, t.TempDir(), "snap.json", `[{"id":"a","name":"A"}]`)},
	} {
		if code, _, stderr := runMain(t, env, append(args, "--config", offline)...); code != 0 {
			t.Errorf("%v: exit %d: %s", args, code, stderr)
		}
	}
	fake, err := fakecp.Start(fakecp.Options{APIKey: "k"})
	if err != nil {
		t.Fatal(err)
	}
	defer fake.Close()
	addr, stop := startInProcess(t, map[string]string{EnvAPIKey: "k", EnvBaseURL: fake.URL(), "HOME": env["HOME"]}, "--data", t.TempDir())
	defer stop()
	online := cfgFor(addr)
	for _, args := range [][]string{{"list"}, {"probe", "ready"}, {"get", "default"}} {
		if code, stdout, stderr := runMain(t, env, append(args, "--config", online)...); code != 0 {
			t.Errorf("%v: exit %d: %s%s", args, code, stdout, stderr)
		}
	}
	code, _, stderr := runMain(t, env, "sync", "--once", "--data", t.TempDir(), "--config", online)
	if code != 1 || !strings.Contains(stderr, gone) {
		t.Errorf("sync --once: exit %d, want 1 naming the missing file: %s", code, stderr)
	}
}

// validate's JSON inputs that are not objects are named in JSON's words, not Go's
// ("json: cannot unmarshal array into Go value of type map[string]json.RawMessage"); a null
// --agent-config is refused like any other non-object.
func TestValidate_NotAnObjectInJSONWords(t *testing.T) {
	t.Parallel()
	env := map[string]string{"HOME": t.TempDir()}
	for _, c := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"--runtime", "default", "--agent-config", `[1]`}, 2, "--agent-config is not a JSON object: it is a JSON array"},
		{[]string{"--runtime", "default", "--agent-config", `"x"`}, 2, "--agent-config is not a JSON object: it is a JSON string"},
		{[]string{"--runtime", "default", "--agent-config", `null`}, 2, "--agent-config is not a JSON object: it is null"},
		{[]string{"-f", writeFile(t, t.TempDir(), "req.json", `[{"runtime_type":"default"}]`)}, 1, "is not a JSON object: it is a JSON array"},
	} {
		code, _, stderr := runMain(t, env, append(append([]string{"validate"}, c.args...), "--offline", "--builtin-seed", "--data", t.TempDir())...)
		if code != c.code || !strings.Contains(stderr, c.want) || strings.Contains(stderr, "Go value") {
			t.Errorf("%v: exit %d, want %d and %q: %s", c.args, code, c.code, c.want, stderr)
		}
	}
}

// --builtin-seed without --offline was silently ignored: `runtimesd list --builtin-seed`
// asked the daemon (or failed for want of one) and printed whatever it held.
// --data without --offline was ignored the same way: the daemon answers from its own data
// directory, not the one named.
func TestClient_BuiltinSeedNeedsOffline(t *testing.T) {
	t.Parallel()
	code, stdout, stderr := runMain(t, map[string]string{"HOME": t.TempDir()}, "list", "--builtin-seed", "--addr", closedPort(t))
	if code != 2 || !strings.Contains(stderr, "--builtin-seed applies to --offline") || stdout != "" {
		t.Fatalf("exit %d, want 2: %s%s", code, stdout, stderr)
	}
	code, stdout, stderr = runMain(t, map[string]string{"HOME": t.TempDir()}, "get", "default", "--data", t.TempDir(), "--addr", closedPort(t))
	if code != 2 || !strings.Contains(stderr, "--data applies to --offline") || stdout != "" {
		t.Fatalf("--data: exit %d, want 2: %s%s", code, stdout, stderr)
	}
}

// --addr is host:port or unix:/path. A pasted base URL was asked for as the host "http"
// ("lookup http: no such host"), a trailing slash answered "HTTP 404: {"detail":"Not Found"}".
func TestClient_AddrMustBeHostPort(t *testing.T) {
	t.Parallel()
	env := map[string]string{"HOME": t.TempDir()}
	for _, addr := range []string{"http://127.0.0.1:7878", "127.0.0.1:7878/", "localhost", "unix:", "127.0.0.1:"} {
		code, _, stderr := runMain(t, env, "list", "--addr", addr)
		if code != 2 || !strings.Contains(stderr, "want host:port") {
			t.Errorf("--addr %s: exit %d: %s", addr, code, stderr)
		}
	}
	for _, addr := range []string{closedPort(t), "unix:/nonexistent/runtimesd.sock", "[::1]:1"} {
		if code, _, stderr := runMain(t, env, "list", "--addr", addr); code != 1 || !strings.Contains(stderr, "no daemon answers") {
			t.Errorf("--addr %s: exit %d: %s", addr, code, stderr)
		}
	}
}
