package health

import (
	"cmp"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"unicode"

	"github.com/runtimesd/runtimesd/store"
)

// SelectRequest says what an agent needs of a runtime.
type SelectRequest struct {
	// Features must all be supported (compared by store.NormalizeFeature).
	Features []string `json:"features"`
	// Provider, when set, must be among the runtime's supported providers (case-insensitive).
	Provider string `json:"model_provider"`
	// Model, when set, must be accepted by the runtime's model rules.
	Model string `json:"model_id"`
	// AllowUnhealthy lets unhealthy runtimes be chosen.
	AllowUnhealthy bool `json:"allow_unhealthy"`
	// Candidates restricts the choice to these ids (all runtimes when empty).
	Candidates []string `json:"candidates"`
	// Limit keeps only the best Limit candidates in the answer (Total says how many were
	// ranked): 0 means DefaultSelectLimit, at most MaxSelectLimit.
	Limit int `json:"limit"`
}

// Bounds of a selection request: an answer grows with candidates × features, so each factor
// is bounded and the largest answer is a few hundred kilobytes whatever the catalog.
const (
	DefaultSelectLimit    = 20
	MaxSelectLimit        = 50
	MaxSelectFeatures     = 32
	MaxSelectFeatureBytes = 128
	MaxSelectCandidates   = 1000
	MaxSelectFieldBytes   = 256 // provider, model and each candidate id
	maxUnknownIDsReported = 10
)

// ErrBadSelectRequest is returned when a selection request exceeds a bound.
var ErrBadSelectRequest = errors.New("bad selection request")

// Check reports the first bound req exceeds, as an ErrBadSelectRequest naming the field.
func (req SelectRequest) Check() error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s", ErrBadSelectRequest, fmt.Sprintf(format, args...))
	}
	switch {
	case req.Limit < 0 || req.Limit > MaxSelectLimit:
		return bad("limit must be 0 (the default, %d) to %d, got %d", DefaultSelectLimit, MaxSelectLimit, req.Limit)
	case len(req.Features) > MaxSelectFeatures:
		return bad("at most %d features per request, got %d", MaxSelectFeatures, len(req.Features))
	case len(req.Candidates) > MaxSelectCandidates:
		return bad("at most %d candidates per request, got %d", MaxSelectCandidates, len(req.Candidates))
	case len(req.Provider) > MaxSelectFieldBytes:
		return bad("model_provider is longer than %d bytes", MaxSelectFieldBytes)
	case len(req.Model) > MaxSelectFieldBytes:
		return bad("model_id is longer than %d bytes", MaxSelectFieldBytes)
	}
	for i, f := range req.Features {
		switch {
		case len(f) > MaxSelectFeatureBytes:
			return bad("features[%d] is longer than %d bytes", i, MaxSelectFeatureBytes)
		case strings.ContainsFunc(f, unicode.IsControl):
			return bad("features[%d] has control characters", i)
		}
	}
	if strings.ContainsFunc(req.Provider+req.Model, unicode.IsControl) {
		return bad("model_provider and model_id must not have control characters")
	}
	for i, id := range req.Candidates {
		if len(id) > MaxSelectFieldBytes {
			return bad("candidates[%d] is longer than %d bytes", i, MaxSelectFieldBytes)
		}
	}
	return nil
}

// Ranked is one candidate runtime with how well it matches.
type Ranked struct {
	Rank   int    `json:"rank"`
	ID     string `json:"id"`
	Name   string `json:"name"`
	Status string `json:"status"`
	Health Class  `json:"health"`
	// Score is 0 to 100: features 60 (in proportion), provider 20, model 10, health 10
	// (unknown 5); a requirement not asked for scores full marks.
	Score              float64  `json:"score"`
	Eligible           bool     `json:"eligible"`
	MatchedFeatures    []string `json:"matched_features"`
	MissingFeatures    []string `json:"missing_features"`
	ProviderCompatible *bool    `json:"provider_compatible"`
	ModelCompatible    *bool    `json:"model_compatible"`
	Reason             string   `json:"reason"`
	// Policy are the verdicts of the policy rules that fired for this runtime (absent when
	// none did); a blocking one makes it ineligible.
	Policy []Verdict `json:"policy,omitempty"`
}

// Selection is the outcome of Select: the best eligible runtime (nil when none) and every
// candidate ranked; Unmet says which requirements no candidate meets when none is eligible.
type Selection struct {
	Best       *Ranked  `json:"best"`
	Candidates []Ranked `json:"candidates"`
	// Total is how many candidates were ranked (Candidates may hold fewer, see Limit).
	Total int      `json:"total"`
	Unmet []string `json:"unmet,omitempty"`
}

// ErrUnknownCandidates is returned when SelectRequest.Candidates names ids not in the catalog.
var ErrUnknownCandidates = errors.New("unknown candidate runtimes")

// Select ranks the catalog's runtimes for req. modelOK decides model compatibility (the
// validator's rule). Ranking is deterministic: eligible first, then score, then health, then
// a generally available runtime before a beta one, then id.
func Select(c *store.Catalog, cls *Classifier, modelOK func(*store.Runtime, string) bool, req SelectRequest) (Selection, error) {
	return selectWith(c, cls, nil, modelOK, req)
}

// Select ranks snap's runtimes for req (see the function Select), with the policy applied: a
// runtime a blocking verdict denies is not eligible, and its reason names the rule.
func (a Answers) Select(snap *store.Snapshot, req SelectRequest) (Selection, error) {
	modelOK := func(rt *store.Runtime, model string) bool {
		ok, _ := a.Validator.ModelCompatible(rt, model)
		return ok
	}
	return selectWith(snap.Catalog, a.Classifier, a.Gate, modelOK, req)
}

func selectWith(c *store.Catalog, cls *Classifier, gate Gate, modelOK func(*store.Runtime, string) bool, req SelectRequest) (Selection, error) {
	if err := req.Check(); err != nil {
		return Selection{}, err
	}
	if req.Limit == 0 {
		req.Limit = DefaultSelectLimit
	}
	pool := c.Runtimes()
	if len(req.Candidates) > 0 {
		var unknown []string
		pool = nil
		for _, id := range req.Candidates {
			rt, ok := c.Get(id)
			if !ok {
				unknown = append(unknown, id)
				continue
			}
			pool = append(pool, rt)
		}
		if n := len(unknown); n > maxUnknownIDsReported {
			unknown = append(unknown[:maxUnknownIDsReported], fmt.Sprintf("and %d more", n-maxUnknownIDsReported))
		}
		if len(unknown) > 0 {
			return Selection{}, fmt.Errorf("%w: %s", ErrUnknownCandidates, strings.Join(unknown, ", "))
		}
		// pool is a new slice here (never the catalog's): dedupe in n log n, not n².
		slices.SortFunc(pool, func(a, b *store.Runtime) int { return strings.Compare(a.ID, b.ID) })
		pool = slices.Compact(pool)
	}
	matchers := make([]store.FeatureMatcher, len(req.Features))
	for i, f := range req.Features {
		matchers[i] = store.NewFeatureMatcher(f)
	}
	ranked := make([]Ranked, 0, len(pool))
	for _, rt := range pool {
		r := rank(rt, cls, modelOK, req, matchers)
		if gate != nil {
			applyPolicy(&r, gate.Check(rt, nil))
		}
		ranked = append(ranked, r)
	}
	slices.SortStableFunc(ranked, func(a, b Ranked) int {
		if a.Eligible != b.Eligible {
			if a.Eligible {
				return -1
			}
			return 1
		}
		return cmp.Or(cmp.Compare(b.Score, a.Score), cmp.Compare(healthOrder(a.Health), healthOrder(b.Health)),
			cmp.Compare(betaOrder(a.Status), betaOrder(b.Status)), strings.Compare(a.ID, b.ID))
	})
	sel := Selection{Candidates: ranked}
	for i := range ranked {
		ranked[i].Rank = i + 1
	}
	if len(ranked) > 0 && ranked[0].Eligible {
		best := ranked[0]
		sel.Best = &best
	} else {
		sel.Unmet = unmet(ranked, req)
	}
	sel.Total = len(ranked)
	if req.Limit < len(ranked) {
		sel.Candidates = ranked[:req.Limit]
	}
	return sel, nil
}

func rank(rt *store.Runtime, cls *Classifier, modelOK func(*store.Runtime, string) bool, req SelectRequest, matchers []store.FeatureMatcher) Ranked {
	r := Ranked{ID: rt.ID, Name: rt.Name, Status: rt.Status, Health: cls.Of(rt),
		MatchedFeatures: []string{}, MissingFeatures: []string{}}
	for i, f := range req.Features {
		if matchers[i].Match(rt) {
			r.MatchedFeatures = append(r.MatchedFeatures, f)
		} else {
			r.MissingFeatures = append(r.MissingFeatures, f)
		}
	}
	score := 60.0
	if n := len(req.Features); n > 0 {
		score = 60 * float64(len(r.MatchedFeatures)) / float64(n)
	}
	var why []string
	eligible := len(r.MissingFeatures) == 0
	if n := len(r.MissingFeatures); n > 0 {
		// The features are listed once, in missing_features: a reason repeating them would
		// grow every candidate's text with the request.
		why = append(why, fmt.Sprintf("lacks %d of %d features (see missing_features)", n, len(req.Features)))
	} else if len(req.Features) > 0 {
		why = append(why, fmt.Sprintf("has all %d features", len(req.Features)))
	}
	if req.Provider != "" {
		ok := slices.ContainsFunc(rt.Providers, func(p string) bool { return strings.EqualFold(p, req.Provider) })
		r.ProviderCompatible = &ok
		if ok {
			score += 20
			why = append(why, "supports provider "+req.Provider)
		} else {
			eligible = false
			why = append(why, "does not support provider "+req.Provider)
		}
	} else {
		score += 20
	}
	if req.Model != "" {
		ok := modelOK(rt, req.Model)
		r.ModelCompatible = &ok
		if ok {
			score += 10
			why = append(why, "accepts model "+req.Model)
		} else {
			eligible = false
			why = append(why, "does not accept model "+req.Model)
		}
	} else {
		score += 10
	}
	switch r.Health {
	case Healthy:
		score += 10
		why = append(why, "healthy")
	case Unknown:
		score += 5
		why = append(why, fmt.Sprintf("health unknown (status %q)", rt.Status))
	case Unhealthy:
		if !req.AllowUnhealthy {
			eligible = false
		}
		why = append(why, fmt.Sprintf("unhealthy (status %q)", rt.Status))
	}
	r.Score = math.Round(score*10) / 10
	r.Eligible = eligible
	verdict := "eligible"
	if !eligible {
		verdict = "not eligible"
	}
	r.Reason = verdict + ": " + strings.Join(why, "; ")
	return r
}

// applyPolicy records the verdicts about a candidate: a blocking one makes it ineligible and
// its reason names the rule; the others are noted in the reason.
func applyPolicy(r *Ranked, vs []Verdict) {
	if len(vs) == 0 {
		return
	}
	r.Policy = vs
	var notes []string
	for _, v := range vs {
		if v.Blocking {
			notes = append(notes, "denied by policy rule '"+v.Rule+"'")
		} else {
			notes = append(notes, "policy rule '"+v.Rule+"' warns")
		}
	}
	if b := blocking(vs); b != nil && r.Eligible {
		r.Eligible = false
		r.Reason = "not eligible: " + strings.TrimPrefix(r.Reason, "eligible: ")
	}
	r.Reason += "; " + strings.Join(notes, "; ")
}

// unmet names each requirement no candidate meets, or says that each is met by some
// candidate but none meets them all.
func unmet(ranked []Ranked, req SelectRequest) []string {
	if len(ranked) == 0 {
		return []string{"there are no runtimes to choose from"}
	}
	var out []string
	for _, f := range req.Features {
		if !slices.ContainsFunc(ranked, func(r Ranked) bool { return slices.Contains(r.MatchedFeatures, f) }) {
			out = append(out, fmt.Sprintf("no runtime supports the feature %q", f))
		}
	}
	if req.Provider != "" && !slices.ContainsFunc(ranked, func(r Ranked) bool { return *r.ProviderCompatible }) {
		out = append(out, fmt.Sprintf("no runtime supports the provider %q", req.Provider))
	}
	if req.Model != "" && !slices.ContainsFunc(ranked, func(r Ranked) bool { return *r.ModelCompatible }) {
		out = append(out, fmt.Sprintf("no runtime accepts the model %q", req.Model))
	}
	if !req.AllowUnhealthy && !slices.ContainsFunc(ranked, func(r Ranked) bool { return r.Health != Unhealthy }) {
		out = append(out, "every runtime is unhealthy (allow_unhealthy: true would allow them)")
	}
	if len(out) == 0 {
		out = append(out, "each requirement is met by some runtime, but no single runtime meets them all (see candidates)")
	}
	return out
}

func healthOrder(c Class) int {
	switch c {
	case Healthy:
		return 0
	case Unknown:
		return 1
	}
	return 2
}

func betaOrder(status string) int {
	if strings.EqualFold(status, "beta") {
		return 1
	}
	return 0
}

func quoteList(s []string) string {
	q := make([]string, len(s))
	for i, x := range s {
		q[i] = fmt.Sprintf("%q", x)
	}
	return strings.Join(q, ", ")
}
