package main

import (
	"log/slog"
	"math"
	"os"
	"runtime"
	"runtime/debug"
	rtmetrics "runtime/metrics"
	"sync"
	"sync/atomic"
)

// The GC floor. runtimesd's heap is small (1-2 MB at a few runtimes) while every read
// allocates a little, so with Go's defaults (GOGC=100, a 4 MB minimum heap) it collected about
// 40 times a second under load; GOGC=400 gave +15 % req/s and -23 % p99. A higher GOGC alone
// would let a large catalog's heap grow to 5x what it keeps, so a soft memory limit sized to
// the catalog bounds it: gcFloorBase, plus three times the heap live at the last collection,
// plus goroutine stacks (each blocking read parks one), re-sized after every collection. A
// small catalog's heap never reaches it (GOGC=400 paces the GC); a large one's stays within
// 1.5x of what GOGC=100 would give; and because the limit follows the live heap after every
// cycle, a sync that grows the heap never leaves the GC running flat out against a limit sized
// for the old catalog.
//
// An operator who sets GOGC or GOMEMLIMIT has taken charge of the GC: runtimesd then changes
// neither.
const (
	gcFloorPercent = 400
	gcFloorBase    = 64 << 20
)

// gcLimit is the memory limit for liveBytes of heap live after a collection and stackBytes of
// goroutine stacks.
func gcLimit(liveBytes, stackBytes uint64) int64 {
	if liveBytes > math.MaxInt64/8 || stackBytes > math.MaxInt64/8 {
		return math.MaxInt64 // no limit (and no overflow)
	}
	return int64(gcFloorBase + 3*liveBytes + stackBytes)
}

// gcFloorApplies reports whether the environment leaves the GC to runtimesd.
func gcFloorApplies(getenv func(string) string) bool {
	return getenv("GOGC") == "" && getenv("GOMEMLIMIT") == ""
}

// startGCFloor sets GOGC=400 and a memory limit sized to the live heap when neither GOGC nor
// GOMEMLIMIT is set, and re-sizes the limit after every collection until the returned stop is
// called (stop restores the previous settings). It runs before the data file is loaded, and
// until loaded is called only the limit paces the GC (GOGC off): the load keeps nearly all it
// allocates, so a collection during it finds little garbage and costs the start its marking
// (15 interleaved cold starts at 10,000 runtimes: 36.5 -> 33.3 ms median to ready; peak RSS
// 81.9 -> 85.2 MB, the same once serving). Until the first collection the limit allows for a
// live heap the size of dataFile (the catalog about to be decoded), so a load still collects
// before it outgrows three times the file.
func startGCFloor(getenv func(string) string, logger *slog.Logger, dataFile string) (loaded, stop func()) {
	if !gcFloorApplies(getenv) {
		logger.Info("GOGC or GOMEMLIMIT is set: the GC runs as they say")
		return func() {}, func() {}
	}
	var hint uint64
	if fi, err := os.Stat(dataFile); err == nil && fi.Size() > 0 {
		hint = uint64(fi.Size())
	}
	var mu sync.Mutex // resize runs on the finalizer goroutine and here
	samples := []rtmetrics.Sample{{Name: "/gc/heap/live:bytes"}, {Name: "/memory/classes/heap/stacks:bytes"}}
	resize := func() int64 {
		mu.Lock()
		defer mu.Unlock()
		rtmetrics.Read(samples)
		var v [2]uint64
		for i, s := range samples {
			if s.Value.Kind() == rtmetrics.KindUint64 {
				v[i] = s.Value.Uint64()
			}
		}
		limit := gcLimit(max(v[0], hint), v[1])
		debug.SetMemoryLimit(limit)
		return limit
	}
	// The settings are the process's: with several daemons in one process (tests), the
	// first start saves them and the last stop restores them.
	gcFloorMu.Lock()
	if gcFloorUsers++; gcFloorUsers == 1 {
		gcFloorPrevPercent = debug.SetGCPercent(-1)
		gcFloorPrevLimit = debug.SetMemoryLimit(-1)
	}
	gcFloorMu.Unlock()
	limit := resize()
	logger.Debug("GC floor", "gogc", gcFloorPercent, "memory_limit_bytes", limit)
	var stopped atomic.Bool
	afterEveryGC(func() bool {
		if stopped.Load() {
			return false
		}
		hint = 0 // a collection has measured the live heap
		resize()
		return true
	})
	loaded = func() {
		gcFloorMu.Lock()
		defer gcFloorMu.Unlock()
		if !stopped.Load() {
			debug.SetGCPercent(gcFloorPercent)
		}
	}
	return loaded, func() {
		stopped.Store(true)
		gcFloorMu.Lock()
		defer gcFloorMu.Unlock()
		if gcFloorUsers--; gcFloorUsers == 0 {
			debug.SetGCPercent(gcFloorPrevPercent)
			debug.SetMemoryLimit(gcFloorPrevLimit)
		}
	}
}

var (
	gcFloorMu          sync.Mutex
	gcFloorUsers       int
	gcFloorPrevPercent int
	gcFloorPrevLimit   int64
)

// gcSentinel is garbage whose finalizer runs after the collection that finds it (16 bytes:
// not batched by the tiny allocator, whose objects share one finalizer slot).
type gcSentinel struct{ _ [16]byte }

// afterEveryGC calls f on the finalizer goroutine after each collection while f returns true.
func afterEveryGC(f func() bool) {
	runtime.SetFinalizer(&gcSentinel{}, func(*gcSentinel) {
		if f() {
			afterEveryGC(f)
		}
	})
}
