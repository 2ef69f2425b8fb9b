package health

import (
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/runtimesd/runtimesd/store"
)

// Condition is a reason to pass over a runtime and try the next one in its fallback chain.
type Condition string

// The fallback conditions.
const (
	WhenMissing      Condition = "missing"       // not in the catalog
	WhenUnhealthy    Condition = "unhealthy"     // health class unhealthy
	WhenLacksFeature Condition = "lacks_feature" // lacks a feature the caller requires
)

// FallbackRules say which runtime to use when the preferred one cannot be: per runtime an
// ordered chain (followed transitively), the conditions that move down a chain, and a
// global default as the last resort.
type FallbackRules struct {
	Chains     map[string][]string
	Conditions []Condition
	Default    string
}

// Validate checks the conditions and that no chain loops; a cycle is named in full.
func (r FallbackRules) Validate() error {
	for _, c := range r.Conditions {
		switch c {
		case WhenMissing, WhenUnhealthy, WhenLacksFeature:
		default:
			return fmt.Errorf("fallback condition %q: want missing, unhealthy or lacks_feature", c)
		}
	}
	for id, chain := range r.Chains {
		for _, next := range chain {
			if next == "" {
				return fmt.Errorf("fallback chain of %q has an empty id", id)
			}
		}
	}
	// Depth-first search over the chains, in a stable order so the reported cycle is too.
	ids := make([]string, 0, len(r.Chains))
	for id := range r.Chains {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	const (
		unseen = iota
		onPath
		done
	)
	state := map[string]int{}
	var path []string
	var visit func(id string) error
	visit = func(id string) error {
		switch state[id] {
		case onPath:
			i := slices.Index(path, id)
			return fmt.Errorf("fallback chains loop: %s", strings.Join(append(slices.Clone(path[i:]), id), " -> "))
		case done:
			return nil
		}
		state[id] = onPath
		path = append(path, id)
		for _, next := range r.Chains[id] {
			if err := visit(next); err != nil {
				return err
			}
		}
		path = path[:len(path)-1]
		state[id] = done
		return nil
	}
	for _, id := range ids {
		if err := visit(id); err != nil {
			return err
		}
	}
	return nil
}

func (r FallbackRules) conditions() []Condition {
	if len(r.Conditions) == 0 {
		return []Condition{WhenMissing, WhenUnhealthy, WhenLacksFeature}
	}
	return r.Conditions
}

// Candidates returns the order in which runtimes are tried for id: id, its chain (each
// fallback followed by its own chain, depth first), then the default.
func (r FallbackRules) Candidates(id string) []string {
	out := r.chained(id)
	if r.Default != "" && !slices.Contains(out, r.Default) {
		out = append(out, r.Default)
	}
	return out
}

// chained is id followed by every id its chain reaches, depth first.
func (r FallbackRules) chained(id string) []string {
	var out []string
	var walk func(string)
	walk = func(x string) {
		if slices.Contains(out, x) {
			return
		}
		out = append(out, x)
		for _, next := range r.Chains[x] {
			walk(next)
		}
	}
	walk(id)
	return out
}

// Attempt is one candidate considered by Resolve.
type Attempt struct {
	ID     string `json:"id"`
	Chosen bool   `json:"chosen"`
	// Why says why it was chosen or passed over.
	Why string `json:"why"`
}

// Resolution is the runtime to use for a requested id.
type Resolution struct {
	Requested  string         `json:"requested"`
	Runtime    *store.Runtime `json:"-"`
	IsFallback bool           `json:"is_fallback"`
	Reason     string         `json:"reason"`
	Tried      []Attempt      `json:"tried"`
}

// Resolve walks the candidates of id and returns the first that no enabled condition rules
// out. ok is false when none qualifies; Tried then says why each was passed over.
func (r FallbackRules) Resolve(c *store.Catalog, cls *Classifier, id string, features []string) (res Resolution, ok bool) {
	return r.resolve(c, cls, nil, id, features)
}

// Resolve is the runtime to use for id in snap after the fallback rules (see
// FallbackRules.Resolve), with the policy applied: a runtime a blocking verdict denies is
// passed over, and Tried says which rule denied it.
func (a Answers) Resolve(snap *store.Snapshot, id string, features []string) (Resolution, bool) {
	return a.Fallback.resolve(snap.Catalog, a.Classifier, a.Gate, id, features)
}

func (r FallbackRules) resolve(c *store.Catalog, cls *Classifier, gate Gate, id string, features []string) (res Resolution, ok bool) {
	conds := r.conditions()
	on := func(x Condition) bool { return slices.Contains(conds, x) }
	res = Resolution{Requested: id, Tried: []Attempt{}}
	var passed []string
	for _, cand := range r.Candidates(id) {
		rt, found := c.Get(cand)
		var why string
		switch {
		case !found:
			why = "not in the catalog"
			if !on(WhenMissing) {
				why += " (and cannot be used without it)"
			}
		case on(WhenUnhealthy) && cls.Of(rt) == Unhealthy:
			why = fmt.Sprintf("unhealthy (status %q)", rt.Status)
		case on(WhenLacksFeature):
			var missing []string
			for _, f := range features {
				if !store.HasFeature(rt, f) {
					missing = append(missing, f)
				}
			}
			if len(missing) > 0 {
				why = "lacks " + quoteList(missing)
			}
		}
		if why == "" && found && gate != nil {
			if v := blocking(gate.Check(rt, nil)); v != nil {
				why = "denied by policy rule '" + v.Rule + "'"
				if v.Message != "" {
					why += " (" + v.Message + ")"
				}
			}
		}
		if why != "" {
			res.Tried = append(res.Tried, Attempt{ID: cand, Why: why})
			passed = append(passed, fmt.Sprintf("%s %s", cand, why))
			continue
		}
		res.Runtime, res.IsFallback = rt, cand != id
		chosen := "the requested runtime qualifies"
		if res.IsFallback {
			role := "next in the fallback chain"
			if cand == r.Default && !slices.Contains(r.chained(id), cand) {
				role = "the default runtime"
			}
			chosen = fmt.Sprintf("%s; %s", strings.Join(passed, "; "), role)
		}
		res.Reason = chosen
		res.Tried = append(res.Tried, Attempt{ID: cand, Chosen: true, Why: chosen})
		return res, true
	}
	res.Reason = "no candidate qualifies: " + strings.Join(passed, "; ")
	return res, false
}
