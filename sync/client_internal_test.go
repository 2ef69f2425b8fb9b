package sync

import (
	"testing"
	"time"
)

// The retry backoff's ceiling doubles from the base and stops at the cap, and a large attempt
// (a library caller's Retries) never wraps it to zero or below, where rand.N panics.
func TestBackoffCeiling(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		base, most time.Duration
		attempt    int
		want       time.Duration
	}{
		{200 * time.Millisecond, 2 * time.Second, 0, 200 * time.Millisecond},
		{200 * time.Millisecond, 2 * time.Second, 3, 1600 * time.Millisecond},
		{200 * time.Millisecond, 2 * time.Second, 4, 2 * time.Second},
		{time.Second, 2 * time.Second, 1, 2 * time.Second},            // exactly the cap
		{time.Second, 2*time.Second + 1, 1, 2 * time.Second},          // just under it
		{time.Second, 2 * time.Second, 33, 2 * time.Second},           // 1s<<33 wraps below zero
		{time.Second, 2 * time.Second, 64, 2 * time.Second},           // a shift past the width
		{1, time.Duration(1 << 62), 62, time.Duration(1 << 62)},       // the widest shift that fits
		{3, time.Duration(1<<62 + 1<<61), 61, time.Duration(3) << 61}, // exactly the cap
		{3, time.Duration(1 << 62), 61, time.Duration(1 << 62)},       // 3<<61 is over the cap
	} {
		if got := backoffCeiling(c.base, c.most, c.attempt); got != c.want {
			t.Errorf("backoffCeiling(%v, %v, %d) = %v, want %v", c.base, c.most, c.attempt, got, c.want)
		}
	}
}
