package sync

import (
	"encoding/json"
	"testing"
)

// splitArray must give exactly the elements encoding/json finds.
func FuzzSplitArray(f *testing.F) {
	for _, s := range []string{`[]`, `[1]`, ` [ {"a":"]"} , "x\\"]" , [1,[2]], null ,true ] `, `[{"id":"a","n":{"b":[{},[]]}}]`, `["\\\\"]`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		var want []json.RawMessage
		if json.Unmarshal([]byte(s), &want) != nil || !json.Valid([]byte(s)) {
			return
		}
		got := splitArray(trimSpace([]byte(s)))
		if len(got) != len(want) {
			t.Fatalf("%q: %d elements, want %d", s, len(got), len(want))
		}
		for i := range got {
			if string(got[i]) != string(want[i]) {
				t.Fatalf("%q element %d: %q, want %q", s, i, got[i], want[i])
			}
		}
	})
}

func trimSpace(b []byte) []byte {
	for len(b) > 0 && (b[0] == ' ' || b[0] == '\t' || b[0] == '\n' || b[0] == '\r') {
		b = b[1:]
	}
	for len(b) > 0 && (b[len(b)-1] == ' ' || b[len(b)-1] == '\t' || b[len(b)-1] == '\n' || b[len(b)-1] == '\r') {
		b = b[:len(b)-1]
	}
	return b
}
