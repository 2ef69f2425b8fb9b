package store

import (
	"encoding/json"
	"time"
)

// highWaterBuckets splits the high-water window: the mark is kept as the largest catalog
// served in each of these slices of the window, so it needs a bounded record whatever the
// number of commits, and forgets a size at most one slice after the window has passed it.
const highWaterBuckets = 48

// hwBucket is the largest catalog served during [Start, Start + window/highWaterBuckets).
type hwBucket struct {
	Start time.Time `json:"start"`
	Max   int       `json:"max"`
}

// highWater is the record of catalog sizes served over the window, oldest bucket first. It is
// persisted in the meta bucket with every commit, so a restart does not reset it.
type highWater struct {
	Buckets []hwBucket `json:"buckets"`
}

func bucketWidth(window time.Duration) time.Duration {
	return max(window/highWaterBuckets, time.Second)
}

// observe records that the catalog went from prev to next runtimes at now: both were served
// during the current bucket. Buckets that ended before the window are dropped.
func (h *highWater) observe(now time.Time, window time.Duration, prev, next int) {
	w := bucketWidth(window)
	h.prune(now, window)
	size := max(prev, next)
	if n := len(h.Buckets); n > 0 && now.Sub(h.Buckets[n-1].Start) < w && !now.Before(h.Buckets[n-1].Start) {
		h.Buckets[n-1].Max = max(h.Buckets[n-1].Max, size)
		return
	}
	h.Buckets = append(h.Buckets, hwBucket{Start: now.UTC().Truncate(w), Max: size})
	if len(h.Buckets) > highWaterBuckets+1 {
		h.Buckets = h.Buckets[len(h.Buckets)-highWaterBuckets-1:]
	}
}

// prune drops the buckets that ended before now - window, and those that start after now:
// written while the clock ran ahead, they would otherwise count for as long as it had been
// ahead (a year ahead, a year of syncs held and health degraded against a stale mark).
func (h *highWater) prune(now time.Time, window time.Duration) {
	w := bucketWidth(window)
	from := now.Add(-window)
	i := 0
	for i < len(h.Buckets) && !h.Buckets[i].Start.Add(w).After(from) {
		i++
	}
	h.Buckets = h.Buckets[i:]
	for len(h.Buckets) > 0 && h.Buckets[len(h.Buckets)-1].Start.After(now) {
		h.Buckets = h.Buckets[:len(h.Buckets)-1]
	}
}

// mark is the largest catalog served within the window before now, current included.
func (h *highWater) mark(now time.Time, window time.Duration, current int) int {
	w := bucketWidth(window)
	from := now.Add(-window)
	m := current
	for _, b := range h.Buckets {
		if b.Start.Add(w).After(from) && !b.Start.After(now) { // a bucket from the future: see prune
			m = max(m, b.Max)
		}
	}
	return m
}

func (h highWater) encode() []byte {
	b, _ := json.Marshal(h) // cannot fail: times and ints
	return b
}

// HighWater is the largest number of runtimes stored at any time within the high-water
// window (Options.HighWaterWindow) before now, the current catalog included. A sync holds an
// answer far below it, and health reports serving far below it. It survives restarts.
func (db *DB) HighWater(now time.Time) int {
	db.hwMu.Lock()
	defer db.hwMu.Unlock()
	return db.hw.mark(now, db.opts.HighWaterWindow, db.hwServed)
}

// HighWaterWindow is the window HighWater looks back over.
func (db *DB) HighWaterWindow() time.Duration { return db.opts.HighWaterWindow }
