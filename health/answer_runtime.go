package health

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/runtimesd/runtimesd/store"
)

// RuntimeView is the native view of one runtime (GET /v1/runtimes items): normalised fields
// next to upstream's objects verbatim. httpapi encodes it by hand once per catalog
// (appendNativeItem); encoding/json writes the same bytes.
type RuntimeView struct {
	ID             string          `json:"id"`
	Name           string          `json:"name"`
	Type           string          `json:"type,omitempty"`
	Status         string          `json:"status"`
	Features       []string        `json:"features"`
	Providers      []string        `json:"providers"`
	Families       []string        `json:"families"`
	Degraded       bool            `json:"degraded"`
	DegradedReason string          `json:"degraded_reason,omitempty"`
	Runtime        json.RawMessage `json:"runtime"`
	Requirements   json.RawMessage `json:"requirements"`
}

// ViewOf is rt's native view.
func ViewOf(rt *store.Runtime) RuntimeView {
	orEmpty := func(s []string) []string {
		if s == nil {
			return []string{}
		}
		return s
	}
	req := json.RawMessage(rt.RequirementsRaw)
	if req == nil {
		req = json.RawMessage("null")
	}
	return RuntimeView{ID: rt.ID, Name: rt.Name, Type: rt.Type, Status: rt.Status, Features: orEmpty(rt.Features),
		Providers: orEmpty(rt.Providers), Families: orEmpty(rt.Families), Degraded: rt.Degraded != "",
		DegradedReason: rt.Degraded, Runtime: json.RawMessage(rt.Raw), Requirements: req}
}

// RuntimeList is GET /v1/runtimes's answer.
type RuntimeList struct {
	Provenance
	Count    int           `json:"count"`
	Runtimes []RuntimeView `json:"runtimes"`
}

// RuntimeAnswer is GET /v1/runtimes/{id}'s answer.
type RuntimeAnswer struct {
	Provenance
	Runtime RuntimeView `json:"runtime"`
}

// RequirementsAnswer is GET /v1/runtimes/{id}/requirements's answer: the requirements object
// verbatim (null when the runtime has none).
type RequirementsAnswer struct {
	Provenance
	ID           string          `json:"id"`
	Degraded     bool            `json:"degraded"`
	Requirements json.RawMessage `json:"requirements"`
}

// ErrBadFilter is wrapped by the error of a list filter that cannot be applied.
var ErrBadFilter = errors.New("bad filter")

// ListFilter is the filter of a runtime list: status, type, provider, features and a health
// class ("" for any), checked against snap (a type filter on a catalog without types is an
// error wrapping ErrBadFilter, as is an unknown health class).
func (a Answers) ListFilter(snap *store.Snapshot, f store.Filter, healthClass string) (store.Filter, error) {
	if err := snap.Catalog.CheckFilter(f); err != nil {
		return f, fmt.Errorf("%w: filter type: %w", ErrBadFilter, err)
	}
	if healthClass != "" {
		class := Class(strings.ToLower(healthClass))
		if class != Healthy && class != Unhealthy && class != Unknown {
			return f, fmt.Errorf("%w: health must be healthy, unhealthy or unknown, got %q", ErrBadFilter, healthClass)
		}
		cls := a.Classifier
		f.Where = func(rt *store.Runtime) bool { return cls.Of(rt) == class }
	}
	return f, nil
}

// List is the runtimes of snap that f matches (see ListFilter), at now.
func (a Answers) List(snap *store.Snapshot, now time.Time, f store.Filter) RuntimeList {
	matched := f.Apply(snap.Catalog)
	out := RuntimeList{Provenance: ProvenanceOf(snap, now, a.MaxStale), Count: len(matched), Runtimes: make([]RuntimeView, len(matched))}
	for i, rt := range matched {
		out.Runtimes[i] = ViewOf(rt)
	}
	return out
}

// Lookup is runtime id of snap; an id the catalog lacks is a *NotFoundError (wrapping
// store.ErrUnknownRuntime) naming the closest id.
func (a Answers) Lookup(snap *store.Snapshot, id string) (*store.Runtime, error) {
	rt, ok := snap.Catalog.Get(id)
	if !ok {
		msg := fmt.Sprintf("no runtime has the id %q (ids are case-sensitive); GET /v1/runtimes lists them", id)
		if alt := store.SuggestID(snap.Catalog, id); alt != "" {
			msg += fmt.Sprintf("; did you mean %q?", alt)
		}
		return nil, &NotFoundError{Message: msg}
	}
	return rt, nil
}

// NotFoundError is an id the catalog lacks: its message names the closest id.
type NotFoundError struct{ Message string }

func (e *NotFoundError) Error() string { return e.Message }

// Unwrap makes errors.Is(err, store.ErrUnknownRuntime) hold.
func (e *NotFoundError) Unwrap() error { return store.ErrUnknownRuntime }
