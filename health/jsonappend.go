package health

import (
	"bytes"
	"encoding/json"
	"slices"
	"strconv"
	"unicode/utf8"
)

// The answers' append-style JSON encoders write exactly what encoding/json writes with HTML
// escaping off (httpapi's marshalNoEscape), without reflection: hot answers are encoded per
// request.

// AppendJSONString appends s as encoding/json encodes a string with HTML escaping off: quotes,
// backslashes and control characters escaped (\b \f \n \r \t short), U+2028 and U+2029
// escaped, invalid UTF-8 replaced by U+FFFD.
func AppendJSONString(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hex[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

// appendStrings appends a JSON array of strings ([] for nil).
func appendStrings(b []byte, list []string) []byte {
	b = append(b, '[')
	for i, s := range list {
		if i > 0 {
			b = append(b, ',')
		}
		b = AppendJSONString(b, s)
	}
	return append(b, ']')
}

// appendCompact appends valid JSON with the whitespace between tokens removed, as encoding/json
// writes a json.RawMessage (json.Compact, which escapes nothing, as with HTML escaping off).
func appendCompact(b []byte, raw []byte) []byte {
	buf := bytes.NewBuffer(b)
	if json.Compact(buf, raw) != nil {
		return append(b, raw...) // not reached: raw comes from a decoder that checked it
	}
	return buf.Bytes()
}

// appendAny appends a value decoded from JSON (with UseNumber) or built by the answer layer:
// maps with their keys sorted, as encoding/json does. ok is false for a type it does not know
// (the caller then falls back to encoding/json).
func appendAny(b []byte, v any) ([]byte, bool) {
	switch t := v.(type) {
	case nil:
		return append(b, "null"...), true
	case string:
		return AppendJSONString(b, t), true
	case bool:
		return strconv.AppendBool(b, t), true
	case json.Number:
		if t == "" {
			return append(b, '0'), true
		}
		if !json.Valid([]byte(t)) {
			return b, false
		}
		return append(b, t...), true
	case json.RawMessage:
		if len(t) == 0 {
			return append(b, "null"...), true
		}
		return appendCompact(b, t), true
	case []string:
		return appendStrings(b, t), true
	case []any:
		b = append(b, '[')
		for i, x := range t {
			if i > 0 {
				b = append(b, ',')
			}
			var ok bool
			if b, ok = appendAny(b, x); !ok {
				return b, false
			}
		}
		return append(b, ']'), true
	case map[string]any:
		var small [8]string // a request's objects are small: their keys sorted without an allocation
		keys := small[:0]
		for k := range t {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		b = append(b, '{')
		for i, k := range keys {
			if i > 0 {
				b = append(b, ',')
			}
			b = AppendJSONString(b, k)
			b = append(b, ':')
			var ok bool
			if b, ok = appendAny(b, t[k]); !ok {
				return b, false
			}
		}
		return append(b, '}'), true
	}
	return b, false
}
