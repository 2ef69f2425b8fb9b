package health

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/sony/gobreaker/v2"
)

// BreakerStore keeps the circuit breakers' records across restarts: one small value per call
// kind, written on each state transition and read once at start. store.DB implements it (the
// data file's "breakers" bucket); the format of a value is health's, breakerRecord.
type BreakerStore interface {
	BreakerRecords() (map[string][]byte, error)
	PutBreakerRecord(kind string, record []byte) error
}

// breakerRecordFormat is the version of breakerRecord; a record of another version is not read.
const breakerRecordFormat = 1

// breakerRecord is the on-disk form of one breaker: the JSON value stored under its call kind
// ("list", "requirements", "validate"), rewritten on every state transition and never on an
// ordinary call, so a sync run that changes nothing writes nothing. For example:
//
//		{"format":1,"state":"open","since":"2026-11-29T19:00:00Z","expiry":"2026-11-29T19:00:30Z",
//		 "tripped_by":{"requests":5,"failures":5,"consecutive_failures":5,"at":"2026-11-29T19:00:00Z"}}
//
//	  - format: 1. Any other value, or a value that is not such a JSON object, is from another
//	    version or damaged: it is logged and that breaker starts closed.
//	  - state: "closed", "half-open" or "open", entered at since (RFC 3339).
//	  - expiry: when an open breaker lets its first probe through (open only). A breaker restored
//	    open stays open until then (at most one OpenTimeout from the restore), and is half-open
//	    if that time has passed.
//	  - tripped_by: the counts of the last trip, kept after the breaker closes (/v1/health).
//
// The rolling counts are not kept: a restarted breaker counts afresh.
type breakerRecord struct {
	Format    int         `json:"format"`
	State     string      `json:"state"`
	Since     time.Time   `json:"since"`
	Expiry    *time.Time  `json:"expiry,omitempty"`
	TrippedBy *TripCounts `json:"tripped_by,omitempty"`
}

// encodeBreakerRecord is the record of a breaker that entered state to at now.
func encodeBreakerRecord(to gobreaker.State, now time.Time, openTimeout time.Duration, trip *TripCounts) ([]byte, error) {
	rec := breakerRecord{Format: breakerRecordFormat, State: to.String(), Since: now.UTC(), TrippedBy: trip}
	if to == gobreaker.StateOpen {
		e := now.Add(openTimeout).UTC()
		rec.Expiry = &e
	}
	return json.Marshal(rec)
}

// decodeBreakerRecord reads a record; an error says what is wrong with it.
func decodeBreakerRecord(raw []byte) (breakerRecord, gobreaker.State, error) {
	var rec breakerRecord
	if err := json.Unmarshal(raw, &rec); err != nil {
		return rec, 0, fmt.Errorf("decode breaker record: %w", err)
	}
	if rec.Format != breakerRecordFormat {
		return rec, 0, fmt.Errorf("breaker record format %d: this version reads format %d", rec.Format, breakerRecordFormat)
	}
	var st gobreaker.State
	switch rec.State {
	case "closed":
		st = gobreaker.StateClosed
	case "half-open":
		st = gobreaker.StateHalfOpen
	case "open":
		st = gobreaker.StateOpen
		if rec.Expiry == nil {
			return rec, 0, errors.New("breaker record: an open breaker without expiry")
		}
	default:
		return rec, 0, fmt.Errorf("breaker record state %q: want closed, half-open or open", rec.State)
	}
	return rec, st, nil
}

// restore builds kind's breaker from its record (nil: none). A closed record restores only the
// trip counts; an open or half-open one starts the breaker in that state.
func (b *Breakers) restore(kind string, raw []byte, settings gobreaker.Settings, br *breaker) *gobreaker.CircuitBreaker[[]byte] {
	if raw == nil {
		return gobreaker.NewCircuitBreaker[[]byte](settings)
	}
	rec, st, err := decodeBreakerRecord(raw)
	if err != nil {
		b.opts.Logger.Warn("circuit breaker state in the data file is unreadable: the breaker starts closed",
			"call", kind, "error", err.Error())
		return gobreaker.NewCircuitBreaker[[]byte](settings)
	}
	br.status.TrippedBy = rec.TrippedBy
	if st == gobreaker.StateClosed {
		return gobreaker.NewCircuitBreaker[[]byte](settings)
	}
	if st == gobreaker.StateOpen {
		br.openSince = rec.Since
	}
	// gobreaker has one public way to start a breaker in a given state: a distributed breaker
	// reading it from a SharedDataStore. It is used here, once, from memory; the breaker then
	// runs in memory and b.save writes this package's record.
	shared := gobreaker.SharedState{State: st, Start: rec.Since, Buckets: make([]gobreaker.Counts, bucketCount(b.opts.Window))}
	if rec.Expiry != nil {
		shared.Expiry = *rec.Expiry
		// An expiry more than one open_timeout away was written by a clock that ran ahead (or
		// under a longer open_timeout): restored as written, a breaker tripped while the clock
		// was a year ahead stayed open, and every sync skipped, for a year after the clock was
		// put right. gobreaker compares the expiry with time.Now, so the bound uses it too.
		if limit := time.Now().Add(b.opts.OpenTimeout); shared.Expiry.After(limit) {
			shared.Expiry = limit
		}
	}
	seed, _ := json.Marshal(shared) // plain values: cannot fail
	dcb, err := gobreaker.NewDistributedCircuitBreaker[[]byte](&stateSeed{data: seed}, settings)
	if err == nil {
		_, err = dcb.State() // injects the state (an open breaker past its expiry turns half-open)
	}
	if err != nil {
		b.opts.Logger.Warn("circuit breaker state could not be restored: the breaker starts closed", "call", kind, "error", err.Error())
		return gobreaker.NewCircuitBreaker[[]byte](settings)
	}
	return dcb.CircuitBreaker
}

// bucketCount is how many rolling-count buckets gobreaker makes for a window of BucketPeriod
// window/10 (a restored state with fewer would index out of range).
func bucketCount(window time.Duration) int {
	bp := window / 10
	return max(1, int((window+bp-1)/bp))
}

// save writes kind's record after a transition to state to; a failure is logged (the breaker
// keeps working in memory).
func (b *Breakers) save(kind string, to gobreaker.State, now time.Time, trip *TripCounts) {
	raw, err := encodeBreakerRecord(to, now, b.opts.OpenTimeout, trip)
	if err == nil {
		err = b.opts.Store.PutBreakerRecord(kind, raw)
	}
	if err != nil {
		b.opts.Logger.Error("persist breaker state", "call", kind, "error", err)
	}
}

// stateSeed is the in-memory SharedDataStore through which restore hands gobreaker one state.
type stateSeed struct{ data []byte }

func (s *stateSeed) Lock(string) error                { return nil }
func (s *stateSeed) Unlock(string) error              { return nil }
func (s *stateSeed) GetData(string) ([]byte, error)   { return s.data, nil }
func (s *stateSeed) SetData(_ string, d []byte) error { s.data = d; return nil }
