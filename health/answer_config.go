package health

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/runtimesd/runtimesd/store"
)

// ConfigAnswer is the built configuration of a runtime (GET/POST /v1/runtimes/{id}/config,
// `runtimesd build-config`) with the snapshot's provenance.
type ConfigAnswer struct {
	Provenance
	store.BuiltConfig
	// Policy are the verdicts of the policy rules that fired and did not block (absent when
	// none did); each is also a warning.
	Policy []Verdict `json:"policy,omitempty"`
}

// ErrPolicyDenied is wrapped by the error of an answer the policy refuses.
var ErrPolicyDenied = errors.New("denied by policy")

// PolicyError is a refusal by the policy: the runtime and the blocking verdict.
type PolicyError struct {
	Runtime string
	Verdict Verdict
}

func (e *PolicyError) Error() string { return PolicyDenial(e.Runtime, e.Verdict) }

// Unwrap makes errors.Is(err, ErrPolicyDenied) hold.
func (e *PolicyError) Unwrap() error { return ErrPolicyDenied }

// BuildConfig builds the configuration of runtime id from its requirements and o (see
// store.Validator.BuildConfig) at now. A runtime the policy denies, with that configuration, is
// refused with a *PolicyError naming the rule; an id the catalog lacks wraps
// store.ErrUnknownRuntime.
func (a Answers) BuildConfig(snap *store.Snapshot, now time.Time, id string, o store.ConfigOverrides) (ConfigAnswer, error) {
	b, err := a.Validator.BuildConfig(snap.Catalog, id, o)
	if err != nil {
		return ConfigAnswer{}, err
	}
	out := ConfigAnswer{Provenance: ProvenanceOf(snap, now, a.MaxStale), BuiltConfig: b}
	if a.Gate == nil {
		return out, nil
	}
	rt, _ := snap.Catalog.Get(id)
	cfg, err := configMap(b.Config)
	if err != nil {
		return ConfigAnswer{}, fmt.Errorf("build config: %w", err)
	}
	for _, v := range a.check(rt, cfg) {
		if v.Blocking {
			return ConfigAnswer{}, &PolicyError{Runtime: rt.ID, Verdict: v}
		}
		out.Policy = append(out.Policy, v)
		out.Warnings = append(out.Warnings, policyWarning(rt.ID, v))
	}
	return out, nil
}

// configMap is a built configuration as a policy reads it (numbers as json.Number, the shape
// PolicyInput documents).
func configMap(c store.AgentConfig) (map[string]any, error) {
	raw, err := json.Marshal(c)
	if err != nil {
		return nil, err
	}
	var m map[string]any
	d := json.NewDecoder(bytes.NewReader(raw))
	d.UseNumber()
	if err := d.Decode(&m); err != nil {
		return nil, err
	}
	return PolicyInput(m), nil
}
