package httpapi_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/runtimesd/runtimesd/sync/fakecp"
)

// TestChangesAndWatchAgree: for every since, /v1/changes and /v1/watch give the same answer
// (complete and the same records, or a reset with the same reason), every stream opens with
// hello, and both name the changed fields.
func TestChangesAndWatchAgree(t *testing.T) {
	h := newHarness(t, fakecp.Options{})
	h.sync(t) // revision 1
	if err := h.fake.PutRuntime([]byte(`{"id":"w1","status":"beta","requirements":{"model_requirement":{"examples":["a"]}}}`)); err != nil {
		t.Fatal(err)
	}
	h.sync(t) // 2: w1 added
	if err := h.fake.PutRuntime([]byte(`{"id":"w1","status":"active","requirements":{"model_requirement":{"examples":["a","b"]}}}`)); err != nil {
		t.Fatal(err)
	}
	if r := h.sync(t); r.Revision != 3 {
		t.Fatalf("revision %d, want 3", r.Revision)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	type changesAnswer struct {
		Complete    bool   `json:"complete"`
		ResetReason string `json:"reset_reason"`
		Changes     []struct {
			Revision uint64              `json:"revision"`
			Fields   map[string][]string `json:"fields"`
		} `json:"changes"`
	}
	for _, tc := range []struct {
		since     string
		complete  bool
		revisions []uint64
	}{
		{"1", true, []uint64{2, 3}},
		{"2", true, []uint64{3}},
		{"42", false, nil}, // ahead of the data: the file was replaced
	} {
		t.Run("since="+tc.since, func(t *testing.T) {
			a := do(t, "GET", h.url+"/v1/changes?since="+tc.since, "")
			var ch changesAnswer
			if err := json.Unmarshal(a.body, &ch); err != nil || a.status != 200 {
				t.Fatalf("%d %s", a.status, a.body)
			}
			if ch.Complete != tc.complete || len(ch.Changes) != len(tc.revisions) {
				t.Fatalf("/v1/changes: %s", a.body)
			}
			r := openWatch(t, ctx, h.url+"/v1/watch?since="+tc.since)
			evs := readEvents(t, r, 1+max(len(tc.revisions), 1))
			if evs[0].event != "hello" || evs[0].id != tc.since || !strings.Contains(evs[0].data, `"since":`+tc.since) || !strings.Contains(evs[0].data, `"revision":3`) {
				t.Fatalf("first event %+v, want hello with since", evs[0])
			}
			if !tc.complete {
				if evs[1].event != "reset" || ch.ResetReason == "" || !strings.Contains(evs[1].data, ch.ResetReason) {
					t.Fatalf("watch %+v, changes reset_reason %q: want the same reset", evs[1], ch.ResetReason)
				}
				if !strings.Contains(ch.ResetReason, "ahead of the data") {
					t.Errorf("reset_reason %q", ch.ResetReason)
				}
				return
			}
			if ch.ResetReason != "" {
				t.Errorf("complete answer with reset_reason %q", ch.ResetReason)
			}
			for i, rev := range tc.revisions {
				if ev := evs[1+i]; ev.event != "change" || ev.id != strings.TrimSpace(jsonNum(rev)) || ch.Changes[i].Revision != rev {
					t.Errorf("event %d: %+v; changes[%d] = %d; want revision %d", i, ev, i, ch.Changes[i].Revision, rev)
				}
			}
			last := evs[len(evs)-1]
			want := `"fields":{"w1":["/requirements/model_requirement/examples","/status"]}`
			if !strings.Contains(last.data, want) || !strings.Contains(string(a.body), want) {
				t.Errorf("changed fields missing: watch %s; changes %s", last.data, a.body)
			}
		})
	}
}

func jsonNum(n uint64) string { b, _ := json.Marshal(n); return string(b) }
