package main

import (
	"math"
	"os"
	"strconv"
	"strings"
	"testing"
)

func TestGCLimit(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		live, stacks uint64
		want         int64
	}{
		{0, 0, 64 << 20},
		{2 << 20, 1 << 20, (64 + 6 + 1) << 20},       // a few runtimes: the floor dominates
		{100 << 20, 80 << 20, (64 + 300 + 80) << 20}, // a large catalog and 10,000 parked reads
		{math.MaxUint64 / 2, 0, math.MaxInt64},
		{0, math.MaxInt64 / 4, math.MaxInt64},
	} {
		if got := gcLimit(c.live, c.stacks); got != c.want {
			t.Errorf("gcLimit(%d, %d) = %d, want %d", c.live, c.stacks, got, c.want)
		}
	}
}

// gcSetting reads a gauge of the daemon's /metrics.
func gcSetting(t *testing.T, addr, name string) float64 {
	t.Helper()
	_, body := get(t, "http://"+addr+"/metrics")
	for line := range strings.SplitSeq(string(body), "\n") {
		if v, ok := strings.CutPrefix(line, name+" "); ok {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				t.Fatal(err)
			}
			return f
		}
	}
	t.Fatalf("/metrics has no %s", name)
	return 0
}

// The real binary: with GOGC and GOMEMLIMIT unset it runs GOGC=400 under a memory limit
// (reported by the Go collector's go_gc_gogc_percent and go_gc_gomemlimit_bytes); an operator's
// GOGC or GOMEMLIMIT wins, and then runtimesd sets neither.
func TestServe_GCFloor(t *testing.T) {
	t.Parallel()
	bin := buildBinary(t)
	base := []string{"HOME=" + t.TempDir(), "PATH=" + os.Getenv("PATH")}
	for _, c := range []struct {
		name       string
		env        []string
		gogc       float64
		limitSet   bool
		limitExact float64
	}{
		{"Unset", nil, 400, true, 0},
		{"GOGC", []string{"GOGC=150"}, 150, false, 0},
		{"GOMEMLIMIT", []string{"GOMEMLIMIT=1GiB"}, 100, true, 1 << 30},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			d := start(t, bin, append(append([]string{}, base...), c.env...), "serve", "--data", t.TempDir(), "--listen", "127.0.0.1:0")
			defer d.stop(t)
			if got := gcSetting(t, d.addr, "go_gc_gogc_percent"); got != c.gogc {
				t.Errorf("GOGC = %v, want %v", got, c.gogc)
			}
			limit := gcSetting(t, d.addr, "go_gc_gomemlimit_bytes")
			switch {
			case !c.limitSet && limit != math.MaxInt64:
				t.Errorf("memory limit = %v, want none", limit)
			case c.limitExact != 0 && limit != c.limitExact:
				t.Errorf("memory limit = %v, want GOMEMLIMIT's %v", limit, c.limitExact)
			case c.limitSet && c.limitExact == 0 && (limit < 64<<20 || limit > 1<<30):
				t.Errorf("memory limit = %v, want the 64 MiB floor plus twice a small heap", limit)
			}
		})
	}
}
