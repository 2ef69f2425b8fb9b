package httpapi

// jsonText is what the scanners below read: a body as bytes, or as one string whose
// sub-strings become the decoded values without a copy each.
type jsonText interface{ ~string | ~[]byte }

// objectMembers calls member with each member of the JSON object b holds, in order: the key
// (unescaped) and the value's text, verbatim (a sub-slice of b). b must be valid JSON
// (json.Valid); ok is false when it is not an object. A repeated key is passed each time.
func objectMembers[T jsonText](b T, member func(key string, value T)) bool {
	i := skipSpace(b, 0)
	if i >= len(b) || b[i] != '{' {
		return false
	}
	i = skipSpace(b, i+1)
	if i < len(b) && b[i] == '}' {
		return true
	}
	for i < len(b) {
		end := stringEnd(b, i)
		key := jsonString(b[i:end])
		i = skipSpace(b, end)
		i = skipSpace(b, i+1) // the colon
		vend := valueEnd(b, i)
		member(key, b[i:vend])
		i = skipSpace(b, vend)
		if i >= len(b) || b[i] == '}' {
			return true
		}
		i = skipSpace(b, i+1) // the comma
	}
	return true
}

func skipSpace[T jsonText](b T, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

// stringEnd returns the index after the string starting at b[i] (a quote).
func stringEnd[T jsonText](b T, i int) int {
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
func valueEnd[T jsonText](b T, i int) int {
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
