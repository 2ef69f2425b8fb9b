package sync

import (
	"encoding/json"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/runtimesd/runtimesd/store"
)

// FuzzDecodeList feeds arbitrary list answers through the list decoder with per-runtime
// isolation: whatever upstream sends, nothing panics, every object is either a runtime served
// (valid JSON, valid UTF-8, a unique id) or left out with a reason, and a runtime of the
// previous catalog whose object turned bad is kept at its previous version.
func FuzzDecodeList(f *testing.F) {
	for _, s := range []string{
		`[]`, string(store.SeedJSON()),
		`[{"id":"default","status":3},{"id":"b","features":"x"},{"id":"c","requirements":{"max_history_length":"10"}}]`,
		`[{"ID":"x","id":"default"},{"Id":"y"},{"id":"default"},1,null,"s",[]]`,
		`[{"id":"a","status":"beta","ſtatus":"x","STATUS":"y"},{"\u0069d":"b","Status":"z"}]`,
		"[{\"id\":\"u\xff\",\"name\":\"\xfe\"}]",
		`[{"id":"a","requirements":[]},{"id":"a","requirements":{"model_requirement":{"supported_providers":"x"}}}]`,
	} {
		f.Add(s)
	}
	prev := store.SeedCatalog()
	f.Fuzz(func(t *testing.T, body string) {
		items, err := new(Client).parseList([]byte(body))
		if err != nil {
			return
		}
		for _, mode := range []RequirementsMode{ModeAuto, ModeInline, ModeFetch} {
			rts, fetch, rejected := decodeList(items, prev, mode)
			if len(rts) != len(items) {
				t.Fatalf("%d runtimes for %d objects", len(rts), len(items))
			}
			var kept []*store.Runtime
			for i, rt := range rts {
				if rt == nil {
					continue
				}
				kept = append(kept, rt)
				if !json.Valid(rt.Raw) || !utf8.Valid(rt.Raw) || !utf8.ValidString(rt.ID) {
					t.Fatalf("object %d served as invalid JSON or UTF-8: %q", i, rt.Raw)
				}
				if rt.RequirementsRaw != nil && (!json.Valid(rt.RequirementsRaw) || !utf8.Valid(rt.RequirementsRaw)) {
					t.Fatalf("object %d: requirements invalid: %q", i, rt.RequirementsRaw)
				}
				var keys map[string]json.RawMessage
				var id, status string
				if json.Unmarshal(rt.Raw, &keys) != nil || json.Unmarshal(keys["id"], &id) != nil || id != rt.ID {
					t.Fatalf("object %d indexed as %q, but its exact \"id\" key is %q", i, rt.ID, id)
				}
				if v, ok := keys["status"]; ok && json.Unmarshal(v, &status) == nil && status != rt.Status {
					t.Fatalf("object %d: status %q, but its exact \"status\" key is %q", i, rt.Status, status)
				}
				if old, ok := prev.Get(rt.ID); ok && rt.Degraded != "" && !old.SameContent(rt) {
					t.Fatalf("runtime %q degraded but not its previous version", rt.ID)
				}
			}
			if len(kept)+len(rejected) != len(items) {
				t.Fatalf("%d kept + %d rejected for %d objects", len(kept), len(rejected), len(items))
			}
			for _, r := range rejected {
				if !strings.Contains(r, "left out: ") {
					t.Fatalf("rejection without a reason: %q", r)
				}
			}
			if _, err := store.NewCatalog(kept); err != nil {
				t.Fatalf("catalog: %v", err)
			}
			for _, i := range fetch {
				if rts[i] == nil || mode == ModeInline {
					t.Fatalf("fetch of object %d in mode %s", i, mode)
				}
			}
		}
	})
}
