package httpapi

import (
	"encoding/json"
)

// splitObject returns the members of a JSON object as json.Unmarshal into
// map[string]json.RawMessage does (values verbatim, the last of duplicate keys wins), without
// reflection: body must be valid JSON (json.Valid); ok is false when it is not an object.
// The values are sub-slices of body.
func splitObject(body []byte) (map[string]json.RawMessage, bool) {
	i := skipSpace(body, 0)
	if i >= len(body) || body[i] != '{' {
		return nil, false
	}
	out := make(map[string]json.RawMessage, 8)
	i = skipSpace(body, i+1)
	if i < len(body) && body[i] == '}' {
		return out, true
	}
	for i < len(body) {
		end := stringEnd(body, i)
		key, ok := plainJSONString(body[i:end])
		if !ok {
			if json.Unmarshal(body[i:end], &key) != nil {
				return nil, false
			}
		}
		i = skipSpace(body, end)
		i = skipSpace(body, i+1) // the colon
		vend := valueEnd(body, i)
		out[key] = body[i:vend:vend]
		i = skipSpace(body, vend)
		if i >= len(body) || body[i] == '}' {
			return out, true
		}
		i = skipSpace(body, i+1) // the comma
	}
	return out, true
}

func skipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

// stringEnd returns the index after the string starting at b[i] (a quote).
func stringEnd(b []byte, i int) int {
	for i++; i < len(b); i++ {
		switch b[i] {
		case '\\':
			i++
		case '"':
			return i + 1
		}
	}
	return len(b)
}

// valueEnd returns the index after the JSON value starting at b[i] (valid JSON).
func valueEnd(b []byte, i int) int {
	if i >= len(b) {
		return i
	}
	switch b[i] {
	case '"':
		return stringEnd(b, i)
	case '{', '[':
		depth := 0
		for ; i < len(b); i++ {
			switch b[i] {
			case '"':
				i = stringEnd(b, i) - 1
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					return i + 1
				}
			}
		}
		return len(b)
	}
	for ; i < len(b); i++ { // a number, true, false or null
		switch b[i] {
		case ',', '}', ']', ' ', '\t', '\n', '\r':
			return i
		}
	}
	return i
}
