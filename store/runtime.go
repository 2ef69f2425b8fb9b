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
	"unicode/utf8"
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

// wireObject is one JSON object by its keys, matched exactly: the control plane's JSON is
// case-sensitive, and encoding/json's struct decoding would take "ID" or "Id" for "id" (and,
// with both present, whichever came last). A duplicated key keeps its last value, as Python's
// json module does.
type wireObject map[string]json.RawMessage

func decodeObject(b []byte) (wireObject, error) {
	if t := bytes.TrimSpace(b); len(t) == 0 || t[0] != '{' {
		return nil, errors.New("not a JSON object")
	}
	var o wireObject
	if err := json.Unmarshal(b, &o); err != nil {
		return nil, err
	}
	return o, nil
}

// field decodes the value of key into dst; an absent key or null leaves dst as it is. A value
// of the wrong type is an error naming the field, the value and the type wanted.
func (o wireObject) field(key, want string, dst any) error {
	v, ok := o[key]
	if !ok || isNull(v) {
		return nil
	}
	if err := json.Unmarshal(v, dst); err != nil {
		got := string(bytes.TrimSpace(v))
		if len(got) > 40 {
			got = strings.ToValidUTF8(got[:40], "") + "…"
		}
		return fmt.Errorf("field %q is %s, want %s", key, got, want)
	}
	return nil
}

// InlineRequirements returns the requirements object embedded in a raw runtime object, or nil
// when the field is absent or null. It does not validate the object.
func InlineRequirements(raw json.RawMessage) (json.RawMessage, error) {
	o, err := decodeObject(raw)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalidRuntime, err)
	}
	if isNull(o["requirements"]) {
		return nil, nil
	}
	return o["requirements"], nil
}

// PeekID returns the "id" of a runtime object when it is a string, or "": it lets a sync keep
// the previous version of a runtime whose object cannot otherwise be used.
func PeekID(raw json.RawMessage) string {
	o, err := decodeObject(ValidUTF8(raw))
	if err != nil {
		return ""
	}
	var id string
	if o.field("id", "a string", &id) != nil {
		return ""
	}
	return id
}

// ValidUTF8 returns b, or when it holds bytes that are not UTF-8, a copy with each run of
// them replaced by U+FFFD (as Python decodes with errors="replace"). In valid JSON such bytes
// can only sit inside strings, so the result is still valid JSON and serves as such.
func ValidUTF8(b []byte) []byte {
	if utf8.Valid(b) {
		return b
	}
	return bytes.ToValidUTF8(b, []byte("\uFFFD"))
}

// runtimeWire is the subset of the upstream runtime object runtimesd reads.
type runtimeWire struct {
	ID                 string          `json:"id"`
	Name               string          `json:"name"`
	Type               string          `json:"type"`
	Status             string          `json:"status"`
	Features           []string        `json:"features"`
	SupportedFeatures  []string        `json:"supported_features"`
	ModelRequirements  *modelReqsWire  `json:"model_requirements"`
	DefaultEnvironment json.RawMessage `json:"default_environment"`
	RequiredFeatures   []string        `json:"required_features"`
}

type modelReqsWire struct {
	SupportedProviders []string `json:"supported_providers"`
	SupportedFamilies  []string `json:"supported_families"`
	DefaultModel       string   `json:"default_model"`
}

// wireKeys are the keys runtimesd reads, quoted. encoding/json matches struct fields without
// regard to case; mayFold finds objects where that could matter.
var wireKeys = func() [][]byte {
	var out [][]byte
	for _, k := range []string{"id", "name", "type", "status", "features", "supported_features",
		"model_requirements", "supported_providers", "supported_families", "default_model",
		"default_environment", "requirements", "model_requirement", "description", "examples",
		"required_config_fields", "recommended_config_fields", "max_history_length",
		"requires_system_prompt", "requires_tools", "required_features"} {
		out = append(out, []byte(`"`+k+`"`))
	}
	return out
}()

// mayFold reports whether b could hold a key that encoding/json's case-insensitive matching
// would take for one of wireKeys without being it: a case variant of a known key, or the
// letters that Unicode folds onto ASCII ones (ſ, the Kelvin sign). Such objects take the
// exact-key path; the others decode as fast as a struct allows.
func mayFold(b []byte) bool {
	// A \u escape can spell a key in any case; ſ and the Kelvin sign fold onto s and k.
	if bytes.Contains(b, []byte(`\u`)) || bytes.ContainsRune(b, '\u017f') || bytes.ContainsRune(b, '\u212a') {
		return true
	}
	lower := bytes.ToLower(b)
	for _, k := range wireKeys {
		if bytes.Count(lower, k) != bytes.Count(b, k) {
			return true
		}
	}
	return false
}

// decodeRuntimeWire reads the fields runtimesd uses from a runtime object, keys matched
// exactly. A field of the wrong type is an error that names it.
func decodeRuntimeWire(raw []byte) (runtimeWire, error) {
	var w runtimeWire
	if t := bytes.TrimSpace(raw); len(t) > 0 && t[0] == '{' && !mayFold(raw) {
		if err := json.Unmarshal(raw, &w); err == nil {
			if w.ID == "" {
				return w, fmt.Errorf("%w: missing id", ErrInvalidRuntime)
			}
			return w, nil
		}
		w = runtimeWire{}
	}
	// The exact-key path, which also names the field of a type error.
	o, err := decodeObject(raw)
	if err != nil {
		return w, fmt.Errorf("%w: %v", ErrInvalidRuntime, err)
	}
	for _, f := range []struct {
		key, want string
		dst       any
	}{
		{"id", "a string", &w.ID}, {"name", "a string", &w.Name}, {"type", "a string", &w.Type},
		{"status", "a string", &w.Status}, {"features", "an array of strings", &w.Features},
		{"supported_features", "an array of strings", &w.SupportedFeatures},
		{"required_features", "an array of strings", &w.RequiredFeatures},
	} {
		if err := o.field(f.key, f.want, f.dst); err != nil {
			if f.key != "id" && w.ID != "" {
				return w, fmt.Errorf("%w: runtime %q: %v", ErrInvalidRuntime, w.ID, err)
			}
			return w, fmt.Errorf("%w: %v", ErrInvalidRuntime, err)
		}
	}
	if w.ID == "" {
		return w, fmt.Errorf("%w: missing id", ErrInvalidRuntime)
	}
	if v, ok := o["model_requirements"]; ok && !isNull(v) {
		mo, err := decodeObject(v)
		if err != nil {
			return w, fmt.Errorf("%w: runtime %q: field \"model_requirements\": %v", ErrInvalidRuntime, w.ID, err)
		}
		mr := &modelReqsWire{}
		for _, err := range []error{
			mo.field("supported_providers", "an array of strings", &mr.SupportedProviders),
			mo.field("supported_families", "an array of strings", &mr.SupportedFamilies),
			mo.field("default_model", "a string", &mr.DefaultModel),
		} {
			if err != nil {
				return w, fmt.Errorf("%w: runtime %q: model_requirements: %v", ErrInvalidRuntime, w.ID, err)
			}
		}
		w.ModelRequirements = mr
	}
	w.DefaultEnvironment = o["default_environment"]
	return w, nil
}

// NewRuntime builds a Runtime from the upstream runtime object and its requirements object
// (nil when it has none). Both are copied: a Runtime never shares the backing array of the
// answer it came from, so a long-lived catalog does not pin old upstream answers in memory.
// Keys are matched case-sensitively; bytes that are not UTF-8 become U+FFFD. A field of the
// wrong type is an error that names it.
func NewRuntime(raw, reqRaw json.RawMessage) (*Runtime, error) {
	raw = bytes.Clone(ValidUTF8(bytes.TrimSpace(raw)))
	w, err := decodeRuntimeWire(raw)
	if err != nil {
		return nil, err
	}
	if len(w.ID) > MaxIDBytes {
		return nil, fmt.Errorf("%w: id of %d bytes (%q…): longer than the %d bytes the data file can hold as a key",
			ErrInvalidRuntime, len(w.ID), strings.ToValidUTF8(w.ID[:32], ""), MaxIDBytes)
	}
	bad := func(err error) (*Runtime, error) {
		return nil, fmt.Errorf("%w: runtime %q: %v", ErrInvalidRuntime, w.ID, err)
	}
	mr := w.ModelRequirements
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
		reqRaw = bytes.Clone(ValidUTF8(bytes.TrimSpace(reqRaw)))
		req, err := decodeRequirements(reqRaw)
		if err != nil {
			return bad(fmt.Errorf("requirements: %v", err))
		}
		rt.RequirementsRaw = reqRaw
		rt.Requirements = req
		providers = append(providers, req.ModelRequirement.SupportedProviders...)
		families = append(families, req.ModelRequirement.SupportedFamilies...)
	}
	if env := w.DefaultEnvironment; !isNull(env) {
		rt.DefaultEnvironment = env
	}
	rt.RequiredFeatures = w.RequiredFeatures
	if len(rt.RequiredFeatures) == 0 && rt.Requirements != nil {
		rt.RequiredFeatures = rt.Requirements.RequiredFeatures
	}
	if mr != nil {
		rt.DefaultModel = mr.DefaultModel
		providers = append(providers, mr.SupportedProviders...)
		families = append(families, mr.SupportedFamilies...)
	}
	rt.Providers = sortedSet(providers)
	rt.Families = sortedSet(families)
	rt.rawSum = sha256.Sum256(raw)
	d, err := contentDigest(raw, reqRaw)
	if err != nil {
		return bad(err)
	}
	rt.digest = d
	return rt, nil
}

// decodeRequirements decodes a requirements object with exact keys; a field of the wrong type
// is an error naming it.
func decodeRequirements(b []byte) (*Requirements, error) {
	if t := bytes.TrimSpace(b); len(t) > 0 && t[0] == '{' && !mayFold(b) {
		var req Requirements
		if json.Unmarshal(b, &req) == nil {
			return &req, nil
		}
	}
	o, err := decodeObject(b)
	if err != nil {
		return nil, err
	}
	req := &Requirements{}
	if v, ok := o["model_requirement"]; ok && !isNull(v) {
		mo, err := decodeObject(v)
		if err != nil {
			return nil, fmt.Errorf("field \"model_requirement\": %v", err)
		}
		m := &req.ModelRequirement
		for _, err := range []error{
			mo.field("description", "a string", &m.Description),
			mo.field("supported_providers", "an array of strings", &m.SupportedProviders),
			mo.field("supported_families", "an array of strings", &m.SupportedFamilies),
			mo.field("examples", "an array of strings", &m.Examples),
		} {
			if err != nil {
				return nil, fmt.Errorf("model_requirement: %v", err)
			}
		}
	}
	for _, err := range []error{
		o.field("required_config_fields", "an array of strings", &req.RequiredConfigFields),
		o.field("recommended_config_fields", "an array of strings", &req.RecommendedConfigFields),
		o.field("max_history_length", "an integer", &req.MaxHistoryLength),
		o.field("requires_system_prompt", "true or false", &req.RequiresSystemPrompt),
		o.field("requires_tools", "true or false", &req.RequiresTools),
		o.field("required_features", "an array of strings", &req.RequiredFeatures),
	} {
		if err != nil {
			return nil, err
		}
	}
	return req, nil
}

// featureKeys normalises features for matching (see hasFeatureKey).
// The keys of one runtime are substrings of one string: two allocations per runtime, not
// two per feature (a start decodes every runtime's).
func featureKeys(features []string) []string {
	if len(features) == 0 {
		return []string{}
	}
	var all strings.Builder
	n := 0
	for _, f := range features {
		n += len(f) + 2
	}
	all.Grow(n)
	ends := make([]int, len(features))
	for i, f := range features {
		all.WriteByte(' ')
		writeNormalizedFeature(&all, f)
		all.WriteByte(' ')
		ends[i] = all.Len()
	}
	joined := all.String()
	keys := make([]string, len(features))
	start := 0
	for i, end := range ends {
		keys[i] = joined[start:end]
		start = end
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

// Digest is the hash SameContent compares: equal for runtimes carrying the same upstream data.
// It keys caches of answers that depend on a runtime's content only (health/policy).
func (rt *Runtime) Digest() [sha256.Size]byte { return rt.digest }

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
