package httpapi

import (
	"syscall"
	"testing"
)

// TestConnectionCap_FitsOpenFileLimit: http.max_connections above what the process's open-file
// limit allows is lowered to the limit less the descriptors kept for everything else and the
// probe slots, so accept never fails for want of descriptors; a cap below it is kept.
func TestConnectionCap_FitsOpenFileLimit(t *testing.T) {
	t.Parallel()
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
		t.Fatal(err)
	}
	if rl.Cur > 1<<40 || rl.Cur < 256 {
		t.Skipf("the open-file limit (%d) is unlimited or too small to test the cap", rl.Cur)
	}
	if got := fdLimit(); got != int64(rl.Cur) {
		t.Fatalf("fdLimit() = %d, the soft limit is %d", got, rl.Cur)
	}
	fit := int64(rl.Cur) - fdReserve - 8
	for _, tc := range []struct{ max, want int64 }{
		{1 << 30, fit},
		{fit + 1, fit},
		{fit, fit},
		{fit - 1, fit - 1},
		{100, 100},
	} {
		s := &Server{opts: Options{MaxConnections: int(tc.max), ProbeSlots: 8}}
		if got := s.connectionCap(); got != tc.want {
			t.Errorf("max_connections %d under a limit of %d files: cap %d, want %d", tc.max, rl.Cur, got, tc.want)
		}
	}
}
