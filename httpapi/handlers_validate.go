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
	"slices"
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
	if ct == "" {
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
	var v any = string(body)
	if isJSONContentType(contentType) {
		parsed, err := pyLoads(body)
		var de *pyDecodeError
		switch {
		case errors.As(err, &de):
			item := pydanticError{Type: "json_invalid", Loc: []any{"body", de.pos}, Msg: "JSON decode error",
				Input: map[string]any{}, Ctx: map[string]any{"error": de.msg}}
			return req, unprocessable(item)
		case err != nil:
			return req, &Error{Status: http.StatusBadRequest, Code: "unparsable_body",
				Message: "There was an error parsing the body: " + err.Error(), Detail: "There was an error parsing the body"}
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
		if uerr == nil && status < 500 {
			h.Set(HeaderValidatedBy, ValidateUpstream)
			h.Set(echo.HeaderContentType, echo.MIMEApplicationJSON)
			return c.Blob(status, echo.MIMEApplicationJSON, resp)
		}
		reason := fmt.Sprintf("control plane answered %d", status)
		if uerr != nil {
			reason = uerr.Error()
		}
		h.Set("X-Runtimes-Validation-Fallback", sanitizeHeader(reason))
	}
	h.Set(HeaderValidatedBy, ValidateLocal)
	req, err := parseDropInValidate(body, ct)
	if err != nil {
		return err
	}
	snap, err := s.snapshot()
	if err != nil {
		return err
	}
	res := s.dyn().Validator.Validate(snap.Catalog, req)
	return writeJSON(c, http.StatusOK, struct {
		Valid  bool     `json:"valid"`
		Errors []string `json:"errors"`
	}{res.Valid, res.Errors})
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

// nativeValidateRequest is POST /v1/validate's body: the control plane's fields plus the
// features the agent needs. Unknown keys are kept in validated_config.
type nativeValidateRequest struct {
	store.ValidationRequest
	Features []string
	raw      map[string]json.RawMessage
}

func decodeNativeValidate(body []byte) (nativeValidateRequest, error) {
	var out nativeValidateRequest
	if len(bytes.TrimSpace(body)) == 0 {
		return out, errorf(http.StatusBadRequest, "bad_body", "the body is empty; send a JSON object with at least runtime_type")
	}
	if !utf8.Valid(body) {
		return out, errorf(http.StatusBadRequest, "bad_body", "the body is not valid UTF-8")
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	if err := dec.Decode(&out.raw); err != nil {
		return out, errorf(http.StatusBadRequest, "bad_body", "the body is not a JSON object: %s", jsonProblem(err))
	}
	if dec.More() {
		return out, errorf(http.StatusBadRequest, "bad_body", "the body has data after the JSON object")
	}
	if out.raw == nil {
		return out, errorf(http.StatusBadRequest, "bad_body", "the body is null; send a JSON object with at least runtime_type")
	}
	field := func(name string, dst any, what string) error {
		raw, ok := out.raw[name]
		if !ok || string(raw) == "null" {
			return nil
		}
		if err := json.Unmarshal(raw, dst); err != nil {
			return errorf(http.StatusBadRequest, "bad_field", "%s must be %s", name, what)
		}
		return nil
	}
	var rt, model, prompt *string
	if err := field("runtime_type", &rt, "a string"); err != nil {
		return out, err
	}
	if rt == nil {
		return out, errorf(http.StatusBadRequest, "missing_field", "runtime_type is required (a string such as \"default\")")
	}
	out.RuntimeType = *rt
	if err := field("model_id", &model, "a string or null"); err != nil {
		return out, err
	}
	out.ModelID = model
	if raw, ok := out.raw["agent_config"]; ok && string(raw) != "null" {
		d := json.NewDecoder(bytes.NewReader(raw))
		d.UseNumber()
		if err := d.Decode(&out.AgentConfig); err != nil || out.AgentConfig == nil {
			return out, errorf(http.StatusBadRequest, "bad_field", "agent_config must be a JSON object or null")
		}
		if path := outOfRange(out.AgentConfig, "agent_config"); path != "" {
			return out, errorf(http.StatusBadRequest, "bad_field", "%s is a number beyond what a double can hold", path)
		}
	}
	if err := field("system_prompt", &prompt, "a string or null"); err != nil {
		return out, err
	}
	out.SystemPrompt = prompt
	if err := field("features", &out.Features, "an array of strings"); err != nil {
		return out, err
	}
	if err := checkFeatureCount(len(out.Features)); err != nil {
		return out, err
	}
	return out, nil
}

// outOfRange returns the path of the first number in v that overflows float64, or "".
func outOfRange(v any, path string) string {
	switch t := v.(type) {
	case json.Number:
		if _, err := strconv.ParseFloat(string(t), 64); err != nil {
			return path
		}
	case map[string]any:
		for k, child := range t {
			if p := outOfRange(child, path+"."+k); p != "" {
				return p
			}
		}
	case []any:
		for i, child := range t {
			if p := outOfRange(child, fmt.Sprintf("%s[%d]", path, i)); p != "" {
				return p
			}
		}
	}
	return ""
}

// requirementsMet is the per-rule summary of POST /v1/validate.
type requirementsMet struct {
	RuntimeKnown bool `json:"runtime_known"`
	Model        bool `json:"model"`
	Config       bool `json:"config"`
	SystemPrompt bool `json:"system_prompt"`
	Features     bool `json:"features"`
}

// handleValidate is POST /v1/validate: the control plane's rules plus warnings, per-rule
// results, requested features, the normalised config and the snapshot's provenance.
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
	now := s.opts.Now()
	res := s.dyn().Validator.Validate(snap.Catalog, req.ValidationRequest)
	errs := slices.Clone(res.Errors)
	var warnings []string
	met := requirementsMet{RuntimeKnown: res.Checked, Model: true, Config: true, SystemPrompt: true, Features: true}
	var runtimeInfo map[string]any
	rt, known := snap.Catalog.Get(req.RuntimeType)
	if !res.Checked {
		switch {
		case known:
			warnings = append(warnings, fmt.Sprintf("runtime %q has no requirements: the configuration was accepted without checks", req.RuntimeType))
		default:
			warnings = append(warnings, unknownRuntimeWarning(snap.Catalog, req.RuntimeType))
		}
	} else {
		met.Model, met.Config, met.SystemPrompt = res.Model.Met, res.Config.Met, res.SystemPrompt.Met
		for _, f := range rt.Requirements.RecommendedConfigFields {
			if v, ok := req.AgentConfig[f]; !ok || v == nil {
				warnings = append(warnings, fmt.Sprintf("recommended field '%s' is not set", f))
			}
		}
		if res.ModelRuleApproximated {
			warnings = append(warnings, fmt.Sprintf("no model-id patterns are known for runtime %q: the model was checked against its supported families only", rt.ID))
		}
	}
	if known {
		class := s.dyn().Classifier.Of(rt)
		runtimeInfo = map[string]any{"id": rt.ID, "status": rt.Status, "health": class}
		switch {
		case strings.EqualFold(rt.Status, "beta"):
			warnings = append(warnings, fmt.Sprintf("runtime %q is in beta", rt.ID))
		case strings.EqualFold(rt.Status, "coming_soon"):
			warnings = append(warnings, fmt.Sprintf("runtime %q is not available yet (status coming_soon)", rt.ID))
		case class == health.Unhealthy:
			warnings = append(warnings, fmt.Sprintf("runtime %q is unhealthy (status %s)", rt.ID, rt.Status))
		}
		if rt.Degraded != "" {
			warnings = append(warnings, fmt.Sprintf("runtime %q is degraded (%s); checked against what was last stored for it", rt.ID, rt.Degraded))
		}
		for _, f := range req.Features {
			if !store.Supports(rt, f) {
				e := fmt.Sprintf("Feature '%s' is not supported by runtime '%s'", f, rt.ID)
				if alt := store.SuggestFeature(snap.Catalog, rt, f); alt != "" {
					e += fmt.Sprintf(" (did you mean '%s'?)", alt)
				}
				errs = append(errs, e)
				met.Features = false
			}
		}
		for _, f := range store.MissingFeatures(rt, req.Features) {
			warnings = append(warnings, fmt.Sprintf("runtime '%s' requires feature '%s', which features does not list", rt.ID, f))
		}
	} else if len(req.Features) > 0 {
		met.Features = false
		errs = append(errs, fmt.Sprintf("Features %s cannot be checked: runtime type '%s' is not in the catalog", strings.Join(req.Features, ", "), req.RuntimeType))
	}
	if _, hasModel := req.raw["model"]; hasModel && (req.ModelID == nil || *req.ModelID == "") {
		warnings = append(warnings, "the request has model but no model_id: the control plane reads model_id and ignores model; send model_id")
	}
	vc, filled := validatedConfig(req, rt)
	vcValid := len(errs) == 0
	if len(filled) > 0 {
		vcValid = s.filledValid(snap, req, vc) && met.Features
	}
	if stale, why := s.staleness(snap, now); stale {
		warnings = append(warnings, "validated against stale data: "+why)
	}
	if warnings == nil {
		warnings = []string{}
	}
	return writeJSON(c, http.StatusOK, struct {
		provenance
		Valid           bool            `json:"valid"`
		Errors          []string        `json:"errors"`
		Warnings        []string        `json:"warnings"`
		RequirementsMet requirementsMet `json:"requirements_met"`
		ValidatedConfig map[string]any  `json:"validated_config"`
		// ValidatedConfigValid is the verdict on validated_config (Valid is the one on the
		// request as sent, the control plane's); Filled names what was filled from requirements.
		ValidatedConfigValid bool           `json:"validated_config_valid"`
		Filled               []string       `json:"filled"`
		Runtime              map[string]any `json:"runtime"`
	}{s.provenanceOf(snap, now), len(errs) == 0, errs, warnings, met, vc, vcValid, filled, runtimeInfo})
}

// unknownRuntimeWarning says that a runtime type is not in the catalog, with the id it most
// likely meant.
func unknownRuntimeWarning(cat *store.Catalog, id string) string {
	w := fmt.Sprintf("runtime type %q is not in the catalog: the control plane accepts it without checks", id)
	if alt := store.SuggestID(cat, id); alt != "" {
		w += fmt.Sprintf(" (ids are case-sensitive; did you mean %q?)", alt)
	}
	return w
}

// filledValid is whether validated_config, which differs from the request only by what was
// filled, passes the validation rules.
func (s *Server) filledValid(snap *store.Snapshot, req nativeValidateRequest, vc map[string]any) bool {
	filledReq := req.ValidationRequest
	if m, ok := vc["model_id"].(string); ok {
		filledReq.ModelID = &m
	}
	return len(s.dyn().Validator.Validate(snap.Catalog, filledReq).Errors) == 0
}

// validatedConfig is the request normalised: every key kept (unknown ones too), agent_config
// an object, and the defaults the runtime declares filled in; filled names those.
func validatedConfig(req nativeValidateRequest, rt *store.Runtime) (map[string]any, []string) {
	filled := []string{}
	out := make(map[string]any, len(req.raw)+2)
	for k, v := range req.raw {
		out[k] = v
	}
	out["runtime_type"] = req.RuntimeType
	cfg := req.AgentConfig
	if cfg == nil {
		cfg = map[string]any{}
	}
	out["agent_config"] = cfg
	if req.ModelID != nil && *req.ModelID != "" {
		out["model_id"] = *req.ModelID
	} else if rt != nil && rt.DefaultModel != "" {
		out["model_id"] = rt.DefaultModel
		filled = append(filled, "model_id")
	} else {
		out["model_id"] = nil
	}
	if req.SystemPrompt != nil {
		out["system_prompt"] = *req.SystemPrompt
	} else {
		out["system_prompt"] = nil
	}
	if rt != nil && rt.DefaultEnvironment != nil {
		if _, set := out["environment"]; !set {
			out["environment"] = rt.DefaultEnvironment
			filled = append(filled, "environment")
		}
	}
	return out, filled
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
