package httpapi

import (
	"encoding/json"
	"testing"
)

// appendJSONString must produce a JSON string that decodes to the input (invalid UTF-8 as
// U+FFFD), as encoding/json would.
func FuzzAppendJSONString(f *testing.F) {
	for _, s := range []string{"", "plain", `quo"te\back`, "tab\tnl\ncr\r\x00\x1f", "é🤖", "\xff\xfe", "\u2028\u2029", "<&>"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		b := appendJSONString(nil, s)
		var got string
		if err := json.Unmarshal(b, &got); err != nil {
			t.Fatalf("%q encoded as invalid JSON %s: %v", s, b, err)
		}
		want, _ := json.Marshal(s)
		var wantStr string
		json.Unmarshal(want, &wantStr)
		if got != wantStr {
			t.Fatalf("%q: got %q, want %q", s, got, wantStr)
		}
	})
}
