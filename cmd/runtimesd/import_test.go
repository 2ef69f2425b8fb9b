package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/runtimesd/runtimesd/store"
)

func rtObj(id string) string {
	return `{"id":"` + id + `","name":"Runtime ` + id + `","status":"available","requirements":{"model_requirement":{"supported_providers":["openai"]},"required_config_fields":[]}}`
}

func writeFile(t *testing.T, dir, name, body string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func storedSnapshot(t *testing.T, data string) *store.Snapshot {
	t.Helper()
	db, err := store.Open(filepath.Join(data, dbFile), store.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	return db.Loaded()
}

// TestImport_NeverWipesSilently: an empty or shrinking snapshot needs --force, the same data
// twice makes no new revision.
func TestImport_NeverWipesSilently(t *testing.T) {
	t.Parallel()
	env := map[string]string{"HOME": t.TempDir()}
	data, files := t.TempDir(), t.TempDir()
	three := writeFile(t, files, "three.json", "["+rtObj("a")+","+rtObj("b")+","+rtObj("c")+"]")
	two := writeFile(t, files, "two.json", "["+rtObj("a")+","+rtObj("c")+"]")
	empty := writeFile(t, files, "empty.json", "[]")

	if code, stdout, stderr := runMain(t, env, "import", "--data", data, three); code != 0 || !strings.Contains(stdout, "imported 3 runtimes as revision 1") {
		t.Fatalf("first import: %d %s %s", code, stdout, stderr)
	}
	code, stdout, stderr := runMain(t, env, "import", "--data", data, three)
	if code != 0 || !strings.Contains(stdout, "nothing imported") {
		t.Fatalf("same data again: %d %s %s", code, stdout, stderr)
	}
	if rev := storedSnapshot(t, data).Revision; rev != 1 {
		t.Fatalf("importing the same data twice made revision %d, want 1", rev)
	}

	code, _, stderr = runMain(t, env, "import", "--data", data, two)
	if code == 0 || !strings.Contains(stderr, "would remove 1 of the 3 stored runtimes (b)") || !strings.Contains(stderr, "--force") {
		t.Fatalf("shrinking import: code %d: %s", code, stderr)
	}
	code, _, stderr = runMain(t, env, "import", "--data", data, empty)
	if code == 0 || !strings.Contains(stderr, "holds no runtime") || !strings.Contains(stderr, "--force") {
		t.Fatalf("empty import: code %d: %s", code, stderr)
	}
	if s := storedSnapshot(t, data); s.Revision != 1 || s.Catalog.Len() != 3 {
		t.Fatalf("a refused import changed the store: revision %d, %d runtimes", s.Revision, s.Catalog.Len())
	}
	if code, stdout, stderr := runMain(t, env, "import", "--data", data, "--force", two); code != 0 || !strings.Contains(stdout, "removed: b") {
		t.Fatalf("--force: %d %s %s", code, stdout, stderr)
	}
	if s := storedSnapshot(t, data); s.Revision != 2 || s.Catalog.Len() != 2 {
		t.Fatalf("after --force: revision %d, %d runtimes", s.Revision, s.Catalog.Len())
	}
}

// TestEndToEnd_ImportKeepsAgeAndSeedFileIsLabelled: a year-old export is served as a year
// old and stale by the real binary; a --seed file is named as the operator's file.
func TestEndToEnd_ImportKeepsAgeAndSeedFileIsLabelled(t *testing.T) {
	t.Parallel()
	bin := buildBinary(t)
	files := t.TempDir()
	old := time.Now().Add(-365 * 24 * time.Hour).UTC().Truncate(time.Second)
	doc := `{"format":"runtimesd.snapshot.v1","revision":7,"source":"cache","fetched_at":"` + old.Format(time.RFC3339) +
		`","runtimes":[{"runtime":` + rtObj("a") + `,"requirements":{"required_config_fields":[]}}]}`
	export := writeFile(t, files, "export.json", doc)
	data := t.TempDir()
	code, stdout, stderr := runMain(t, map[string]string{"HOME": t.TempDir()}, "import", "--data", data, export)
	if code != 0 || !strings.Contains(stdout, "fetched_at: "+old.Format(time.RFC3339)) {
		t.Fatalf("import: %d %s %s", code, stdout, stderr)
	}

	d := start(t, bin, baseEnv(t), "serve", "--data", data, "--listen", "127.0.0.1:0")
	var prov struct {
		Revision   int        `json:"revision"`
		Source     string     `json:"source"`
		FetchedAt  *time.Time `json:"fetched_at"`
		AgeSeconds int64      `json:"age_seconds"`
		Stale      bool       `json:"stale"`
	}
	_, body := get(t, "http://"+d.addr+"/v1/runtimes/a")
	if err := json.Unmarshal(body, &prov); err != nil {
		t.Fatalf("%v: %s", err, body)
	}
	if prov.FetchedAt == nil || !prov.FetchedAt.Equal(old) || prov.AgeSeconds < 364*24*3600 || !prov.Stale || prov.Source != "import" {
		t.Fatalf("a year-old export is served as %s", body)
	}
	d.kill()

	seed := writeFile(t, files, "ops-seed.json", "["+rtObj("mine")+"]")
	d = start(t, bin, baseEnv(t), "serve", "--data", t.TempDir(), "--seed", seed, "--listen", "127.0.0.1:0")
	_, hbody, err := readHealth("http://" + d.addr)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(hbody, "the operator's seed file "+seed) || strings.Contains(hbody, "built-in seed") {
		t.Fatalf("a --seed file must be named as the operator's, not the built-in seed:\n%s", hbody)
	}
	d.kill()
}

// kill ends the daemon at once: these tests assert what it served, not how it stops (a
// SIGTERM right after start is issue 12's).
func (d *daemon) kill() {
	_ = d.cmd.Process.Kill()
	<-d.done
}
