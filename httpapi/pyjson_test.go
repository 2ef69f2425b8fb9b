package httpapi

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"unicode/utf16"
	"unicode/utf8"
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
		{`[1.,2]`, "Expecting ',' delimiter", 2, false}, // a fraction needs a digit after the point (pyjson.go:285)
		{`{"é":"x`, "Unterminated string starting at", 5, false},
		{"\"a\tb\"", "Invalid control character at", 2, false},
		{`"\q"`, "Invalid \\escape", 1, false},
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

// TestPyLoads_Encodings: bodies in UTF-16 and UTF-32, with or without a BOM, parse as CPython's
// json.loads parses bytes (expected values recorded from CPython 3.12), and bytes its codecs
// refuse are a parse failure (FastAPI's 400), never a decode error or a crash.
func TestPyLoads_Encodings(t *testing.T) {
	t.Parallel()
	utf16le := func(s string) []byte {
		var out []byte
		for _, u := range utf16.Encode([]rune(s)) {
			out = append(out, byte(u), byte(u>>8))
		}
		return out
	}
	utf16be := func(s string) []byte {
		var out []byte
		for _, u := range utf16.Encode([]rune(s)) {
			out = append(out, byte(u>>8), byte(u))
		}
		return out
	}
	utf32le := func(s string) []byte {
		var out []byte
		for _, r := range s {
			out = append(out, byte(r), byte(r>>8), byte(r>>16), byte(r>>24))
		}
		return out
	}
	utf32be := func(s string) []byte {
		var out []byte
		for _, r := range s {
			out = append(out, byte(r>>24), byte(r>>16), byte(r>>8), byte(r))
		}
		return out
	}
	encodings := map[string]func(string) []byte{
		"utf-16-le":     utf16le,
		"utf-16-be":     utf16be,
		"utf-16 (BOM)":  func(s string) []byte { return append([]byte{0xff, 0xfe}, utf16le(s)...) },
		"utf-16be BOM":  func(s string) []byte { return append([]byte{0xfe, 0xff}, utf16be(s)...) },
		"utf-32-le":     utf32le,
		"utf-32-be":     utf32be,
		"utf-32 (BOM)":  func(s string) []byte { return append([]byte{0xff, 0xfe, 0, 0}, utf32le(s)...) },
		"utf-32be BOM":  func(s string) []byte { return append([]byte{0, 0, 0xfe, 0xff}, utf32be(s)...) },
		"utf-8-sig":     func(s string) []byte { return append([]byte("\xef\xbb\xbf"), s...) },
		"utf-8 (plain)": func(s string) []byte { return []byte(s) },
	}
	for name, enc := range encodings {
		v, err := pyLoads(enc(`{"runtime_type":"default","model_id":"xé🤖"}`))
		if m, _ := v.(map[string]any); err != nil || m["runtime_type"] != "default" || m["model_id"] != "xé🤖" {
			t.Errorf("%s: %v %v", name, v, err)
		}
		var de *pyDecodeError
		if _, err := pyLoads(enc(`{"a" 1}`)); !errors.As(err, &de) || de.msg != "Expecting ':' delimiter" || de.pos != 5 {
			t.Errorf("%s: %v, want Expecting ':' delimiter at 5", name, err)
		}
		if _, err := pyLoads(enc(`{"runtime_type":"claude_code"}  x`)); !errors.As(err, &de) || de.msg != "Extra data" || de.pos != 32 {
			t.Errorf("%s: %v, want Extra data at 32", name, err)
		}
	}
	for _, tc := range []struct {
		in   []byte
		want string // JSON of the value, or "" for a parse failure
		msg  string
		pos  int
	}{
		{[]byte("\xff\xfe{\x00\""), "", "", 0},                  // truncated utf-16
		{[]byte("\x00\x00\x00{\x00\x00\x00"), "", "", 0},        // truncated utf-32
		{[]byte("\xff\xfe\x00\x00\x00\x00\x11\x00"), "", "", 0}, // beyond U+10FFFF
		{[]byte("{\x00\x00\x00}\x00\x00\x00"), "{}", "", 0},
		{[]byte("0\x00"), "0", "", 0}, // two bytes, the second NUL: UTF-16-LE, as CPython reads it     // utf-32-le, no BOM
		{[]byte("{\x00"), "", "Expecting property name enclosed in double quotes", 1},
		{[]byte("\x00{"), "", "Expecting property name enclosed in double quotes", 1},
		{[]byte("\x00\x00\x11\x00"), "", "Expecting value", 0},
		{utf16le(`[1,"`)[:8], "", "Unterminated string starting at", 3},
		{append(utf16le(`["`), 0x00, 0xdc, '"', 0, ']', 0), `["` + "\ufffd" + `"]`, "", 0}, // lone surrogate passes
		{[]byte("[\"\xed\xb0\x80\"]"), `["` + "\ufffd" + `"]`, "", 0},                      // surrogatepass in UTF-8
	} {
		v, err := pyLoads(tc.in)
		var de *pyDecodeError
		var pf *pyParseFailure
		switch {
		case tc.want == "" && tc.msg == "":
			if !errors.As(err, &pf) {
				t.Errorf("%q: %v %v, want a parse failure", tc.in, v, err)
			}
		case tc.msg != "":
			if !errors.As(err, &de) || de.msg != tc.msg || de.pos != tc.pos {
				t.Errorf("%q: %v, want %q at %d", tc.in, err, tc.msg, tc.pos)
			}
		default:
			got, _ := json.Marshal(v)
			if err != nil || string(got) != tc.want {
				t.Errorf("%q: %s %v, want %s", tc.in, got, err, tc.want)
			}
		}
	}
}

// FuzzPyLoadsUTF16: any text sent as UTF-16 or UTF-32 with a BOM parses exactly as the same text
// sent as UTF-8: the same value, or the same error at the same character position.
func FuzzPyLoadsUTF16(f *testing.F) {
	for _, s := range []string{`{"runtime_type":"default"}`, `{"a" 1}`, `["\ud800", "é🤖"]`, `[1,`, "\"a\tb\"", `{"n":NaN}`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if !utf8.ValidString(s) || strings.Contains(s[:min(len(s), 4)], "\x00") || strings.HasPrefix(s, "\ufeff") {
			// A NUL among the first four bytes makes CPython read the UTF-8 text itself as
			// UTF-16/32 (and after the UTF-16 BOM, a leading NUL reads as a UTF-32 BOM): the
			// texts are not the same document.
			return
		}
		want, wantErr := pyLoads([]byte(s))
		var u16, u32 []byte
		u16 = append(u16, 0xff, 0xfe)
		for _, u := range utf16.Encode([]rune(s)) {
			u16 = append(u16, byte(u), byte(u>>8))
		}
		u32 = append(u32, 0, 0, 0xfe, 0xff)
		for _, r := range s {
			u32 = append(u32, byte(r>>24), byte(r>>16), byte(r>>8), byte(r))
		}
		for name, b := range map[string][]byte{"utf-16": u16, "utf-32-be": u32} {
			got, gotErr := pyLoads(b)
			if fmt.Sprint(gotErr) != fmt.Sprint(wantErr) {
				t.Fatalf("%s of %q: error %v, as UTF-8 %v", name, s, gotErr, wantErr)
			}
			if wantErr == nil {
				g, _ := json.Marshal(got)
				w, _ := json.Marshal(want)
				if string(g) != string(w) {
					t.Fatalf("%s of %q: %s, as UTF-8 %s", name, s, g, w)
				}
			}
		}
	})
}
