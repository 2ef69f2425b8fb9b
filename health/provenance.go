package health

import (
	"fmt"
	"strconv"
	"time"

	"github.com/runtimesd/runtimesd/store"
)

// Why data is stale: one decision (StalenessOf), worded for an answer's stale_reason (Reason)
// and for the health report's reasons (HealthReason).
const (
	StaleNot         = ""            // fresh
	StaleSeedFile    = "seed_file"   // the operator's seed file, never confirmed upstream
	StaleSeed        = "seed"        // the built-in seed catalog
	StaleUnconfirmed = "unconfirmed" // no fetched_at: never confirmed by the control plane
	StaleClockSkew   = "clock_skew"  // fetched_at ahead of this machine's clock
	StaleTooOld      = "too_old"     // older than max_stale
)

// Staleness is whether a snapshot's data is stale at a moment, and why.
type Staleness struct {
	Cause    string // one of the Stale* constants; StaleNot when fresh
	snap     *store.Snapshot
	now      time.Time
	maxStale time.Duration
}

// StalenessOf decides whether snap is stale at now: seed data (built in or the operator's
// file) and data never confirmed by the control plane always are; data fetched "in the
// future" (clock skew) is, since its age is unknown; otherwise data older than maxStale is.
func StalenessOf(snap *store.Snapshot, now time.Time, maxStale time.Duration) Staleness {
	st := Staleness{snap: snap, now: now, maxStale: maxStale}
	switch {
	case snap.Source == store.SourceSeed && snap.SeedFile != "":
		st.Cause = StaleSeedFile
	case snap.Source == store.SourceSeed:
		st.Cause = StaleSeed
	case snap.FetchedAt.IsZero():
		st.Cause = StaleUnconfirmed
	case snap.FromFuture(now):
		st.Cause = StaleClockSkew
	case snap.Age(now) > maxStale:
		st.Cause = StaleTooOld
	}
	return st
}

// Stale reports whether the data is stale.
func (s Staleness) Stale() bool { return s.Cause != StaleNot }

// Reason is the answers' stale_reason: a short sentence for an agent ("" when fresh).
func (s Staleness) Reason() string {
	switch s.Cause {
	case StaleSeedFile:
		return "the operator's seed file " + s.snap.SeedFile + ": the control plane has not been reached yet"
	case StaleSeed:
		return "built-in seed data: the control plane has not been reached yet"
	case StaleUnconfirmed:
		return "data never confirmed by the control plane"
	case StaleClockSkew:
		return "clock skew: fetched_at is ahead of this machine's clock, so the data's age is unknown until a sync confirms it"
	case StaleTooOld:
		return "data older than max_stale (" + s.maxStale.String() + ")"
	}
	return ""
}

// HealthReason is the health report's reason for an operator, with the figures behind it (""
// when fresh).
func (s Staleness) HealthReason() string {
	switch s.Cause {
	case StaleSeedFile:
		return "serving the operator's seed file " + s.snap.SeedFile + ": the control plane has not been reached"
	case StaleSeed:
		return "serving the built-in seed data: the control plane has not been reached"
	case StaleUnconfirmed:
		return "serving data never confirmed by the control plane"
	case StaleClockSkew:
		return fmt.Sprintf("clock skew: the data's fetched_at (%s) is %s ahead of this machine's clock; its age is unknown, so it counts as stale until a sync confirms it",
			s.snap.FetchedAt.UTC().Format(time.RFC3339), s.snap.FetchedAt.Sub(s.now).Truncate(time.Second))
	case StaleTooOld:
		return fmt.Sprintf("data is %s old, beyond max_stale %s", s.snap.Age(s.now).Truncate(time.Second), s.maxStale)
	}
	return ""
}

// Provenance is where a native answer's data came from, carried in every native answer's body
// (agents read JSON, not headers).
type Provenance struct {
	Revision    uint64       `json:"revision"`
	Source      store.Source `json:"source"`
	FetchedAt   *time.Time   `json:"fetched_at"`
	AgeSeconds  int64        `json:"age_seconds"`
	Stale       bool         `json:"stale"`
	StaleReason string       `json:"stale_reason,omitempty"`
}

// ProvenanceOf is snap's provenance at now, stale beyond maxStale (see StalenessOf).
func ProvenanceOf(snap *store.Snapshot, now time.Time, maxStale time.Duration) Provenance {
	p := Provenance{Revision: snap.Revision, Source: snap.Source, AgeSeconds: int64(snap.Age(now) / time.Second)}
	if !snap.FetchedAt.IsZero() {
		t := snap.FetchedAt.UTC().Truncate(time.Second)
		p.FetchedAt = &t
	}
	st := StalenessOf(snap, now, maxStale)
	p.Stale, p.StaleReason = st.Stale(), st.Reason()
	return p
}

// AppendFields appends p's JSON fields without braces, as encoding/json writes them:
// "revision":N,"source":"..","fetched_at":"..","age_seconds":N,"stale":false.
func (p *Provenance) AppendFields(b []byte) []byte {
	b = append(b, `"revision":`...)
	b = strconv.AppendUint(b, p.Revision, 10)
	b = append(b, `,"source":`...)
	b = AppendJSONString(b, string(p.Source))
	b = append(b, `,"fetched_at":`...)
	if p.FetchedAt == nil {
		b = append(b, "null"...)
	} else {
		b = append(b, '"')
		b = p.FetchedAt.AppendFormat(b, time.RFC3339Nano)
		b = append(b, '"')
	}
	b = append(b, `,"age_seconds":`...)
	b = strconv.AppendInt(b, p.AgeSeconds, 10)
	b = append(b, `,"stale":`...)
	b = strconv.AppendBool(b, p.Stale)
	if p.StaleReason != "" {
		b = append(b, `,"stale_reason":`...)
		b = AppendJSONString(b, p.StaleReason)
	}
	return b
}

// AppendProvenance appends snap's provenance fields at now without braces (see
// Provenance.AppendFields): the reads' encoders call it per request.
func AppendProvenance(b []byte, snap *store.Snapshot, now time.Time, maxStale time.Duration) []byte {
	p := ProvenanceOf(snap, now, maxStale)
	return p.AppendFields(b)
}
