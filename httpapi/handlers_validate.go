package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/labstack/echo/v4"

	"github.com/runtimesd/runtimesd/health"
	"github.com/runtimesd/runtimesd/store"
)

// UpstreamValidator forwards a validate request to the control plane (through its breaker).
type UpstreamValidator interface {
	ValidateUpstream(ctx context.Context, body []byte, contentType string) (status int, respBody []byte, err error)
}

// Validation modes.
const (
	ValidateLocal    = "local"
	ValidateUpstream = "upstream"
)

// HeaderValidatedBy says who answered a drop-in validate request: local or upstream.
const HeaderValidatedBy = "X-Runtimes-Validated-By"

// pydanticError is one item of FastAPI's 422 "detail" list.
type pydanticError struct {
	Type  string         `json:"type"`
	Loc   []any          `json:"loc"`
	Msg   string         `json:"msg"`
	Input any            `json:"input"`
	Ctx   map[string]any `json:"ctx,omitempty"`
	URL   string         `json:"url,omitempty"`
}

func pydanticItem(typ string, loc []any, msg string, input any) pydanticError {
	return pydanticError{Type: typ, Loc: loc, Msg: msg, Input: input, URL: "https://errors.pydantic.dev/2.13/v/" + typ}
}

func unprocessable(items ...pydanticError) *Error {
	var parts []string
	for _, it := range items {
		parts = append(parts, fmt.Sprintf("%v: %s", it.Loc, it.Msg))
	}
	return &Error{Status: http.StatusUnprocessableEntity, Code: "invalid_body", Detail: items,
		Message: "the request body is not a valid validation request: " + strings.Join(parts, "; ")}
}

// readBody reads the whole request body (BodyLimit caps it).
func readBody(c echo.Context) ([]byte, error) {
	b, err := io.ReadAll(c.Request().Body)
	if err != nil {
		var he *echo.HTTPError
		if errors.As(err, &he) {
			return nil, he
		}
		return nil, errorf(http.StatusBadRequest, "bad_body", "could not read the request body: %v", err)
	}
	return b, nil
}

// isJSONContentType applies FastAPI's rule: no Content-Type, or application/json, or
// application/*+json (parameters such as charset ignored).
func isJSONContentType(ct string) bool {
	if ct == "" || ct == echo.MIMEApplicationJSON {
		return true
	}
	mt, _, err := mime.ParseMediaType(ct)
	if err != nil {
		return false // Python's email parser falls back to text/plain
	}
	main, sub, _ := strings.Cut(mt, "/")
	return main == "application" && (sub == "json" || strings.HasSuffix(sub, "+json"))
}

// parseDropInValidate reads a body the way the control plane's FastAPI endpoint does and
// returns the request, or the control plane's own 400/422 answer.
func parseDropInValidate(body []byte, contentType string) (store.ValidationRequest, error) {
	var req store.ValidationRequest
	if len(body) == 0 {
		return req, unprocessable(pydanticItem("missing", []any{"body"}, "Field required", nil))
	}
	var v any
	if !isJSONContentType(contentType) {
		v = string(body) // FastAPI reads a body of another type as text
	} else {
		parsed, err := pyLoads(body)
		if err != nil {
			return req, pyLoadsError(err)
		}
		v = parsed
	}
	m, ok := v.(map[string]any)
	if !ok {
		return req, unprocessable(pydanticItem("model_attributes_type", []any{"body"},
			"Input should be a valid dictionary or object to extract fields from", v))
	}
	var items []pydanticError
	str := func(field string, required bool) *string {
		val, present := m[field]
		switch s := val.(type) {
		case string:
			return &s
		case nil:
			if required {
				if !present {
					items = append(items, pydanticItem("missing", []any{"body", field}, "Field required", m))
				} else {
					items = append(items, pydanticItem("string_type", []any{"body", field}, "Input should be a valid string", nil))
				}
			}
		default:
			items = append(items, pydanticItem("string_type", []any{"body", field}, "Input should be a valid string", val))
		}
		return nil
	}
	if rt := str("runtime_type", true); rt != nil {
		req.RuntimeType = *rt
	}
	req.ModelID = str("model_id", false)
	switch cfg := m["agent_config"].(type) {
	case map[string]any:
		req.AgentConfig = cfg
	case nil:
	default:
		items = append(items, pydanticItem("dict_type", []any{"body", "agent_config"}, "Input should be a valid dictionary", cfg))
	}
	req.SystemPrompt = str("system_prompt", false)
	if len(items) > 0 {
		return req, unprocessable(items...)
	}
	return req, nil
}

// pyLoadsError is FastAPI's answer to a body json.loads refused: 422 json_invalid for a
// JSONDecodeError (with its message and character position), 400 for any other exception.
func pyLoadsError(err error) error {
	var de *pyDecodeError
	if errors.As(err, &de) {
		item := pydanticError{Type: "json_invalid", Loc: []any{"body", de.pos}, Msg: "JSON decode error",
			Input: map[string]any{}, Ctx: map[string]any{"error": de.msg}}
		return unprocessable(item)
	}
	return &Error{Status: http.StatusBadRequest, Code: "unparsable_body",
		Message: "There was an error parsing the body: " + err.Error(), Detail: "There was an error parsing the body"}
}

// handleDropInValidate is POST /api/v1/runtimes/validate: the control plane's request, rules,
// sentences and error answers, from the cache (or forwarded, in upstream mode).
func (s *Server) handleDropInValidate(c echo.Context) error {
	body, err := readBody(c)
	if err != nil {
		return err
	}
	ct := c.Request().Header.Get(echo.HeaderContentType)
	h := c.Response().Header()
	if s.dyn().ValidateMode == ValidateUpstream && s.opts.UpstreamValidator != nil {
		status, resp, uerr := s.opts.UpstreamValidator.ValidateUpstream(c.Request().Context(), body, ct)
		if uerr == nil && status < 500 && (status >= 300 || isVerdict(resp)) {
			h.Set(HeaderValidatedBy, ValidateUpstream)
			h.Set(echo.HeaderContentType, echo.MIMEApplicationJSON)
			return c.Blob(status, echo.MIMEApplicationJSON, resp)
		}
		reason := fmt.Sprintf("control plane answered %d", status)
		if uerr == nil && status < 300 {
			reason += " without a verdict ({\"valid\": bool, \"errors\": [...]})"
		}
		if uerr != nil {
			reason = uerr.Error()
		}
		h.Set("X-Runtimes-Validation-Fallback", sanitizeHeader(reason))
	}
	h[HeaderValidatedBy] = hvValidatedLocal
	req, err := parseDropInValidate(body, ct)
	if err != nil {
		return err
	}
	snap, err := s.snapshot()
	if err != nil {
		return err
	}
	res := s.dyn().Validator.Validate(snap.Catalog, req)
	return writeBody(c, http.StatusOK, appendDropInValidation(make([]byte, 0, 256), res.Valid, res.Errors))
}

// isVerdict reports whether a 2xx body of the control plane's validate is a verdict,
// {"valid": bool, "errors": [strings] or null}. Another JSON body (a proxy's, a control
// plane's bug) was relayed as it was to SDKs that read result["valid"]; it is answered locally.
func isVerdict(b []byte) bool {
	var v struct {
		Valid  *bool    `json:"valid"`
		Errors []string `json:"errors"`
	}
	return json.Unmarshal(b, &v) == nil && v.Valid != nil
}

// appendDropInValidation appends the control plane's validate answer, {"valid":…,"errors":[…]},
// as encoding/json writes that struct (HTML escaping off; nil errors as null), without
// reflection: the drop-in validate is answered per request.
func appendDropInValidation(b []byte, valid bool, errs []string) []byte {
	b = append(b, `{"valid":`...)
	b = strconv.AppendBool(b, valid)
	b = append(b, `,"errors":`...)
	if errs == nil {
		return append(b, "null}"...)
	}
	b = append(b, '[')
	for i, e := range errs {
		if i > 0 {
			b = append(b, ',')
		}
		b = health.AppendJSONString(b, e)
	}
	return append(b, "]}"...)
}

// sanitizeHeader keeps a header value to one printable line of bounded length.
func sanitizeHeader(s string) string {
	s = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return ' '
		}
		return r
	}, s)
	if len(s) > 200 {
		s = s[:200]
	}
	return strings.ToValidUTF8(s, "")
}

// nativeValidateRequest is POST /v1/validate's body (health.ValidateRequest): the control
// plane's fields plus the features the agent needs. Unknown keys are kept in validated_config.
type nativeValidateRequest = health.ValidateRequest

// DecodeValidateRequest decodes a native validate request body as POST /v1/validate does (the
// CLI's offline validate uses it too); a bad body is an *Error naming what is wrong.
func DecodeValidateRequest(body []byte) (health.ValidateRequest, error) {
	return decodeNativeValidate(body)
}

func decodeNativeValidate(body []byte) (nativeValidateRequest, error) {
	var out nativeValidateRequest
	if len(bytes.TrimSpace(body)) == 0 {
		return out, errorf(http.StatusBadRequest, "bad_body", "the body is empty; send a JSON object with at least runtime_type")
	}
	if !utf8.Valid(body) {
		return out, errorf(http.StatusBadRequest, "bad_body", "the body is not valid UTF-8")
	}
	// A level of valid JSON takes two bytes at least: only a longer body can nest too deeply.
	if len(body) > 2*maxNativeDepth && nestingDepth(body) > maxNativeDepth {
		return out, errorf(http.StatusBadRequest, "bad_body",
			"the body nests deeper than %d levels (the control plane's parser stops there too)", maxNativeDepth)
	}
	// One JSON object and nothing after it is read in one pass over one string (the values
	// are its sub-strings); anything else takes the stream decoder, whose errors say what is
	// wrong.
	var f nativeMembers
	if !jsonValid(body) || !objectMembers(string(body), f.add) {
		var members map[string]json.RawMessage
		dec := json.NewDecoder(bytes.NewReader(body))
		dec.UseNumber()
		if err := dec.Decode(&members); err != nil {
			return out, errorf(http.StatusBadRequest, "bad_body", "the body is not a JSON object: %s", jsonProblem(err))
		}
		if dataAfter(dec, body) {
			return out, errorf(http.StatusBadRequest, "bad_body", "the body has data after the JSON object")
		}
		if members == nil {
			return out, errorf(http.StatusBadRequest, "bad_body", "the body is null; send a JSON object with at least runtime_type")
		}
		for k, v := range members {
			f.add(k, string(v))
		}
	}
	out.Raw = f.other
	rt, ok, err := stringMember("runtime_type", f.runtimeType, "a string")
	if err != nil {
		return out, err
	}
	if !ok {
		return out, errorf(http.StatusBadRequest, "missing_field", "runtime_type is required (a string such as \"default\")")
	}
	out.RuntimeType = rt
	if out.ModelID, err = optionalString("model_id", f.modelID); err != nil {
		return out, err
	}
	if v := f.agentConfig; v != "" && v != "null" {
		// v is valid JSON (above): decoded as a json.Decoder with UseNumber would.
		var ok bool
		if out.AgentConfig, ok = decodeValue(v).(map[string]any); !ok {
			return out, errorf(http.StatusBadRequest, "bad_field", "agent_config must be a JSON object or null")
		}
		if path := outOfRange(out.AgentConfig, "agent_config"); path != "" {
			return out, errorf(http.StatusBadRequest, "bad_field", "%s is a number beyond what a double can hold", path)
		}
	}
	if out.SystemPrompt, err = optionalString("system_prompt", f.systemPrompt); err != nil {
		return out, err
	}
	if v := f.features; v != "" && v != "null" {
		var ok bool
		if out.Features, ok = stringList(v); !ok { // the common case, without reflection
			var list []string // not &out.Features: out would move to the heap
			if err := json.Unmarshal([]byte(v), &list); err != nil {
				return out, errorf(http.StatusBadRequest, "bad_field", "features must be an array of strings")
			}
			out.Features = list
		}
	}
	if err := checkFeatureCount(len(out.Features)); err != nil {
		return out, err
	}
	return out, nil
}

// maxNativeDepth bounds how deeply a native validate body nests. encoding/json stops at
// 10,000 levels, but the answer holds agent_config and unknown keys one level deeper than the
// request did (in validated_config), so a body at 10,000 was answered with JSON no Go client
// (the CLI's online mode included) could decode. The control plane itself cannot read more
// than the drop-in validate's limit (CPython's recursion limit): the same bound here.
const maxNativeDepth = pyMaxDepth

// nestingDepth is how deeply b's arrays and objects nest, strings skipped.
func nestingDepth(b []byte) int {
	depth, deepest := 0, 0
	for i := 0; i < len(b); i++ {
		switch b[i] {
		case '"':
			i = stringEnd(b, i) - 1
		case '{', '[':
			depth++
			deepest = max(deepest, depth)
		case '}', ']':
			depth--
		}
	}
	return deepest
}

// nativeMembers are the members of a native validate request: the typed fields' values as
// sent ("" when absent; a repeated key keeps its last value, as encoding/json does) and every
// other key verbatim (features too: validated_config keeps it as sent).
type nativeMembers struct {
	runtimeType, modelID, agentConfig, systemPrompt, features string
	other                                                     map[string]json.RawMessage
}

func (m *nativeMembers) add(key, value string) {
	switch key {
	case "runtime_type":
		m.runtimeType = value
		return
	case "model_id":
		m.modelID = value
		return
	case "agent_config":
		m.agentConfig = value
		return
	case "system_prompt":
		m.systemPrompt = value
		return
	case "features":
		m.features = value
	}
	if m.other == nil {
		m.other = map[string]json.RawMessage{}
	}
	m.other[key] = json.RawMessage(value)
}

// stringMember decodes a member that is a string or null: ok is false when it is null or
// absent, and the error an *Error naming it when it is something else.
func stringMember(name, v, what string) (s string, ok bool, err error) {
	if v == "" || v == "null" {
		return "", false, nil
	}
	if s, ok = plainJSONString(v); ok { // the common case, without reflection
		return s, true, nil
	}
	var escaped string // not &s: s would move to the heap on every call
	if json.Unmarshal([]byte(v), &escaped) != nil {
		return "", false, errorf(http.StatusBadRequest, "bad_field", "%s must be %s", name, what)
	}
	return escaped, true, nil
}

// optionalString is a string-or-null member as a pointer: nil when null or absent.
func optionalString(name, v string) (*string, error) {
	s, ok, err := stringMember(name, v, "a string or null")
	if !ok {
		return nil, err
	}
	return &s, nil
}

// plainJSONString returns the string a JSON string literal holds when it needs no unescaping
// (no backslash, no control character; the body was checked to be UTF-8).
func plainJSONString[T jsonText](raw T) (string, bool) {
	if len(raw) < 2 || raw[0] != '"' || raw[len(raw)-1] != '"' {
		return "", false
	}
	for i := 1; i < len(raw)-1; i++ {
		if c := raw[i]; c == '\\' || c == '"' || c < 0x20 {
			return "", false
		}
	}
	return string(raw[1 : len(raw)-1]), true
}

// stringList decodes a JSON array as json.Unmarshal decodes it into a []string when it can
// without an error: strings, and nulls as "" (ok is false for anything else: json.Unmarshal
// then says what is wrong). raw is valid JSON and UTF-8 (decodeNativeValidate).
func stringList[T jsonText](raw T) ([]string, bool) {
	items, ok := decodeValue(raw).([]any)
	if !ok {
		return nil, false
	}
	list := make([]string, len(items))
	for i, it := range items {
		switch s := it.(type) {
		case string:
			list[i] = s
		case nil:
		default:
			return nil, false
		}
	}
	return list, true
}

// outOfRange returns the path of the first number in v that overflows float64, or "". The
// paths are built only when there is one.
func outOfRange(v any, path string) string {
	if !hasOutOfRange(v) {
		return ""
	}
	return outOfRangePath(v, path)
}

func hasOutOfRange(v any) bool {
	switch t := v.(type) {
	case json.Number:
		_, err := strconv.ParseFloat(string(t), 64)
		return err != nil
	case map[string]any:
		for _, child := range t {
			if hasOutOfRange(child) {
				return true
			}
		}
	case []any:
		for _, child := range t {
			if hasOutOfRange(child) {
				return true
			}
		}
	}
	return false
}

func outOfRangePath(v any, path string) string {
	switch t := v.(type) {
	case json.Number:
		if _, err := strconv.ParseFloat(string(t), 64); err != nil {
			return path
		}
	case map[string]any:
		for k, child := range t {
			if p := outOfRangePath(child, path+"."+k); p != "" {
				return p
			}
		}
	case []any:
		for i, child := range t {
			if p := outOfRangePath(child, fmt.Sprintf("%s[%d]", path, i)); p != "" {
				return p
			}
		}
	}
	return ""
}

// handleValidate is POST /v1/validate: decode, health.Answers.Validate, encode (without
// reflection when the report allows it).
func (s *Server) handleValidate(c echo.Context) error {
	if err := noQuery(c, "POST /v1/validate"); err != nil {
		return err
	}
	body, err := readBody(c)
	if err != nil {
		return err
	}
	req, err := decodeNativeValidate(body)
	if err != nil {
		return err
	}
	snap, err := s.snapshot()
	if err != nil {
		return err
	}
	rep := s.answers().Validate(snap, s.opts.Now(), req)
	bp := bufPool.Get().(*[]byte)
	defer bufPool.Put(bp)
	b, ok := rep.AppendJSON((*bp)[:0])
	*bp = b[:0]
	if !ok {
		return writeJSON(c, http.StatusOK, rep)
	}
	return writeBody(c, http.StatusOK, b)
}

// maxFeatures bounds the features of one request: each unsupported one costs a did-you-mean
// search and an error sentence.
const maxFeatures = 64

func checkFeatureCount(n int) error {
	if n > maxFeatures {
		return errorf(http.StatusBadRequest, "bad_field", "features has %d entries; at most %d are accepted", n, maxFeatures)
	}
	return nil
}
