package httpapi

import (
	"bytes"
	"encoding/json"
	"reflect"
	"testing"
	"unicode/utf8"
)

// decodeValue must decode every valid JSON value as a json.Decoder with UseNumber does: the
// validated config POST /v1/validate echoes, and what policy rules read, come from it.
func FuzzDecodeValue(f *testing.F) {
	for _, s := range []string{
		`{"timeout":30}`, `{}`, `[]`, ` { "a" : [ 1 , -2.5e10 , "x" , null , true , false , { } , [ ] ] } `,
		`{"a":1,"a":2}`, `{"k\u00e9y":"v\"q\\\n\u2028"}`, `"plain"`, `1e999`, `-0`, `[[[[{"deep":[]}]]]]`,
		`{"":""}`, "{\"tab\":\"a\\tb\"}", `{"x":{"y":{"z":1.50}}}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		if !json.Valid(raw) || !utf8.Valid(raw) { // decodeNativeValidate checks both first
			return
		}
		d := json.NewDecoder(bytes.NewReader(raw))
		d.UseNumber()
		var want any
		if err := d.Decode(&want); err != nil {
			t.Fatalf("encoding/json refused what json.Valid accepted: %v", err)
		}
		if got := decodeValue(raw); !reflect.DeepEqual(got, want) {
			t.Fatalf("decodeValue(%q) = %#v, encoding/json decodes %#v", raw, got, want)
		}
		// The validate handler decodes from one string of the body: the same from a string.
		if got := decodeValue(string(raw)); !reflect.DeepEqual(got, want) {
			t.Fatalf("decodeValue(string %q) = %#v, encoding/json decodes %#v", raw, got, want)
		}
	})
}

// The drop-in validate answer is the control plane's bytes: appendDropInValidation writes what
// encoding/json writes for its struct (HTML escaping off), errors nil, empty or any strings.
func FuzzAppendDropInValidation(f *testing.F) {
	f.Add(true, "", "", 0)
	f.Add(false, "Model ID is required for this runtime", `<b>"q"</b> & \ `+"\u2028\x01\xff", 2)
	f.Add(false, "one", "", 1)
	f.Fuzz(func(t *testing.T, valid bool, e1, e2 string, n int) {
		var errs []string // nil: n < 0
		switch {
		case n == 0:
			errs = []string{}
		case n == 1:
			errs = []string{e1}
		case n >= 2:
			errs = []string{e1, e2}
		}
		want, err := marshalNoEscape(struct {
			Valid  bool     `json:"valid"`
			Errors []string `json:"errors"`
		}{valid, errs})
		if err != nil {
			t.Fatal(err)
		}
		if got := appendDropInValidation(nil, valid, errs); !bytes.Equal(got, want) {
			t.Fatalf("appendDropInValidation = %s, encoding/json writes %s", got, want)
		}
	})
}

// stringList takes the features without reflection only where json.Unmarshal into a []string
// gives the same list without an error; anything else is left to json.Unmarshal.
func FuzzStringList(f *testing.F) {
	for _, s := range []string{`[]`, `["a","b"]`, `["a",null]`, `[1]`, `["a",["b"]]`, `{"a":1}`, `"a"`, `null`, `[true]`, `["\u00e9\n"]`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		if !json.Valid(raw) || !utf8.Valid(raw) {
			return
		}
		var want []string
		err := json.Unmarshal(raw, &want)
		got, ok := stringList(raw)
		if ok && (err != nil || !reflect.DeepEqual(got, want)) {
			t.Fatalf("stringList(%q) = %#v; json.Unmarshal gives %#v, %v", raw, got, want, err)
		}
		if gotS, okS := stringList(string(raw)); okS != ok || !reflect.DeepEqual(gotS, got) { // as the handler calls it
			t.Fatalf("stringList(string %q) = %#v %v, from bytes %#v %v", raw, gotS, okS, got, ok)
		}
		if !ok && err == nil && raw[0] == '[' {
			t.Fatalf("stringList(%q) refused an array json.Unmarshal decodes as %#v", raw, want)
		}
	})
}

// A number beyond a double is refused with its path, however deep; ordinary ones pass.
func TestOutOfRange(t *testing.T) {
	t.Parallel()
	for raw, want := range map[string]string{
		`{"a":1,"b":[1.5,-2e300]}`: "",
		`{"a":{"b":[0,1e999]}}`:    "agent_config.a.b[1]",
		`{"x":-1e400}`:             "agent_config.x",
		`{}`:                       "",
	} {
		if got := outOfRange(decodeValue([]byte(raw)), "agent_config"); got != want {
			t.Errorf("outOfRange(%s) = %q, want %q", raw, got, want)
		}
	}
}
