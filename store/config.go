package store

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
)

// ErrUnknownRuntime is wrapped by BuildConfig's error for an id the catalog lacks.
var ErrUnknownRuntime = errors.New("unknown runtime")

// AgentConfig is an agent configuration as the seed's build_config_from_requirements builds it.
type AgentConfig struct {
	RuntimeType string          `json:"runtime_type"`
	ModelID     *string         `json:"model_id"`
	Features    []string        `json:"features"`
	Environment json.RawMessage `json:"environment"`
}

// ConfigOverrides are the fields a caller sets on top of what requirements fill (the seed's
// RuntimeConfigBuilder: set model, features, environment, then validate). A nil field is not
// set.
type ConfigOverrides struct {
	ModelID     *string
	Features    []string
	Environment json.RawMessage
}

// BuiltConfig is a configuration built from a runtime's requirements and the control plane's
// verdict on it.
type BuiltConfig struct {
	Config AgentConfig `json:"config"`
	// Valid and Errors are the control plane's verdict on Config (its rules, its sentences),
	// plus an error per feature the runtime does not support.
	Valid    bool     `json:"valid"`
	Errors   []string `json:"errors"`
	Warnings []string `json:"warnings"`
	// Filled names the fields of Config that came from the runtime's requirements.
	Filled []string `json:"filled"`
}

// BuildConfig builds the configuration for runtime id as the seed's
// build_config_from_requirements does: runtime_type the id, features the runtime's
// required_features, environment its default_environment, model_id its
// model_requirements.default_model when present; then applies o and validates the result. An
// id the catalog lacks is an error wrapping ErrUnknownRuntime that names the closest id.
func (v *Validator) BuildConfig(c *Catalog, id string, o ConfigOverrides) (BuiltConfig, error) {
	rt, ok := c.Get(id)
	if !ok {
		msg := fmt.Sprintf("no runtime has the id %q", id)
		if alt := SuggestID(c, id); alt != "" {
			msg += fmt.Sprintf("; did you mean %q?", alt)
		}
		return BuiltConfig{}, fmt.Errorf("%w: %s", ErrUnknownRuntime, msg)
	}
	out := BuiltConfig{Config: AgentConfig{RuntimeType: rt.ID, Features: []string{}}, Filled: []string{}, Warnings: []string{}}
	cfg := &out.Config
	if len(rt.RequiredFeatures) > 0 {
		cfg.Features = append([]string(nil), rt.RequiredFeatures...)
		out.Filled = append(out.Filled, "features")
	}
	if rt.DefaultEnvironment != nil {
		cfg.Environment = rt.DefaultEnvironment
		out.Filled = append(out.Filled, "environment")
	}
	if rt.DefaultModel != "" {
		m := rt.DefaultModel
		cfg.ModelID = &m
		out.Filled = append(out.Filled, "model_id")
	}
	drop := func(field string) {
		for i, f := range out.Filled {
			if f == field {
				out.Filled = append(out.Filled[:i], out.Filled[i+1:]...)
				return
			}
		}
	}
	if o.ModelID != nil {
		m := *o.ModelID
		cfg.ModelID = &m
		drop("model_id")
	}
	if o.Features != nil {
		cfg.Features = append([]string{}, o.Features...)
		drop("features")
	}
	if o.Environment != nil {
		cfg.Environment = o.Environment
		drop("environment")
	}

	res := v.Validate(c, ValidationRequest{RuntimeType: rt.ID, ModelID: cfg.ModelID})
	out.Errors = append([]string{}, res.Errors...)
	for _, f := range cfg.Features {
		if !Supports(rt, f) {
			e := fmt.Sprintf("Feature '%s' is not supported by runtime '%s'", f, rt.ID)
			if alt := SuggestFeature(c, rt, f); alt != "" {
				e += fmt.Sprintf(" (did you mean '%s'?)", alt)
			}
			out.Errors = append(out.Errors, e)
		}
	}
	for _, f := range MissingFeatures(rt, cfg.Features) {
		out.Warnings = append(out.Warnings, fmt.Sprintf("runtime '%s' requires feature '%s', which features does not list", rt.ID, f))
	}
	out.Valid = len(out.Errors) == 0
	switch {
	case rt.Requirements == nil:
		out.Warnings = append(out.Warnings, fmt.Sprintf("runtime '%s' has no requirements: nothing could be filled, and the control plane accepts any configuration for it", rt.ID))
	case cfg.ModelID == nil && rt.DefaultModel == "":
		if ex := rt.Requirements.ModelRequirement.Examples; len(ex) > 0 {
			out.Warnings = append(out.Warnings, fmt.Sprintf("runtime '%s' declares no default model: set model_id (e.g. %s)", rt.ID, strings.Join(ex[:min(3, len(ex))], ", ")))
		} else {
			out.Warnings = append(out.Warnings, fmt.Sprintf("runtime '%s' declares no default model: set model_id", rt.ID))
		}
	}
	if rt.Degraded != "" {
		out.Warnings = append(out.Warnings, fmt.Sprintf("runtime '%s' is degraded (%s); built from what was last stored for it", rt.ID, rt.Degraded))
	}
	return out, nil
}

// MissingFeatures returns rt's required features that features does not list (compared as
// feature filters compare: case, spaces, hyphens and underscores ignored).
func MissingFeatures(rt *Runtime, features []string) []string {
	var missing []string
	for _, req := range rt.RequiredFeatures {
		found := false
		for _, f := range features {
			if NormalizeFeature(f) == NormalizeFeature(req) {
				found = true
				break
			}
		}
		if !found {
			missing = append(missing, req)
		}
	}
	return missing
}

// Supports reports whether rt offers feature: one of its features (HasFeature) or one it
// requires.
func Supports(rt *Runtime, feature string) bool {
	if HasFeature(rt, feature) {
		return true
	}
	for _, r := range rt.RequiredFeatures {
		if NormalizeFeature(r) == NormalizeFeature(feature) && NormalizeFeature(r) != "" {
			return true
		}
	}
	return false
}
