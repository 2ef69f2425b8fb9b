package health

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/runtimesd/runtimesd/store"
)

// ValidateRequest is the native validate request (POST /v1/validate, `runtimesd validate`):
// the control plane's fields plus the features the agent needs, and the body's other keys as
// sent (kept in validated_config).
type ValidateRequest struct {
	store.ValidationRequest
	Features []string
	// Raw holds the request's keys other than runtime_type, model_id, agent_config and
	// system_prompt (features and unknown keys), values verbatim; nil when there are none.
	// A typed key found here is ignored: the typed field says what was sent.
	Raw map[string]json.RawMessage
}

// RequirementsMet is the per-rule summary of a native validation.
type RequirementsMet struct {
	RuntimeKnown bool `json:"runtime_known"`
	Model        bool `json:"model"`
	Config       bool `json:"config"`
	SystemPrompt bool `json:"system_prompt"`
	Features     bool `json:"features"`
}

// RuntimeBrief names the runtime an answer is about and its health.
type RuntimeBrief struct {
	Health Class  `json:"health"`
	ID     string `json:"id"`
	Status string `json:"status"`
}

// ValidateReport is the native validation's answer: the control plane's rules plus warnings,
// per-rule results, requested features, the policy's verdicts, the normalised config and the
// snapshot's provenance.
type ValidateReport struct {
	Provenance
	// Valid is the verdict on the request as sent (the control plane's rules, the features,
	// the policy).
	Valid    bool     `json:"valid"`
	Errors   []string `json:"errors"`
	Warnings []string `json:"warnings"`
	// RequirementsMet is the per-rule summary.
	RequirementsMet RequirementsMet `json:"requirements_met"`
	// ValidatedConfig is the request normalised: every key kept (unknown ones too),
	// agent_config an object, and the defaults the runtime declares filled in.
	ValidatedConfig map[string]any `json:"validated_config"`
	// ValidatedConfigValid is the verdict on ValidatedConfig; Filled names what was filled.
	ValidatedConfigValid bool     `json:"validated_config_valid"`
	Filled               []string `json:"filled"`
	// Runtime is the runtime validated against (nil when the catalog lacks it).
	Runtime *RuntimeBrief `json:"runtime"`
	// Policy are the verdicts of the policy rules that fired (absent when none did).
	Policy []Verdict `json:"policy,omitempty"`
}

// Validate answers a native validation of req against snap at now.
func (a Answers) Validate(snap *store.Snapshot, now time.Time, req ValidateRequest) ValidateReport {
	cat := snap.Catalog
	res := a.Validator.Validate(cat, req.ValidationRequest)
	errs := make([]string, len(res.Errors), len(res.Errors)+len(req.Features))
	copy(errs, res.Errors)
	var warnings []string
	met := RequirementsMet{RuntimeKnown: res.Checked, Model: true, Config: true, SystemPrompt: true, Features: true}
	rt, known := cat.Get(req.RuntimeType)
	if !res.Checked {
		if known {
			warnings = append(warnings, fmt.Sprintf("runtime %q has no requirements: the configuration was accepted without checks", req.RuntimeType))
		} else {
			w := fmt.Sprintf("runtime type %q is not in the catalog: the control plane accepts it without checks", req.RuntimeType)
			if alt := store.SuggestID(cat, req.RuntimeType); alt != "" {
				w += fmt.Sprintf(" (ids are case-sensitive; did you mean %q?)", alt)
			}
			warnings = append(warnings, w)
		}
	} else {
		met.Model, met.Config, met.SystemPrompt = res.Model.Met, res.Config.Met, res.SystemPrompt.Met
		for _, f := range rt.Requirements.RecommendedConfigFields {
			if v, ok := req.AgentConfig[f]; !ok || v == nil {
				warnings = append(warnings, "recommended field '"+f+"' is not set")
			}
		}
		if res.ModelRuleApproximated {
			warnings = append(warnings, fmt.Sprintf("no model-id patterns are known for runtime %q: the model was checked against its supported families only", rt.ID))
		}
	}
	var brief *RuntimeBrief
	if known {
		class := a.Classifier.Of(rt)
		brief = &RuntimeBrief{ID: rt.ID, Status: rt.Status, Health: class}
		warnings = append(warnings, runtimeWarnings(rt, class)...)
		for _, f := range req.Features {
			if !store.Supports(rt, f) {
				e := "Feature '" + f + "' is not supported by runtime '" + rt.ID + "'"
				if alt := store.SuggestFeature(cat, rt, f); alt != "" {
					e += " (did you mean '" + alt + "'?)"
				}
				errs = append(errs, e)
				met.Features = false
			}
		}
		for _, f := range store.MissingFeatures(rt, req.Features) {
			warnings = append(warnings, "runtime '"+rt.ID+"' requires feature '"+f+"', which features does not list")
		}
	} else if len(req.Features) > 0 {
		met.Features = false
		errs = append(errs, fmt.Sprintf("Features %s cannot be checked: runtime type '%s' is not in the catalog", strings.Join(req.Features, ", "), req.RuntimeType))
	}
	if _, hasModel := req.Raw["model"]; hasModel && (req.ModelID == nil || *req.ModelID == "") {
		warnings = append(warnings, "the request has model but no model_id: the control plane reads model_id and ignores model; send model_id")
	}
	vc, filled := validatedConfig(req, rt)
	var policy []Verdict
	var denied bool
	if known && a.Gate != nil {
		policy = a.check(rt, gateConfig(vc))
		for _, v := range policy {
			if v.Blocking {
				denied = true
				errs = append(errs, PolicyDenial(rt.ID, v))
			} else {
				warnings = append(warnings, policyWarning(rt.ID, v))
			}
		}
	}
	vcValid := len(errs) == 0
	if len(filled) > 0 {
		// The verdict on validated_config, which differs from the request only by what was filled.
		filledReq := req.ValidationRequest
		if m, ok := vc["model_id"].(string); ok {
			filledReq.ModelID = &m
		}
		vcErrs := a.Validator.Validate(cat, filledReq).Errors
		vcValid = len(vcErrs) == 0 && met.Features && !denied
	}
	st := StalenessOf(snap, now, a.MaxStale)
	if st.Stale() {
		warnings = append(warnings, "validated against stale data: "+st.Reason())
	}
	if warnings == nil {
		warnings = []string{}
	}
	return ValidateReport{Provenance: ProvenanceOf(snap, now, a.MaxStale), Valid: len(errs) == 0, Errors: errs,
		Warnings: warnings, RequirementsMet: met, ValidatedConfig: vc, ValidatedConfigValid: vcValid, Filled: filled,
		Runtime: brief, Policy: policy}
}

// runtimeWarnings are what an agent should know about a runtime it is about to use: beta, not
// available yet, unhealthy, degraded.
func runtimeWarnings(rt *store.Runtime, class Class) []string {
	var out []string
	switch {
	case strings.EqualFold(rt.Status, "beta"):
		out = append(out, fmt.Sprintf("runtime %q is in beta", rt.ID))
	case strings.EqualFold(rt.Status, "coming_soon"):
		out = append(out, fmt.Sprintf("runtime %q is not available yet (status coming_soon)", rt.ID))
	case class == Unhealthy:
		out = append(out, fmt.Sprintf("runtime %q is unhealthy (status %s)", rt.ID, rt.Status))
	}
	if rt.Degraded != "" {
		out = append(out, fmt.Sprintf("runtime %q is degraded (%s); checked against what was last stored for it", rt.ID, rt.Degraded))
	}
	return out
}

// validatedConfig is the request normalised: every key kept (unknown ones too), agent_config
// an object, and the defaults the runtime declares filled in; filled names those.
func validatedConfig(req ValidateRequest, rt *store.Runtime) (map[string]any, []string) {
	filled := []string{}
	out := make(map[string]any, len(req.Raw)+4)
	for k, v := range req.Raw {
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

// gateConfig is the validated config as a policy reads it: raw values decoded (numbers as
// json.Number), so a rule sees objects, arrays and scalars, never encoded bytes, in the shape
// PolicyInput documents.
func gateConfig(vc map[string]any) map[string]any {
	out := make(map[string]any, len(vc))
	for k, v := range vc {
		if raw, ok := v.(json.RawMessage); ok {
			var x any
			d := json.NewDecoder(bytes.NewReader(raw))
			d.UseNumber()
			if d.Decode(&x) == nil {
				v = x
			}
		}
		out[k] = v
	}
	return PolicyInput(out)
}

// AppendJSON appends r as encoding/json encodes it (HTML escaping off), without reflection
// where the values are the ones a decoded request holds; ok is false when validated_config
// holds a value of another type (the caller then uses encoding/json).
func (r *ValidateReport) AppendJSON(b []byte) ([]byte, bool) {
	b = append(b, '{')
	b = r.Provenance.AppendFields(b)
	b = append(b, `,"valid":`...)
	b = strconv.AppendBool(b, r.Valid)
	b = append(b, `,"errors":`...)
	b = appendStringsOrNull(b, r.Errors)
	b = append(b, `,"warnings":`...)
	b = appendStringsOrNull(b, r.Warnings)
	m := r.RequirementsMet
	b = append(b, `,"requirements_met":{"runtime_known":`...)
	b = strconv.AppendBool(b, m.RuntimeKnown)
	b = append(b, `,"model":`...)
	b = strconv.AppendBool(b, m.Model)
	b = append(b, `,"config":`...)
	b = strconv.AppendBool(b, m.Config)
	b = append(b, `,"system_prompt":`...)
	b = strconv.AppendBool(b, m.SystemPrompt)
	b = append(b, `,"features":`...)
	b = strconv.AppendBool(b, m.Features)
	b = append(b, `},"validated_config":`...)
	var ok bool
	if r.ValidatedConfig == nil {
		b = append(b, "null"...)
	} else if b, ok = appendAny(b, r.ValidatedConfig); !ok {
		return b, false
	}
	b = append(b, `,"validated_config_valid":`...)
	b = strconv.AppendBool(b, r.ValidatedConfigValid)
	b = append(b, `,"filled":`...)
	b = appendStringsOrNull(b, r.Filled)
	b = append(b, `,"runtime":`...)
	if r.Runtime == nil {
		b = append(b, "null"...)
	} else {
		b = append(b, `{"health":`...)
		b = AppendJSONString(b, string(r.Runtime.Health))
		b = append(b, `,"id":`...)
		b = AppendJSONString(b, r.Runtime.ID)
		b = append(b, `,"status":`...)
		b = AppendJSONString(b, r.Runtime.Status)
		b = append(b, '}')
	}
	if len(r.Policy) > 0 {
		b = append(b, `,"policy":`...)
		b = appendVerdicts(b, r.Policy)
	}
	return append(b, '}'), true
}

// appendStringsOrNull appends a JSON array of strings, null for a nil slice (as encoding/json).
func appendStringsOrNull(b []byte, list []string) []byte {
	if list == nil {
		return append(b, "null"...)
	}
	return appendStrings(b, list)
}
