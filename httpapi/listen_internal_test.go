package httpapi

import (
	"bytes"
	"fmt"
	"log/slog"
	"strings"
	"testing"
)

// TestWarnLoweredCap: when the open-file limit lowers http.max_connections the sidecar says
// so, at warning level under 256 connections and at info level from 256 on; a cap the limit
// allows is not mentioned.
func TestWarnLoweredCap(t *testing.T) {
	t.Parallel()
	fds := fdLimit()
	if fds < 1024 || fds > 1<<20 {
		t.Skipf("the open-file limit (%d) is unknown, too small or too large for this test", fds)
	}
	for _, tc := range []struct {
		probe, max int
		want       string // "" when nothing is logged
	}{
		{int(fds) - fdReserve - 256, 1 << 30, "level=INFO"}, // cap 256
		{int(fds) - fdReserve - 255, 1 << 30, "level=WARN"}, // cap 255
		{int(fds) - fdReserve - 300, 300, ""},               // cap 300 = max_connections: not lowered
		{int(fds) - fdReserve - 300, 301, "level=INFO"},     // cap 300 < 301
	} {
		var log bytes.Buffer
		s := &Server{opts: Options{MaxConnections: tc.max, ProbeSlots: tc.probe, Logger: slog.New(slog.NewTextHandler(&log, nil))}}
		s.warnLoweredCap()
		got := log.String()
		switch {
		case tc.want == "" && got != "":
			t.Errorf("probe slots %d, max %d: logged %q", tc.probe, tc.max, got)
		case tc.want != "" && (!strings.Contains(got, tc.want) || !strings.Contains(got, "http.max_connections lowered to fit the open-file limit")):
			t.Errorf("probe slots %d, max %d: logged %q, want %s", tc.probe, tc.max, got, tc.want)
		case tc.want != "" && !strings.Contains(got, fmt.Sprintf("open_file_limit=%d reserved=%d", fds, fdReserve+tc.probe)):
			// The numbers an operator needs: the limit and what is kept from it (listen.go:59).
			t.Errorf("probe slots %d: logged %q, want open_file_limit=%d reserved=%d", tc.probe, got, fds, fdReserve+tc.probe)
		}
	}
}

// TestPrintableASCII: a header value quoted in a message keeps printable ASCII only.
func TestPrintableASCII(t *testing.T) {
	t.Parallel()
	if got := strings.Map(printableASCII, "\x00\x1f !~\x7f\u00e9cross-site"); got != " !~cross-site" {
		t.Errorf("got %q", got)
	}
}
