package main

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// -update rewrites the golden files of the CLI's output (testdata/cli/*.golden) instead of
// comparing with them, as node_exporter's end-to-end test does:
//
//	go test ./cmd/runtimesd -run TestCLIGolden -update
var update = flag.Bool("update", false, "rewrite the golden files")

// golden compares got with testdata/<name>.golden (or rewrites it with -update).
func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name+".golden")
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if got != string(want) {
		t.Errorf("%s differs from %s (run with -update if the change is intended):\n--- got\n%s\n--- want\n%s", name, path, got, want)
	}
}

// TestCLIGolden pins the table and JSON output of every client command that answers from the
// data, offline over the built-in seed catalog (deterministic: no clock, no network), with
// the exit code as the first line.
func TestCLIGolden(t *testing.T) {
	t.Parallel()
	env := map[string]string{"HOME": t.TempDir()}
	data := filepath.Join(t.TempDir(), "none")
	cases := map[string][]string{
		"list":                   {"list"},
		"list-json":              {"list", "--json", "--feature", "session management"},
		"list-bad-health":        {"list", "--health", "sick"},
		"get":                    {"get", "claude_code"},
		"get-json":               {"get", "default", "--json"},
		"get-unknown":            {"get", "claude-code"},
		"requirements":           {"requirements", "claude_code"},
		"requirements-json":      {"requirements", "claude_code", "--json"},
		"validate-invalid":       {"validate", "--runtime", "claude_code", "--model", "gpt-4", "--feature", "time travel"},
		"validate-json":          {"validate", "--json", "--runtime", "default", "--model", "gpt-4o", "--agent-config", `{"timeout":30,"x":"<&>"}`},
		"select":                 {"select", "--feature", "code review", "--provider", "anthropic"},
		"select-none-json":       {"select", "--json", "--feature", "teleport"},
		"matrix":                 {"matrix"},
		"matrix-csv":             {"matrix", "--csv"},
		"matrix-json":            {"matrix", "--json"},
		"matrix-columns":         {"matrix", "--columns", "id,status,health"},
		"health":                 {"health"},
		"health-json":            {"health", "--json"},
		"build-config":           {"build-config", "default", "--model", "gpt-4", "--environment", `{"region":"eu","a":1}`},
		"build-config-invalid":   {"build-config", "claude_code"},
		"build-config-json":      {"build-config", "default", "--json"},
		"build-config-not-found": {"build-config", "claud_code"},
	}
	for name, args := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			code, stdout, stderr := runMain(t, env, append(args, "--offline", "--builtin-seed", "--data", data)...)
			// stderr: the seed notice names the temporary directory; keep the rest.
			var errLines []string
			for _, l := range strings.Split(strings.TrimSpace(stderr), "\n") {
				if l != "" && !strings.Contains(l, "answering from the built-in seed catalog") {
					errLines = append(errLines, l)
				}
			}
			got := "exit " + itoa(code) + "\n" + stdout
			if len(errLines) > 0 {
				got += "--- stderr\n" + strings.Join(errLines, "\n") + "\n"
			}
			golden(t, "cli/"+name, got)
		})
	}
}

func itoa(n int) string {
	if n < 0 {
		return "-" + itoa(-n)
	}
	if n < 10 {
		return string(rune('0' + n))
	}
	return itoa(n/10) + string(rune('0'+n%10))
}
