package httpapi

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"reflect"
	"strings"
)

// jsonProblem says in a client's terms what is wrong with a JSON body that did not decode:
// the field and the type it must have, or where the syntax breaks. encoding/json's own text
// names Go types ("Go struct field SelectRequest.limit of type int", "Go value of type
// map[string]json.RawMessage"), which mean nothing to the sender.
func jsonProblem(err error) string {
	var te *json.UnmarshalTypeError
	var se *json.SyntaxError
	switch {
	case errors.As(err, &te) && te.Field != "":
		return fmt.Sprintf("field %q must be %s, got %s", te.Field, jsonKind(te.Type), jsonValueName(te.Value))
	case errors.As(err, &te):
		return fmt.Sprintf("it must be %s, got %s", jsonKind(te.Type), jsonValueName(te.Value))
	case errors.As(err, &se):
		return fmt.Sprintf("invalid JSON at byte %d: %s", se.Offset, se.Error())
	}
	msg := strings.TrimPrefix(err.Error(), "json: ") // "unknown field \"x\"" among others
	if msg == "EOF" || msg == "unexpected EOF" {
		return "the JSON ends too early"
	}
	return msg
}

// jsonKind names a Go type as the JSON a client must send for it.
func jsonKind(t reflect.Type) string {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "true or false"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "an integer in range"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.Slice, reflect.Array:
		if t.Elem().Kind() == reflect.Uint8 && t.Name() == "RawMessage" {
			return "a JSON value"
		}
		if t.Elem().Kind() == reflect.String {
			return "an array of strings"
		}
		return "an array"
	}
	return "a JSON object"
}

// jsonValueName turns encoding/json's description of the value sent ("number 1.5", "string",
// "array") into a phrase.
func jsonValueName(v string) string {
	switch {
	case v == "array" || v == "object":
		return "an " + v
	case v == "string" || v == "bool":
		return "a " + strings.Replace(v, "bool", "boolean", 1)
	}
	return v // "number", "number 1.5"
}

// noQuery refuses query parameters on a route that takes its input in the body: a client
// writing POST /v1/select?limit=1 must hear that the limit was not applied.
func noQuery(c interface{ QueryString() string }, route string) error {
	if q := c.QueryString(); q != "" {
		name, _, _ := strings.Cut(q, "=")
		return errorf(http.StatusBadRequest, "unknown_parameter",
			"%s takes no query parameters (got %q): send every field in the JSON body", route, truncate(name, 64))
	}
	return nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}

// dataAfter reports whether body holds more than JSON's white space (space, tab, CR, LF)
// after the value dec decoded from it. json.Decoder.More cannot say: it is false before a
// stray } or ], so {"a":1}} would pass as one object. bytes.TrimSpace would be too lenient:
// it also drops Unicode's other white space (\f, \v, U+00A0, U+2028...), which JSON refuses.
func dataAfter(dec *json.Decoder, body []byte) bool {
	return skipSpace(body, int(dec.InputOffset())) < len(body)
}
