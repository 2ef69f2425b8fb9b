package httpapi

import (
	"encoding/json"
	"errors"
	"math"
	"reflect"
	"strings"
	"testing"
)

// pyCases are CPython json.loads's outcomes, recorded on 3.11 and 3.12 (identical; 3.13 words a
// trailing comma "Illegal trailing comma before end of ...", which this parser, like the
// control plane's 3.12 recordings in pyjson_test.go, does not), with parse_int, parse_float and
// parse_constant hooks that keep each number as "#num:" and its text, and lone surrogates shown
// as U+FFFD: "ok" and the value as JSON, a JSONDecodeError's message and character position,
// or "fail" for any other exception (FastAPI's 400). Inputs aim at the grammar's edges:
// numbers, escapes, surrogates, delimiters, literals, and the byte encodings json.loads detects.
var pyCases = []struct {
	in, outcome, value string
	pos                int
}{
	{"0", "ok", "\"#num:0\"", 0},
	{"-0", "ok", "\"#num:-0\"", 0},
	{"01", "Extra data", "", 1},
	{"-01", "Extra data", "", 2},
	{"1.", "Extra data", "", 1},
	{"1.e5", "Extra data", "", 1},
	{".5", "Expecting value", "", 0},
	{"1e", "Extra data", "", 1},
	{"1e+", "Extra data", "", 1},
	{"1e-", "Extra data", "", 1},
	{"1E5", "ok", "\"#num:1E5\"", 0},
	{"1e+5", "ok", "\"#num:1e+5\"", 0},
	{"1e-5", "ok", "\"#num:1e-5\"", 0},
	{"-", "Expecting value", "", 0},
	{"-a", "Expecting value", "", 0},
	{"--1", "Expecting value", "", 0},
	{"-x", "Expecting value", "", 0},
	{"1.5e-3", "ok", "\"#num:1.5e-3\"", 0},
	{"0.0", "ok", "\"#num:0.0\"", 0},
	{"0.5", "ok", "\"#num:0.5\"", 0},
	{"10", "ok", "\"#num:10\"", 0},
	{"9", "ok", "\"#num:9\"", 0},
	{"-9", "ok", "\"#num:-9\"", 0},
	{"1.0E+10", "ok", "\"#num:1.0E+10\"", 0},
	{"2e", "Extra data", "", 1},
	{"2.5.3", "Extra data", "", 3},
	{"1.5e3e", "Extra data", "", 5},
	{"0e0", "ok", "\"#num:0e0\"", 0},
	{"1 ", "ok", "\"#num:1\"", 0},
	{" 1", "ok", "\"#num:1\"", 0},
	{"123abc", "Extra data", "", 3},
	{"1-", "Extra data", "", 1},
	{"1.a", "Extra data", "", 1},
	{"1e5.5", "Extra data", "", 3},
	{"[1e]", "Expecting ',' delimiter", "", 2},
	{"[1.]", "Expecting ',' delimiter", "", 2},
	{"{\"a\":1.}", "Expecting ',' delimiter", "", 6},
	{"-Infinity", "ok", "\"#num:-Infinity\"", 0},
	{"Infinity", "ok", "\"#num:Infinity\"", 0},
	{"NaN", "ok", "\"#num:NaN\"", 0},
	{"-Inf", "Expecting value", "", 0},
	{"infinity", "Expecting value", "", 0},
	{"nan", "Expecting value", "", 0},
	{"-NaN", "Expecting value", "", 0},
	{"Infinityx", "Extra data", "", 8},
	{"null", "ok", "null", 0},
	{"nul", "Expecting value", "", 0},
	{"true", "ok", "true", 0},
	{"tru", "Expecting value", "", 0},
	{"false", "ok", "false", 0},
	{"fals", "Expecting value", "", 0},
	{"nulll", "Extra data", "", 4},
	{"True", "Expecting value", "", 0},
	{"None", "Expecting value", "", 0},
	{"", "Expecting value", "", 0},
	{" ", "Expecting value", "", 1},
	{"\x09\x0a\x0d ", "Expecting value", "", 4},
	{"\x0c1", "Expecting value", "", 0},
	{"x", "Expecting value", "", 0},
	{"\"", "Unterminated string starting at", "", 0},
	{"\"a", "Unterminated string starting at", "", 0},
	{"\"a\"", "ok", "\"a\"", 0},
	{"\"\\\"", "Unterminated string starting at", "", 0},
	{"\"\\", "Unterminated string starting at", "", 0},
	{"\"\\a\"", "Invalid \\escape", "", 1},
	{"\"\\b\\f\\n\\r\\t\\/\\\\\\\"\"", "ok", "\"\\b\\f\\n\\r\\t/\\\\\\\"\"", 0},
	{"\"\\u\"", "Invalid \\uXXXX escape", "", 2},
	{"\"\\u1\"", "Invalid \\uXXXX escape", "", 2},
	{"\"\\u12\"", "Invalid \\uXXXX escape", "", 2},
	{"\"\\u123\"", "Invalid \\uXXXX escape", "", 2},
	{"\"\\u1234\"", "ok", "\"\\u1234\"", 0},
	{"\"\\u12345\"", "ok", "\"\\u12345\"", 0},
	{"\"\\u+123\"", "Invalid \\uXXXX escape", "", 2},
	{"\"\\u-123\"", "Invalid \\uXXXX escape", "", 2},
	{"\"\\u0x12\"", "Invalid \\uXXXX escape", "", 2},
	{"\"\\uX123\"", "Invalid \\uXXXX escape", "", 2},
	{"\"\\u_123\"", "Invalid \\uXXXX escape", "", 2},
	{"\"\\u 123\"", "Invalid \\uXXXX escape", "", 2},
	{"\"\\uABCD\"", "ok", "\"\\uabcd\"", 0},
	{"\"\\uabcd\"", "ok", "\"\\uabcd\"", 0},
	{"\"\\uGGGG\"", "Invalid \\uXXXX escape", "", 2},
	{"\"\\ud83e\\udd16\"", "ok", "\"\\ud83e\\udd16\"", 0},
	{"\"\\ud83e\"", "ok", "\"\\ufffd\"", 0},
	{"\"\\ud83ex\"", "ok", "\"\\ufffdx\"", 0},
	{"\"\\ud83e\\u0041\"", "ok", "\"\\ufffdA\"", 0},
	{"\"\\udd16\"", "ok", "\"\\ufffd\"", 0},
	{"\"\\udd16\\ud83e\"", "ok", "\"\\ufffd\\ufffd\"", 0},
	{"\"\\ud83e\\udbff\"", "ok", "\"\\ufffd\\ufffd\"", 0},
	{"\"\\ud83e\\ue000\"", "ok", "\"\\ufffd\\ue000\"", 0},
	{"\"\\ud83e\\udc00\"", "ok", "\"\\ud83e\\udc00\"", 0},
	{"\"\\ud83e\\udfff\"", "ok", "\"\\ud83e\\udfff\"", 0},
	{"\"\\udbff\\udfff\"", "ok", "\"\\udbff\\udfff\"", 0},
	{"\"\\ud800\\udc00\"", "ok", "\"\\ud800\\udc00\"", 0},
	{"\"\\ud83e\\u\"", "Invalid \\uXXXX escape", "", 8},
	{"\"\\ud83e\\ud83e\\udd16\"", "ok", "\"\\ufffd\\ud83e\\udd16\"", 0},
	{"\"\\ud7ff\"", "ok", "\"\\ud7ff\"", 0},
	{"\"\\ue000\"", "ok", "\"\\ue000\"", 0},
	{"\"\\uDBFF\"", "ok", "\"\\ufffd\"", 0},
	{"\"\\uDC00\"", "ok", "\"\\ufffd\"", 0},
	{"\"\x1f\"", "Invalid control character at", "", 1},
	{"\"\x00\"", "Invalid control character at", "", 1},
	{"\" \"", "ok", "\" \"", 0},
	{"\"\x7f\"", "ok", "\"\\u007f\"", 0},
	{"\"\xc3\xa9\x01\"", "Invalid control character at", "", 2},
	{"\"\xc3\xa9", "Unterminated string starting at", "", 0},
	{"\xc3\xa9", "Expecting value", "", 0},
	{"\"\\\xc3\xa9\"", "Invalid \\escape", "", 1},
	{"{", "Expecting property name enclosed in double quotes", "", 1},
	{"{\"", "Unterminated string starting at", "", 1},
	{"{\"a\"", "Expecting ':' delimiter", "", 4},
	{"{\"a\":", "Expecting value", "", 5},
	{"{\"a\":1", "Expecting ',' delimiter", "", 6},
	{"{\"a\":1,", "Expecting property name enclosed in double quotes", "", 7},
	{"{\"a\":1,}", "Expecting property name enclosed in double quotes", "", 7},
	{"{\"a\":1 ,\"b\":2}", "ok", "{\"a\": \"#num:1\", \"b\": \"#num:2\"}", 0},
	{"{ \"a\" : 1 , \"b\" : [ ] }", "ok", "{\"a\": \"#num:1\", \"b\": []}", 0},
	{"{}", "ok", "{}", 0},
	{"{ }", "ok", "{}", 0},
	{"{1:2}", "Expecting property name enclosed in double quotes", "", 1},
	{"{'a':1}", "Expecting property name enclosed in double quotes", "", 1},
	{"{\"a\"1}", "Expecting ':' delimiter", "", 4},
	{"{\"a\":}", "Expecting value", "", 5},
	{"{\"a\":1}}", "Extra data", "", 7},
	{"{\"a\":1]", "Expecting ',' delimiter", "", 6},
	{"{\"a\":1 \"b\"}", "Expecting ',' delimiter", "", 7},
	{"{,}", "Expecting property name enclosed in double quotes", "", 1},
	{"[", "Expecting value", "", 1},
	{"[1", "Expecting ',' delimiter", "", 2},
	{"[1,", "Expecting value", "", 3},
	{"[1,]", "Expecting value", "", 3},
	{"[,1]", "Expecting value", "", 1},
	{"[]", "ok", "[]", 0},
	{"[ ]", "ok", "[]", 0},
	{"[1 ,2]", "ok", "[\"#num:1\", \"#num:2\"]", 0},
	{"[1,2]]", "Extra data", "", 5},
	{"[1}", "Expecting ',' delimiter", "", 2},
	{"[[[]]]", "ok", "[[[]]]", 0},
	{"[{}]", "ok", "[{}]", 0},
	{"[{]", "Expecting property name enclosed in double quotes", "", 2},
	{"[1,,2]", "Expecting value", "", 3},
	{"{\"a\":{\"b\":{\"c\":[1,{\"d\":null}]}}}", "ok", "{\"a\": {\"b\": {\"c\": [\"#num:1\", {\"d\": null}]}}}", 0},
	{"{\"a\":1,\"a\":2}", "ok", "{\"a\": \"#num:2\"}", 0},
	{"{\"\xc3\xa9\":\"\xc3\xa9\",\"\xf0\x9f\xa4\x96\":\"\xf0\x9f\xa4\x96\"} x", "Extra data", "", 18},
	{"\xc3\xa91", "Expecting value", "", 0},
	{"\"\xc3\xa9\" \"x\"", "Extra data", "", 4},
	{"[1] [2]", "Extra data", "", 4},
	{"{\"a\":\"b\"}x", "Extra data", "", 9},
	{"{\"a\":\"b\"} ", "ok", "{\"a\": \"b\"}", 0},
	{"[NaN,Infinity,-Infinity]", "ok", "[\"#num:NaN\", \"#num:Infinity\", \"#num:-Infinity\"]", 0},
	{"[-]", "Expecting value", "", 1},
	{"[--]", "Expecting value", "", 1},
	{"[1e999]", "ok", "[\"#num:1e999\"]", 0},
	{"[-1e999]", "ok", "[\"#num:-1e999\"]", 0},
	{"1e999", "ok", "\"#num:1e999\"", 0},
	{"\xef\xbb\xbf{}", "ok", "{}", 0},
	{"{\"\\u00e9\":1}", "ok", "{\"\\u00e9\": \"#num:1\"}", 0},
	{"{\"a\\u0000b\":1}", "ok", "{\"a\\u0000b\": \"#num:1\"}", 0},
	{"\"\\/\"", "ok", "\"/\"", 0},
	{"[\"\\ud800\\udc00x\"]", "ok", "[\"\\ud800\\udc00x\"]", 0},
	{"09999999999", "Extra data", "", 1},
	{"1.9", "ok", "\"#num:1.9\"", 0},
	{"1.0", "ok", "\"#num:1.0\"", 0},
	{"-1.09e9", "ok", "\"#num:-1.09e9\"", 0},
	{"19", "ok", "\"#num:19\"", 0},
	{"[1.9]", "ok", "[\"#num:1.9\"]", 0},
	{"\"\\u00X1\"", "Invalid \\uXXXX escape", "", 2},
	{"\"\\u0_01\"", "Invalid \\uXXXX escape", "", 2},
	{"\"\\u+0e9\"", "Invalid \\uXXXX escape", "", 2},
	{"\"\\u1234", "Invalid \\uXXXX escape", "", 2},
	{"\"\\ud83e\\udd16", "Invalid \\uXXXX escape", "", 8},
	{"\"\\ud83e\\udd1", "Invalid \\uXXXX escape", "", 8},
	{"\"\\u12", "Invalid \\uXXXX escape", "", 2},
	{"\"\\udc00\\udc00\"", "ok", "\"\\ufffd\\ufffd\"", 0},
	{"\"\\udbff\\udc00\"", "ok", "\"\\udbff\\udc00\"", 0},
	{"\"\\ud800\\udbff\"", "ok", "\"\\ufffd\\ufffd\"", 0},
	{"\"\\u", "Invalid \\uXXXX escape", "", 2},
	{"\"\\", "Unterminated string starting at", "", 0},
	{"[1.5", "Expecting ',' delimiter", "", 4},
	{"[1e5", "Expecting ',' delimiter", "", 4},
	{"[-", "Expecting value", "", 1},
	{"{\"a\":-", "Expecting value", "", 5},
	{"[0", "Expecting ',' delimiter", "", 2},
	{"{\"a\":tru}", "Expecting value", "", 5},
	{"[nul]", "Expecting value", "", 1},
	{"[1,2", "Expecting ',' delimiter", "", 4},
	{"{\"a\":1", "Expecting ',' delimiter", "", 6},
	{"{\"a\"", "Expecting ':' delimiter", "", 4},
	{"{\x00}\x00", "ok", "{}", 0},
	{"\x00{\x00}", "ok", "{}", 0},
	{"{\x00\x00\x00}\x00\x00\x00", "ok", "{}", 0},
	{"\x00\x00\x00{\x00\x00\x00}", "ok", "{}", 0},
	{"\xff\xfe{\x00}\x00", "ok", "{}", 0},
	{"\xfe\xff\x00{\x00}", "ok", "{}", 0},
	{"\xff\xfe\x00\x00{\x00\x00\x00}\x00\x00\x00", "ok", "{}", 0},
	{"\x00\x00\xfe\xff\x00\x00\x00{\x00\x00\x00}", "ok", "{}", 0},
	{"\xef\xbb\xbf{}", "ok", "{}", 0},
	{"1\x00", "ok", "\"#num:1\"", 0},
	{"\x001", "ok", "\"#num:1\"", 0},
	{"1\x00\x00\x00", "ok", "\"#num:1\"", 0},
	{"\x00\x00\x001", "ok", "\"#num:1\"", 0},
	{"\xff\xfe1\x00", "ok", "\"#num:1\"", 0},
	{"\xfe\xff\x001", "ok", "\"#num:1\"", 0},
	{"\xff\xfe\x00\x001\x00\x00\x00", "ok", "\"#num:1\"", 0},
	{"\x00\x00\xfe\xff\x00\x00\x001", "ok", "\"#num:1\"", 0},
	{"\xef\xbb\xbf1", "ok", "\"#num:1\"", 0},
	{"[\x001\x00]\x00", "ok", "[\"#num:1\"]", 0},
	{"\x00[\x001\x00]", "ok", "[\"#num:1\"]", 0},
	{"[\x00\x00\x001\x00\x00\x00]\x00\x00\x00", "ok", "[\"#num:1\"]", 0},
	{"\x00\x00\x00[\x00\x00\x001\x00\x00\x00]", "ok", "[\"#num:1\"]", 0},
	{"\xff\xfe[\x001\x00]\x00", "ok", "[\"#num:1\"]", 0},
	{"\xfe\xff\x00[\x001\x00]", "ok", "[\"#num:1\"]", 0},
	{"\xff\xfe\x00\x00[\x00\x00\x001\x00\x00\x00]\x00\x00\x00", "ok", "[\"#num:1\"]", 0},
	{"\x00\x00\xfe\xff\x00\x00\x00[\x00\x00\x001\x00\x00\x00]", "ok", "[\"#num:1\"]", 0},
	{"\xef\xbb\xbf[1]", "ok", "[\"#num:1\"]", 0},
	{"\"\x00\xe9\x00>\xd8\x16\xdd\"\x00", "ok", "\"\\u00e9\\ud83e\\udd16\"", 0},
	{"\x00\"\x00\xe9\xd8>\xdd\x16\x00\"", "ok", "\"\\u00e9\\ud83e\\udd16\"", 0},
	{"\"\x00\x00\x00\xe9\x00\x00\x00\x16\xf9\x01\x00\"\x00\x00\x00", "ok", "\"\\u00e9\\ud83e\\udd16\"", 0},
	{"\x00\x00\x00\"\x00\x00\x00\xe9\x00\x01\xf9\x16\x00\x00\x00\"", "ok", "\"\\u00e9\\ud83e\\udd16\"", 0},
	{"\xff\xfe\"\x00\xe9\x00>\xd8\x16\xdd\"\x00", "ok", "\"\\u00e9\\ud83e\\udd16\"", 0},
	{"\xfe\xff\x00\"\x00\xe9\xd8>\xdd\x16\x00\"", "ok", "\"\\u00e9\\ud83e\\udd16\"", 0},
	{"\xff\xfe\x00\x00\"\x00\x00\x00\xe9\x00\x00\x00\x16\xf9\x01\x00\"\x00\x00\x00", "ok", "\"\\u00e9\\ud83e\\udd16\"", 0},
	{"\x00\x00\xfe\xff\x00\x00\x00\"\x00\x00\x00\xe9\x00\x01\xf9\x16\x00\x00\x00\"", "ok", "\"\\u00e9\\ud83e\\udd16\"", 0},
	{"\xef\xbb\xbf\"\xc3\xa9\xf0\x9f\xa4\x96\"", "ok", "\"\\u00e9\\ud83e\\udd16\"", 0},
	{"{\x00\"\x00a\x00\"\x00 \x001\x00}\x00", "Expecting ':' delimiter", "", 5},
	{"\x00{\x00\"\x00a\x00\"\x00 \x001\x00}", "Expecting ':' delimiter", "", 5},
	{"{\x00\x00\x00\"\x00\x00\x00a\x00\x00\x00\"\x00\x00\x00 \x00\x00\x001\x00\x00\x00}\x00\x00\x00", "Expecting ':' delimiter", "", 5},
	{"\x00\x00\x00{\x00\x00\x00\"\x00\x00\x00a\x00\x00\x00\"\x00\x00\x00 \x00\x00\x001\x00\x00\x00}", "Expecting ':' delimiter", "", 5},
	{"\xff\xfe{\x00\"\x00a\x00\"\x00 \x001\x00}\x00", "Expecting ':' delimiter", "", 5},
	{"\xfe\xff\x00{\x00\"\x00a\x00\"\x00 \x001\x00}", "Expecting ':' delimiter", "", 5},
	{"\xff\xfe\x00\x00{\x00\x00\x00\"\x00\x00\x00a\x00\x00\x00\"\x00\x00\x00 \x00\x00\x001\x00\x00\x00}\x00\x00\x00", "Expecting ':' delimiter", "", 5},
	{"\x00\x00\xfe\xff\x00\x00\x00{\x00\x00\x00\"\x00\x00\x00a\x00\x00\x00\"\x00\x00\x00 \x00\x00\x001\x00\x00\x00}", "Expecting ':' delimiter", "", 5},
	{"\xef\xbb\xbf{\"a\" 1}", "Expecting ':' delimiter", "", 5},
	{"1\x002\x00", "ok", "\"#num:12\"", 0},
	{"\x001\x002", "ok", "\"#num:12\"", 0},
	{"1\x00\x00\x002\x00\x00\x00", "ok", "\"#num:12\"", 0},
	{"\x00\x00\x001\x00\x00\x002", "ok", "\"#num:12\"", 0},
	{"\xff\xfe1\x002\x00", "ok", "\"#num:12\"", 0},
	{"\xfe\xff\x001\x002", "ok", "\"#num:12\"", 0},
	{"\xff\xfe\x00\x001\x00\x00\x002\x00\x00\x00", "ok", "\"#num:12\"", 0},
	{"\x00\x00\xfe\xff\x00\x00\x001\x00\x00\x002", "ok", "\"#num:12\"", 0},
	{"\xef\xbb\xbf12", "ok", "\"#num:12\"", 0},
	{"[\x001\x00,\x002\x00,\x003\x00]\x00", "ok", "[\"#num:1\", \"#num:2\", \"#num:3\"]", 0},
	{"\x00[\x001\x00,\x002\x00,\x003\x00]", "ok", "[\"#num:1\", \"#num:2\", \"#num:3\"]", 0},
	{"[\x00\x00\x001\x00\x00\x00,\x00\x00\x002\x00\x00\x00,\x00\x00\x003\x00\x00\x00]\x00\x00\x00", "ok", "[\"#num:1\", \"#num:2\", \"#num:3\"]", 0},
	{"\x00\x00\x00[\x00\x00\x001\x00\x00\x00,\x00\x00\x002\x00\x00\x00,\x00\x00\x003\x00\x00\x00]", "ok", "[\"#num:1\", \"#num:2\", \"#num:3\"]", 0},
	{"\xff\xfe[\x001\x00,\x002\x00,\x003\x00]\x00", "ok", "[\"#num:1\", \"#num:2\", \"#num:3\"]", 0},
	{"\xfe\xff\x00[\x001\x00,\x002\x00,\x003\x00]", "ok", "[\"#num:1\", \"#num:2\", \"#num:3\"]", 0},
	{"\xff\xfe\x00\x00[\x00\x00\x001\x00\x00\x00,\x00\x00\x002\x00\x00\x00,\x00\x00\x003\x00\x00\x00]\x00\x00\x00", "ok", "[\"#num:1\", \"#num:2\", \"#num:3\"]", 0},
	{"\x00\x00\xfe\xff\x00\x00\x00[\x00\x00\x001\x00\x00\x00,\x00\x00\x002\x00\x00\x00,\x00\x00\x003\x00\x00\x00]", "ok", "[\"#num:1\", \"#num:2\", \"#num:3\"]", 0},
	{"\xef\xbb\xbf[1,2,3]", "ok", "[\"#num:1\", \"#num:2\", \"#num:3\"]", 0},
	{" \x001\x00 \x00", "ok", "\"#num:1\"", 0},
	{"\x00 \x001\x00 ", "ok", "\"#num:1\"", 0},
	{" \x00\x00\x001\x00\x00\x00 \x00\x00\x00", "ok", "\"#num:1\"", 0},
	{"\x00\x00\x00 \x00\x00\x001\x00\x00\x00 ", "ok", "\"#num:1\"", 0},
	{"\xff\xfe \x001\x00 \x00", "ok", "\"#num:1\"", 0},
	{"\xfe\xff\x00 \x001\x00 ", "ok", "\"#num:1\"", 0},
	{"\xff\xfe\x00\x00 \x00\x00\x001\x00\x00\x00 \x00\x00\x00", "ok", "\"#num:1\"", 0},
	{"\x00\x00\xfe\xff\x00\x00\x00 \x00\x00\x001\x00\x00\x00 ", "ok", "\"#num:1\"", 0},
	{"\xef\xbb\xbf 1 ", "ok", "\"#num:1\"", 0},
	{"1\x00", "ok", "\"#num:1\"", 0},
	{"\x001", "ok", "\"#num:1\"", 0},
	{"\x00\x00", "Expecting value", "", 0},
	{"1\x00\x00", "Extra data", "", 1},
	{"\x001\x00", "Expecting value", "", 0},
	{"\x00\x00\x001", "ok", "\"#num:1\"", 0},
	{"1\x00\x00\x00", "ok", "\"#num:1\"", 0},
	{"\x001\x002", "ok", "\"#num:12\"", 0},
	{"1\x002\x00", "ok", "\"#num:12\"", 0},
	{"1\x00\x00\x00\x00", "fail", "", 0},            // UnicodeDecodeError
	{"\x00\x00\x001\x00\x00\x00", "fail", "", 0},    // UnicodeDecodeError
	{"\x00\x00\x001\x00", "fail", "", 0},            // UnicodeDecodeError
	{"\xff\xfe1", "fail", "", 0},                    // UnicodeDecodeError
	{"\xfe\xff\x001\x00", "fail", "", 0},            // UnicodeDecodeError
	{"\xff\xfe\x00\x001\x00\x00", "fail", "", 0},    // UnicodeDecodeError
	{"\x00\x00\xfe\xff\x00\x00\x00", "fail", "", 0}, // UnicodeDecodeError
	{"\x00\x00\x00\"\x00\x00\xd8\x00\x00\x00\x00\"", "ok", "\"\\ufffd\"", 0},
	{"\x00\x00\x00\"\x00\x11\x00\x00\x00\x00\x00\"", "fail", "", 0}, // UnicodeDecodeError
	{"\x00\x00\x00\"\x00\x10\xff\xff\x00\x00\x00\"", "ok", "\"\\udbff\\udfff\"", 0},
	{"\"\x00\x00\xd8\"\x00", "ok", "\"\\ufffd\"", 0},
	{"\x00\"\xd8>\xdd\x16\x00\"", "ok", "\"\\ud83e\\udd16\"", 0},
	{"\"\xed\xa0\x80\"", "ok", "\"\\ufffd\"", 0},
	{"\"\xed\xbf\xbf\"", "ok", "\"\\ufffd\"", 0},
	{"\"\xed\x9f\xbf\"", "ok", "\"\\ud7ff\"", 0},
	{"\"\xed\xc0\x80\"", "fail", "", 0}, // UnicodeDecodeError
	{"\"\xed\xa0\x7f\"", "fail", "", 0}, // UnicodeDecodeError
	{"\"\xed\xa0\xc0\"", "fail", "", 0}, // UnicodeDecodeError
	{"\"\xed\xa0\"", "fail", "", 0},     // UnicodeDecodeError
	{"\"\xed\"", "fail", "", 0},         // UnicodeDecodeError
	{"\"\xed\xa0", "fail", "", 0},       // UnicodeDecodeError
	{"\"\xed", "fail", "", 0},           // UnicodeDecodeError
	{"\xed\xa0", "fail", "", 0},         // UnicodeDecodeError
	{"\"a\xed\xbf", "fail", "", 0},      // UnicodeDecodeError
	{"\"\xff\"", "fail", "", 0},         // UnicodeDecodeError
	{"\"\xc3\"", "fail", "", 0},         // UnicodeDecodeError
	{"\"\xc3\xa9\"", "ok", "\"\\u00e9\"", 0},
	{"\"a\xed\xa0\x80b\xed\xbf\xbf\"", "ok", "\"a\\ufffdb\\ufffd\"", 0},
	{"\xed\xa0\x80", "Expecting value", "", 0},
	{"\"\x80\"", "fail", "", 0}, // UnicodeDecodeError
	{"\xef\xbb", "fail", "", 0}, // UnicodeDecodeError
	{"\xef\xbb\xbf", "Expecting value", "", 0},
	{"\xff\xfe", "Expecting value", "", 0},
	{"\xfe\xff", "Expecting value", "", 0},
	{"\xff", "fail", "", 0}, // UnicodeDecodeError
	{"\x00", "Expecting value", "", 0},
	{"\x00\x00\xfe\xff", "Expecting value", "", 0},
	{"\xff\xfe\x00\x00", "Expecting value", "", 0},
}

// TestPyLoads_MatchesCPython: pyLoads answers every recorded input as CPython's json.loads did:
// the same value, the same error message at the same character position, or a failure.
func TestPyLoads_MatchesCPython(t *testing.T) {
	t.Parallel()
	for _, tc := range pyCases {
		v, err := pyLoads([]byte(tc.in))
		var de *pyDecodeError
		var pf *pyParseFailure
		switch tc.outcome {
		case "ok":
			var want any
			if jerr := json.Unmarshal([]byte(tc.value), &want); jerr != nil {
				t.Fatalf("%q: recorded value %s: %v", tc.in, tc.value, jerr)
			}
			if err != nil || !reflect.DeepEqual(pyCanon(v), want) {
				t.Errorf("%q: %#v %v, CPython %s", tc.in, pyCanon(v), err, tc.value)
			}
		case "fail":
			if !errors.As(err, &pf) {
				t.Errorf("%q: %#v %v, CPython raised (not a JSONDecodeError)", tc.in, v, err)
			}
		default:
			if !errors.As(err, &de) || de.msg != tc.outcome || de.pos != tc.pos {
				t.Errorf("%q: %v, CPython %s at char %d", tc.in, err, tc.outcome, tc.pos)
			} else if de.Error() != tc.outcome+" at char "+itoa(tc.pos) {
				t.Errorf("%q: Error() %q", tc.in, de.Error())
			}
		}
	}
}

func itoa(n int) string { b, _ := json.Marshal(n); return string(b) }

// pyCanon is v with each number as "#num:" and its text (as the recorded values are).
func pyCanon(v any) any {
	switch x := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[k] = pyCanon(e)
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = pyCanon(e)
		}
		return out
	case pyNumber:
		return "#num:" + string(x)
	}
	return v
}

// TestPyLoads_IntegerDigitLimit: CPython refuses an integer literal of more than 4300 digits
// (int_max_str_digits; the sign does not count, a fraction or exponent makes it a float).
func TestPyLoads_IntegerDigitLimit(t *testing.T) {
	t.Parallel()
	nines := func(n int) string { return strings.Repeat("9", n) }
	for _, tc := range []struct {
		in string
		ok bool
	}{
		{nines(4300), true}, {nines(4301), false},
		{"-" + nines(4300), true}, {"-" + nines(4301), false},
		{"1" + strings.Repeat("0", 4299), true}, {"1" + strings.Repeat("0", 4300), false},
		{nines(4301) + ".0", true}, {nines(4301) + "e0", true}, {"[" + nines(4301) + "]", false},
	} {
		v, err := pyLoads([]byte(tc.in))
		var pf *pyParseFailure
		if tc.ok && (err != nil || string(v.(pyNumber)) != tc.in) {
			t.Errorf("%.8s... (%d bytes): %v, want the number as written", tc.in, len(tc.in), err)
		}
		if !tc.ok && (!errors.As(err, &pf) || pf.Error() != "integer literal longer than 4300 digits") {
			t.Errorf("%.8s... (%d bytes): %v, want CPython's failure", tc.in, len(tc.in), err)
		}
	}
}

// TestPyLoads_DepthLimit: nesting up to pyMaxDepth parses; one level more is a failure, in
// arrays and objects alike.
func TestPyLoads_DepthLimit(t *testing.T) {
	t.Parallel()
	arrays := func(n int) string { return strings.Repeat("[", n) + strings.Repeat("]", n) }
	objects := func(n int) string { return strings.Repeat(`{"a":`, n-1) + "{}" + strings.Repeat("}", n-1) }
	for _, nest := range []func(int) string{arrays, objects} {
		if _, err := pyLoads([]byte(nest(pyMaxDepth))); err != nil {
			t.Errorf("%d levels: %v", pyMaxDepth, err)
		}
		var pf *pyParseFailure
		if _, err := pyLoads([]byte(nest(pyMaxDepth + 1))); !errors.As(err, &pf) || !strings.Contains(pf.Error(), "recursion limit") {
			t.Errorf("%d levels: %v, want a failure", pyMaxDepth+1, err)
		}
		// Depth is nesting, not the number of containers: many siblings at depth 2 parse.
		if _, err := pyLoads([]byte("[" + strings.Repeat(nest(1)+",", pyMaxDepth+5) + "1]")); err != nil {
			t.Errorf("siblings: %v", err)
		}
	}
}

// TestPyNumber: numbers JSON cannot carry (NaN, ±Infinity, beyond float64) are answered as
// strings, every other as written; Float64 reads them as CPython's float() does.
func TestPyNumber(t *testing.T) {
	t.Parallel()
	for n, want := range map[pyNumber]string{
		"NaN": `"NaN"`, "Infinity": `"Infinity"`, "-Infinity": `"-Infinity"`, "1e999": `"1e999"`, "-1e999": `"-1e999"`,
		"1.5e3": `1.5e3`, "-0": `-0`, "12": `12`,
	} {
		b, err := json.Marshal(n)
		if err != nil || string(b) != want {
			t.Errorf("%s: %s %v, want %s", n, b, err, want)
		}
		if n.String() != string(n) {
			t.Errorf("%s: String() %q", n, n.String())
		}
	}
	for n, want := range map[pyNumber]float64{"Infinity": math.Inf(1), "-Infinity": math.Inf(-1), "2.5": 2.5, "-1e3": -1000} {
		if got, err := n.Float64(); err != nil || got != want {
			t.Errorf("%s: %v %v, want %v", n, got, err, want)
		}
	}
	if got, err := pyNumber("NaN").Float64(); err != nil || !math.IsNaN(got) {
		t.Errorf("NaN: %v %v", got, err)
	}
	if got, err := pyNumber("1e999").Float64(); err == nil || !math.IsInf(got, 1) {
		t.Errorf("1e999: %v %v, want +Inf with a range error", got, err)
	}
	if got, err := pyNumber("12").Int64(); err != nil || got != 12 {
		t.Errorf("12: %v %v", got, err)
	}
	if _, err := pyNumber("1.5").Int64(); err == nil {
		t.Error("1.5 read as an integer")
	}
}
