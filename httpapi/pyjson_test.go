package httpapi

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

func TestPyLoads_Errors(t *testing.T) {
	for _, tc := range []struct {
		in   string
		msg  string
		pos  int
		fail bool // a parse failure (FastAPI's 400), not a decode error
	}{
		{`{runtime_type:"default"}`, "Expecting property name enclosed in double quotes", 1, false},
		{`{"a":1}{"b":2}`, "Extra data", 7, false},
		{`  `, "Expecting value", 2, false},
		{`{"a" 1}`, "Expecting ':' delimiter", 5, false},
		{`{"a":1 "b":2}`, "Expecting ',' delimiter", 7, false},
		{`[1 2]`, "Expecting ',' delimiter", 3, false},
		{`{"é":"x`, "Unterminated string starting at", 5, false},
		{"\"a\tb\"", "Invalid control character at", 2, false},
		{`"\q"`, "Invalid \\escape: 'q'", 1, false},
		{`"\u12G4"`, "Invalid \\uXXXX escape", 2, false},
		{`tru`, "Expecting value", 0, false},
		{`-`, "Expecting value", 0, false},
		{strings.Repeat("[", 2000) + strings.Repeat("]", 2000), "", 0, true},
		{`{"n":` + strings.Repeat("9", 4301) + `}`, "", 0, true},
		{"{\"a\":\"\xff\"}", "", 0, true},
	} {
		_, err := pyLoads([]byte(tc.in))
		var de *pyDecodeError
		var pf *pyParseFailure
		switch {
		case tc.fail:
			if !errors.As(err, &pf) {
				t.Errorf("%.40q: %v, want a parse failure", tc.in, err)
			}
		case !errors.As(err, &de) || de.msg != tc.msg || de.pos != tc.pos:
			t.Errorf("%.40q: %v, want %q at %d", tc.in, err, tc.msg, tc.pos)
		}
	}
}

func TestPyLoads_Values(t *testing.T) {
	v, err := pyLoads([]byte(` {"a":[1,-2.5e3,NaN,-Infinity,true,null],"a2":"\ud83e\udd16\u00e9","d":1,"d":2} `))
	if err != nil {
		t.Fatal(err)
	}
	out, _ := json.Marshal(v)
	want := `{"a":[1,-2.5e3,"NaN","-Infinity",true,null],"a2":"🤖é","d":2}`
	if string(out) != want {
		t.Errorf("got %s\nwant %s", out, want)
	}
	if _, err := pyLoads([]byte(strings.Repeat("[", 800) + strings.Repeat("]", 800))); err != nil {
		t.Errorf("800 levels must parse (CPython's limit is about 1000): %v", err)
	}
}

// Everything encoding/json accepts within CPython's limits, this parser accepts with the same
// value.
func FuzzPyLoads(f *testing.F) {
	for _, s := range []string{`{}`, `[1,"a",{"b":null}]`, `"\u00e9"`, `1.5e-3`, `{"a":{"b":[true,false]}}`, `NaN`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		got, err := pyLoads(data)
		var std any
		if json.Unmarshal(data, &std) != nil {
			return
		}
		if err != nil {
			var pf *pyParseFailure
			if errors.As(err, &pf) {
				return // depth or integer-digit limits, which encoding/json does not have
			}
			t.Fatalf("encoding/json accepts %q; pyLoads: %v", data, err)
		}
		a, _ := json.Marshal(got)
		var back any
		if err := json.Unmarshal(a, &back); err != nil {
			t.Fatalf("re-encoding %q: %v", a, err)
		}
		b, _ := json.Marshal(std)
		c, _ := json.Marshal(back)
		if string(b) != string(c) {
			t.Fatalf("value differs for %q:\n pyLoads %s\n std     %s", data, c, b)
		}
	})
}
