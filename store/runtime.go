// Package store holds runtimesd's data model (Runtime, Requirements, Catalog, Snapshot),
// the pure questions asked of a snapshot (filters, diffs), and its bbolt persistence.
//
// store is a leaf: it imports nothing else of this project, and nothing of echo or HTTP.
// bbolt is a detail of this package; callers see domain values only.
package store

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
)

// Runtime is one agent runtime as the control plane described it. The upstream JSON is kept
// verbatim in Raw and RequirementsRaw so that fields this version does not know reach clients
// unchanged; the other fields are normalised copies used for filtering.
//
// A Runtime is immutable once built: snapshots share them, and readers never lock.
type Runtime struct {
	ID     string
	Name   string
	Type   string
	Status string
	// Features is features ∪ supported_features, in the order first seen.
	Features []string
	// featureKeys are Features normalised (NormalizeFeature) and padded with spaces, for
	// whole-word matching without work per request.
	featureKeys []string
	// Providers and Families come from the requirements' model_requirement (and
	// model_requirements when present), sorted and deduplicated.
	Providers []string
	Families  []string

	// Raw is the runtime object exactly as upstream sent it.
	Raw json.RawMessage
	// RequirementsRaw is the requirements object exactly as upstream sent it (inline or from
	// the requirements endpoint); nil when the runtime has none.
	RequirementsRaw json.RawMessage
	// Requirements is RequirementsRaw decoded; nil when the runtime has none.
	Requirements *Requirements

	// DefaultModel is model_requirements.default_model, when upstream sends it.
	DefaultModel string
	// DefaultEnvironment is default_environment verbatim, when upstream sends it.
	DefaultEnvironment json.RawMessage
	// RequiredFeatures is required_features (of the runtime object, else of its requirements),
	// when upstream sends it: features an agent configuration for this runtime must declare.
	RequiredFeatures []string

	// Degraded is non-empty when the last sync could not refresh this runtime's requirements;
	// it says why, and the requirements are the previous ones. It is not persisted and not
	// part of the content digest.
	Degraded string

	digest [sha256.Size]byte // canonical content, see SameContent
	rawSum [sha256.Size]byte // of Raw as sent, see Catalog.LookupRaw
}

// Requirements is what a runtime requires of an agent configuration.
type Requirements struct {
	ModelRequirement        ModelRequirement `json:"model_requirement"`
	RequiredConfigFields    []string         `json:"required_config_fields"`
	RecommendedConfigFields []string         `json:"recommended_config_fields"`
	MaxHistoryLength        *int             `json:"max_history_length"`
	RequiresSystemPrompt    bool             `json:"requires_system_prompt"`
	RequiresTools           bool             `json:"requires_tools"`
	RequiredFeatures        []string         `json:"required_features,omitempty"`
}

// ModelRequirement describes which models a runtime accepts.
type ModelRequirement struct {
	Description        string   `json:"description"`
	SupportedProviders []string `json:"supported_providers"`
	SupportedFamilies  []string `json:"supported_families"`
	Examples           []string `json:"examples"`
}

// ErrInvalidRuntime is wrapped by every error about an upstream runtime object that cannot be
// used (not an object, no id, malformed requirements).
var ErrInvalidRuntime = errors.New("invalid runtime")

// runtimeWire is the subset of the upstream runtime object runtimesd reads.
type runtimeWire struct {
	ID                string          `json:"id"`
	Name              string          `json:"name"`
	Type              string          `json:"type"`
	Status            string          `json:"status"`
	Features          []string        `json:"features"`
	SupportedFeatures []string        `json:"supported_features"`
	Requirements      json.RawMessage `json:"requirements"`
	ModelRequirements *struct {
		SupportedProviders []string `json:"supported_providers"`
		SupportedFamilies  []string `json:"supported_families"`
		DefaultModel       string   `json:"default_model"`
	} `json:"model_requirements"`
	DefaultEnvironment json.RawMessage `json:"default_environment"`
	RequiredFeatures   []string        `json:"required_features"`
}

// InlineRequirements returns the requirements object embedded in a raw runtime object, or nil
// when the field is absent or null. It does not validate the object.
func InlineRequirements(raw json.RawMessage) (json.RawMessage, error) {
	var w struct {
		Requirements json.RawMessage `json:"requirements"`
	}
	if err := json.Unmarshal(raw, &w); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalidRuntime, err)
	}
	if isNull(w.Requirements) {
		return nil, nil
	}
	return w.Requirements, nil
}

// NewRuntime builds a Runtime from the upstream runtime object and its requirements object
// (nil when it has none). Both byte slices are kept as given; callers must not modify them.
func NewRuntime(raw, reqRaw json.RawMessage) (*Runtime, error) {
	var w runtimeWire
	if err := json.Unmarshal(raw, &w); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalidRuntime, err)
	}
	if bytes.TrimSpace(raw)[0] != '{' {
		return nil, fmt.Errorf("%w: not a JSON object", ErrInvalidRuntime)
	}
	if w.ID == "" {
		return nil, fmt.Errorf("%w: missing id", ErrInvalidRuntime)
	}
	rt := &Runtime{
		ID:     w.ID,
		Name:   w.Name,
		Type:   w.Type,
		Status: w.Status,
		Raw:    raw,
	}
	rt.Features = union(w.Features, w.SupportedFeatures)
	rt.featureKeys = featureKeys(rt.Features)
	var providers, families []string
	if isNull(reqRaw) {
		reqRaw = nil
	}
	if reqRaw != nil {
		var req Requirements
		if err := json.Unmarshal(reqRaw, &req); err != nil {
			return nil, fmt.Errorf("%w: runtime %q: requirements: %v", ErrInvalidRuntime, w.ID, err)
		}
		if bytes.TrimSpace(reqRaw)[0] != '{' {
			return nil, fmt.Errorf("%w: runtime %q: requirements: not a JSON object", ErrInvalidRuntime, w.ID)
		}
		rt.RequirementsRaw = reqRaw
		rt.Requirements = &req
		providers = append(providers, req.ModelRequirement.SupportedProviders...)
		families = append(families, req.ModelRequirement.SupportedFamilies...)
	}
	if !isNull(w.DefaultEnvironment) {
		rt.DefaultEnvironment = w.DefaultEnvironment
	}
	rt.RequiredFeatures = w.RequiredFeatures
	if len(rt.RequiredFeatures) == 0 && rt.Requirements != nil {
		rt.RequiredFeatures = rt.Requirements.RequiredFeatures
	}
	if w.ModelRequirements != nil {
		rt.DefaultModel = w.ModelRequirements.DefaultModel
		providers = append(providers, w.ModelRequirements.SupportedProviders...)
		families = append(families, w.ModelRequirements.SupportedFamilies...)
	}
	rt.Providers = sortedSet(providers)
	rt.Families = sortedSet(families)
	rt.rawSum = sha256.Sum256(raw)
	d, err := contentDigest(raw, reqRaw)
	if err != nil {
		return nil, fmt.Errorf("%w: runtime %q: %v", ErrInvalidRuntime, w.ID, err)
	}
	rt.digest = d
	return rt, nil
}

// featureKeys normalises features for matching (see hasFeatureKey).
func featureKeys(features []string) []string {
	keys := make([]string, len(features))
	for i, f := range features {
		keys[i] = " " + NormalizeFeature(f) + " "
	}
	return keys
}

// WithDegraded returns a copy of rt marked degraded for the given reason ("" clears it).
func (rt *Runtime) WithDegraded(reason string) *Runtime {
	c := *rt
	c.Degraded = reason
	return &c
}

// SameContent reports whether two runtimes carry the same upstream data, ignoring the order
// of supported_providers and supported_families (upstream builds them from sets) and JSON
// formatting.
func (rt *Runtime) SameContent(o *Runtime) bool { return rt == o || rt.digest == o.digest }

// contentDigest hashes a canonical form of the runtime and requirements objects: keys sorted,
// numbers as written, and every supported_providers / supported_families array sorted.
func contentDigest(raw, reqRaw json.RawMessage) ([sha256.Size]byte, error) {
	h := sha256.New()
	for _, b := range []json.RawMessage{raw, reqRaw} {
		if b == nil {
			h.Write([]byte{0})
			continue
		}
		dec := json.NewDecoder(bytes.NewReader(b))
		dec.UseNumber()
		var v any
		if err := dec.Decode(&v); err != nil {
			return [sha256.Size]byte{}, err
		}
		canonicalise(v)
		c, err := json.Marshal(v)
		if err != nil {
			return [sha256.Size]byte{}, err
		}
		h.Write(c)
		h.Write([]byte{1})
	}
	var out [sha256.Size]byte
	h.Sum(out[:0])
	return out, nil
}

// setKeys are arrays whose order upstream does not keep stable.
var setKeys = map[string]bool{"supported_providers": true, "supported_families": true}

func canonicalise(v any) {
	switch t := v.(type) {
	case map[string]any:
		for k, child := range t {
			if arr, ok := child.([]any); ok && setKeys[k] {
				slices.SortFunc(arr, func(a, b any) int {
					return strings.Compare(fmt.Sprint(a), fmt.Sprint(b))
				})
			}
			canonicalise(child)
		}
	case []any:
		for _, child := range t {
			canonicalise(child)
		}
	}
}

func isNull(b json.RawMessage) bool {
	b = bytes.TrimSpace(b)
	return len(b) == 0 || string(b) == "null"
}

// union returns the strings of a then b, each once, in first-seen order.
func union(a, b []string) []string {
	if len(a)+len(b) == 0 {
		return nil
	}
	out := make([]string, 0, len(a)+len(b))
	seen := make(map[string]bool, len(a)+len(b))
	for _, s := range slices.Concat(a, b) {
		if !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	return out
}

func sortedSet(s []string) []string {
	if len(s) == 0 {
		return nil
	}
	s = slices.Clone(s)
	slices.Sort(s)
	return slices.Compact(s)
}
