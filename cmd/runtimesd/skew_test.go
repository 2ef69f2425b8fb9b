package main

import (
	"strings"
	"testing"
	"time"
)

// An export whose fetched_at is ahead of this machine's clock (copied from a host whose clock
// runs ahead) is clock skew: `runtimesd health` used to print "0s old" for it next to the
// reason saying its age is unknown. It now says the age is unknown, and --json carries
// snapshot.clock_skew for scripts and the dashboard.
func TestHealthCLI_ClockSkewHasNoAge(t *testing.T) {
	t.Parallel()
	files, data := t.TempDir(), t.TempDir()
	ahead := time.Now().Add(72 * time.Hour).UTC().Truncate(time.Second)
	export := writeFile(t, files, "export.json", `{"format":"runtimesd.snapshot.v1","fetched_at":"`+ahead.Format(time.RFC3339)+
		`","runtimes":[{"runtime":`+rtObj("a")+`}]}`)
	env := map[string]string{"HOME": t.TempDir()}
	if code, stdout, stderr := runMain(t, env, "import", "--data", data, export); code != 0 {
		t.Fatalf("import: %d %s %s", code, stdout, stderr)
	}
	code, stdout, stderr := runMain(t, env, "health", "--offline", "--data", data)
	if !strings.Contains(stdout, "age unknown (clock skew") || strings.Contains(stdout, "0s old") {
		t.Fatalf("health of clock-skewed data (exit %d): %s %s", code, stdout, stderr)
	}
	_, stdout, _ = runMain(t, env, "health", "--offline", "--data", data, "--json")
	if !strings.Contains(stdout, `"clock_skew": true`) {
		t.Fatalf("health --json does not carry clock_skew: %s", stdout)
	}
}
