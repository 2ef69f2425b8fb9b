package main

import (
	"os"

	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

func noEnv(string) string { return "" }

// The example documents every key with its default: parsing it must give DefaultConfig.
func TestConfigExample(t *testing.T) {
	t.Parallel()
	f, err := os.Open("../../config.example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	cfg, err := ParseConfig(f)
	if err != nil {
		t.Fatal(err)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(cfg, DefaultConfig()) {
		t.Errorf("config.example.yaml differs from DefaultConfig():\n got %+v\nwant %+v", cfg, DefaultConfig())
	}
}

// Every key of the configuration appears in the example (so none goes undocumented).
func TestConfigExampleDocumentsEveryKey(t *testing.T) {
	t.Parallel()
	data, err := os.ReadFile("../../config.example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var example, defaults yaml.Node
	if err := yaml.Unmarshal(data, &example); err != nil {
		t.Fatal(err)
	}
	out, _ := yaml.Marshal(DefaultConfig())
	if err := yaml.Unmarshal(out, &defaults); err != nil {
		t.Fatal(err)
	}
	have := map[string]bool{}
	yamlPaths(&example, "", have)
	want := map[string]bool{}
	yamlPaths(&defaults, "", want)
	for k := range want {
		if !have[k] {
			t.Errorf("config.example.yaml does not document %s", k)
		}
	}
	for k := range have {
		if !want[k] {
			t.Errorf("config.example.yaml has %s, which the configuration does not", k)
		}
	}
}

// yamlPaths collects the dotted paths of every mapping key (values of maps the user fills,
// like chains, are not descended into).
func yamlPaths(n *yaml.Node, prefix string, out map[string]bool) {
	switch n.Kind {
	case yaml.DocumentNode:
		for _, c := range n.Content {
			yamlPaths(c, prefix, out)
		}
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			key := prefix + n.Content[i].Value
			out[key] = true
			switch key {
			case "validation.model_patterns", "health.status_map", "fallback.chains":
				continue
			}
			yamlPaths(n.Content[i+1], key+".", out)
		}
	}
}

func TestParseConfig(t *testing.T) {
	t.Parallel()
	t.Run("UnknownKeyNamed", func(t *testing.T) {
		_, err := ParseConfig(strings.NewReader("sync:\n  shedule: '@every 1m'\n"))
		if err == nil || !strings.Contains(err.Error(), "shedule") {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("APIKeyInYAMLRejected", func(t *testing.T) {
		if _, err := ParseConfig(strings.NewReader("control_plane:\n  api_key: secret\n")); err == nil {
			t.Fatal("an api_key in YAML must be rejected: secrets come from the environment or a file")
		}
	})
	t.Run("BadDuration", func(t *testing.T) {
		_, err := ParseConfig(strings.NewReader("control_plane:\n  timeout: soon\n"))
		if err == nil || !strings.Contains(err.Error(), "soon") {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("ValidateNamesFields", func(t *testing.T) {
		cfg, err := ParseConfig(strings.NewReader("listen: nowhere\nsync:\n  schedule: sometimes\n  hold_repeats: 0\ncontrol_plane:\n  requirements_mode: maybe\n"))
		if err != nil {
			t.Fatal(err)
		}
		err = cfg.Validate()
		for _, field := range []string{"listen", "sync.schedule", "sync.hold_repeats", "control_plane.requirements_mode"} {
			if err == nil || !strings.Contains(err.Error(), field+":") {
				t.Errorf("validation error does not name %s: %v", field, err)
			}
		}
	})
}

func TestConfigEnvAndRedaction(t *testing.T) {
	t.Parallel()
	keyFile := filepath.Join(t.TempDir(), "key")
	os.WriteFile(keyFile, []byte("from-file-secret\n"), 0o600)
	cfg := DefaultConfig()
	cfg.ControlPlane.APIKeyFile = keyFile
	env := map[string]string{EnvBaseURL: "http://127.0.0.1:9"}
	if err := cfg.ApplyEnv(func(k string) string { return env[k] }); err != nil {
		t.Fatal(err)
	}
	if cfg.apiKey != "from-file-secret" || cfg.ControlPlane.BaseURL != "http://127.0.0.1:9" {
		t.Fatalf("key %q base %q", cfg.apiKey, cfg.ControlPlane.BaseURL)
	}
	env[EnvAPIKey] = "from-env-secret"
	if err := cfg.ApplyEnv(func(k string) string { return env[k] }); err != nil {
		t.Fatal(err)
	}
	if cfg.apiKey != "from-env-secret" {
		t.Fatalf("the environment must win over the key file: %q", cfg.apiKey)
	}
	dump := cfg.Redacted()
	if strings.Contains(dump, "secret") || !strings.Contains(dump, "[redacted]") {
		t.Fatalf("config dump leaks or hides the key state:\n%s", dump)
	}
}

func TestResolvedDataDir(t *testing.T) {
	t.Parallel()
	cfg := DefaultConfig()
	env := map[string]string{"XDG_STATE_HOME": "/x"}
	if d, _ := cfg.ResolvedDataDir(func(k string) string { return env[k] }); d != "/x/runtimesd" {
		t.Errorf("XDG: %s", d)
	}
	home, err := os.UserHomeDir()
	if err != nil {
		t.Fatal(err)
	}
	env["XDG_STATE_HOME"] = "state" // relative: invalid by the XDG spec, ignored
	if d, _ := cfg.ResolvedDataDir(func(k string) string { return env[k] }); d != filepath.Join(home, ".local", "state", "runtimesd") {
		t.Errorf("relative XDG_STATE_HOME: %s", d)
	}
	env["STATE_DIRECTORY"] = "/var/lib/runtimesd"
	if d, _ := cfg.ResolvedDataDir(func(k string) string { return env[k] }); d != "/var/lib/runtimesd" {
		t.Errorf("systemd: %s", d)
	}
	cfg.DataDir = "/explicit"
	if d, _ := cfg.ResolvedDataDir(noEnv); d != "/explicit" {
		t.Errorf("explicit: %s", d)
	}
}

// An origin in http.cors_origins is compared byte for byte with the browser's Origin header,
// which never has a path, a trailing slash or capitals: such an entry used to be accepted and
// then silently never matched (the browser's cross-site POST kept getting 403).
func TestConfigValidate_CORSOriginsMustBeOrigins(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		origin, want string
	}{
		{"https://ops.example/", `a browser sends "https://ops.example"`},
		{"https://ops.example/dashboard", `a browser sends "https://ops.example"`},
		{"https://Ops.Example:8443", `a browser sends "https://ops.example:8443"`},
		{"https://user@ops.example", `a browser sends "https://ops.example"`},
		{"https://ops.example?x=1", `a browser sends "https://ops.example"`},
	} {
		cfg, err := ParseConfig(strings.NewReader("http:\n  cors_origins: [\"" + tc.origin + "\"]\n"))
		if err != nil {
			t.Fatal(err)
		}
		err = cfg.Validate()
		if err == nil || !strings.Contains(err.Error(), "http.cors_origins") || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want an error naming http.cors_origins and saying %s", tc.origin, err, tc.want)
		}
	}
	for _, ok := range []string{"https://ops.example", "http://localhost:3000", "*", "http://[::1]:8080"} {
		cfg, err := ParseConfig(strings.NewReader("http:\n  cors_origins: [\"" + ok + "\"]\n"))
		if err != nil {
			t.Fatal(err)
		}
		if err := cfg.Validate(); err != nil {
			t.Errorf("%s refused: %v", ok, err)
		}
	}
}

// Type mistakes in the file are named in an operator's terms, and a number with a fraction for
// an integer key is refused: yaml used to answer "cannot unmarshal !!str `x` into int", and to
// turn "hold_repeats: 2.7" into 2 and "max_connections: 1.5" into 1 without a word.
func TestParseConfig_TypeMistakes(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ yaml, want string }{
		{"http:\n  max_connections: x\n", `http.max_connections (line 2): must be an integer, got text "x"`},
		{"http:\n  max_connections: 1.5\n", `http.max_connections (line 2): must be an integer, got "1.5"`},
		{"sync:\n  hold_repeats: 2.7\n", `sync.hold_repeats (line 2): must be an integer, got "2.7"`},
		{"http:\n  token_reads: 5\n", `http.token_reads (line 2): must be true or false, got the integer "5"`},
		{"http:\n  allowed_hosts: x\n", `http.allowed_hosts (line 2): must be a list of strings, got text "x"`},
		{"sync:\n  hold_repeats: [1]\n", `sync.hold_repeats (line 2): must be an integer, got a list`},
	} {
		_, err := ParseConfig(strings.NewReader(tc.yaml))
		if err == nil || !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), "!!") {
			t.Errorf("%q: %v, want %s", tc.yaml, err, tc.want)
		}
	}
	if cfg, err := ParseConfig(strings.NewReader("http:\n  max_connections: 1e3\n")); err != nil || cfg.HTTP.MaxConnections != 1000 {
		t.Errorf("a whole number in float notation: %v %d", err, cfg.HTTP.MaxConnections)
	}
}

// A base URL with credentials was accepted and then printed in clear by config check, the
// start-up log and /v1/health's control_plane.url; one with a query had every path appended
// to the query. Both are refused naming the key, the password not repeated.
func TestConfigValidate_BaseURLNoCredentialsOrQuery(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ url, want string }{
		{"https://ops:hunter2@cp.example", "no user or password"},
		{"https://cp.example/api?tenant=1", "no query or fragment"},
		{"https://cp.example#x", "no query or fragment"},
	} {
		cfg := DefaultConfig()
		if err := cfg.ApplyEnv(func(k string) string { return map[string]string{EnvBaseURL: tc.url}[k] }); err != nil {
			t.Fatal(err)
		}
		err := cfg.Validate()
		if err == nil || !strings.Contains(err.Error(), "control_plane.base_url") || !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), "hunter2") {
			t.Errorf("%s: %v, want control_plane.base_url refused (%s) without the password", tc.url, err, tc.want)
		}
	}
	cfg := DefaultConfig()
	cfg.ControlPlane.BaseURL = "https://cp.example/prefix"
	if err := cfg.Validate(); err != nil {
		t.Errorf("a base URL with a path prefix: %v", err)
	}
}

// Names in http.allowed_hosts that no Host header can equal were accepted and then never
// matched (421 for the clients they were meant for): wildcards and non-ASCII names are refused.
func TestConfigValidate_AllowedHostsThatCannotMatch(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ host, want string }{
		{"*.internal", "no wildcards"},
		{"bücher.example", "punycode"},
	} {
		cfg, err := ParseConfig(strings.NewReader("http:\n  allowed_hosts: [\"" + tc.host + "\"]\n"))
		if err != nil {
			t.Fatal(err)
		}
		if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), "http.allowed_hosts") || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want http.allowed_hosts refused (%s)", tc.host, err, tc.want)
		}
	}
	cfg, _ := ParseConfig(strings.NewReader("http:\n  allowed_hosts: [\"runtimesd.internal.\", \"xn--bcher-kva.example\"]\n"))
	if err := cfg.Validate(); err != nil {
		t.Errorf("a fully qualified name and a punycode name: %v", err)
	}
}

// README "Config errors name the file once, then each bad key by its dotted path and line":
// serve said "config: log.format (line 3): ..." without the file, sync --once and the
// --offline lookups "config: log.format: ..." without file or line, and the online clients
// took a file `config check` refuses.
func TestConfigErrors_NameFileAndLineEverywhere(t *testing.T) {
	t.Parallel()
	env := map[string]string{"HOME": t.TempDir(), EnvAPIKey: "k"}
	f := writeConfig(t, "# runtimesd\nlog:\n  format: yaml\n")
	want := "config " + f + ": log.format (line 3): \"yaml\": want text or json"
	for _, args := range [][]string{
		{"config", "check", f},
		{"serve", "--config", f, "--data", t.TempDir(), "--listen", "127.0.0.1:0"},
		{"sync", "--once", "--config", f, "--data", t.TempDir()},
		{"list", "--offline", "--builtin-seed", "--config", f, "--data", t.TempDir()},
		{"list", "--config", f, "--addr", closedPort(t)},
	} {
		code, _, stderr := runMain(t, env, args...)
		if code != 1 || !strings.Contains(stderr, want) {
			t.Errorf("%v: exit %d, want 1 and %q:\n%s", args, code, want, stderr)
		}
	}
}

// A unix socket path beyond sun_path's 107 bytes failed at bind with "invalid argument";
// config check, serve and reload now name the key and the limit.
func TestConfigValidate_SocketPathLength(t *testing.T) {
	t.Parallel()
	for n, wantErr := range map[int]bool{107: false, 108: true} {
		cfg := DefaultConfig()
		cfg.Listen = "unix:/" + strings.Repeat("s", n-1)
		err := cfg.Validate()
		if (err != nil) != wantErr || wantErr && !strings.Contains(err.Error(), "limited to 107") {
			t.Errorf("%d bytes: %v", n, err)
		}
	}
}

// A listen port out of range (127.0.0.1:99999) passed validation and failed only at listen,
// after the data file was opened and created; it is now a config error naming the port.
// Ports by number 0-65535 and by service name are listen addresses.
func TestConfigValidate_ListenPort(t *testing.T) {
	t.Parallel()
	for listen, wantErr := range map[string]bool{
		"127.0.0.1:0": false, "127.0.0.1:65535": false, "[::1]:7878": false, "localhost:http": false,
		"127.0.0.1:65536": true, "127.0.0.1:99999": true, "127.0.0.1:-1": true, "127.0.0.1:no-such-service": true,
	} {
		cfg := DefaultConfig()
		cfg.Listen = listen
		err := cfg.Validate()
		if (err != nil) != wantErr || wantErr && !strings.Contains(err.Error(), "is not a TCP port") {
			t.Errorf("listen %q: %v", listen, err)
		}
	}
}
