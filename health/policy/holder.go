package policy

import (
	gosync "sync"
	"sync/atomic"
	"time"

	"github.com/runtimesd/runtimesd/health"
	"github.com/runtimesd/runtimesd/store"
)

// Holder keeps the current rule set behind an atomic pointer: Check never locks, and Replace
// (a reload) swaps the set whole. The zero Holder allows everything. It implements
// health.Gate, so the answer layer can hold it once and see every reload.
type Holder struct {
	mu  gosync.Mutex // serialises Replace
	cur atomic.Pointer[Set]
	// Now stamps LoadedAt; nil: time.Now.
	Now func() time.Time
}

var _ health.Gate = (*Holder)(nil)

// Replace compiles rules and makes them current, keeping the counters of rules whose name
// stays. On error the current set stays and the error says why.
func (h *Holder) Replace(rules []Rule, opts Options) (*Set, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	prev := h.cur.Load()
	gen := uint64(1)
	if prev != nil {
		gen = prev.gen + 1
	}
	now := time.Now
	if h.Now != nil {
		now = h.Now
	}
	s, err := compile(rules, opts, prev, gen, now())
	if err != nil {
		return nil, err
	}
	h.cur.Store(s)
	return s, nil
}

// Current is the current set (nil before the first Replace, and for a nil Holder).
func (h *Holder) Current() *Set {
	if h == nil {
		return nil
	}
	return h.cur.Load()
}

// Check evaluates the current set; no set allows everything.
func (h *Holder) Check(rt *store.Runtime, config map[string]any) []health.Verdict {
	return h.cur.Load().Check(rt, config)
}

// RuleStats is one rule as configured (defaults applied) and its decisions since start.
type RuleStats struct {
	Name     string `json:"name"`
	Deny     string `json:"deny"`
	Message  string `json:"message"`
	Severity string `json:"severity"`
	OnError  string `json:"on_error"`
	// UsesConfig: the rule reads config, so it is evaluated per request rather than cached
	// per runtime.
	UsesConfig bool   `json:"uses_config"`
	Denied     uint64 `json:"denied"`
	Allowed    uint64 `json:"allowed"`
	Errors     uint64 `json:"errors"`
}

// Stats lists the rules in order with their counters (read without locking; each counter is
// exact, the three are not read at one instant).
func (s *Set) Stats() []RuleStats {
	if s == nil {
		return []RuleStats{}
	}
	out := make([]RuleStats, 0, len(s.rules))
	for _, r := range s.rules {
		out = append(out, RuleStats{Name: r.Name, Deny: r.Deny, Message: r.Message, Severity: r.Severity,
			OnError: r.OnError, UsesConfig: r.usesConfig,
			Denied: r.n.deny.Load(), Allowed: r.n.allow.Load(), Errors: r.n.err.Load()})
	}
	return out
}
