package httpapi

import (
	"bytes"
	"fmt"
	"log/slog"
	"net"
	"slices"
	"strings"
	"testing"
	"time"
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

// deadlineConn is a net.Conn that accepts every write and records the write deadlines set.
type deadlineConn struct {
	net.Conn
	deadlines []time.Time
	writes    []int
}

func (d *deadlineConn) Write(b []byte) (int, error) {
	d.writes = append(d.writes, len(b))
	return len(b), nil
}
func (d *deadlineConn) SetWriteDeadline(t time.Time) error {
	d.deadlines = append(d.deadlines, t)
	return nil
}

// TestCapConn_WriteDeadlineRearmedAtHalf: capConn.Write sets a write deadline of WriteTimeout
// and re-arms it only when less than half of it is left, so the small answers of a busy
// keep-alive connection cost one SetWriteDeadline per half timeout, not one per write (the
// point of 32da28e); a large write goes out in writeChunk pieces; a probe slot keeps its own
// deadline. (Re-arming at "less than twice the timeout", i.e. every write, passed every other
// test: the connection then behaves the same but for a syscall per answer.)
func TestCapConn_WriteDeadlineRearmedAtHalf(t *testing.T) {
	t.Parallel()
	const timeout = time.Hour // the test's own pace never nears half of it
	fake := &deadlineConn{}
	c := &capConn{Conn: fake, l: &capListener{writeTimeout: timeout}}
	start := time.Now()
	for range 100 {
		if n, err := c.Write([]byte("HTTP/1.1 200 OK\r\n\r\n")); n != 19 || err != nil {
			t.Fatalf("write: %d %v", n, err)
		}
	}
	if len(fake.deadlines) != 1 || fake.deadlines[0].Before(start.Add(timeout)) || fake.deadlines[0].After(time.Now().Add(timeout)) {
		t.Fatalf("100 small writes set the write deadline %d times, want once, WriteTimeout ahead", len(fake.deadlines))
	}
	// More than half of the timeout left: kept. Less than half: re-armed before the write.
	c.writeDeadline = time.Now().Add(timeout/2 + time.Minute)
	_, _ = c.Write([]byte("x"))
	if len(fake.deadlines) != 1 {
		t.Errorf("re-armed with more than half of WriteTimeout left: %v", fake.deadlines)
	}
	c.writeDeadline = time.Now().Add(timeout/2 - time.Minute)
	_, _ = c.Write([]byte("x"))
	if len(fake.deadlines) != 2 || fake.deadlines[1].Before(time.Now().Add(timeout-time.Minute)) {
		t.Errorf("not re-armed with less than half of WriteTimeout left: %v", fake.deadlines)
	}
	fake.writes = nil
	if n, err := c.Write(make([]byte, 2*writeChunk+1)); n != 2*writeChunk+1 || err != nil || !slices.Equal(fake.writes, []int{writeChunk, writeChunk, 1}) {
		t.Errorf("a write of 2*writeChunk+1 bytes: %d %v, pieces %v", n, err, fake.writes)
	}
	probe := &deadlineConn{}
	pc := &capConn{Conn: probe, l: &capListener{writeTimeout: timeout}, probeOnly: true}
	if _, err := pc.Write(make([]byte, 3*writeChunk)); err != nil || len(probe.deadlines) != 0 || len(probe.writes) != 1 {
		t.Errorf("a probe slot's write: %v, deadlines %v, pieces %v", err, probe.deadlines, probe.writes)
	}
}
