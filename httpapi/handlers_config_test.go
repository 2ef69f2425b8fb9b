package httpapi_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/runtimesd/runtimesd/sync/fakecp"
)

// TestConfig_FeatureLimit: POST /v1/runtimes/{id}/config and POST /v1/validate accept 64
// features and refuse 65 with a 400 naming the count; GET .../config takes the feature query
// parameter at most 32 times (as every repeatable parameter) and names a 33rd.
func TestConfig_FeatureLimit(t *testing.T) {
	t.Parallel()
	h := newHarness(t, fakecp.Options{})
	features := func(n int) []string {
		fs := make([]string, n)
		for i := range fs {
			fs[i] = fmt.Sprintf("feature %d", i)
		}
		return fs
	}
	query := func(n int) string {
		var b strings.Builder
		for _, f := range features(n) {
			b.WriteString("&feature=" + strings.ReplaceAll(f, " ", "+"))
		}
		return b.String()
	}
	body := func(extra string, n int) string {
		fs, _ := json.Marshal(features(n))
		return `{` + extra + `"features":` + string(fs) + `}`
	}
	for _, n := range []int{64, 65} {
		for _, a := range []struct {
			route string
			ans   answer
		}{
			{"POST config", do(t, "POST", h.url+"/v1/runtimes/default/config", body("", n))},
			{"POST validate", do(t, "POST", h.url+"/v1/validate", body(`"runtime_type":"default",`, n))},
		} {
			if n == 64 {
				if a.ans.status != 200 {
					t.Errorf("%s with 64 features: %d %s", a.route, a.ans.status, a.ans.body)
				}
				continue
			}
			e, _ := a.ans.json(t)["error"].(map[string]any)
			if a.ans.status != 400 || e["code"] != "bad_field" || !strings.Contains(fmt.Sprint(e["message"]), "features has 65 entries; at most 64") {
				t.Errorf("%s with 65 features: %d %s", a.route, a.ans.status, a.ans.body)
			}
		}
	}
	for n, want := range map[int]int{32: 200, 33: 400} {
		a := do(t, "GET", h.url+"/v1/runtimes/default/config?model_id=claude-sonnet-4"+query(n), "")
		if a.status != want || want == 400 && !strings.Contains(string(a.body), `query parameter \"feature\" is given 33 times`) {
			t.Errorf("GET config with %d features: %d %s", n, a.status, a.body)
		}
	}
}
