package store

import "time"

// ClockSkewTolerance is how far a snapshot's FetchedAt may lie ahead of the local clock before
// it counts as clock skew (clocks of one host, slewed by NTP, disagree by less).
const ClockSkewTolerance = 2 * time.Second

// FromFuture reports whether the snapshot claims to have been fetched after now (beyond
// ClockSkewTolerance): the clock went back, or the file came from a host whose clock runs
// ahead. Its age is then unknown, and it counts as stale until a sync confirms it.
func (s *Snapshot) FromFuture(now time.Time) bool {
	return !s.FetchedAt.IsZero() && s.FetchedAt.Sub(now) > ClockSkewTolerance
}
