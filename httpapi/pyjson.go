package httpapi

import (
	"bytes"
	"encoding/json"
	"math"
	"strconv"
	"unicode/utf16"
	"unicode/utf8"
)

// The drop-in validate endpoint must answer malformed bodies exactly as the control plane
// (FastAPI on CPython's json module) does: the same 422 json_invalid items with the same
// character positions and messages, NaN and Infinity accepted as numbers, and a 400 where
// CPython raises something other than a JSONDecodeError (nesting deeper than its recursion
// limit, integers over its 4300-digit limit, bytes that are not UTF-8). encoding/json differs
// in all of these, so this is a small parser with CPython's grammar and error wording.

// pyDecodeError is CPython's json.JSONDecodeError: a message and a character position.
type pyDecodeError struct {
	msg string
	pos int // in characters (code points), as Python counts
}

// pyParseFailure is any other exception while parsing: FastAPI answers 400.
type pyParseFailure struct{ reason string }

// pyNumber is a JSON number kept as written (NaN, Infinity and -Infinity included).
type pyNumber string

// MarshalJSON writes the number as written. NaN, Infinity, -Infinity and numbers beyond
// float64 (Python reads them as inf) become strings, so every client can parse the answer.
func (n pyNumber) MarshalJSON() ([]byte, error) {
	switch n {
	case "NaN", "Infinity", "-Infinity":
		return json.Marshal(string(n))
	}
	if _, err := strconv.ParseFloat(string(n), 64); err != nil {
		return json.Marshal(string(n))
	}
	return []byte(n), nil
}

// Int64 is the number when it is an integer within int64 (as json.Number's).
func (n pyNumber) Int64() (int64, error) { return strconv.ParseInt(string(n), 10, 64) }

// Float64 is the number as CPython's float() reads it: NaN and ±Infinity by name, beyond
// float64 ±Inf (with strconv's range error). The policy's config variable reads numbers so.
func (n pyNumber) Float64() (float64, error) {
	switch n {
	case "NaN":
		return math.NaN(), nil
	case "Infinity":
		return math.Inf(1), nil
	case "-Infinity":
		return math.Inf(-1), nil
	}
	return strconv.ParseFloat(string(n), 64)
}

// String is the number as written.
func (n pyNumber) String() string { return string(n) }

// pyMaxDepth approximates CPython's recursion limit (1000 frames, less the server's own stack).
const pyMaxDepth = 900

// pyMaxIntDigits is CPython's default int_max_str_digits.
const pyMaxIntDigits = 4300

type pyParser struct {
	data  []byte
	i     int
	depth int
	err   error
}

// pyLoads parses like json.loads on the request bytes. It returns *pyDecodeError or
// *pyParseFailure on failure.
func pyLoads(data []byte) (any, error) {
	data, err := pyDecodeBytes(data)
	if err != nil {
		return nil, err
	}
	p := &pyParser{data: data}
	p.skipWS()
	v := p.value()
	if p.err != nil {
		return nil, p.err
	}
	p.skipWS()
	if p.i != len(p.data) {
		return nil, p.fail("Extra data", p.i)
	}
	return v, nil
}

// pyDecodeBytes turns a body into UTF-8 text as json.loads does for bytes: it detects UTF-32 and
// UTF-16 (with a BOM, or from where the zero bytes fall in the first four), UTF-8 with or without
// its BOM otherwise, and decodes with "surrogatepass" (a lone surrogate is kept; it cannot be
// UTF-8, so it becomes U+FFFD, as lone surrogates from \u escapes do). Bytes the codec cannot
// decode raise UnicodeDecodeError in CPython, which FastAPI answers 400: a *pyParseFailure.
func pyDecodeBytes(b []byte) ([]byte, error) {
	var enc string
	switch {
	case bytes.HasPrefix(b, []byte{0, 0, 0xfe, 0xff}):
		enc, b = "utf-32-be", b[4:]
	case bytes.HasPrefix(b, []byte{0xff, 0xfe, 0, 0}):
		enc, b = "utf-32-le", b[4:]
	case bytes.HasPrefix(b, []byte{0xfe, 0xff}):
		enc, b = "utf-16-be", b[2:]
	case bytes.HasPrefix(b, []byte{0xff, 0xfe}):
		enc, b = "utf-16-le", b[2:]
	case bytes.HasPrefix(b, []byte("\xef\xbb\xbf")):
		enc, b = "utf-8", b[3:]
	case len(b) >= 4 && b[0] == 0:
		enc = "utf-32-be"
		if b[1] != 0 {
			enc = "utf-16-be"
		}
	case len(b) >= 4 && b[1] == 0:
		enc = "utf-32-le"
		if b[2] != 0 || b[3] != 0 {
			enc = "utf-16-le"
		}
	case len(b) == 2 && b[0] == 0:
		enc = "utf-16-be"
	case len(b) == 2 && b[1] == 0:
		enc = "utf-16-le"
	default:
		enc = "utf-8"
	}
	switch enc {
	case "utf-8":
		if utf8.Valid(b) {
			return b, nil
		}
		// surrogatepass: a surrogate encoded as UTF-8 (ED A0-BF 80-BF) decodes; anything else
		// invalid does not.
		out := make([]byte, 0, len(b))
		for i := 0; i < len(b); {
			if b[i] == 0xed && i+2 < len(b) && b[i+1] >= 0xa0 && b[i+1] <= 0xbf && b[i+2] >= 0x80 && b[i+2] <= 0xbf {
				out = utf8.AppendRune(out, utf8.RuneError)
				i += 3
				continue
			}
			r, size := utf8.DecodeRune(b[i:])
			if r == utf8.RuneError && size == 1 {
				return nil, &pyParseFailure{"the body is not valid UTF-8"}
			}
			out = append(out, b[i:i+size]...)
			i += size
		}
		return out, nil
	case "utf-16-be", "utf-16-le":
		if len(b)%2 != 0 {
			return nil, &pyParseFailure{"the body is not valid " + enc + ": truncated data"}
		}
		units := make([]uint16, len(b)/2)
		for i := range units {
			if enc == "utf-16-be" {
				units[i] = uint16(b[2*i])<<8 | uint16(b[2*i+1])
			} else {
				units[i] = uint16(b[2*i+1])<<8 | uint16(b[2*i])
			}
		}
		// utf16.Decode pairs surrogates and turns each lone one into U+FFFD.
		return []byte(string(utf16.Decode(units))), nil
	default: // utf-32
		if len(b)%4 != 0 {
			return nil, &pyParseFailure{"the body is not valid " + enc + ": truncated data"}
		}
		out := make([]byte, 0, len(b)/4)
		for i := 0; i < len(b); i += 4 {
			var v uint32
			if enc == "utf-32-be" {
				v = uint32(b[i])<<24 | uint32(b[i+1])<<16 | uint32(b[i+2])<<8 | uint32(b[i+3])
			} else {
				v = uint32(b[i+3])<<24 | uint32(b[i+2])<<16 | uint32(b[i+1])<<8 | uint32(b[i])
			}
			if v > utf8.MaxRune {
				return nil, &pyParseFailure{"the body is not valid " + enc + ": code point not in range(0x110000)"}
			}
			r := rune(v)
			if utf16.IsSurrogate(r) {
				r = utf8.RuneError
			}
			out = utf8.AppendRune(out, r)
		}
		return out, nil
	}
}

func (e *pyDecodeError) Error() string  { return e.msg + " at char " + strconv.Itoa(e.pos) }
func (e *pyParseFailure) Error() string { return e.reason }

func (p *pyParser) fail(msg string, at int) error {
	if p.err == nil {
		p.err = &pyDecodeError{msg: msg, pos: utf8.RuneCount(p.data[:at])}
	}
	return p.err
}

func (p *pyParser) skipWS() {
	for p.i < len(p.data) {
		switch p.data[p.i] {
		case ' ', '\t', '\n', '\r':
			p.i++
		default:
			return
		}
	}
}

func (p *pyParser) hasPrefix(s string) bool { return bytes.HasPrefix(p.data[p.i:], []byte(s)) }

func (p *pyParser) value() any {
	if p.err != nil {
		return nil
	}
	if p.i >= len(p.data) {
		p.fail("Expecting value", p.i)
		return nil
	}
	switch c := p.data[p.i]; {
	case c == '"':
		return p.str()
	case c == '{':
		return p.object()
	case c == '[':
		return p.array()
	case p.hasPrefix("null"):
		p.i += 4
		return nil
	case p.hasPrefix("true"):
		p.i += 4
		return true
	case p.hasPrefix("false"):
		p.i += 5
		return false
	case p.hasPrefix("NaN"):
		p.i += 3
		return pyNumber("NaN")
	case p.hasPrefix("Infinity"):
		p.i += 8
		return pyNumber("Infinity")
	case p.hasPrefix("-Infinity"):
		p.i += 9
		return pyNumber("-Infinity")
	case c == '-' || (c >= '0' && c <= '9'):
		return p.number()
	default:
		p.fail("Expecting value", p.i)
		return nil
	}
}

// number follows CPython's NUMBER_RE: -?(0|[1-9]\d*)(\.\d+)?([eE][-+]?\d+)?
func (p *pyParser) number() any {
	start := p.i
	digits := func() int {
		n := 0
		for p.i < len(p.data) && p.data[p.i] >= '0' && p.data[p.i] <= '9' {
			p.i++
			n++
		}
		return n
	}
	if p.data[p.i] == '-' {
		p.i++
	}
	if p.i >= len(p.data) || p.data[p.i] < '0' || p.data[p.i] > '9' {
		p.i = start
		p.fail("Expecting value", start)
		return nil
	}
	intStart := p.i
	if p.data[p.i] == '0' {
		p.i++
	} else {
		digits()
	}
	intDigits := p.i - intStart
	isInt := true
	if p.i+1 < len(p.data) && p.data[p.i] == '.' && p.data[p.i+1] >= '0' && p.data[p.i+1] <= '9' {
		p.i++
		digits()
		isInt = false
	}
	if p.i < len(p.data) && (p.data[p.i] == 'e' || p.data[p.i] == 'E') {
		save := p.i
		p.i++
		if p.i < len(p.data) && (p.data[p.i] == '+' || p.data[p.i] == '-') {
			p.i++
		}
		if digits() == 0 {
			p.i = save // not part of the number; the caller reports what follows
		} else {
			isInt = false
		}
	}
	if isInt && intDigits > pyMaxIntDigits {
		if p.err == nil {
			p.err = &pyParseFailure{"integer literal longer than 4300 digits"}
		}
		return nil
	}
	return pyNumber(p.data[start:p.i])
}

func (p *pyParser) str() any {
	s := p.strValue(false)
	if p.err != nil {
		return nil
	}
	return s
}

// strValue reads the string whose opening quote is at p.i (p.err says whether it could). A
// string without escapes, the common case, costs one allocation: its bytes between the quotes.
// An object key (key) that names a field of the validate request costs none.
func (p *pyParser) strValue(key bool) string {
	start := p.i
	p.i++ // opening quote
	for p.i < len(p.data) {
		c := p.data[p.i]
		if c == '"' {
			b := p.data[start+1 : p.i]
			p.i++
			if key {
				return internKey(b)
			}
			return string(b)
		}
		if c == '\\' || c < 0x20 {
			break
		}
		p.i++
	}
	b := append([]byte(nil), p.data[start+1:p.i]...)
	for {
		if p.i >= len(p.data) {
			p.fail("Unterminated string starting at", start)
			return ""
		}
		c := p.data[p.i]
		switch {
		case c == '"':
			p.i++
			return string(b)
		case c == '\\':
			if p.i+1 >= len(p.data) {
				p.fail("Unterminated string starting at", start)
				return ""
			}
			esc := p.data[p.i+1]
			switch esc {
			case '"', '\\', '/':
				b = append(b, esc)
			case 'b':
				b = append(b, '\b')
			case 'f':
				b = append(b, '\f')
			case 'n':
				b = append(b, '\n')
			case 'r':
				b = append(b, '\r')
			case 't':
				b = append(b, '\t')
			case 'u':
				r, ok := p.hex4(p.i + 2)
				if !ok {
					p.fail("Invalid \\uXXXX escape", p.i+1)
					return ""
				}
				p.i += 6
				if utf16.IsSurrogate(r) && r < 0xdc00 && p.hasPrefix(`\u`) {
					if r2, ok := p.hex4(p.i + 2); ok && r2 >= 0xdc00 && r2 <= 0xdfff {
						r = utf16.DecodeRune(r, r2)
						p.i += 6
					}
				}
				if utf16.IsSurrogate(r) {
					r = utf8.RuneError // a lone surrogate cannot be UTF-8; Python keeps it, then fails to encode
				}
				b = utf8.AppendRune(b, r)
				continue
			default:
				p.fail("Invalid \\escape", p.i) // CPython's C scanner names no character
				return ""
			}
			p.i += 2
		case c < 0x20:
			p.fail("Invalid control character at", p.i)
			return ""
		default:
			b = append(b, c)
			p.i++
		}
	}
}

// internKey is the key as a string; the validate request's field names (every drop-in
// validate body has some) are constants, not a copy each.
func internKey(b []byte) string {
	switch string(b) {
	case "runtime_type":
		return "runtime_type"
	case "model_id":
		return "model_id"
	case "agent_config":
		return "agent_config"
	case "system_prompt":
		return "system_prompt"
	}
	return string(b)
}

func (p *pyParser) hex4(at int) (rune, bool) {
	// CPython's scanner wants a character after the four digits (the string's closing quote at
	// least): "\u1234 at the very end is an invalid escape there, not an unterminated string.
	if at+4 >= len(p.data) {
		return 0, false
	}
	// With base 16, ParseUint takes no sign, 0x prefix or underscore: four hex digits only.
	v, err := strconv.ParseUint(string(p.data[at:at+4]), 16, 32)
	if err != nil {
		return 0, false
	}
	return rune(v), true
}

func (p *pyParser) enter() bool {
	p.depth++
	if p.depth > pyMaxDepth && p.err == nil {
		p.err = &pyParseFailure{"nesting deeper than the parser's recursion limit"}
	}
	return p.err == nil
}

func (p *pyParser) object() any {
	if !p.enter() {
		return nil
	}
	defer func() { p.depth-- }()
	p.i++ // {
	obj := map[string]any{}
	p.skipWS()
	if p.i < len(p.data) && p.data[p.i] == '}' {
		p.i++
		return obj
	}
	for {
		if p.i >= len(p.data) || p.data[p.i] != '"' {
			p.fail("Expecting property name enclosed in double quotes", p.i)
			return nil
		}
		key := p.strValue(true)
		if p.err != nil {
			return nil
		}
		p.skipWS()
		if p.i >= len(p.data) || p.data[p.i] != ':' {
			p.fail("Expecting ':' delimiter", p.i)
			return nil
		}
		p.i++
		p.skipWS()
		v := p.value()
		if p.err != nil {
			return nil
		}
		obj[key] = v // a repeated key: the last one wins, as in Python
		p.skipWS()
		if p.i < len(p.data) && p.data[p.i] == '}' {
			p.i++
			return obj
		}
		if p.i >= len(p.data) || p.data[p.i] != ',' {
			p.fail("Expecting ',' delimiter", p.i)
			return nil
		}
		p.i++
		p.skipWS()
	}
}

func (p *pyParser) array() any {
	if !p.enter() {
		return nil
	}
	defer func() { p.depth-- }()
	p.i++ // [
	arr := []any{}
	p.skipWS()
	if p.i < len(p.data) && p.data[p.i] == ']' {
		p.i++
		return arr
	}
	for {
		v := p.value()
		if p.err != nil {
			return nil
		}
		arr = append(arr, v)
		p.skipWS()
		if p.i < len(p.data) && p.data[p.i] == ']' {
			p.i++
			return arr
		}
		if p.i >= len(p.data) || p.data[p.i] != ',' {
			p.fail("Expecting ',' delimiter", p.i)
			return nil
		}
		p.i++
		p.skipWS()
	}
}
