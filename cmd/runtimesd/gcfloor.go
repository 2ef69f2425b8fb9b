package main

import (
	"log/slog"
	"math"
	"os"
	"runtime/debug"
	rtmetrics "runtime/metrics"
	"sync"
	"time"
)

// The GC floor. runtimesd's heap is small (1-2 MB at a few runtimes) while every read
// allocates a little, so with Go's defaults (GOGC=100, a 4 MB minimum heap) it collected about
// 40 times a second under load; GOGC=400 gave +15 % req/s and -23 % p99. A higher GOGC alone
// would let a large catalog's heap grow to 5x what it keeps, so a soft memory limit sized to
// the catalog bounds it: the limit is the heap in use twice over, plus goroutine stacks (each
// blocking read parks one), plus gcFloorBase, re-sized as those change. Under the limit the
// GC paces itself by GOGC=400; a large catalog's heap stays near what the defaults give.
//
// An operator who sets GOGC or GOMEMLIMIT has taken charge of the GC: runtimesd then changes
// neither.
const (
	gcFloorPercent = 400
	gcFloorBase    = 64 << 20
	gcFloorEvery   = 5 * time.Second
)

// gcLimit is the memory limit for a heap of heapBytes in use and stackBytes of goroutine
// stacks.
func gcLimit(heapBytes, stackBytes uint64) int64 {
	v := uint64(gcFloorBase) + 2*heapBytes + stackBytes
	return int64(min(v, math.MaxInt64))
}

// gcFloorApplies reports whether the environment leaves the GC to runtimesd.
func gcFloorApplies(getenv func(string) string) bool {
	return getenv("GOGC") == "" && getenv("GOMEMLIMIT") == ""
}

// startGCFloor sets GOGC=400 and a memory limit sized to the heap when neither GOGC nor
// GOMEMLIMIT is set, and keeps the limit sized until the returned stop is called (stop
// restores the previous settings). It runs before the data file is loaded, so the load
// collects less too: until the first re-size, the limit also allows for a heap twice the size
// of dataFile (the catalog about to be decoded).
func startGCFloor(getenv func(string) string, logger *slog.Logger, dataFile string) (stop func()) {
	if !gcFloorApplies(getenv) {
		logger.Info("GOGC or GOMEMLIMIT is set: the GC runs as they say")
		return func() {}
	}
	samples := []rtmetrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}, {Name: "/memory/classes/heap/stacks:bytes"}}
	var hint uint64
	if fi, err := os.Stat(dataFile); err == nil && fi.Size() > 0 {
		hint = uint64(fi.Size())
	}
	resize := func() int64 {
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
		gcFloorPrevPercent = debug.SetGCPercent(gcFloorPercent)
		gcFloorPrevLimit = debug.SetMemoryLimit(-1)
	}
	gcFloorMu.Unlock()
	limit := resize()
	logger.Debug("GC floor", "gogc", gcFloorPercent, "memory_limit_bytes", limit)
	done, exited := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(exited)
		t := time.NewTicker(gcFloorEvery)
		defer t.Stop()
		for {
			select {
			case <-t.C:
				hint = 0 // loaded by now: the heap in use says what the catalog takes
				resize()
			case <-done:
				return
			}
		}
	}()
	return func() {
		close(done)
		<-exited
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
