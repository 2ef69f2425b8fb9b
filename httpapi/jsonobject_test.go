package httpapi

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
)

// TestObjectMembers_MatchesEncodingJSON: for every valid JSON body, objectMembers (over the
// bytes and over one string) finds the members json.Unmarshal into map[string]json.RawMessage
// finds (values verbatim, the last duplicate wins, escaped keys decoded), and refuses exactly
// the bodies that are not objects.
func TestObjectMembers_MatchesEncodingJSON(t *testing.T) {
	t.Parallel()
	for _, body := range []string{
		`{}`,
		" \t\r\n{ \t\r\n} \t\r\n",
		`{"a":1}`,
		`{"a":1,"b":2}`,
		" {\n\t\"a\" :\r 1 ,\t\"b\"\n:\n[1, {\"c\":\"}\"}] , \"d\" : {} }\n",
		`{"a":"x","a":"y"}`,
		`{"a\"b":1,"\u0061":2,"a":3,"\\":4}`,
		`{"k":"va\\\"lue","l":"\\\\","m":"}]"}`,
		`{"n":[[],[[]],{"x":[{}]}],"o":{"p":{"q":"]}"}}}`,
		`{"num":-1.5e+3,"t":true,"f":false,"z":null}`,
		`{"z":null }`,
		`{"t":true}`,
		`{"s":"é\u00e9🤖"}`,
		`{"":0}`,
		`{"arr":[1,2,3],"last":"x"}`,
		`[]`, `[{"a":1}]`, `"x"`, `1`, `null`, `true`, ` "{}" `,
	} {
		if !json.Valid([]byte(body)) {
			t.Fatalf("test body %q is not valid JSON", body)
		}
		var want map[string]json.RawMessage
		wantErr := json.Unmarshal([]byte(body), &want)
		got, ok := membersOf([]byte(body))
		gotS, okS := membersOf(body)
		if wantErr != nil || want == nil {
			if ok || okS {
				t.Errorf("%q is not an object, objectMembers took it: %v %v", body, got, gotS)
			}
			continue
		}
		if !ok || !okS {
			t.Errorf("%q: refused (%v %v), encoding/json reads %v", body, ok, okS, want)
			continue
		}
		if !reflect.DeepEqual(got, stringsOf(want)) || !reflect.DeepEqual(gotS, got) {
			t.Errorf("%q:\n got %q (from a string %q)\nwant %q", body, got, gotS, stringsOf(want))
		}
	}
}

// membersOf is objectMembers' members as a map, the last of a repeated key kept.
func membersOf[T jsonText](body T) (map[string]string, bool) {
	out := map[string]string{}
	ok := objectMembers(body, func(k string, v T) { out[k] = string(v) })
	return out, ok
}

// TestObjectMembers_EmptyIsNotAnObject: outside its contract (valid JSON), an empty or blank
// body is refused rather than read past its end.
func TestObjectMembers_EmptyIsNotAnObject(t *testing.T) {
	t.Parallel()
	for _, body := range []string{"", " \t\r\n"} {
		if m, ok := membersOf(body); ok || len(m) != 0 {
			t.Errorf("%q: %v %v", body, m, ok)
		}
	}
}

func stringsOf(m map[string]json.RawMessage) map[string]string {
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[k] = string(v)
	}
	return out
}

// FuzzJSONValid: jsonValid, which the validate handler runs per request in json.Valid's place,
// accepts exactly what json.Valid accepts.
func FuzzJSONValid(f *testing.F) {
	for _, s := range []string{
		``, ` `, `{}`, `[]`, `{"a":[1,-0.5e+3,"x\u00e9\n",true,false,null,{}]}`, `{"a" : 1 , "b":[ ]}`,
		`-`, `01`, `1.`, `1e`, `1e+`, `.5`, `+1`, `-0`, `0.0E-0`, `"\u12"`, `"\x"`, "\"\x01\"", `"\/"`,
		`tru`, `nul`, `falsey`, `{"a"}`, `{"a":}`, `{,}`, `[1,]`, `[1 2]`, `{"a":1,}`, `{} {}`, `"\xff"`,
		// Input ending at each point a check looks past: the seeds run as tests (and mutants die on them).
		`[`, `{`, `[ `, `{"a"`, `{"a" `, `{"a":1`, `[1`, `[1 `, `"abc`, `"\`, `"\u`, `"\u123`, `"\u1234`, `t`, `true`, `fals`, `-`, `1.`, `1e-`,
		// Every edge of a \u escape's hex digits and of a digit.
		`"\u0009"`, `"\uaaff"`, `"\uAAFF"`, `"\u/000"`, `"\u:000"`, `"\u@000"`, `"\uG000"`, "\"\\u`000\"", `"\ug000"`,
		`9`, `[9,0]`, `-9.9e9`, `0.9`, `1e9`, `"x"9`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if got, want := jsonValid(b), json.Valid(b); got != want {
			t.Fatalf("jsonValid(%q) = %v, json.Valid says %v", b, got, want)
		}
	})
}

// TestJSONValid_Depth: encoding/json's nesting limit, 10,000 levels, holds in jsonValid too.
func TestJSONValid_Depth(t *testing.T) {
	t.Parallel()
	for _, n := range []int{9999, 10000, 10001} {
		for _, open := range []string{"[", `{"k":`} {
			closing := "]"
			if open != "[" {
				closing = "}"
			}
			b := []byte(strings.Repeat(open, n) + "1" + strings.Repeat(closing, n))
			if got, want := jsonValid(b), json.Valid(b); got != want || want != (n <= 10000) {
				t.Errorf("%d levels of %s: jsonValid %v, json.Valid %v", n, open, got, want)
			}
		}
	}
}

func BenchmarkJSONValid(b *testing.B) {
	body := []byte(`{"runtime_type":"default","model_id":"gpt-4o","agent_config":{"timeout":30},"features":["session management"]}`)
	b.Run("jsonValid", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			jsonValid(body)
		}
	})
	b.Run("encoding-json", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			json.Valid(body)
		}
	})
}

// TestJSONValid_StopsAtTheEnd: a check never reads past the body's length, even where the
// slice's capacity holds the bytes that would make it valid (a body read into a larger buffer).
func TestJSONValid_StopsAtTheEnd(t *testing.T) {
	t.Parallel()
	for _, full := range []string{`true`, ` false`, `[null]`, `"\u1234"`, `"\u12"`} {
		for cut := 1; cut < len(full); cut++ {
			b := []byte(full)[:cut]               // capacity past the cut holds the rest
			tight := []byte(full[:cut])[:cut:cut] // capacity ends at the cut: a read past it panics
			if jsonValid(b) != json.Valid(b) || jsonValid(tight) != json.Valid(tight) {
				t.Errorf("%q cut at %d: jsonValid %v, json.Valid %v", full, cut, jsonValid(b), json.Valid(b))
			}
		}
	}
}
