package httpapi_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/runtimesd/runtimesd/health"
	rsync "github.com/runtimesd/runtimesd/sync"
	"github.com/runtimesd/runtimesd/sync/fakecp"
)

// orderedKeys returns the top-level keys of a JSON object in the order sent.
func orderedKeys(t *testing.T, b []byte) []string {
	t.Helper()
	dec := json.NewDecoder(strings.NewReader(string(b)))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		t.Fatalf("not an object: %s", b)
	}
	var keys []string
	for dec.More() {
		k, err := dec.Token()
		if err != nil {
			t.Fatal(err)
		}
		keys = append(keys, k.(string))
		var skip json.RawMessage
		if err := dec.Decode(&skip); err != nil {
			t.Fatal(err)
		}
	}
	return keys
}

// TestDropInHealthDetailed: GET /api/health/detailed answers the control plane's flat shape
// (what the SDK's health.detailed() reads), healthy only when nothing is wrong.
func TestDropInHealthDetailed(t *testing.T) {
	t.Parallel()
	h := newHarness(t, fakecp.Options{}, withHealth(health.FallbackRules{}))
	check := func(t *testing.T, wantStatus string) map[string]any {
		t.Helper()
		a := do(t, "GET", h.url+"/api/health/detailed", "", "Authorization", "UserKey anything")
		if a.status != 200 {
			t.Fatalf("%d %s", a.status, a.body)
		}
		keys := orderedKeys(t, a.body)
		if keys[0] != "api" || keys[1] != "timestamp" || keys[len(keys)-1] != "status" {
			t.Errorf("keys %v, want api, timestamp first and status last", keys)
		}
		m := a.json(t)
		for k, v := range m {
			s, ok := v.(string)
			if !ok {
				t.Errorf("%s is %T, want a short string", k, v)
			}
			if k != "timestamp" && k != "status" && s != "healthy" && s != "not configured" && !strings.HasPrefix(s, "unhealthy: ") {
				t.Errorf("%s = %q: not the control plane's vocabulary", k, s)
			}
		}
		if _, err := time.Parse(time.RFC3339, m["timestamp"].(string)); err != nil {
			t.Errorf("timestamp %q: %v", m["timestamp"], err)
		}
		if m["api"] != "healthy" || m["status"] != wantStatus {
			t.Fatalf("status %v, want %s: %s", m["status"], wantStatus, a.body)
		}
		return m
	}
	t.Run("SeedIsDegraded", func(t *testing.T) {
		m := check(t, "degraded")
		if m["store"] != "healthy" || !strings.Contains(m["sync"].(string), "seed") || !strings.HasPrefix(m["sidecar"].(string), "unhealthy: ") {
			t.Errorf("%v", m)
		}
	})
	h.sync(t)
	t.Run("Healthy", func(t *testing.T) {
		m := check(t, "healthy")
		for _, k := range []string{"store", "control_plane", "sync", "sidecar"} {
			if m[k] != "healthy" {
				t.Errorf("%s = %v", k, m[k])
			}
		}
	})
	t.Run("ControlPlaneDown", func(t *testing.T) {
		h.fake.SetFault(fakecp.Fault500)
		for range 8 { // enough failures to open the list breaker
			if _, err := h.poller.SyncNow(context.Background(), rsync.TriggerManual); err != nil {
				t.Fatal(err)
			}
		}
		m := check(t, "degraded")
		if !strings.HasPrefix(m["control_plane"].(string), "unhealthy: ") || m["store"] != "healthy" {
			t.Errorf("%v", m)
		}
	})
	t.Run("ReadyCarriesTimestamp", func(t *testing.T) {
		m := do(t, "GET", h.url+"/api/ready", "").json(t)
		if m["status"] != "ready" || m["timestamp"] == nil {
			t.Errorf("%v", m)
		}
	})
}
