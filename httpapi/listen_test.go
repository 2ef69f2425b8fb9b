package httpapi_test

import (
	"bufio"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/runtimesd/runtimesd/httpapi"
	"github.com/runtimesd/runtimesd/store"
	"github.com/runtimesd/runtimesd/sync/fakecp"
)

// rawGet sends one GET on conn and reads the answer.
func rawGet(t *testing.T, conn net.Conn, path string) (*http.Response, string) {
	t.Helper()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(conn, "GET "+path+" HTTP/1.1\r\nHost: localhost\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp, string(b)
}

// TestListen_ConnectionCap: up to max_connections connections are served; the next
// ProbeSlots are accepted for /healthz and /readyz only (503 too_many_connections otherwise,
// and closed); beyond those a connection gets the canned 503 at once; a closed connection
// frees its slot.
func TestListen_ConnectionCap(t *testing.T) {
	t.Parallel()
	live := store.NewLive(&store.Snapshot{Source: store.SourceSeed, Catalog: store.SeedCatalog()})
	api := serveLoopback(t, httpapi.Options{Live: live, Syncer: noSync{}, MaxConnections: 2, ProbeSlots: 1})
	dial := func() net.Conn {
		t.Helper()
		c, err := net.Dial("tcp", api.Addr())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}
	// Two served connections (the second answers, so both were accepted, in order).
	c1 := dial()
	if resp, body := rawGet(t, dial(), "/v1/runtimes/default"); resp.StatusCode != 200 {
		t.Fatalf("second connection under the cap: %d %s", resp.StatusCode, body)
	}
	// The third takes the probe slot; with it idle, the fourth gets the canned 503 at once.
	c3 := dial()
	resp, body := rawGet(t, dial(), "/healthz")
	if resp.StatusCode != 503 || !strings.Contains(body, "too_many_connections") || resp.Header.Get("Retry-After") != "1" || !resp.Close {
		t.Fatalf("beyond the cap and the probe slots: %d %v %s", resp.StatusCode, resp.Header, body)
	}
	// On the probe slot, a read is refused (and the connection closed); a probe answers.
	if resp, body := rawGet(t, c3, "/v1/runtimes"); resp.StatusCode != 503 || !strings.Contains(body, "too_many_connections") || !resp.Close {
		t.Fatalf("a read on the probe slot: %d close %v %s", resp.StatusCode, resp.Close, body)
	}
	waitFor(t, "a probe on the probe slot", func() bool {
		resp, _ := rawGet(t, dial(), "/readyz") // 503 while c3's close is not yet counted
		return resp.StatusCode == 200
	})
	// A slot freed by a close serves again.
	c1.Close()
	waitFor(t, "a read after a served connection closed", func() bool {
		resp, _ := rawGet(t, dial(), "/v1/runtimes/default")
		return resp.StatusCode == 200
	})
}

// waitFor retries ok until it holds, failing the test after 10 s.
func waitFor(t *testing.T, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within 10 s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestListen_HostAndOriginEdges: the Host and Origin checks at their edges — a name with the
// root's trailing dot, a bracketed IPv6 literal without port, no Host at all (HTTP/1.0);
// reads are never refused for their Origin; Sec-Fetch-Site "none" (typed in the address bar)
// is same-origin; an older browser's https Origin is compared with the Host; a "*" CORS origin
// lets every site through.
func TestListen_HostAndOriginEdges(t *testing.T) {
	t.Parallel()
	addr := listening(t, httpapi.Options{})
	_, port, _ := strings.Cut(addr, ":")
	star := listening(t, httpapi.Options{CORSOrigins: []string{"*"}})
	req := func(method, path, host string, headers ...string) string {
		return method + " " + path + " HTTP/1.1\r\nHost: " + host + "\r\nConnection: close\r\nContent-Length: 0\r\n" + strings.Join(headers, "") + "\r\n"
	}
	for name, tc := range map[string]struct {
		addr, raw string
		want      int
	}{
		"TrailingDot":      {addr, req("GET", "/v1/health", "localhost.:"+port), 200},
		"IPv6NoPort":       {addr, req("GET", "/v1/health", "[::1]"), 200},
		"NoHost":           {addr, "GET /v1/health HTTP/1.0\r\n\r\n", 200},
		"ReadCrossSite":    {addr, req("GET", "/v1/health", "localhost", "Origin: http://evil.example\r\nSec-Fetch-Site: cross-site\r\n"), 200},
		"HeadCrossSite":    {addr, req("HEAD", "/v1/health", "localhost", "Origin: http://evil.example\r\n"), 200},
		"OptionsCrossSite": {addr, req("OPTIONS", "/v1/sync", "localhost", "Origin: http://evil.example\r\n"), 204},
		"AddressBar":       {addr, req("POST", "/v1/sync", "localhost", "Sec-Fetch-Site: none\r\n"), 409},
		"OldBrowserHTTPS":  {addr, req("POST", "/v1/sync", "localhost:"+port, "Origin: https://LOCALHOST:"+port+"\r\n"), 409},
		"OldBrowserOther":  {addr, req("POST", "/v1/sync", "localhost:"+port, "Origin: https://localhost:1\r\n"), 403},
		"OldBrowserScheme": {addr, req("POST", "/v1/sync", "localhost:"+port, "Origin: ftp://localhost:"+port+"\r\n"), 403},
		"StarOrigin":       {star, req("POST", "/v1/sync", "localhost", "Origin: http://evil.example\r\nSec-Fetch-Site: cross-site\r\n"), 409},
	} {
		t.Run(name, func(t *testing.T) {
			if status, _, body := rawExchange(t, tc.addr, tc.raw); status != tc.want {
				t.Fatalf("%d %.300s, want %d", status, body, tc.want)
			}
		})
	}
}

// TestListen_ReadTimeoutBoundsABody: a request whose body stalls is cut at the read timeout
// (the answer or the closed connection comes within seconds), while a request without a body
// keeps no read deadline, so a blocking read outlasts the read timeout. listen.go:131 and 148
// survivors: the deadline cleared for every request, or after the first bytes of a body.
func TestListen_ReadTimeoutBoundsABody(t *testing.T) {
	t.Parallel()
	api := serveLoopback(t, httpapi.Options{Live: store.NewLive(&store.Snapshot{Revision: 1, Source: store.SourceSeed, Catalog: store.SeedCatalog()}),
		Syncer: noSync{}, ReadHeaderTimeout: 300 * time.Millisecond, ReadTimeout: 300 * time.Millisecond})
	for _, body := range []string{"", `{"runtime_type"`} { // nothing of the body, then its first bytes
		conn, err := net.Dial("tcp", api.Addr())
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		start := time.Now()
		_ = conn.SetDeadline(start.Add(5 * time.Second))
		if _, err := io.WriteString(conn, "POST /v1/validate HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n"+body); err != nil {
			t.Fatal(err)
		}
		_, err = io.ReadAll(conn) // an answer, then the close; or the close alone
		if err != nil || time.Since(start) > 4*time.Second {
			t.Errorf("a body stalled after %d of 100 bytes: connection still open after %v (%v); want it cut at the 300 ms read timeout", len(body), time.Since(start), err)
		}
	}
	conn, err := net.Dial("tcp", api.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if resp, _ := rawGet(t, conn, "/v1/runtimes?index=1&wait=1s"); resp.StatusCode != 200 {
		t.Errorf("a blocking read of 1 s under a 300 ms read timeout: %d, want 200", resp.StatusCode)
	}
}

// TestListen_WriteTimeoutCutsAStalledReader: a client that sends a request and never reads
// the answer held its connection (a slot of the cap, the handler's goroutine) until it went
// away, with no deadline at all: a few such clients filled the cap for good. Each write now
// has WriteTimeout to complete. A blocking read longer than WriteTimeout, and a slow but
// reading client of a large answer, are not cut.
func TestListen_WriteTimeoutCutsAStalledReader(t *testing.T) {
	t.Parallel()
	cat, err := store.ParseSnapshotFile(fakecp.SyntheticCatalog(10000)) // a native list of ~11 MB, beyond the socket buffers
	if err != nil {
		t.Fatal(err)
	}
	live := store.NewLive(&store.Snapshot{Revision: 1, Source: store.SourceUpstream, Catalog: cat, FetchedAt: time.Now()})
	api := serveLoopback(t, httpapi.Options{Live: live, Syncer: noSync{}, MaxConnections: 1, ProbeSlots: 1,
		WriteTimeout: 500 * time.Millisecond})
	stalled, err := net.Dial("tcp", api.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer stalled.Close()
	_ = stalled.(*net.TCPConn).SetReadBuffer(4096)
	if _, err := io.WriteString(stalled, "GET /v1/runtimes HTTP/1.1\r\nHost: localhost\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	// The cap of one connection is held by the stalled reader until its write times out. A
	// connection served again (200, kept alive) is taken for the rest of the test.
	var c net.Conn
	waitFor(t, "the cap freed from a client that never reads", func() bool {
		conn, err := net.Dial("tcp", api.Addr())
		if err != nil {
			t.Fatal(err)
		}
		if resp, _ := rawGet(t, conn, "/v1/runtimes/rt-1"); resp.StatusCode != 200 || resp.Close {
			conn.Close() // the probe slot, while a closed connection is not yet counted out
			return false
		}
		c = conn
		return true
	})
	defer c.Close()
	if resp, _ := rawGet(t, c, "/v1/runtimes?index=1&wait=1s"); resp.StatusCode != 200 {
		t.Errorf("a blocking read of 1 s under a 500 ms write timeout: %d, want 200", resp.StatusCode)
	}
	// A client reading slowly gets it all: it pauses between reads for well under half the
	// timeout, the least a chunk is promised (the deadline is re-armed when half is left); a
	// 200 ms pause left 50 ms of slack, which a loaded -race run could miss.
	_ = c.SetDeadline(time.Now().Add(20 * time.Second))
	if _, err := io.WriteString(c, "GET /v1/runtimes HTTP/1.1\r\nHost: localhost\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(&pausingReader{r: c, every: 1 << 20, pause: 100 * time.Millisecond}), nil)
	if err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != 200 || !json.Valid(b) {
		t.Errorf("a slow reader of %d bytes: %d %v", len(b), resp.StatusCode, err)
	}
}

// pausingReader pauses after each every bytes read.
type pausingReader struct {
	r     io.Reader
	every int
	pause time.Duration
	n     int
}

func (p *pausingReader) Read(b []byte) (int, error) {
	n, err := p.r.Read(b)
	p.n += n
	if p.n >= p.every {
		p.n = 0
		time.Sleep(p.pause)
	}
	return n, err
}

// On a unix socket the connection cap and the write deadline held nothing: a local client
// that sent a request for a large answer and stopped reading kept its connection (and the
// handler) for good, and any number of connections were served. Both now apply there too.
func TestListen_UnixSocketCappedAndWriteTimeout(t *testing.T) {
	t.Parallel()
	cat, err := store.ParseSnapshotFile(fakecp.SyntheticCatalog(10000)) // ~11 MB, beyond the socket buffers
	if err != nil {
		t.Fatal(err)
	}
	live := store.NewLive(&store.Snapshot{Revision: 1, Source: store.SourceUpstream, Catalog: cat, FetchedAt: time.Now()})
	api, err := httpapi.New(httpapi.Options{Live: live, Syncer: noSync{}, MaxConnections: 1, ProbeSlots: 1,
		WriteTimeout: 500 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(t.TempDir(), "rt.sock")
	if err := api.Listen("unix:" + sock); err != nil {
		t.Fatal(err)
	}
	api.Serve()
	t.Cleanup(func() { api.Shutdown() })
	dial := func() net.Conn {
		t.Helper()
		c, err := net.Dial("unix", sock)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	stalled := dial()
	defer stalled.Close()
	_ = stalled.(*net.UnixConn).SetReadBuffer(4096)
	if _, err := io.WriteString(stalled, "GET /v1/runtimes HTTP/1.1\r\nHost: localhost\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	// While the stalled reader holds the one connection, a second is a probe slot: not served.
	waitFor(t, "the stalled reader holding the cap", func() bool {
		c := dial()
		defer c.Close()
		resp, _ := rawGet(t, c, "/v1/runtimes/rt-1")
		return resp.StatusCode == http.StatusServiceUnavailable
	})
	// Its write times out and frees the cap: a connection is served again.
	waitFor(t, "the cap freed from a client that never reads", func() bool {
		c := dial()
		defer c.Close()
		resp, _ := rawGet(t, c, "/v1/runtimes/rt-1")
		return resp.StatusCode == http.StatusOK && !resp.Close
	})
}
