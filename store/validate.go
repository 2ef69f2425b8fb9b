package store

import (
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strings"
)

// BuiltinModelPatterns are the control plane's model-id patterns for its public runtimes. The
// requirements endpoint does not expose them, so the sidecar carries them; config may override
// and extend them per runtime.
var BuiltinModelPatterns = map[string][]string{
	"default":     {".*"},
	"claude_code": {"claude", "kubiya/claude", `anthropic\.claude`},
}

// Validator checks agent configurations against a runtime's requirements with the control
// plane's rules, in its order and with its sentences. It is immutable and safe for concurrent
// use.
type Validator struct {
	patterns map[string][]string
	compiled map[string][]*regexp.Regexp
}

// NewValidator compiles the built-in patterns with overrides applied (a runtime listed in
// overrides takes exactly those patterns). An invalid pattern is an error naming it.
func NewValidator(overrides map[string][]string) (*Validator, error) {
	v := &Validator{patterns: maps.Clone(BuiltinModelPatterns), compiled: map[string][]*regexp.Regexp{}}
	maps.Copy(v.patterns, overrides)
	for id, pats := range v.patterns {
		for _, p := range pats {
			re, err := regexp.Compile("(?i)" + p)
			if err != nil {
				return nil, fmt.Errorf("model pattern %q for runtime %q: %w", p, id, err)
			}
			v.compiled[id] = append(v.compiled[id], re)
		}
	}
	return v, nil
}

// Patterns returns the model-id patterns used for a runtime, and whether it has any.
func (v *Validator) Patterns(id string) ([]string, bool) {
	p, ok := v.patterns[id]
	return slices.Clone(p), ok
}

// ValidationRequest is what the control plane's validate endpoint takes. Nil pointers and a
// nil map are JSON null or absent.
type ValidationRequest struct {
	RuntimeType  string
	ModelID      *string
	AgentConfig  map[string]any
	SystemPrompt *string
}

// Check is the outcome of one rule.
type Check struct {
	Met    bool
	Errors []string
}

// Validation is the result of validating one request.
type Validation struct {
	// Valid is true exactly when Errors is empty.
	Valid  bool
	Errors []string
	// Checked is false when the runtime type has no registered requirements: valid, unchecked.
	Checked bool
	Runtime *Runtime
	// Model, Config and SystemPrompt are the individual rules (zero when unchecked).
	Model, Config, SystemPrompt Check
	// ModelRuleApproximated is true when the runtime has no model-id patterns (neither built
	// in nor configured) and its families alone decided.
	ModelRuleApproximated bool
}

// Validate applies the control plane's rules, in order:
//  1. a runtime type with no registered requirements (exact, case-sensitive match) is valid;
//  2. model: required, then compatible when a pattern matches anywhere (case-insensitive) or a
//     supported family occurs in it (case-insensitive);
//  3. config: required fields present and not null;
//  4. system prompt, when the runtime requires one.
func (v *Validator) Validate(c *Catalog, req ValidationRequest) Validation {
	rt, ok := c.Get(req.RuntimeType)
	if !ok || rt.Requirements == nil {
		return Validation{Valid: true, Errors: []string{}}
	}
	r := rt.Requirements
	out := Validation{Checked: true, Runtime: rt}

	switch {
	case req.ModelID == nil || *req.ModelID == "":
		out.Model.Errors = []string{"Model ID is required for this runtime"}
	default:
		compatible, approx := v.ModelCompatible(rt, *req.ModelID)
		out.ModelRuleApproximated = approx
		if !compatible {
			// The control plane's sentence; with no patterns known, the clause naming them
			// is left out rather than left empty.
			expected := ""
			if pats, _ := v.Patterns(rt.ID); len(pats) > 0 {
				expected = " Expected models matching: " + strings.Join(pats, ", ") + "."
			}
			out.Model.Errors = []string{fmt.Sprintf(
				"Model '%s' is not compatible with this runtime.%s Supported families: %s. Examples: %s",
				*req.ModelID, expected, strings.Join(r.ModelRequirement.SupportedFamilies, ", "),
				strings.Join(r.ModelRequirement.Examples, ", "))}
		}
	}
	out.Model.Met = len(out.Model.Errors) == 0

	if len(r.RequiredConfigFields) > 0 {
		if len(req.AgentConfig) == 0 {
			out.Config.Errors = []string{"Configuration is required for this runtime. Required fields: " +
				strings.Join(r.RequiredConfigFields, ", ")}
		} else {
			for _, f := range r.RequiredConfigFields {
				if val, ok := req.AgentConfig[f]; !ok || val == nil {
					out.Config.Errors = append(out.Config.Errors, fmt.Sprintf("Required field '%s' is missing in configuration", f))
				}
			}
		}
	}
	out.Config.Met = len(out.Config.Errors) == 0

	if r.RequiresSystemPrompt && (req.SystemPrompt == nil || *req.SystemPrompt == "") {
		out.SystemPrompt.Errors = []string{"System prompt is required for this runtime"}
	}
	out.SystemPrompt.Met = len(out.SystemPrompt.Errors) == 0

	out.Errors = slices.Concat(out.Model.Errors, out.Config.Errors, out.SystemPrompt.Errors)
	if out.Errors == nil {
		out.Errors = []string{}
	}
	out.Valid = len(out.Errors) == 0
	return out
}

// ModelCompatible reports whether a non-empty model id suits rt: a pattern matches anywhere in
// it, or a supported family occurs in it, both case-insensitively. approximated is true when
// rt has no patterns, so families alone decide (and with no families either, any model is
// accepted: nothing is known to refuse it).
func (v *Validator) ModelCompatible(rt *Runtime, model string) (ok, approximated bool) {
	res, hasPatterns := v.compiled[rt.ID]
	for _, re := range res {
		if re.MatchString(model) {
			return true, false
		}
	}
	var families []string
	if rt.Requirements != nil {
		families = rt.Requirements.ModelRequirement.SupportedFamilies
	}
	lower := strings.ToLower(model)
	for _, f := range families {
		if strings.Contains(lower, strings.ToLower(f)) {
			return true, !hasPatterns
		}
	}
	if !hasPatterns && len(families) == 0 {
		return true, true
	}
	return false, !hasPatterns
}

// Did-you-mean: a name that matches nothing is compared with the catalog's names after
// normalisation (case, spaces, hyphens and underscores, as feature filters compare them). A
// suggestion is a name at edit distance (Levenshtein, in runes) at most 2, and at most a third
// of the typed name's length, so short inputs are not "corrected" into unrelated names; names
// longer than maxSuggestLen get none. The closest wins; ties go to catalog order.

// maxSuggestDistance is the largest edit distance a suggestion may be from what was typed.
const maxSuggestDistance = 2

// SuggestID returns the catalog id closest to id (see Did-you-mean), or "" when none is close
// or id is itself in the catalog.
func SuggestID(c *Catalog, id string) string {
	if _, ok := c.Get(id); ok {
		return ""
	}
	ids := make([]string, 0, c.Len())
	for _, rt := range c.Runtimes() {
		ids = append(ids, rt.ID)
	}
	return closest(id, ids)
}

// SuggestFeature returns the feature words closest to feature among rt's features (every run
// of as many words as feature has, in each feature phrase), or among every runtime's when rt is
// nil; "" when none is close. The suggestion is a value a feature filter accepts.
func SuggestFeature(c *Catalog, rt *Runtime, feature string) string {
	want := NormalizeFeature(feature)
	if want == "" {
		return ""
	}
	n := len(strings.Fields(want))
	var cands []string
	add := func(r *Runtime) {
		for _, f := range r.Features {
			words := strings.Fields(NormalizeFeature(f))
			for i := 0; i+n <= len(words); i++ {
				cands = append(cands, strings.Join(words[i:i+n], " "))
			}
		}
	}
	if rt != nil {
		add(rt)
	} else {
		for _, r := range c.Runtimes() {
			add(r)
		}
	}
	return closest(want, cands)
}

// maxSuggestLen bounds what is compared: a longer name (in runes, normalised) gets no
// suggestion, so a hostile megabyte id costs one normalisation, not one per candidate.
const maxSuggestLen = 128

// closest returns the candidate nearest to s within the suggestion bounds, or "".
func closest(s string, cands []string) string {
	if len(s) > 4*maxSuggestLen+64 { // cannot normalise to maxSuggestLen runes or fewer
		return ""
	}
	want := []rune(NormalizeFeature(s))
	if len(want) == 0 || len(want) > maxSuggestLen {
		return ""
	}
	limit := min(maxSuggestDistance, (len(want)+2)/3)
	best, bestD := "", limit+1
	var rows [2][maxSuggestLen + maxSuggestDistance + 1]int
	var buf [maxSuggestLen + maxSuggestDistance]rune
	for _, c := range cands {
		if len(c) < len(want)-limit || len(c) > 4*(len(want)+limit)+16 {
			continue // normalising never lengthens; these cannot come within limit
		}
		cr := appendNormalizedRunes(buf[:0], c, len(want)+limit)
		if cr == nil {
			continue
		}
		if d := editDistance(want, cr, limit, &rows); d < bestD {
			best, bestD = c, d
		}
	}
	return best
}

// appendNormalizedRunes appends NormalizeFeature(s) as runes to dst, or returns nil when it
// would be longer than max.
func appendNormalizedRunes(dst []rune, s string, max int) []rune {
	for _, r := range NormalizeFeature(s) {
		if len(dst) == max {
			return nil
		}
		dst = append(dst, r)
	}
	return dst
}

// editDistance is the Levenshtein distance of a and b, or limit+1 when it exceeds limit
// (lengths further apart than limit are not compared). rows is scratch space of at least
// len(b)+1 entries per row.
func editDistance(a, b []rune, limit int, rows *[2][maxSuggestLen + maxSuggestDistance + 1]int) int {
	if d := len(a) - len(b); d > limit || -d > limit {
		return limit + 1
	}
	prev, cur := rows[0][:len(b)+1], rows[1][:len(b)+1]
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		rowMin := cur[0]
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
			rowMin = min(rowMin, cur[j])
		}
		if rowMin > limit {
			return limit + 1
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
