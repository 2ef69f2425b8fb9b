package policy

import (
	"github.com/runtimesd/runtimesd/health"
	"github.com/runtimesd/runtimesd/store"
)

// ValidationConfig is the config variable for a validation request (features: the features
// the caller asked for, nil for none), in the one shape health.PolicyInput documents.
func ValidationConfig(req store.ValidationRequest, features []string) map[string]any {
	m := map[string]any{"runtime_type": req.RuntimeType, "model_id": strPtr(req.ModelID), "system_prompt": strPtr(req.SystemPrompt)}
	if req.AgentConfig != nil {
		m["agent_config"] = req.AgentConfig
	}
	if features != nil {
		m["features"] = features
	}
	return health.PolicyInput(m)
}

func strPtr(s *string) any {
	if s == nil {
		return nil
	}
	return *s
}
