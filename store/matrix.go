package store

// MatrixRow is one runtime in the compatibility matrix: what it is, what it offers, and what
// it requires.
type MatrixRow struct {
	ID                   string   `json:"id"`
	Name                 string   `json:"name"`
	Type                 string   `json:"type"`
	Status               string   `json:"status"`
	Features             []string `json:"features"`
	Providers            []string `json:"providers"`
	Families             []string `json:"families"`
	Examples             []string `json:"examples"`
	RequiredConfig       []string `json:"required_config_fields"`
	RecommendedConfig    []string `json:"recommended_config_fields"`
	MaxHistoryLength     *int     `json:"max_history_length"`
	RequiresSystemPrompt bool     `json:"requires_system_prompt"`
	RequiresTools        bool     `json:"requires_tools"`
	HasRequirements      bool     `json:"has_requirements"`
}

// Matrix returns one row per runtime, in catalog order. Lists are never nil.
func Matrix(c *Catalog) []MatrixRow {
	rows := make([]MatrixRow, 0, c.Len())
	for _, rt := range c.Runtimes() {
		r := MatrixRow{
			ID: rt.ID, Name: rt.Name, Type: rt.Type, Status: rt.Status,
			Features: orEmpty(rt.Features), Providers: orEmpty(rt.Providers), Families: orEmpty(rt.Families),
			Examples: []string{}, RequiredConfig: []string{}, RecommendedConfig: []string{},
		}
		if req := rt.Requirements; req != nil {
			r.HasRequirements = true
			r.Examples = orEmpty(req.ModelRequirement.Examples)
			r.RequiredConfig = orEmpty(req.RequiredConfigFields)
			r.RecommendedConfig = orEmpty(req.RecommendedConfigFields)
			r.MaxHistoryLength = req.MaxHistoryLength
			r.RequiresSystemPrompt = req.RequiresSystemPrompt
			r.RequiresTools = req.RequiresTools
		}
		rows = append(rows, r)
	}
	return rows
}

func orEmpty(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}
