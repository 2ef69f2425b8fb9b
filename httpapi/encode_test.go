package httpapi

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/runtimesd/runtimesd/store"
)

// testCatalog is a catalog of n runtimes a0..a(n-1), all "available".
func testCatalog(t *testing.T, n int) *store.Catalog {
	t.Helper()
	rts := make([]*store.Runtime, n)
	for i := range rts {
		rt, err := store.NewRuntime(json.RawMessage(fmt.Sprintf(`{"id":"a%d","name":"A %d","status":"available","features":["f%d"]}`, i, i, i)), nil)
		if err != nil {
			t.Fatal(err)
		}
		rts[i] = rt
	}
	cat, err := store.NewCatalog(rts)
	if err != nil {
		t.Fatal(err)
	}
	return cat
}

// TestAppendJSONString_Bytes pins the exact bytes of the native answers' strings: control
// characters escaped (and nothing else below 0x80), invalid UTF-8 as \ufffd so every answer
// is valid UTF-8, U+2028/U+2029 escaped for JavaScript readers, the rest as it is. The fuzz
// test (FuzzAppendJSONString) compares decoded values, which hides an escape too many.
func TestAppendJSONString_Bytes(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ in, want string }{
		{"", `""`},
		{" ~", `" ~"`}, // 0x20 and 0x7e are not control characters
		{"\x1f\x00", `"\u001f\u0000"`},
		{"\x7f", "\"\x7f\""},     // DEL is ASCII: as it is, like encoding/json
		{"\x80", `"\ufffd"`},     // the first non-ASCII byte, alone: invalid UTF-8
		{"a\xffb", `"a\ufffdb"`}, //
		{"\u0080", "\"\u0080\""}, // the first two-byte rune, valid: as it is
		{"\u2027\u2028\u2029\u202a", "\"\u2027\\u2028\\u2029\u202a\""},
		{`"\` + "\n\r\t", `"\"\\\n\r\t"`},
		{"é🤖<&>", `"é🤖<&>"`},
	} {
		got := string(appendJSONString([]byte("x"), tc.in))
		if got != "x"+tc.want {
			t.Errorf("%q: got %s, want %s", tc.in, got[1:], tc.want)
		}
		if !utf8.ValidString(got) {
			t.Errorf("%q: the answer is not valid UTF-8: %q", tc.in, got)
		}
	}
}

// TestEncodeCatalog_Items: each runtime's native item is exactly its object (no comma of the
// next item, none cut from the last), and the drop-in list is upstream's objects verbatim.
func TestEncodeCatalog_Items(t *testing.T) {
	t.Parallel()
	for _, n := range []int{0, 1, 3} {
		cat := testCatalog(t, n)
		e := encodeCatalog(cat)
		var list []json.RawMessage
		if err := json.Unmarshal(e.list, &list); err != nil || len(list) != n {
			t.Fatalf("%d runtimes: list %s: %v", n, e.list, err)
		}
		var all []map[string]any
		if err := json.Unmarshal([]byte("["+string(e.all)+"]"), &all); err != nil || len(all) != n {
			t.Fatalf("%d runtimes: all %s: %v", n, e.all, err)
		}
		for i, rt := range cat.Runtimes() {
			item := e.items[rt.ID].item
			var m map[string]any
			if err := json.Unmarshal(item, &m); err != nil || m["id"] != rt.ID {
				t.Fatalf("item %d of %d: %s: %v", i, n, item, err)
			}
			if string(list[i]) != string(rt.Raw) {
				t.Errorf("list item %d: %s, want %s", i, list[i], rt.Raw)
			}
		}
	}
}

// filterFor is the filter of runtime ai alone (by feature).
func filterFor(i int) (string, store.Filter) {
	f := store.Filter{Features: []string{fmt.Sprintf("f%d", i)}}
	return filterKey(f, ""), f
}

// listCost is what a memoised list of ai costs against the memo budget.
func listCost(t *testing.T, e *encoded, i int) int {
	t.Helper()
	key, f := filterFor(i)
	fl := e.filter("", key, f, &store.Snapshot{Revision: 1})
	if fl.count != 1 {
		t.Fatalf("filter f%d: %d runtimes", i, fl.count)
	}
	return len(fl.items) + len(key) + memoEntryOverhead
}

// memoised reports whether the list of ai is kept: a second call returns the same list.
func memoised(e *encoded, i int) bool {
	key, f := filterFor(i)
	snap := &store.Snapshot{Revision: 1}
	e.filterMu.RLock()
	fl, ok := e.filtered[key]
	e.filterMu.RUnlock()
	return ok && e.filter("", key, f, snap) == fl
}

// TestEncoded_FilterMemoBudget pins the memo's byte budget: an entry that costs exactly the
// budget is kept and one byte more is not; the aliases (raw query strings) go before the
// lists; the budget is never exceeded.
func TestEncoded_FilterMemoBudget(t *testing.T) {
	t.Parallel()
	cat := testCatalog(t, 4)
	cost := listCost(t, encodeCatalog(cat), 0) // every ai's list costs the same (one-digit ids)
	snap := &store.Snapshot{Revision: 1}
	const raw = "feature=f0"
	aliasCost := len(raw) + memoEntryOverhead/4
	fresh := func(limit int) *encoded {
		e := encodeCatalog(cat)
		e.memoLimit = limit
		return e
	}
	check := func(t *testing.T, e *encoded) {
		t.Helper()
		if used := e.listBytes + e.aliasBytes; used > e.memoLimit {
			t.Fatalf("memo holds %d bytes over a budget of %d", used, e.memoLimit)
		}
	}

	t.Run("ListAtTheLimit", func(t *testing.T) {
		e := fresh(cost)
		key, f := filterFor(0)
		fl := e.filter(raw, key, f, snap)
		if !memoised(e, 0) || e.listBytes != cost {
			t.Fatalf("a list costing exactly the budget (%d) is not kept (%d bytes)", cost, e.listBytes)
		}
		if _, ok := e.memoFilter(raw); ok {
			t.Error("an alias beyond the budget was kept")
		}
		if fl.count != 1 || !strings.Contains(string(fl.items), `"id":"a0"`) {
			t.Errorf("filtered list %d: %s", fl.count, fl.items)
		}
		check(t, e)
	})
	t.Run("ListOverTheLimit", func(t *testing.T) {
		e := fresh(cost - 1)
		key, f := filterFor(0)
		first := e.filter(raw, key, f, snap)
		if memoised(e, 0) || e.listBytes != 0 || e.filter(raw, key, f, snap) == first {
			t.Fatalf("a list one byte over the budget was kept (%d bytes)", e.listBytes)
		}
		if _, ok := e.memoFilter(raw); ok {
			t.Error("an alias of a list not kept was kept")
		}
	})
	t.Run("AliasAtTheLimit", func(t *testing.T) {
		e := fresh(cost + aliasCost)
		key, f := filterFor(0)
		fl := e.filter(raw, key, f, snap)
		if got, ok := e.memoFilter(raw); !ok || got != fl || e.aliasBytes != aliasCost {
			t.Fatalf("an alias costing exactly what is left (%d) is not kept (%d bytes)", aliasCost, e.aliasBytes)
		}
		e.filter(raw, key, f, snap) // the same query again costs nothing more
		if e.listBytes != cost || e.aliasBytes != aliasCost {
			t.Errorf("a repeated query was counted again: %d + %d bytes", e.listBytes, e.aliasBytes)
		}
		check(t, e)
	})
	t.Run("AliasOverTheLimit", func(t *testing.T) {
		e := fresh(cost + aliasCost - 1)
		key, f := filterFor(0)
		e.filter(raw, key, f, snap)
		if _, ok := e.memoFilter(raw); ok || !memoised(e, 0) {
			t.Fatal("an alias one byte over what is left was kept")
		}
		check(t, e)
	})
	t.Run("AliasesGoFirst", func(t *testing.T) {
		// Room for two lists and the alias of the first, to the byte: both lists and the
		// alias stay.
		e := fresh(2*cost + aliasCost)
		key, f := filterFor(0)
		e.filter(raw, key, f, snap)
		key1, f1 := filterFor(1)
		e.filter("", key1, f1, snap)
		if _, ok := e.memoFilter(raw); !ok || !memoised(e, 0) || !memoised(e, 1) {
			t.Fatal("two lists and an alias that fit the budget exactly were not all kept")
		}
		check(t, e)
		// One byte less: the alias goes, the lists stay.
		e = fresh(2*cost + aliasCost - 1)
		e.filter(raw, key, f, snap)
		e.filter("", key1, f1, snap)
		if _, ok := e.memoFilter(raw); ok {
			t.Error("the alias was kept over the budget")
		}
		if !memoised(e, 0) || !memoised(e, 1) || e.aliasBytes != 0 || e.listBytes != 2*cost {
			t.Errorf("the lists went with the alias: %d + %d bytes", e.listBytes, e.aliasBytes)
		}
		check(t, e)
		// Room for exactly two lists, the first with an alias: the second list evicts the
		// alias only, the two lists fill the budget to the byte.
		e2 := fresh(2 * cost)
		e2.filter(raw, key, f, snap)
		if _, ok := e2.memoFilter(raw); !ok {
			t.Fatal("the alias of the first list was not kept")
		}
		e2.filter("", key1, f1, snap)
		if _, ok := e2.memoFilter(raw); ok || !memoised(e2, 0) || !memoised(e2, 1) || e2.listBytes != 2*cost {
			t.Errorf("two lists filling the budget exactly: alias kept %v, a0 %v a1 %v, %d bytes", ok, memoised(e2, 0), memoised(e2, 1), e2.listBytes)
		}
		check(t, e2)
		// A third list: no room left, the lists go too (the new one is kept).
		key2, f2 := filterFor(2)
		e.filter("", key2, f2, snap)
		if memoised(e, 0) || memoised(e, 1) || !memoised(e, 2) || e.listBytes != cost {
			t.Errorf("third list: a0 %v a1 %v a2 %v, %d bytes", memoised(e, 0), memoised(e, 1), memoised(e, 2), e.listBytes)
		}
		check(t, e)
	})
	t.Run("ManyQueriesStayWithinBudget", func(t *testing.T) {
		e := fresh(3*cost + 2*aliasCost)
		for i := range 40 {
			key, f := filterFor(i % 4)
			e.filter(fmt.Sprintf("feature=f%d&n=%d", i%4, i), key, f, snap)
			check(t, e)
		}
	})
}

// TestEncoded_MatrixMemo: the matrix is built once per classifier and format, and the memo is
// bounded (a reload per minute must not keep every old classifier's matrices).
func TestEncoded_MatrixMemo(t *testing.T) {
	t.Parallel()
	e := encodeCatalog(testCatalog(t, 1))
	builds := 0
	get := func(cls int) *matrixMemo {
		return e.matrixFor(cls, "json", func() (representation, error) {
			builds++
			return single(newETag(`"x"`), []byte(fmt.Sprint(cls))), nil
		})
	}
	for cls := range 17 {
		get(cls)
	}
	if builds != 17 {
		t.Fatalf("17 classifiers: %d builds", builds)
	}
	if m := get(0); builds != 17 || string(m.rep.parts[0]) != "0" {
		t.Fatalf("the first of 17 classifiers was built again (%d builds)", builds)
	}
	if m := e.matrixFor(0, "csv", func() (representation, error) { builds++; return representation{}, nil }); builds != 18 || m.rep.n != 0 {
		t.Fatalf("another format shares the json memo (%d builds)", builds)
	}
	if len(e.matrices) != 1 {
		t.Fatalf("the 18th entry must start a new memo: %d entries", len(e.matrices))
	}
	if get(0); builds != 19 {
		t.Fatalf("after the reset the matrix is built again: %d builds", builds)
	}
}
