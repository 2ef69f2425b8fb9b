package httpapi

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"

	"github.com/labstack/echo/v4"
)

// jsonTarget has a field of every kind jsonKind names.
type jsonTarget struct {
	S   string          `json:"s"`
	B   bool            `json:"b"`
	I   int             `json:"i"`
	U8  uint8           `json:"u8"`
	F   float64         `json:"f"`
	P   *string         `json:"p"`
	PP  **int           `json:"pp"`
	Raw json.RawMessage `json:"raw"`
	Bs  []byte          `json:"bs"`
	Ss  []string        `json:"ss"`
	Is  []int           `json:"is"`
	A   [2]float32      `json:"a"`
	M   map[string]int  `json:"m"`
	O   struct{}        `json:"o"`
}

// decodeProblem decodes body into jsonTarget as the handlers do (unknown fields refused) and
// returns what jsonProblem says of the error.
func decodeProblem(t *testing.T, body string) string {
	t.Helper()
	dec := json.NewDecoder(strings.NewReader(body))
	dec.DisallowUnknownFields()
	var v jsonTarget
	err := dec.Decode(&v)
	if err == nil {
		t.Fatalf("%s decoded", body)
	}
	return jsonProblem(err)
}

// TestJSONProblem_NamesFieldAndKind: a body that does not decode gets a sentence in JSON's
// terms (the field, the JSON it must be, what was sent), never Go's type names.
func TestJSONProblem_NamesFieldAndKind(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ body, want string }{
		{`{"s":1}`, `field "s" must be a string, got number`},
		{`{"b":"yes"}`, `field "b" must be true or false, got a string`},
		{`{"i":1.5}`, `field "i" must be an integer in range, got number 1.5`},
		{`{"u8":300}`, `field "u8" must be an integer in range, got number 300`},
		{`{"f":true}`, `field "f" must be a number, got a boolean`},
		{`{"p":[]}`, `field "p" must be a string, got an array`},
		{`{"pp":"x"}`, `field "pp" must be an integer in range, got a string`},
		{`{"ss":[1]}`, `field "ss" must be a string, got number`},
		{`{"ss":"x"}`, `field "ss" must be an array of strings, got a string`},
		{`{"is":{}}`, `field "is" must be an array, got an object`},
		{`{"a":"x"}`, `field "a" must be an array, got a string`},
		{`{"m":[]}`, `field "m" must be a JSON object, got an array`},
		{`{"o":1}`, `field "o" must be a JSON object, got number`},
		{`[1]`, `it must be a JSON object, got an array`},
		{`"x"`, `it must be a JSON object, got a string`},
		{`{"s":"x",}`, `invalid JSON at byte 10: invalid character '}' looking for beginning of object key string`},
		{`{"nope":1}`, `unknown field "nope"`},
		{``, `the JSON ends too early`},
		{`{"s":`, `the JSON ends too early`},
	} {
		if got := decodeProblem(t, tc.body); got != tc.want {
			t.Errorf("%s:\n got %s\nwant %s", tc.body, got, tc.want)
		}
	}
	// The kinds encoding/json never reports on its own (bytes and raw values take anything
	// it can decode into them).
	for _, tc := range []struct {
		v    any
		want string
	}{{json.RawMessage{}, "a JSON value"}, {[]byte{}, "an array"}} {
		err := &json.UnmarshalTypeError{Value: "bool", Type: reflect.TypeOf(tc.v), Field: "x"}
		if got := jsonProblem(err); got != `field "x" must be `+tc.want+`, got a boolean` {
			t.Errorf("%T: %s", tc.v, got)
		}
	}
	if got := jsonProblem(errors.New("json: cannot do that")); got != "cannot do that" {
		t.Errorf("another error: %s", got)
	}
}

// TestNoQuery: a route that takes its input in the body refuses a query string, naming the
// first parameter (cut at 64 bytes).
func TestNoQuery(t *testing.T) {
	t.Parallel()
	e := echo.New()
	ask := func(query string) error {
		c := e.NewContext(httptest.NewRequest("POST", "/v1/select"+query, nil), httptest.NewRecorder())
		return noQuery(c, "POST /v1/select")
	}
	if err := ask(""); err != nil {
		t.Fatalf("no query: %v", err)
	}
	var apiErr *Error
	if err := ask("?limit=1&x=2"); !errors.As(err, &apiErr) || apiErr.Status != http.StatusBadRequest ||
		apiErr.Code != "unknown_parameter" || !strings.Contains(apiErr.Message, `(got "limit")`) {
		t.Fatalf("?limit=1: %v", err)
	}
	at := strings.Repeat("k", 64)
	if err := ask("?" + at + "=1"); !errors.As(err, &apiErr) || !strings.Contains(apiErr.Message, `(got "`+at+`")`) {
		t.Errorf("a 64-byte name is quoted whole: %v", err)
	}
	if err := ask("?" + at + "kk"); !errors.As(err, &apiErr) || !strings.Contains(apiErr.Message, `(got "`+at+`...")`) {
		t.Errorf("a 66-byte name is cut at 64: %v", err)
	}
}
