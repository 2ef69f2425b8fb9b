package httpapi_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/runtimesd/runtimesd/sync/fakecp"
)

// TestCheckQuery_NamesTheProblem: a query parameter a route does not take, an empty one, one
// given twice (or a repeatable one 33 times), one longer than 512 bytes or with a control
// character is a 400 whose message names it; at the limits (512 bytes, 32 features) it is
// served.
func TestCheckQuery_NamesTheProblem(t *testing.T) {
	t.Parallel()
	h := newHarness(t, fakecp.Options{})
	h.sync(t)
	long := func(n int) string { return strings.Repeat("x", n) }
	for _, tc := range []struct {
		method, target string
		status         int
		code, message  string
	}{
		{"GET", "/v1/runtimes?bogus=1", 400, "unknown_parameter", `unknown query parameter "bogus"; this route takes [status type provider feature health index wait]`},
		{"POST", "/v1/sync?bogus=1", 400, "unknown_parameter", `unknown query parameter "bogus"; this route takes none`},
		{"GET", "/v1/runtimes/default?bogus=1", 400, "unknown_parameter", `unknown query parameter "bogus"; this route takes [index wait]`},
		{"GET", "/v1/runtimes/default/requirements?model_id=x", 400, "unknown_parameter", `unknown query parameter "model_id"`},
		{"GET", "/v1/runtimes/default?index=0", 200, "", ""},
		{"GET", "/v1/runtimes?status=", 400, "bad_parameter", `query parameter "status" is empty`},
		{"GET", "/v1/runtimes?status=available&status=beta", 400, "bad_parameter", `query parameter "status" is given 2 times`},
		{"GET", "/v1/runtimes?feature=" + long(512), 200, "", ""},
		{"GET", "/v1/runtimes?feature=" + long(513), 400, "bad_parameter", `query parameter "feature" is longer than 512 bytes`},
		{"GET", "/v1/runtimes?feature=a%01b", 400, "bad_parameter", `query parameter "feature" has control characters or invalid UTF-8`},
		{"GET", "/v1/runtimes?feature=a%ffb", 400, "bad_parameter", `query parameter "feature" has control characters or invalid UTF-8`},
	} {
		a := do(t, tc.method, h.url+tc.target, "")
		if a.status != tc.status {
			t.Errorf("%s %.80s: %d %s, want %d", tc.method, tc.target, a.status, a.body, tc.status)
			continue
		}
		if tc.status == 200 {
			// A feature no runtime has matches nothing (the filter is applied, not dropped).
			if strings.Contains(tc.target, "feature=") && a.json(t)["count"] != 0.0 {
				t.Errorf("%s %.80s: count %v, want 0", tc.method, tc.target, a.json(t)["count"])
			}
			continue
		}
		e, _ := a.json(t)["error"].(map[string]any)
		if e["code"] != tc.code || !strings.Contains(fmt.Sprint(e["message"]), tc.message) {
			t.Errorf("%s %.80s: %s, want %s %q", tc.method, tc.target, a.body, tc.code, tc.message)
		}
	}
}

// TestRuntimeList_ReadParamsServeTheWholeList: ?index= and ?wait= (blocking-read parameters,
// not filters) answer the whole list with the whole list's ETag, so a client's cached copy
// revalidates whichever way it asked.
func TestRuntimeList_ReadParamsServeTheWholeList(t *testing.T) {
	t.Parallel()
	h := newHarness(t, fakecp.Options{})
	h.sync(t)
	all := do(t, "GET", h.url+"/v1/runtimes", "")
	if all.status != 200 || all.header.Get("ETag") == "" {
		t.Fatalf("%d %v", all.status, all.header)
	}
	for _, q := range []string{"?index=0", "?index=0&wait=1s"} {
		a := do(t, "GET", h.url+"/v1/runtimes"+q, "")
		if a.status != 200 || a.header.Get("ETag") != all.header.Get("ETag") || a.json(t)["count"] != all.json(t)["count"] {
			t.Errorf("GET /v1/runtimes%s: %d ETag %s count %v, want the whole list's ETag %s and count %v",
				q, a.status, a.header.Get("ETag"), a.json(t)["count"], all.header.Get("ETag"), all.json(t)["count"])
		}
		if nm := do(t, "GET", h.url+"/v1/runtimes"+q, "", "If-None-Match", all.header.Get("ETag")); nm.status != 304 {
			t.Errorf("GET /v1/runtimes%s with the whole list's ETag: %d, want 304", q, nm.status)
		}
	}
}
