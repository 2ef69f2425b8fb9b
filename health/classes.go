package health

import (
	"fmt"
	"maps"
	"strings"

	"github.com/runtimesd/runtimesd/store"
)

// Class is a runtime's health class, derived from its upstream status.
type Class string

// The health classes.
const (
	Healthy   Class = "healthy"
	Unhealthy Class = "unhealthy"
	Unknown   Class = "unknown"
)

// DefaultStatusMap maps upstream statuses to classes: available, active and beta are healthy;
// inactive, error and coming_soon are unhealthy; anything else is unknown.
var DefaultStatusMap = map[string]Class{
	"available":   Healthy,
	"active":      Healthy,
	"beta":        Healthy,
	"inactive":    Unhealthy,
	"error":       Unhealthy,
	"coming_soon": Unhealthy,
}

// Classifier maps statuses to classes. It is immutable and safe for concurrent use.
type Classifier struct{ m map[string]Class }

// NewClassifier returns DefaultStatusMap with overrides applied (status -> "healthy",
// "unhealthy" or "unknown"); statuses are compared case-insensitively.
func NewClassifier(overrides map[string]string) (*Classifier, error) {
	m := maps.Clone(DefaultStatusMap)
	for status, class := range overrides {
		c := Class(strings.ToLower(class))
		switch c {
		case Healthy, Unhealthy, Unknown:
		default:
			return nil, fmt.Errorf("status %q: class %q: want healthy, unhealthy or unknown", status, class)
		}
		m[strings.ToLower(status)] = c
	}
	return &Classifier{m: m}, nil
}

// Classify returns the class of an upstream status.
func (c *Classifier) Classify(status string) Class {
	if cl, ok := c.m[strings.ToLower(status)]; ok {
		return cl
	}
	return Unknown
}

// Of returns the class of a runtime.
func (c *Classifier) Of(rt *store.Runtime) Class { return c.Classify(rt.Status) }
