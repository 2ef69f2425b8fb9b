package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/runtimesd/runtimesd/sync/fakecp"
)

const dataConfig = `
sync:
  schedule: "@every 1h"
  jitter: 0s
  hold_repeats: 3
`

func catalogOf(n int, extra ...string) []byte {
	objs := make([]string, 0, n+len(extra))
	for i := range n {
		objs = append(objs, rtObj(fmt.Sprintf("r%02d", i)))
	}
	return []byte("[" + strings.Join(append(objs, extra...), ",") + "]")
}

// syncRun triggers a sync on the daemon and returns the run's outcome and error.
func syncRun(t *testing.T, base string) (string, string) {
	t.Helper()
	resp, body := post(t, base+"/v1/sync")
	var r struct {
		Run struct {
			Outcome string `json:"outcome"`
			Error   string `json:"error"`
		} `json:"run"`
	}
	if resp.StatusCode != 200 || json.Unmarshal(body, &r) != nil {
		t.Fatalf("POST /v1/sync: %d %s", resp.StatusCode, body)
	}
	return r.Run.Outcome, r.Run.Error
}

// TestEndToEnd_NeverServeLessSilently runs the real binary against the fake control plane: a
// catalog walked down in steps is held at the high-water mark (across a restart), health and
// metrics say when less is served, one unusable runtime object does not block the rest, and
// bytes that are not UTF-8 never reach an answer.
func TestEndToEnd_NeverServeLessSilently(t *testing.T) {
	t.Parallel()
	bin := buildBinary(t)
	fake, err := fakecp.Start(fakecp.Options{APIKey: "data-key", Catalog: catalogOf(20)})
	if err != nil {
		t.Fatal(err)
	}
	defer fake.Close()
	cfg := filepath.Join(t.TempDir(), "c.yaml")
	if err := os.WriteFile(cfg, []byte(dataConfig), 0o600); err != nil {
		t.Fatal(err)
	}
	env := append(baseEnv(t), EnvAPIKey+"=data-key", EnvBaseURL+"="+fake.URL())
	data := t.TempDir()
	d := start(t, bin, env, "serve", "--config", cfg, "--data", data, "--listen", "127.0.0.1:0")
	base := "http://" + d.addr
	if out, msg := syncRun(t, base); out != "changed" && out != "unchanged" {
		t.Fatalf("first sync: %s %s", out, msg)
	}

	// 20 -> 11 stays within drop_ratio of what is served; 11 -> 6 too, but is far below 20.
	fake.SetCatalog(catalogOf(11))
	if out, msg := syncRun(t, base); out != "changed" {
		t.Fatalf("20 -> 11: %s %s", out, msg)
	}
	fake.SetCatalog(catalogOf(6))
	if out, msg := syncRun(t, base); out != "held" || !strings.Contains(msg, "far below the 20 served") {
		t.Fatalf("11 -> 6: %s %s; want held below the high-water mark", out, msg)
	}
	if _, body := get(t, base+"/api/v1/runtimes"); strings.Count(string(body), `"id":`) != 11 {
		t.Fatalf("serving %d runtimes while held, want 11", strings.Count(string(body), `"id":`))
	}
	d.kill()

	// The mark is in the file: a restarted daemon still holds it, and says so.
	d = start(t, bin, env, "serve", "--config", cfg, "--data", data, "--listen", "127.0.0.1:0")
	base = "http://" + d.addr
	if out, msg := syncRun(t, base); out != "held" || !strings.Contains(msg, "far below the 20 served") {
		t.Fatalf("after restart, 11 -> 6: %s %s", out, msg)
	}
	// The boot run may or may not have counted as one of the three.
	for i := 0; ; i++ {
		out, msg := syncRun(t, base)
		if out == "changed" {
			break
		}
		if out != "held" || i == 2 {
			t.Fatalf("repeating 6 runtimes: %s %s, want held until committed on the third answer", out, msg)
		}
	}
	h, hbody, err := readHealth(base)
	if err != nil || h.Status != "degraded" || !strings.Contains(hbody, "serving 6 runtimes, far below the 20 served") {
		t.Fatalf("serving 6 of 20: health %s\n%s", h.Status, hbody)
	}
	_, metrics := get(t, base+"/metrics")
	for _, want := range []string{`runtimesd_catalog_condition{condition="catalog_below_high_water"} 1`, "runtimesd_catalog_high_water_runtimes 20"} {
		if !strings.Contains(string(metrics), want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}

	// One bad object among good ones; keys differing in case only; bytes that are not UTF-8.
	fake.PutRuntime([]byte(`{"id":"r01","status":3}`))
	fake.PutRuntime([]byte(`{"id":"new","Id":"x","ID":"y","name":"bad ` + "\xff" + ` byte"}`))
	fake.PutRuntime([]byte(`{"id":"gone","features":"x"}`))
	out, msg := syncRun(t, base)
	if out != "changed" {
		t.Fatalf("answer with bad objects: %s %s", out, msg)
	}
	_, body := get(t, base+"/api/v1/runtimes")
	if !utf8.Valid(body) || !json.Valid(body) || !strings.Contains(string(body), `"id":"new"`) || !strings.Contains(string(body), "bad \uFFFD byte") {
		t.Fatalf("list after bad objects and bad bytes: %s", body)
	}
	if !strings.Contains(string(body), rtObj("r01")) || strings.Contains(string(body), `"gone"`) {
		t.Fatalf("r01 must stay at its previous version and the new unusable one be left out: %s", body)
	}
	if resp, _ := get(t, base+"/v1/runtimes/y"); resp.StatusCode != 404 {
		t.Fatalf("GET /v1/runtimes/y (an \"ID\" key): %d, want 404", resp.StatusCode)
	}
	h, hbody, err = readHealth(base)
	if err != nil || h.Status != "degraded" || strings.Join(h.Runtimes.Degraded, ",") != "r01" ||
		!strings.Contains(hbody, `field \"status\" is 3, want a string`) || !strings.Contains(hbody, `(\"gone\") left out`) {
		t.Fatalf("health must name r01 degraded and the object left out:\n%s", hbody)
	}
	d.kill()
}
