package health

import (
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/sony/gobreaker/v2"
)

// BreakerOptions configure the circuit breakers of upstream calls. Zero values take the
// defaults.
type BreakerOptions struct {
	// ConsecutiveFailures trips a breaker after this many failures in a row (default 5; 0
	// with FailureRatio set turns it off).
	ConsecutiveFailures uint32
	// FailureRatio trips a breaker when failures/requests reaches it within Window, once at
	// least MinRequests were made (0: off).
	FailureRatio float64
	// MinRequests is how many requests FailureRatio needs in the window (default 10).
	MinRequests uint32
	// Window is the rolling window of the counts (default 60s).
	Window time.Duration
	// OpenTimeout is how long a breaker stays open before half-open probes (default 30s).
	OpenTimeout time.Duration
	// HalfOpenProbes is how many requests a half-open breaker lets through (default 1).
	HalfOpenProbes uint32
	// Store keeps each breaker's state and trip counts across restarts (see breakerRecord);
	// nil keeps them in memory only.
	Store BreakerStore
	// IsSuccessful and IsExcluded classify call errors (see gobreaker.Settings).
	IsSuccessful func(error) bool
	IsExcluded   func(error) bool
	// History is how many state transitions are kept (default 20).
	History int
	// OnTransition is called after each state change (metrics).
	OnTransition func(kind string, from, to string)
	Logger       *slog.Logger
	Now          func() time.Time
}

// Breakers are the circuit breakers of the upstream call kinds (list, requirements,
// validate) with what an operator needs to see of them.
type Breakers struct {
	opts  BreakerOptions
	kinds []string
	m     map[string]*breaker

	mu          sync.Mutex
	transitions []Transition // oldest first
}

type breaker struct {
	cb *gobreaker.CircuitBreaker[[]byte]

	mu        sync.Mutex
	status    BreakerStatus
	lastTrip  *gobreaker.Counts
	openSince time.Time
}

// BreakerStatus is one call kind's breaker as reported by /v1/health.
type BreakerStatus struct {
	State               string     `json:"state"`
	ConsecutiveFailures uint32     `json:"consecutive_failures"`
	Requests            uint32     `json:"requests"`
	Failures            uint32     `json:"failures"`
	Successes           uint32     `json:"successes"`
	LastSuccess         *time.Time `json:"last_success"`
	LastError           string     `json:"last_error,omitempty"`
	LastErrorAt         *time.Time `json:"last_error_at,omitempty"`
	LastLatencyMS       *float64   `json:"last_latency_ms"`
	OpenedAt            *time.Time `json:"opened_at,omitempty"`
	// NextProbeAt is when an open breaker lets a probe through.
	NextProbeAt *time.Time `json:"next_probe_at,omitempty"`
	// TrippedBy are the counts that opened the breaker last.
	TrippedBy *TripCounts `json:"tripped_by,omitempty"`
}

// TripCounts are the counts that opened a breaker.
type TripCounts struct {
	Requests            uint32    `json:"requests"`
	Failures            uint32    `json:"failures"`
	ConsecutiveFailures uint32    `json:"consecutive_failures"`
	At                  time.Time `json:"at"`
}

// Transition is one breaker state change.
type Transition struct {
	Kind   string      `json:"kind"`
	From   string      `json:"from"`
	To     string      `json:"to"`
	At     time.Time   `json:"at"`
	Counts *TripCounts `json:"counts,omitempty"`
}

// ErrUnknownKind is returned for a call kind with no breaker.
var ErrUnknownKind = errors.New("no circuit breaker for this call kind")

// DefaultBreakerOptions are the values NewBreakers gives zero fields: 5 failures in a row,
// at least 10 requests for FailureRatio (off), a 60s window, 30s open, 1 half-open probe,
// 20 transitions kept. The daemon's config documents and reuses them.
func DefaultBreakerOptions() BreakerOptions {
	var o BreakerOptions
	o.setDefaults()
	return o
}

func (o *BreakerOptions) setDefaults() {
	if o.ConsecutiveFailures == 0 && o.FailureRatio == 0 {
		o.ConsecutiveFailures = 5
	}
	if o.MinRequests == 0 {
		o.MinRequests = 10
	}
	if o.Window <= 0 {
		o.Window = time.Minute
	}
	if o.OpenTimeout <= 0 {
		o.OpenTimeout = 30 * time.Second
	}
	if o.HalfOpenProbes == 0 {
		o.HalfOpenProbes = 1
	}
	if o.History <= 0 {
		o.History = 20
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
}

// NewBreakers builds one breaker per kind, restoring persisted state from opts.Store: an open
// breaker stays open until its expiry, so a restart does not stampede a failing control plane.
// An unreadable record is logged and its breaker starts closed.
func NewBreakers(kinds []string, opts BreakerOptions) (*Breakers, error) {
	opts.setDefaults()
	if opts.FailureRatio < 0 || opts.FailureRatio > 1 {
		return nil, fmt.Errorf("breaker failure ratio %v: want 0 to 1", opts.FailureRatio)
	}
	b := &Breakers{opts: opts, kinds: slices.Clone(kinds), m: map[string]*breaker{}}
	var records map[string][]byte
	if opts.Store != nil {
		var err error
		if records, err = opts.Store.BreakerRecords(); err != nil {
			return nil, fmt.Errorf("restore breakers: %w", err)
		}
	}
	for _, kind := range kinds {
		br := &breaker{}
		settings := gobreaker.Settings{
			Name:         kind,
			MaxRequests:  opts.HalfOpenProbes,
			Interval:     opts.Window,
			BucketPeriod: opts.Window / 10,
			Timeout:      opts.OpenTimeout,
			ReadyToTrip: func(c gobreaker.Counts) bool {
				trip := (opts.ConsecutiveFailures > 0 && c.ConsecutiveFailures >= opts.ConsecutiveFailures) ||
					(opts.FailureRatio > 0 && c.Requests >= max(opts.MinRequests, 1) &&
						float64(c.TotalFailures)/float64(c.Requests) >= opts.FailureRatio)
				if trip {
					counts := c
					br.lastTrip = &counts // under the breaker's own mutex; read under it too (see State)
				}
				return trip
			},
			OnStateChange: func(name string, from, to gobreaker.State) { b.onTransition(name, br, from, to) },
			IsSuccessful:  opts.IsSuccessful,
			IsExcluded:    opts.IsExcluded,
		}
		br.cb = b.restore(kind, records[kind], settings, br)
		b.m[kind] = br
	}
	return b, nil
}

// Execute runs fn through kind's breaker, recording latency, last success and last error.
// Calls run concurrently: the breaker's state lives in memory and reaches the store only on
// transitions (persist), so no lock is held around the network call.
func (b *Breakers) Execute(kind string, fn func() ([]byte, error)) ([]byte, error) {
	br, ok := b.m[kind]
	if !ok {
		return nil, fmt.Errorf("%w: %s", ErrUnknownKind, kind)
	}
	start := b.opts.Now()
	out, err := br.cb.Execute(fn)
	if errors.Is(err, gobreaker.ErrOpenState) || errors.Is(err, gobreaker.ErrTooManyRequests) {
		return nil, err
	}
	now := b.opts.Now()
	lat := float64(now.Sub(start).Microseconds()) / 1000
	br.mu.Lock()
	br.status.LastLatencyMS = &lat
	switch {
	case err == nil || (b.opts.IsSuccessful != nil && b.opts.IsSuccessful(err)):
		t := now.UTC()
		br.status.LastSuccess = &t
		if err != nil {
			br.status.LastError, br.status.LastErrorAt = err.Error(), &t
		}
	case b.opts.IsExcluded != nil && b.opts.IsExcluded(err):
	default:
		t := now.UTC()
		br.status.LastError, br.status.LastErrorAt = err.Error(), &t
	}
	br.mu.Unlock()
	return out, err
}

// State returns kind's breaker state: closed, half-open or open.
func (b *Breakers) State(kind string) string {
	if br, ok := b.m[kind]; ok {
		return br.cb.State().String()
	}
	return ""
}

// Status reports every breaker.
func (b *Breakers) Status() map[string]BreakerStatus {
	out := make(map[string]BreakerStatus, len(b.m))
	for kind, br := range b.m {
		state := br.cb.State()
		counts := br.cb.Counts()
		br.mu.Lock()
		st := br.status
		openSince := br.openSince
		br.mu.Unlock()
		st.State = state.String()
		st.ConsecutiveFailures = counts.ConsecutiveFailures
		st.Requests, st.Failures, st.Successes = counts.Requests, counts.TotalFailures, counts.TotalSuccesses
		if state == gobreaker.StateOpen && !openSince.IsZero() {
			o := openSince.UTC()
			next := o.Add(b.opts.OpenTimeout)
			st.OpenedAt, st.NextProbeAt = &o, &next
		}
		out[kind] = st
	}
	return out
}

// Transitions returns the kept state changes, newest first.
func (b *Breakers) Transitions() []Transition {
	b.mu.Lock()
	defer b.mu.Unlock()
	out := make([]Transition, 0, len(b.transitions))
	for i := len(b.transitions) - 1; i >= 0; i-- {
		out = append(out, b.transitions[i])
	}
	return out
}

// onTransition runs under the breaker's mutex: it records, logs and persists the change.
func (b *Breakers) onTransition(kind string, br *breaker, from, to gobreaker.State) {
	now := b.opts.Now().UTC()
	tr := Transition{Kind: kind, From: from.String(), To: to.String(), At: now}
	br.mu.Lock()
	if to == gobreaker.StateOpen {
		br.openSince = now // a trip, or a failed half-open probe reopening: the timeout restarts
		if br.lastTrip != nil {
			tc := &TripCounts{Requests: br.lastTrip.Requests, Failures: br.lastTrip.TotalFailures,
				ConsecutiveFailures: br.lastTrip.ConsecutiveFailures, At: now}
			br.status.TrippedBy, tr.Counts = tc, tc
			br.lastTrip = nil
		} else if from == gobreaker.StateHalfOpen {
			tc := &TripCounts{Requests: 1, Failures: 1, ConsecutiveFailures: 1, At: now}
			br.status.TrippedBy, tr.Counts = tc, tc
		}
	}
	if to == gobreaker.StateClosed {
		br.openSince = time.Time{}
	}
	trip := br.status.TrippedBy
	br.mu.Unlock()

	b.mu.Lock()
	b.transitions = append(b.transitions, tr)
	if len(b.transitions) > b.opts.History {
		b.transitions = slices.Clone(b.transitions[len(b.transitions)-b.opts.History:])
	}
	b.mu.Unlock()

	attrs := []any{"call", kind, "from", tr.From, "to", tr.To}
	if tr.Counts != nil {
		attrs = append(attrs, "requests", tr.Counts.Requests, "failures", tr.Counts.Failures,
			"consecutive_failures", tr.Counts.ConsecutiveFailures)
	}
	b.opts.Logger.Warn("circuit breaker state changed", attrs...)
	if b.opts.Store != nil {
		b.save(kind, to, now, trip)
	}
	if b.opts.OnTransition != nil {
		b.opts.OnTransition(kind, tr.From, tr.To)
	}
}
