package httpapi_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/runtimesd/runtimesd/sync/fakecp"
)

// A runtime can be degraded for more than failed requirements: one whose object arrived with a
// wrong-typed field is kept at its previous version (issue 11.6). Validation and the config
// builder used to tell the caller "the requirements could not be refreshed" whatever the
// cause; they now give the runtime's own degraded reason.
func TestDegradedReasonInValidateAndConfig(t *testing.T) {
	t.Parallel()
	h := newHarness(t, fakecp.Options{})
	h.sync(t)
	var rts []map[string]any
	if err := json.Unmarshal(h.fake.Catalog(), &rts); err != nil {
		t.Fatal(err)
	}
	for _, rt := range rts {
		if rt["id"] == "claude_code" {
			rt["status"] = 3
		}
	}
	b, _ := json.Marshal(rts)
	if err := h.fake.SetCatalog(b); err != nil {
		t.Fatal(err)
	}
	h.sync(t)
	var got struct {
		Warnings []string `json:"warnings"`
	}
	for _, a := range []answer{
		do(t, "POST", h.url+"/v1/validate", `{"runtime_type":"claude_code","model_id":"claude-sonnet-4"}`, "Content-Type", "application/json"),
		do(t, "GET", h.url+"/v1/runtimes/claude_code/config", ""),
	} {
		if err := json.Unmarshal(a.body, &got); err != nil || a.status != 200 {
			t.Fatalf("%d %s", a.status, a.body)
		}
		w := strings.Join(got.Warnings, " | ")
		if !strings.Contains(w, `"status"`) || strings.Contains(w, "requirements") && strings.Contains(w, "could not be refreshed") {
			t.Errorf("warnings %q do not give the degraded reason (a wrong-typed status)", w)
		}
	}
}
