package httpapi

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	stdsync "sync"
	"sync/atomic"
	"time"
)

// probeConnTimeout bounds a connection accepted on a reserved probe slot: a probe answers in
// milliseconds, so a slow one cannot keep the slot.
const probeConnTimeout = 5 * time.Second

// capListener bounds open connections. Up to max are served normally; the next reserve are
// accepted for probes only (/healthz, /readyz: orchestrators must see the daemon alive at
// the cap) with a short deadline; beyond that a connection gets a canned 503 and is closed
// at once, so a flood of slow clients holds neither goroutines nor file descriptors.
type capListener struct {
	net.Listener
	max, reserve int64
	active       atomic.Int64
	refused      atomic.Int64
	// writeTimeout bounds each write to a served connection (capConn.Write).
	writeTimeout time.Duration
}

// fdReserve are the open files kept for everything but client connections (the data file,
// upstream calls, logs).
const fdReserve = 64

// connectionCap is MaxConnections, lowered so that it and the probe slots fit the process's
// open-file limit: at the cap, accept must never fail for want of descriptors.
func (s *Server) connectionCap() int64 {
	limit := int64(s.opts.MaxConnections)
	if fds := fdLimit(); fds > 0 {
		limit = min(limit, max(1, fds-fdReserve-int64(s.opts.ProbeSlots)))
	}
	return limit
}

// warnLoweredCap says so when the open-file limit lowered http.max_connections: under a small
// `ulimit -n` (64 gives a cap of 1) the sidecar serves one connection at a time, and an
// operator must learn why clients get 503 too_many_connections from the log, not by guessing.
func (s *Server) warnLoweredCap() {
	if c := s.connectionCap(); c < int64(s.opts.MaxConnections) {
		level := slog.LevelInfo // thousands of connections are plenty for a sidecar
		if c < 256 {
			level = slog.LevelWarn
		}
		s.opts.Logger.Log(context.Background(), level, "http.max_connections lowered to fit the open-file limit: raise the limit (ulimit -n, LimitNOFILE=) to serve more",
			"max_connections", s.opts.MaxConnections, "effective", c, "open_file_limit", fdLimit(),
			"reserved", fdReserve+s.opts.ProbeSlots)
	}
}

var refusedAnswer = func() []byte {
	body := `{"error":{"code":"too_many_connections","message":"the sidecar is at its connection limit (http.max_connections); retry shortly"}}`
	return []byte("HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\nConnection: close\r\nRetry-After: 1\r\nContent-Length: " +
		strconv.Itoa(len(body)) + "\r\n\r\n" + body)
}()

func (l *capListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		n := l.active.Add(1)
		if n > l.max+l.reserve {
			l.active.Add(-1)
			l.refused.Add(1)
			_ = c.SetWriteDeadline(time.Now().Add(50 * time.Millisecond))
			_, _ = c.Write(refusedAnswer)
			_ = c.Close()
			continue
		}
		cc := &capConn{Conn: c, l: l, probeOnly: n > l.max}
		if cc.probeOnly {
			_ = c.SetDeadline(time.Now().Add(probeConnTimeout))
		}
		return cc, nil
	}
}

// capConn is a connection counted by its capListener until closed.
type capConn struct {
	net.Conn
	l         *capListener
	probeOnly bool
	once      stdsync.Once
	// writeDeadline is the write deadline last set (capConn.Write; net/http writes a
	// connection from one goroutine at a time).
	writeDeadline time.Time
}

// writeChunk is the most a client must read within writeTimeout (capConn.Write).
const writeChunk = 64 << 10

// Write gives each writeChunk of a write writeTimeout to go out. net/http sets no write
// deadline (the server's WriteTimeout would also cut blocking reads and watch streams), so
// without this a client that sent a request and never read an answer larger than the socket
// buffers held its connection, a slot of the cap and the handler's goroutine until it went
// away: a few such clients filled the cap for good. Re-armed before a chunk when less than
// half of writeTimeout is left, the deadline cuts a stalled reader, not a long answer or
// stream read slowly: each chunk has at least half of writeTimeout, and the small answers of
// a busy connection (one write each) re-arm it once per half timeout, not per request. A
// probe slot keeps its whole-connection deadline.
func (c *capConn) Write(b []byte) (int, error) {
	if c.probeOnly || c.l.writeTimeout <= 0 {
		return c.Conn.Write(b)
	}
	n := 0
	for n < len(b) {
		if now := time.Now(); c.writeDeadline.Sub(now) < c.l.writeTimeout/2 {
			c.writeDeadline = now.Add(c.l.writeTimeout)
			_ = c.Conn.SetWriteDeadline(c.writeDeadline)
		}
		m, err := c.Conn.Write(b[n:min(len(b), n+writeChunk)])
		n += m
		if err != nil {
			return n, err
		}
	}
	return n, nil
}

// SetWriteDeadline keeps Write's deadline armed when net/http clears it: net/http calls
// SetWriteDeadline(time.Time{}) on the connection after every request, and Write, which
// re-arms only the deadline it last set once half of it is gone, would write the next
// answer of the kept-alive connection with none (a client that read a small answer and then
// left a large one unread held its connection for good). Any other deadline is set and
// remembered.
func (c *capConn) SetWriteDeadline(t time.Time) error {
	if t.IsZero() && !c.probeOnly && c.l.writeTimeout > 0 {
		return nil
	}
	c.writeDeadline = t
	return c.Conn.SetWriteDeadline(t)
}

// SetDeadline is SetReadDeadline and SetWriteDeadline (above).
func (c *capConn) SetDeadline(t time.Time) error {
	if err := c.Conn.SetReadDeadline(t); err != nil {
		return err
	}
	return c.SetWriteDeadline(t)
}

func (c *capConn) Close() error {
	c.once.Do(func() { c.l.active.Add(-1) })
	return c.Conn.Close()
}

type connKey struct{}

// isProbe reports whether path is a liveness or readiness probe.
func isProbe(path string) bool { return path == "/healthz" || path == "/readyz" }

// serveListener is the handler of the server's own listener: the checks that need the
// connection or the listen address, before ServeHTTP. Tests of the API through Handler skip
// them; they are tested through Listen and Serve.
func (s *Server) serveListener(w http.ResponseWriter, r *http.Request) {
	if cc, ok := r.Context().Value(connKey{}).(*capConn); ok && cc.probeOnly {
		w.Header().Set("Connection", "close")
		if !isProbe(r.URL.Path) {
			s.writeError(w, r, errorf(http.StatusServiceUnavailable, "too_many_connections",
				"the sidecar is at its connection limit (http.max_connections): only /healthz and /readyz answer on the reserved connections"))
			return
		}
	}
	if s.checkHost && !s.hostAllowed(r.Host) {
		s.writeError(w, r, errorf(http.StatusMisdirectedRequest, "host_not_allowed",
			"the Host %q is not served: use localhost, a loopback or IP address, or add the name to http.allowed_hosts (a name the sidecar does not know may be a DNS-rebinding web page)", r.Host))
		return
	}
	// The server's ReadTimeout bounds the headers and the body. A request without a body has
	// nothing more to read: its deadline goes, so blocking reads and watch streams last; one
	// with a body loses it once the body is read.
	rc, ok := w.(readDeadliner) // net/http's own writer: no ResponseController to allocate per request
	if !ok {
		rc = http.NewResponseController(w)
	}
	if r.ContentLength == 0 && len(r.TransferEncoding) == 0 || r.Body == nil || r.Body == http.NoBody {
		_ = rc.SetReadDeadline(time.Time{})
	} else {
		r.Body = &deadlineBody{ReadCloser: r.Body, rc: rc}
	}
	s.ServeHTTP(w, r)
}

// readDeadliner sets the read deadline of a request's connection: net/http's ResponseWriter,
// or an http.ResponseController around a wrapped one.
type readDeadliner interface{ SetReadDeadline(time.Time) error }

// deadlineBody clears the connection's read deadline once the body is read to its end.
type deadlineBody struct {
	io.ReadCloser
	rc   readDeadliner
	done bool
}

func (b *deadlineBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if err == io.EOF && !b.done {
		b.done = true
		_ = b.rc.SetReadDeadline(time.Time{})
	}
	return n, err
}

// hostAllowed reports whether a Host header names this sidecar: empty (HTTP/1.0), an IP
// literal (DNS rebinding needs a name, so no IP is a rebinding attack), localhost, the
// listen address's name, or a configured name. Compared case-insensitively, port ignored.
func (s *Server) hostAllowed(host string) bool {
	if host == "" {
		return true
	}
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	host = strings.TrimSuffix(strings.TrimSuffix(strings.TrimPrefix(host, "["), "]"), ".")
	if _, err := netip.ParseAddr(host); err == nil {
		return true
	}
	if strings.EqualFold(host, "localhost") || strings.EqualFold(host, s.listenHost) {
		return true
	}
	// A configured name may end in the root's dot ("runtimesd.internal."), as host does not.
	return slices.ContainsFunc(s.opts.AllowedHosts, func(a string) bool { return strings.EqualFold(strings.TrimSuffix(a, "."), host) })
}

// crossSiteWrite refuses a mutating request a browser sent from another origin without a
// CORS preflight (a form post or fetch with a CORS-simple content type): a web page must not
// trigger syncs with the user's key. Requests without Origin and Sec-Fetch-Site (curl, the
// SDKs) and configured CORS origins pass.
func (s *Server) crossSiteWrite(r *http.Request) *Error {
	switch r.Method {
	case http.MethodGet, http.MethodHead, http.MethodOptions:
		return nil
	}
	origin := r.Header.Get("Origin")
	site := r.Header.Get("Sec-Fetch-Site")
	if origin == "" && site == "" {
		return nil
	}
	if origin != "" && slices.Contains(s.opts.CORSOrigins, origin) || slices.Contains(s.opts.CORSOrigins, "*") {
		return nil
	}
	sameOrigin := site == "same-origin" || site == "none"
	if site == "" { // an older browser: compare Origin with the Host it sent
		host, ok := strings.CutPrefix(origin, "http://")
		if !ok {
			host, ok = strings.CutPrefix(origin, "https://")
		}
		sameOrigin = ok && strings.EqualFold(host, r.Host)
	}
	if sameOrigin {
		return nil
	}
	from := fmt.Sprintf("the web origin %q", origin)
	if origin == "" { // Sec-Fetch-Site alone: say what the browser said
		from = fmt.Sprintf("another site (Sec-Fetch-Site: %s, no Origin)", strings.Map(printableASCII, site))
	}
	return errorf(http.StatusForbidden, "cross_site_request",
		"%s %s from %s is refused: browsers may send it without a CORS preflight, so a web page could trigger it; list the origin in http.cors_origins to allow it", r.Method, r.URL.Path, from)
}

// connContext remembers each request's connection (for the probe-only slots).
func connContext(ctx context.Context, c net.Conn) context.Context {
	if cc, ok := c.(*capConn); ok {
		return context.WithValue(ctx, connKey{}, cc)
	}
	return ctx
}

// printableASCII keeps a header value's printable ASCII for a message and drops the rest.
func printableASCII(r rune) rune {
	if r < 0x20 || r > 0x7e {
		return -1
	}
	return r
}
