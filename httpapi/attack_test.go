package httpapi_test

import (
	"net/url"
	"strings"
	"testing"
)

// A number beyond float64 in a built configuration's environment was echoed into the answer
// ("timeout":1e999), which Go clients (the CLI among them) cannot decode; validate already
// refused it. Build-config now refuses it too, naming the field, in the body and the query.
func TestConfig_EnvironmentNumberOutOfRange(t *testing.T) {
	t.Parallel()
	h := newHarness(t, fakeDefault())
	for _, a := range []answer{
		do(t, "POST", h.url+"/v1/runtimes/default/config", `{"environment":{"timeout":1e999}}`, "Content-Type", "application/json"),
		do(t, "GET", h.url+"/v1/runtimes/default/config?environment="+url.QueryEscape(`{"limits":[1,-1e400]}`), ""),
	} {
		if a.status != 400 || !strings.Contains(string(a.body), "bad_field") || !strings.Contains(string(a.body), "beyond what a double can hold") {
			t.Errorf("answer %d %s, want 400 bad_field naming the number", a.status, a.body)
		}
	}
	if a := do(t, "POST", h.url+"/v1/runtimes/default/config", `{"environment":{"timeout":1e300}}`, "Content-Type", "application/json"); a.status != 200 {
		t.Errorf("a number within float64: %d %s", a.status, a.body)
	}
}
