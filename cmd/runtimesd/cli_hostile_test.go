package main

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// `runtimesd get ""` asked for /v1/runtimes/, was redirected to the whole list and panicked
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

// An --addr that answers JSON but is not runtimesd (another service on the port) made list
// and select panic on the missing arrays; they now print what there is and return.
func TestCLI_ForeignAnswerDoesNotPanic(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"runtimes":[1,null],"candidates":["x"]}`)
	}))
	defer srv.Close()
	addr := strings.TrimPrefix(srv.URL, "http://")
	for _, args := range [][]string{{"list", "--addr", addr}, {"select", "--addr", addr}} {
		code, _, stderr := runMain(t, map[string]string{"HOME": t.TempDir()}, args...)
		if code > 2 || strings.Contains(stderr, "panic") {
			t.Errorf("%v: exit %d %s", args, code, stderr)
		}
	}
}

// A file saved from a failed read ({"detail": ...} from the drop-in routes, {"error": ...} from
// the native ones) is named as an error answer by import, not "format is \"\"".
func TestImport_ErrorAnswerNamed(t *testing.T) {
	t.Parallel()
	files := t.TempDir()
	for _, body := range []string{`{"detail":"this route needs the sidecar's local token"}`, `{"error":{"code":"unauthorized","message":"m"}}`} {
		code, _, stderr := runMain(t, map[string]string{"HOME": t.TempDir()}, "import", "--data", t.TempDir(), writeFile(t, files, "saved.json", body))
		if code != 1 || !strings.Contains(stderr, "it holds an error answer, not runtimes") {
			t.Errorf("import of %s: exit %d %q", body, code, stderr)
		}
	}
}

// `validate -f FILE` with a file holding JSON null decoded into a nil map, and the --runtime
// flag then wrote into it (a panic). It is "not a JSON object", exit 1.
func TestCLI_ValidateNullFile(t *testing.T) {
	t.Parallel()
	path := writeFile(t, t.TempDir(), "null.json", "null")
	code, stdout, stderr := runMain(t, map[string]string{"HOME": t.TempDir()}, "validate", "-f", path, "--runtime", "default",
		"--offline", "--builtin-seed", "--data", t.TempDir())
	if code != 1 || !strings.Contains(stderr, "is not a JSON object") || strings.Contains(stderr, "panic") {
		t.Fatalf("exit %d, stdout %q, stderr %q; want exit 1 saying the file is not a JSON object", code, stdout, stderr)
	}
}
