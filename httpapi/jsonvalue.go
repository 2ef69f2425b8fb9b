package httpapi

import "encoding/json"

// decodeValue decodes one JSON value exactly as a json.Decoder with UseNumber decodes it into
// an any (objects as map[string]any, a repeated key keeping its last value; arrays as []any,
// empty ones non-nil; numbers as json.Number holding the literal), without reflection or a
// decoder's buffers: POST /v1/validate decodes its agent_config per request. raw must be
// valid JSON and valid UTF-8 (decodeNativeValidate checks the whole body for both; jsonValid
// also bounds the nesting this recursion follows to encoding/json's 10,000).
func decodeValue[T jsonText](raw T) any {
	v, _ := parseValue(raw, skipSpace(raw, 0))
	return v
}

// parseValue decodes the value starting at b[i] and returns it with the index after it. From
// a string, the strings and numbers it returns are sub-strings of b (no copy).
func parseValue[T jsonText](b T, i int) (any, int) {
	switch b[i] {
	case '{':
		m := map[string]any{}
		i = skipSpace(b, i+1)
		if b[i] == '}' {
			return m, i + 1
		}
		for {
			end := stringEnd(b, i)
			key := jsonString(b[i:end])
			i = skipSpace(b, skipSpace(b, end)+1) // past the colon
			m[key], i = parseValue(b, i)
			if i = skipSpace(b, i); b[i] == '}' {
				return m, i + 1
			}
			i = skipSpace(b, i+1) // past the comma
		}
	case '[':
		a := []any{}
		i = skipSpace(b, i+1)
		if b[i] == ']' {
			return a, i + 1
		}
		for {
			var v any
			v, i = parseValue(b, i)
			a = append(a, v)
			if i = skipSpace(b, i); b[i] == ']' {
				return a, i + 1
			}
			i = skipSpace(b, i+1)
		}
	case '"':
		end := stringEnd(b, i)
		return jsonString(b[i:end]), end
	case 't':
		return true, i + len("true")
	case 'f':
		return false, i + len("false")
	case 'n':
		return nil, i + len("null")
	}
	end := valueEnd(b, i)
	return json.Number(b[i:end]), end
}

// jsonString is the string a valid JSON string literal holds.
func jsonString[T jsonText](lit T) string {
	if s, ok := plainJSONString(lit); ok {
		return s
	}
	var s string
	_ = json.Unmarshal([]byte(lit), &s) // valid JSON: cannot fail
	return s
}
