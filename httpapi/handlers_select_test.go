package httpapi_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/runtimesd/runtimesd/health"
	"github.com/runtimesd/runtimesd/httpapi"
	"github.com/runtimesd/runtimesd/store"
	rsync "github.com/runtimesd/runtimesd/sync"
	"github.com/runtimesd/runtimesd/sync/fakecp"
)

// TestMatrixText_MatchesTheServer: the CLI's offline matrix (MatrixText) renders the rows of
// GET /v1/matrix exactly as the server's format=csv and format=table (with and without
// columns) do, with a policy (its POLICY column in the default table) and without, and refuses
// an unknown column with the server's message.
func TestMatrixText_MatchesTheServer(t *testing.T) {
	t.Parallel()
	t.Run("NoPolicy", func(t *testing.T) { t.Parallel(); testMatrixText(t, nil) })
	t.Run("Policy", func(t *testing.T) {
		t.Parallel()
		testMatrixText(t, health.GateFunc(func(rt *store.Runtime, _ map[string]any) []health.Verdict {
			if rt.ID == "strict" {
				return []health.Verdict{{Rule: "no-strict", Severity: health.SeverityError, Outcome: health.VerdictDeny, Message: "no", Blocking: true}}
			}
			return nil
		}))
	})
}

func testMatrixText(t *testing.T, gate health.Gate) {
	policy := gate != nil
	h := newHarness(t, fakecp.Options{Catalog: catalogWithStrict(t)}, func(o *httpapi.Options, _ *rsync.Client) { o.Gate = gate })
	h.sync(t)
	var doc struct {
		Runtimes []health.MatrixRow `json:"runtimes"`
	}
	a := do(t, "GET", h.url+"/v1/matrix", "")
	if err := json.Unmarshal(a.body, &doc); err != nil || a.status != 200 || len(doc.Runtimes) != 3 {
		t.Fatalf("%d %v %s", a.status, err, a.body)
	}
	for _, tc := range []struct{ query, format, columns string }{
		{"format=csv", "csv", ""},
		{"format=table", "table", ""},
		{"format=table&columns=id,health,status", "table", "id,health,status"},
		{"format=table&columns=all", "table", "all"},
	} {
		srv := do(t, "GET", h.url+"/v1/matrix?"+tc.query, "")
		got, err := httpapi.MatrixText(doc.Runtimes, tc.format, tc.columns, policy)
		if err != nil || srv.status != 200 || string(got) != string(srv.body) {
			t.Errorf("%s: MatrixText (err %v):\n%s\nthe server (%d):\n%s", tc.query, err, got, srv.status, srv.body)
		}
		if shows := strings.Contains(string(srv.body), "POLICY") && strings.Contains(string(srv.body), "denied"); shows != (policy && tc.columns != "id,health,status") {
			t.Errorf("%s: the policy column shown %v with a policy %v:\n%s", tc.query, shows, policy, srv.body)
		}
	}
	if _, err := httpapi.MatrixText(doc.Runtimes, "table", "id,colour", policy); err == nil || !strings.Contains(err.Error(), `unknown column "colour"`) {
		t.Errorf("an unknown column: %v", err)
	}
}
