package httpapi

import (
	"bytes"
	"net"
	"net/http"
	"net/http/httptest"
	stdsync "sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/runtimesd/runtimesd/store"
)

// BenchmarkServeConn is bench/compare.sh's 2-runtime rows in-process, without wrk or the
// kernel: one connection carries b.N pipelined `GET /api/v1/runtimes` requests through
// net/http's own server, and ns/op is the server's cost of one request (reading, routing,
// headers, body; the answers go nowhere). It prices what wrk cannot separate on 2 shared
// cores:
//
//   - nethttp-bytes-only / nethttp-same-headers: a bare net/http handler writing runtimesd's
//     body with Content-Type alone, then with the seven cache headers runtimesd sends too.
//     The difference is net/http's own cost of those headers (map, the clone WriteHeader
//     makes, the sort and sanitising in writeSubset, the bytes);
//   - echo-bytes-only / echo-same-headers: the same through echo v4, as bench/echobytes;
//   - runtimesd: the daemon's server (Serve on this connection: host check, routing,
//     middleware, metrics, freshness, cache headers), on the seed catalog fetched a moment ago.
//
// The connection ignores deadlines, so the daemon's read timeouts cost nothing here.
func BenchmarkServeConn(b *testing.B) {
	rt := benchConnServer(b)
	body, header := rt.answer(b)
	bytesOnly := func(w http.ResponseWriter, _ *http.Request) {
		w.Header()["Content-Type"] = header["Content-Type"]
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write(body)
	}
	sameHeaders := func(w http.ResponseWriter, _ *http.Request) {
		h := w.Header()
		for k, v := range header {
			h[k] = v
		}
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write(body)
	}
	echoServer := func(same bool) http.Handler {
		e := echo.New()
		e.GET("/*", func(c echo.Context) error {
			if same {
				h := c.Response().Header()
				for k, v := range header {
					if k != "Content-Type" {
						h[k] = v
					}
				}
			}
			return c.Blob(http.StatusOK, echo.MIMEApplicationJSON, body)
		})
		return e
	}
	for _, tc := range []struct {
		name  string
		serve func(*testing.B, *pipeListener)
	}{
		{"nethttp-bytes-only", httpServer(http.HandlerFunc(bytesOnly))},
		{"nethttp-same-headers", httpServer(http.HandlerFunc(sameHeaders))},
		{"echo-bytes-only", httpServer(echoServer(false))},
		{"echo-same-headers", httpServer(echoServer(true))},
		{"runtimesd", serveDaemon},
	} {
		b.Run(tc.name, func(b *testing.B) {
			c := newPipeConn(b.N)
			ln := &pipeListener{c: c, start: make(chan struct{}), closed: make(chan struct{})}
			tc.serve(b, ln)
			b.ReportAllocs()
			b.ResetTimer()
			close(ln.start) // the server is waiting in Accept
			<-c.closed
			b.StopTimer()
			if got, want := c.answers.Load(), int64(b.N); got != want {
				b.Fatalf("%d answers to %d requests", got, want)
			}
			if least := int64(b.N) * int64(len(body)); c.written.Load() < least {
				b.Fatalf("%d bytes written for %d answers of %d bytes", c.written.Load(), b.N, len(body))
			}
		})
	}
}

// benchConn is the daemon's server on the seed catalog, fetched a moment ago.
type benchConn struct{ s *Server }

func benchConnServer(b *testing.B) *benchConn {
	b.Helper()
	cat, err := store.ParseSnapshotFile(store.SeedJSON())
	if err != nil {
		b.Fatal(err)
	}
	now := time.Now()
	live := store.NewLive(&store.Snapshot{Revision: 1, Source: store.SourceUpstream, Catalog: cat, FetchedAt: now, UpdatedAt: now})
	reg := prometheus.NewRegistry() // metrics on, as in the daemon
	s, err := New(Options{Live: live, Syncer: idleSyncer{}, Registerer: reg, Gatherer: reg})
	if err != nil {
		b.Fatal(err)
	}
	return &benchConn{s: s}
}

// answer is the body and headers the daemon sends to compare.sh's request (Date aside).
func (rt *benchConn) answer(b *testing.B) ([]byte, http.Header) {
	w := httptest.NewRecorder()
	rt.s.Handler().ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/api/v1/runtimes", nil))
	if w.Code != http.StatusOK {
		b.Fatalf("GET /api/v1/runtimes: %d %s", w.Code, w.Body)
	}
	h := w.Header().Clone()
	if len(h) != 8 {
		b.Fatalf("the daemon sent %d header-map entries, the benchmark prices 8: %v", len(h), h)
	}
	return w.Body.Bytes(), h
}

// serveDaemon runs a new daemon server's own Serve (which runs once per server) on one
// pipelined connection.
func serveDaemon(b *testing.B, ln *pipeListener) {
	s := benchConnServer(b).s
	s.ln = ln
	s.Serve()
	<-s.Primed()
	b.Cleanup(func() { _ = s.Shutdown() })
}

// httpServer serves h on one pipelined connection with a plain http.Server.
func httpServer(h http.Handler) func(*testing.B, *pipeListener) {
	return func(b *testing.B, ln *pipeListener) {
		srv := &http.Server{Handler: h}
		go func() { _ = srv.Serve(ln) }()
		b.Cleanup(func() { _ = srv.Close() })
	}
}

// pipeConn is a client that sent n GETs at once and reads nothing back: Read hands out the
// requests, Write counts the answers' bytes and status lines.
type pipeConn struct {
	r       *bytes.Reader
	written atomic.Int64
	answers atomic.Int64
	closed  chan struct{}
	once    stdsync.Once
}

func newPipeConn(n int) *pipeConn {
	req := []byte("GET /api/v1/runtimes HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: wrk\r\n\r\n")
	return &pipeConn{r: bytes.NewReader(bytes.Repeat(req, n)), closed: make(chan struct{})}
}

var statusOK = []byte("HTTP/1.1 200 OK\r\n")

func (c *pipeConn) Read(p []byte) (int, error) { return c.r.Read(p) }
func (c *pipeConn) Write(p []byte) (int, error) {
	c.written.Add(int64(len(p)))
	c.answers.Add(int64(bytes.Count(p, statusOK)))
	return len(p), nil
}
func (c *pipeConn) Close() error        { c.once.Do(func() { close(c.closed) }); return nil }
func (c *pipeConn) LocalAddr() net.Addr { return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 8080} }
func (c *pipeConn) RemoteAddr() net.Addr {
	return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 40000}
}
func (c *pipeConn) SetDeadline(time.Time) error      { return nil }
func (c *pipeConn) SetReadDeadline(time.Time) error  { return nil }
func (c *pipeConn) SetWriteDeadline(time.Time) error { return nil }

// pipeListener accepts its one connection once start is closed, then waits to be closed.
type pipeListener struct {
	c      *pipeConn
	given  bool
	start  chan struct{}
	closed chan struct{}
	once   stdsync.Once
}

func (l *pipeListener) Accept() (net.Conn, error) {
	if !l.given {
		l.given = true
		select {
		case <-l.start:
			return l.c, nil
		case <-l.closed:
			return nil, net.ErrClosed
		}
	}
	<-l.closed
	return nil, net.ErrClosed
}
func (l *pipeListener) Close() error   { l.once.Do(func() { close(l.closed) }); return nil }
func (l *pipeListener) Addr() net.Addr { return l.c.LocalAddr() }
