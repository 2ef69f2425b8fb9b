package httpapi_test

import (
	"io"
	"net"
	"testing"
	"time"

	"github.com/runtimesd/runtimesd/httpapi"
	"github.com/runtimesd/runtimesd/store"
	"github.com/runtimesd/runtimesd/sync/fakecp"
)

// TestListen_WriteTimeoutOnAKeptAliveConnection: net/http clears the connection's write
// deadline after every request (server.go: c.rwc.SetWriteDeadline(time.Time{})). capConn.Write
// remembered the deadline it last set and re-armed it only when less than half was left, so
// the second request on a kept-alive connection, within half of write_timeout of the first,
// was written with no deadline at all: a client that read one small answer and then never
// read a large one held its connection (and the cap) for good.
func TestListen_WriteTimeoutOnAKeptAliveConnection(t *testing.T) {
	t.Parallel()
	cat, err := store.ParseSnapshotFile(fakecp.SyntheticCatalog(10000)) // ~11 MB native list
	if err != nil {
		t.Fatal(err)
	}
	live := store.NewLive(&store.Snapshot{Revision: 1, Source: store.SourceUpstream, Catalog: cat, FetchedAt: time.Now()})
	api := serveLoopback(t, httpapi.Options{Live: live, Syncer: noSync{}, MaxConnections: 1, ProbeSlots: 1,
		WriteTimeout: time.Second})
	stalled, err := net.Dial("tcp", api.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer stalled.Close()
	_ = stalled.(*net.TCPConn).SetReadBuffer(4096)
	if resp, _ := rawGet(t, stalled, "/v1/runtimes/rt-1"); resp.StatusCode != 200 || resp.Close {
		t.Fatalf("first request: %d, close %v", resp.StatusCode, resp.Close)
	}
	_ = stalled.SetDeadline(time.Time{})
	if _, err := io.WriteString(stalled, "GET /v1/runtimes HTTP/1.1\r\nHost: localhost\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the cap freed from a kept-alive client that stopped reading", func() bool {
		conn, err := net.Dial("tcp", api.Addr())
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		resp, _ := rawGet(t, conn, "/v1/runtimes/rt-1")
		return resp.StatusCode == 200 && !resp.Close
	})
}
