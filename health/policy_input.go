package health

// PolicyInput gives a configuration the one shape a policy's config variable has wherever a
// configuration is decided (native validate, drop-in validate, build-config), so one rule reads
// the same everywhere:
//
//	runtime_type   string ("" when none)
//	model_id       string, or null when none was given
//	environment    map: the configuration's environment, else agent_config.environment, else {}
//	features       list: the configuration's features, else agent_config.features, else []
//	agent_config   map ({} when none)
//	system_prompt  string, or null
//
// Other keys of m are kept. m is not modified.
func PolicyInput(m map[string]any) map[string]any {
	out := make(map[string]any, len(m)+6)
	for k, v := range m {
		out[k] = v
	}
	agent, _ := out["agent_config"].(map[string]any)
	if agent == nil {
		agent = map[string]any{}
	}
	out["agent_config"] = agent
	if _, ok := out["runtime_type"].(string); !ok {
		out["runtime_type"] = ""
	}
	for _, k := range []string{"model_id", "system_prompt"} {
		if _, ok := out[k]; !ok {
			out[k] = nil
		}
	}
	if env, ok := out["environment"].(map[string]any); !ok || env == nil {
		if env, ok = agent["environment"].(map[string]any); !ok || env == nil {
			env = map[string]any{}
		}
		out["environment"] = env
	}
	switch out["features"].(type) {
	case []any, []string:
	default:
		if f, ok := agent["features"].([]any); ok {
			out["features"] = f
		} else {
			out["features"] = []string{}
		}
	}
	return out
}
