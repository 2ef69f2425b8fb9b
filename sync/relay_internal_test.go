package sync

import (
	"testing"
	"time"
)

// The follower's blocking reads: a burst of followBurst, then one per followEvery; the wait
// returned is exactly the time until the next token.
func TestReadLimiter_BurstThenOneASecond(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC)
	l := readLimiter{tokens: followBurst}
	for i := range followBurst {
		if w := l.take(t0); w != 0 {
			t.Fatalf("read %d of the burst waits %s", i+1, w)
		}
	}
	for _, step := range []struct {
		after time.Duration
		want  time.Duration
	}{
		{0, time.Second}, // burst spent
		{250 * time.Millisecond, 750 * time.Millisecond}, // a quarter of a token back
		{750 * time.Millisecond, 0},                      // a whole token: spent
		{0, time.Second},                                 // none left
		{10 * time.Second, 0},                            // refilled, capped at the burst:
		{0, 0}, {0, 0}, {0, 0}, {0, 0}, {0, time.Second}, // five in all
	} {
		t0 = t0.Add(step.after)
		if w := l.take(t0); w != step.want {
			t.Fatalf("after %s: wait %s, want %s", step.after, w, step.want)
		}
	}
}

// The watch's backoff while every relay is down doubles from 100ms to a 5s cap, each wait
// drawn from the upper half (full jitter within [b/2, b)).
func TestRelays_NextBackoff(t *testing.T) {
	t.Parallel()
	var r Relays
	var b time.Duration
	for i, want := range []time.Duration{100 * time.Millisecond, 200 * time.Millisecond, 400 * time.Millisecond,
		800 * time.Millisecond, 1600 * time.Millisecond, 3200 * time.Millisecond, 5 * time.Second, 5 * time.Second} {
		w := r.nextBackoff(&b)
		if b != want || w < want/2 || w >= want {
			t.Fatalf("backoff %d: step %s wait %s, want step %s and a wait in [%s, %s)", i, b, w, want, want/2, want)
		}
	}
	for range 200 { // the jitter spreads over the whole upper half
		if w := r.nextBackoff(&b); w < b/2 || w >= b {
			t.Fatalf("wait %s outside [%s, %s)", w, b/2, b)
		}
	}
}
