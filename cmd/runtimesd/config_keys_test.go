package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// 17.10: config errors name the file once, the key path and the line; a typo gets the closest
// key; control_plane.api_key says to use KUBIYA_API_KEY. From the real binary, for config
// check and for serve.
func TestConfigErrors_SuggestKeys(t *testing.T) {
	t.Parallel()
	bin := buildBinary(t)
	env := baseEnv(t)
	dir := t.TempDir()
	for _, tc := range []struct {
		name, yaml string
		want       []string
		not        string
	}{
		{"Typo", "control_plane:\n  base_url: https://cp.example\n  timout: 5s\n",
			[]string{"control_plane.timout (line 3): unknown key; did you mean control_plane.timeout?"}, ""},
		{"TypoInSection", "sync:\n  schedual: '@every 1m'\n", []string{"sync.schedual (line 2)", "did you mean sync.schedule?"}, ""},
		{"Misplaced", "timeout: 5s\n", []string{"timeout (line 1)", "did you mean control_plane.timeout?"}, ""},
		{"APIKey", "log:\n  level: info\ncontrol_plane:\n  api_key: sk-secret\n",
			[]string{"control_plane.api_key (line 4)", "KUBIYA_API_KEY", "control_plane.api_key_file"}, "sk-secret"},
		{"NothingClose", "http:\n  zzzzzzzz: 1\n", []string{"http.zzzzzzzz (line 2): unknown key (see config.example.yaml"}, "did you mean"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			path := filepath.Join(dir, tc.name+".yaml")
			if err := os.WriteFile(path, []byte(tc.yaml), 0o600); err != nil {
				t.Fatal(err)
			}
			for _, args := range [][]string{{"config", "check", path}, {"serve", "--config", path, "--data", t.TempDir(), "--listen", "127.0.0.1:0"}} {
				code, _, errOut := runBin2(t, bin, env, args...)
				if code != 1 {
					t.Fatalf("%v: exit %d, want 1\n%s", args, code, errOut)
				}
				for _, w := range tc.want {
					if !strings.Contains(errOut, w) {
						t.Errorf("%v: %q lacks %q", args, errOut, w)
					}
				}
				if n := strings.Count(errOut, path); n != 1 {
					t.Errorf("%v: the file is named %d times, want once: %q", args, n, errOut)
				}
				if tc.not != "" && strings.Contains(errOut, tc.not) {
					t.Errorf("%v: %q shows %q", args, errOut, tc.not)
				}
			}
		})
	}
}

func TestClosestKey(t *testing.T) {
	t.Parallel()
	for key, want := range map[string]string{
		"control_plane.base_ur":  "control_plane.base_url",
		"http.max_waits":         "http.max_wait",
		"lsiten":                 "listen",
		"health.max_stale_xxxxx": "",
		"x":                      "",
	} {
		if got := closestKey(key); got != want {
			t.Errorf("closestKey(%q) = %q, want %q", key, got, want)
		}
	}
}
