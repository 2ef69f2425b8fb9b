package main

import (
	"bytes"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// runBin2 runs the real binary to completion (bounded) and returns its exit code and output.
func runBin2(t *testing.T, bin string, env []string, args ...string) (int, string, string) {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Env = env
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		var ee *exec.ExitError
		if err != nil && !errors.As(err, &ee) {
			t.Fatalf("run %v: %v", args, err)
		}
	case <-time.After(60 * time.Second):
		_ = cmd.Process.Kill()
		t.Fatalf("%v did not exit within 60s", args)
	}
	return cmd.ProcessState.ExitCode(), out.String(), errb.String()
}

// Every subcommand answers --help and -h with its usage (positional arguments included) on
// stdout and exits 0, without doing anything else; `help CMD` prints the same.
func TestHelp_EveryCommand(t *testing.T) {
	t.Parallel()
	bin := buildBinary(t)
	env := baseEnv(t)
	for _, c := range commands() {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			for _, flag := range []string{"--help", "-h"} {
				args := []string{c.name, flag}
				if c.name == "config" {
					args = []string{"config", "check", flag} // once opened a file named --help
				}
				cmd := exec.Command(bin, args...)
				cmd.Env, cmd.Dir = env, dir
				var out, errb bytes.Buffer
				cmd.Stdout, cmd.Stderr = &out, &errb
				err := cmd.Run()
				if err != nil || errb.Len() > 0 {
					t.Fatalf("%v: %v\nstderr: %s", args, err, errb.String())
				}
				want := "Usage: " + synopsisWithFlags(c)
				if !strings.HasPrefix(out.String(), want+"\n") {
					t.Fatalf("%v printed\n%s\nwant it to start with %q", args, out.String(), want)
				}
				if strings.Contains(out.String(), "help shown") {
					t.Fatalf("%v: %s", args, out.String())
				}
				if c.name == "version" && strings.Contains(out.String(), "commit:") {
					t.Fatalf("version --help printed the version:\n%s", out.String())
				}
				if flag == "--help" {
					code, viaHelp, _ := runBin2(t, bin, env, "help", c.name)
					if code != 0 || viaHelp != out.String() {
						t.Fatalf("help %s (exit %d) printed\n%s\nwant\n%s", c.name, code, viaHelp, out.String())
					}
				}
			}
		})
	}
	t.Run("ServeFlagValueNames", func(t *testing.T) {
		t.Parallel()
		code, out, _ := runBin2(t, bin, env, "serve", "--help")
		for _, want := range []string{"--seed FILE ", "--listen ADDR ", "--data DIR ", "--config FILE ", "--dev "} {
			if code != 0 || !strings.Contains(out, want) {
				t.Fatalf("serve --help (exit %d) lacks %q:\n%s", code, want, out)
			}
		}
	})
	t.Run("TopLevel", func(t *testing.T) {
		t.Parallel()
		for _, args := range [][]string{{"help"}, {"--help"}, {"-h"}} {
			code, out, errOut := runBin2(t, bin, env, args...)
			if code != 0 || errOut != "" || !strings.Contains(out, "runtimesd config check FILE") || !strings.Contains(out, "runtimesd completion bash|zsh") {
				t.Fatalf("%v: exit %d\n%s%s", args, code, out, errOut)
			}
		}
	})
}

func synopsisWithFlags(c command) string {
	s := "runtimesd " + c.name
	if fs := flagsOf(c, func(string) string { return "" }); len(flagNames(fs)) > 1 {
		s += " [flags]"
	}
	if c.args != "" {
		s += " " + c.args
	}
	return s
}

// The bash completion, sourced in a real bash, completes subcommands, each command's own flags
// and the fixed words of positional arguments.
func TestCompletion_Bash(t *testing.T) {
	t.Parallel()
	bash, err := exec.LookPath("bash")
	if err != nil {
		t.Skip("skipping: no bash on PATH")
	}
	bin := buildBinary(t)
	script := filepath.Join(t.TempDir(), "runtimesd.bash")
	code, out, errOut := runBin2(t, bin, baseEnv(t), "completion", "bash")
	if code != 0 || errOut != "" {
		t.Fatalf("completion bash: exit %d: %s", code, errOut)
	}
	writeFile(t, filepath.Dir(script), filepath.Base(script), out)
	complete := func(words ...string) []string {
		t.Helper()
		// COMP_WORDS holds the words typed so far; the last is the one being completed.
		var q []string
		for _, w := range words {
			q = append(q, "'"+w+"'")
		}
		prog := "source " + script + "\nCOMP_WORDS=(" + strings.Join(q, " ") + ")\nCOMP_CWORD=" +
			strconv.Itoa(len(words)-1) + "\n_runtimesd\nprintf '%s\\n' \"${COMPREPLY[@]}\"\n"
		cmd := exec.Command(bash, "--norc", "--noprofile", "-c", prog)
		cmd.Env = baseEnv(t)
		got, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("bash: %v\n%s", err, got)
		}
		return slices.Sorted(slices.Values(strings.Fields(string(got))))
	}
	cases := []struct {
		words []string
		want  []string
	}{
		{[]string{"runtimesd", "se"}, []string{"select", "serve"}},
		{[]string{"runtimesd", "comp"}, []string{"completion"}},
		{[]string{"runtimesd", "serve", "--d"}, []string{"--data", "--dev"}},
		{[]string{"runtimesd", "sync", "--"}, []string{"--config", "--data", "--help", "--no-guard", "--once"}},
		{[]string{"runtimesd", "validate", "--r"}, []string{"--runtime"}},
		{[]string{"runtimesd", "probe", ""}, []string{"live", "ready"}},
		{[]string{"runtimesd", "completion", "z"}, []string{"zsh"}},
		{[]string{"runtimesd", "help", "build"}, []string{"build-config"}},
		{[]string{"runtimesd", "list", "--status", "--"}, nil}, // a flag's value is not a flag
	}
	for _, tc := range cases {
		got := complete(tc.words...)
		if strings.Join(got, " ") != strings.Join(tc.want, " ") {
			t.Errorf("completing %q: got %q, want %q", tc.words, got, tc.want)
		}
	}
	// --data completes directories
	dir := t.TempDir()
	if err := os.Mkdir(filepath.Join(dir, "datadir"), 0o700); err != nil {
		t.Fatal(err)
	}
	writeFile(t, dir, "afile", "x")
	got := complete("runtimesd", "serve", "--data", filepath.Join(dir, "")+"/")
	if strings.Join(got, " ") != filepath.Join(dir, "datadir") {
		t.Errorf("--data completed %q, want only the directory", got)
	}
}

// The zsh completion is generated from the same table; when zsh is installed it must parse.
func TestCompletion_Zsh(t *testing.T) {
	t.Parallel()
	var out bytes.Buffer
	if err := cmdCompletion([]string{"zsh"}, &out, &out, func(string) string { return "" }); err != nil {
		t.Fatal(err)
	}
	s := out.String()
	for _, want := range []string{"#compdef runtimesd", "'serve:run the daemon", "'--no-guard[", "'1:probe:(live ready)'", "compdef _runtimesd runtimesd"} {
		if !strings.Contains(s, want) {
			t.Fatalf("zsh completion lacks %q:\n%s", want, s)
		}
	}
	zsh, err := exec.LookPath("zsh")
	if err != nil {
		t.Log("zsh not installed: syntax not checked by zsh -n")
		return
	}
	script := filepath.Join(t.TempDir(), "_runtimesd")
	writeFile(t, filepath.Dir(script), filepath.Base(script), s)
	if got, err := exec.Command(zsh, "-n", script).CombinedOutput(); err != nil {
		t.Fatalf("zsh -n: %v\n%s", err, got)
	}
}

// Each exit code README documents, from the real binary.
func TestExitCodes(t *testing.T) {
	t.Parallel()
	bin := buildBinary(t)
	env := baseEnv(t)
	healthServer := func(status string) string {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			_, _ = w.Write([]byte(`{"status":"` + status + `","reasons":["because ` + status + `"]}`))
		}))
		t.Cleanup(srv.Close)
		return strings.TrimPrefix(srv.URL, "http://")
	}
	cases := []struct {
		name string
		args []string
		code int
		msg  string
	}{
		{"Version", []string{"version"}, 0, ""},
		{"NoDaemon", []string{"get", "default", "--addr", closedPort(t)}, 1, "no daemon answers"},
		{"UnknownCommand", []string{"nosuch"}, 2, `unknown command "nosuch"`},
		{"UnknownFlag", []string{"list", "--nosuch"}, 2, "flag provided but not defined: -nosuch"},
		{"MissingArgument", []string{"get"}, 2, "give exactly one runtime ID"},
		{"ConfigNoFile", []string{"config", "check"}, 2, "usage: runtimesd config check FILE"},
		{"VersionArgument", []string{"version", "extra"}, 2, "takes no argument"},
		{"CompletionShell", []string{"completion", "fish"}, 2, `unsupported shell "fish"`},
		{"HealthOK", []string{"health", "--addr", healthServer("ok")}, 0, ""},
		{"HealthDegraded", []string{"health", "--addr", healthServer("degraded")}, 3, "status degraded: because degraded"},
		{"HealthDown", []string{"health", "--addr", healthServer("down")}, 4, "status down: because down"},
		{"HealthDownJSON", []string{"health", "--json", "--addr", healthServer("down")}, 4, "status down"},
		{"HealthNoDaemon", []string{"health", "--addr", closedPort(t)}, 1, "no daemon answers"},
		// --offline judges the data: the built-in seed is degraded (no daemon alone is not).
		{"HealthOfflineSeed", []string{"health", "--offline", "--builtin-seed", "--data", filepath.Join(t.TempDir(), "none")}, 3, "built-in seed"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			code, _, errOut := runBin2(t, bin, env, tc.args...)
			if code != tc.code || !strings.Contains(errOut, tc.msg) {
				t.Fatalf("%v: exit %d, want %d; stderr %q should name %q", tc.args, code, tc.code, errOut, tc.msg)
			}
		})
	}
	// A real daemon: degraded while it serves seed data with no API key.
	t.Run("HealthDegradedRealDaemon", func(t *testing.T) {
		t.Parallel()
		d := start(t, bin, env, "serve", "--data", t.TempDir(), "--listen", "127.0.0.1:0")
		defer d.stop(t)
		code, out, errOut := runBin2(t, bin, env, "health", "--addr", d.addr)
		if code != exitDegraded || !strings.Contains(out, "status: degraded") || !strings.Contains(errOut, "status degraded") {
			t.Fatalf("exit %d\n%s%s", code, out, errOut)
		}
	})
}

// `runtimesd --help` named 2 of the environment variables runtimesd reads; README's table
// names them all (RUNTIMESD_TOKEN was missing there too).
func TestHelp_NamesEveryEnvironmentVariable(t *testing.T) {
	t.Parallel()
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range []string{EnvAPIKey, EnvBaseURL, EnvToken, EnvRelays, EnvRelayToken, EnvNodeName, "STATE_DIRECTORY", "XDG_STATE_HOME"} {
		if !strings.Contains(usageText(), v) {
			t.Errorf("runtimesd --help does not name %s", v)
		}
		if !strings.Contains(string(readme), "| `"+v+"`") && !strings.Contains(string(readme), "`"+v+"` |") && !strings.Contains(string(readme), ", `"+v+"` |") {
			t.Errorf("README's environment table has no row for %s", v)
		}
	}
}
