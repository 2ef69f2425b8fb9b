package store

import (
	"errors"
	"strings"
)

// Filter selects runtimes. Empty fields match everything; every set field must match.
// Matching is case-insensitive; feature names also treat spaces, hyphens and underscores as
// the same character.
type Filter struct {
	Status   string
	Type     string
	Provider string
	// Features must all be present in the runtime's features ∪ supported_features.
	Features []string
	// Where, when set, must also accept the runtime (a caller's own condition, such as its
	// health class).
	Where func(*Runtime) bool
}

// Match reports whether rt passes the filter.
func (f Filter) Match(rt *Runtime) bool {
	if f.Status != "" && !strings.EqualFold(f.Status, rt.Status) {
		return false
	}
	if f.Type != "" && !strings.EqualFold(f.Type, rt.Type) {
		return false
	}
	if f.Provider != "" && !containsFold(rt.Providers, f.Provider) {
		return false
	}
	if f.Where != nil && !f.Where(rt) {
		return false
	}
	for _, want := range f.Features {
		if !HasFeature(rt, want) {
			return false
		}
	}
	return true
}

// matchers prepares the filter's features once for Apply.
func (f Filter) matchers() []FeatureMatcher {
	m := make([]FeatureMatcher, len(f.Features))
	for i, x := range f.Features {
		m[i] = NewFeatureMatcher(x)
	}
	return m
}

// Apply returns the runtimes of c that match, in catalog order.
func (f Filter) Apply(c *Catalog) []*Runtime {
	var out []*Runtime
	feats := f.matchers()
	g := f
	g.Features = nil
	for _, rt := range c.Runtimes() {
		if !g.Match(rt) {
			continue
		}
		ok := true
		for _, m := range feats {
			if !m.Match(rt) {
				ok = false
				break
			}
		}
		if ok {
			out = append(out, rt)
		}
	}
	return out
}

// HasFeature reports whether rt declares the feature. Both sides are compared after
// NormalizeFeature; a feature matches when equal, or when it occurs as whole words in one of
// the runtime's feature sentences ("code review" matches "Built-in code review", "code" does
// not match "Codebase").
func HasFeature(rt *Runtime, feature string) bool {
	want := NormalizeFeature(feature)
	if want == "" {
		return false
	}
	return rt.hasFeatureKey(" " + want + " ")
}

// hasFeatureKey matches a normalised, space-padded feature against rt's.
func (rt *Runtime) hasFeatureKey(key string) bool {
	for _, have := range rt.featureKeys {
		if strings.Contains(have, key) {
			return true
		}
	}
	return false
}

// FeatureMatcher matches one requested feature against many runtimes, normalising it once.
type FeatureMatcher string

// NewFeatureMatcher prepares feature for matching.
func NewFeatureMatcher(feature string) FeatureMatcher {
	n := NormalizeFeature(feature)
	if n == "" {
		return ""
	}
	return FeatureMatcher(" " + n + " ")
}

// Match reports whether rt has the feature (see HasFeature).
func (m FeatureMatcher) Match(rt *Runtime) bool { return m != "" && rt.hasFeatureKey(string(m)) }

// NormalizeFeature lowercases a feature name, trims it and folds runs of spaces, hyphens and
// underscores into one space, so "Multi-step task_execution" equals "multi step task execution".
func NormalizeFeature(s string) string {
	var b strings.Builder
	b.Grow(len(s))
	writeNormalizedFeature(&b, s)
	return b.String()
}

// writeNormalizedFeature writes NormalizeFeature(s) to b.
func writeNormalizedFeature(b *strings.Builder, s string) {
	start := b.Len()
	sep := false
	for _, r := range strings.ToLower(strings.TrimSpace(s)) {
		if r == ' ' || r == '-' || r == '_' || r == '\t' {
			sep = true
			continue
		}
		if sep && b.Len() > start {
			b.WriteByte(' ')
		}
		sep = false
		b.WriteRune(r)
	}
}

func containsFold(list []string, s string) bool {
	for _, x := range list {
		if strings.EqualFold(x, s) {
			return true
		}
	}
	return false
}

// ErrNoTypes is returned by CheckFilter for a type filter on a catalog whose runtimes carry no
// type: the control plane's public catalog sends none, so such a filter could only match nothing.
var ErrNoTypes = errors.New("no runtime in the catalog has a type field (the control plane does not send one); filter by status, feature, provider or health instead")

// CheckFilter reports a filter that asks about a field the catalog does not have.
func (c *Catalog) CheckFilter(f Filter) error {
	if f.Type == "" {
		return nil
	}
	for _, rt := range c.Runtimes() {
		if rt.Type != "" {
			return nil
		}
	}
	return ErrNoTypes
}
