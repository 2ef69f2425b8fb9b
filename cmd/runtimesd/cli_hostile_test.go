package main

import (
	"strings"
	"testing"
)

// `runtimesd get ''` asked for /v1/runtimes/, was redirected to the whole list and panicked
// on the list's shape. An empty id is a usage error (exit 2) for every command taking one.
func TestCLI_EmptyIDIsUsageError(t *testing.T) {
	t.Parallel()
	files, data := t.TempDir(), t.TempDir()
	env := map[string]string{"HOME": t.TempDir()}
	if code, stdout, stderr := runMain(t, env, "import", "--data", data, writeFile(t, files, "one.json", "["+rtObj("a")+"]")); code != 0 {
		t.Fatalf("import: %d %s %s", code, stdout, stderr)
	}
	for _, cmd := range []string{"get", "requirements", "build-config"} {
		code, stdout, stderr := runMain(t, env, cmd, "--offline", "--data", data, "")
		if code != 2 || !strings.Contains(stderr, cmd+": the runtime ID is empty") {
			t.Errorf("%s '': exit %d, stdout %q, stderr %q; want exit 2 saying the id is empty", cmd, code, stdout, stderr)
		}
	}
}
