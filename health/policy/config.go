package policy

import (
	"encoding/json"

	"github.com/runtimesd/runtimesd/store"
)

// The config variable has one shape wherever a configuration is decided, so that one rule
// reads the same on /v1/validate, the drop-in validate and /v1/runtimes/{id}/config:
//
//	runtime_type   string
//	model_id       string, or null when none was given
//	environment    map: the built configuration's environment, or agent_config.environment
//	features       list: the built configuration's features, or the features asked for
//	agent_config   map: the validation request's agent_config ({} when none)
//	system_prompt  string, or null
//
// A rule that reads a field of config the caller does not send gets an evaluation error (see
// on_error); has(config.x) tests for presence.

// ValidationConfig is the config variable for a validation request (features: the features
// the caller asked for, nil for none).
func ValidationConfig(req store.ValidationRequest, features []string) map[string]any {
	agent := map[string]any{}
	if req.AgentConfig != nil {
		agent = req.AgentConfig
	}
	env, _ := agent["environment"].(map[string]any)
	if env == nil {
		env = map[string]any{}
	}
	var feats any = []string{}
	if features != nil {
		feats = features
	} else if f, ok := agent["features"].([]any); ok {
		feats = f
	}
	return map[string]any{
		"runtime_type":  req.RuntimeType,
		"model_id":      strPtr(req.ModelID),
		"environment":   env,
		"features":      feats,
		"agent_config":  agent,
		"system_prompt": strPtr(req.SystemPrompt),
	}
}

// BuiltConfig is the config variable for a configuration built from requirements.
func BuiltConfig(c store.AgentConfig) map[string]any {
	var env any = map[string]any{}
	if len(c.Environment) > 0 && string(c.Environment) != "null" {
		env = json.RawMessage(c.Environment) // decoded by normaliseConfig when a rule reads it
	}
	feats := c.Features
	if feats == nil {
		feats = []string{}
	}
	return map[string]any{
		"runtime_type":  c.RuntimeType,
		"model_id":      strPtr(c.ModelID),
		"environment":   env,
		"features":      feats,
		"agent_config":  map[string]any{},
		"system_prompt": nil,
	}
}

func strPtr(s *string) any {
	if s == nil {
		return nil
	}
	return *s
}
