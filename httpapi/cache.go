package httpapi

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/labstack/echo/v4"
	"golang.org/x/time/rate"

	"github.com/runtimesd/runtimesd/health"
	"github.com/runtimesd/runtimesd/store"
)

// Response headers of every read.
const (
	// HeaderCache is HIT (fresh), STALE (older than max_stale, seed data, or served after a
	// failed refresh under stale-if-error), REVALIDATED (a forced refresh found no change) or
	// MISS (a forced refresh changed the data).
	HeaderCache    = "X-Cache"
	HeaderRevision = "X-Runtimes-Revision" // the snapshot revision: the index for blocking reads
	HeaderSource   = "X-Runtimes-Source"   // upstream, cache, seed or import
)

// X-Cache values.
const (
	cacheHit         = "HIT"
	cacheStale       = "STALE"
	cacheRevalidated = "REVALIDATED"
	cacheMiss        = "MISS"
)

// gzipMinSize is the smallest body worth compressing.
const gzipMinSize = 1024

// representation is one read answer built from a snapshot: its validator and its body in
// parts, with gzip members for the parts that are pre-compressed once per catalog.
type representation struct {
	etag        string   // complete ETag value (W/ included when weak)
	parts       [][]byte // the body is their concatenation
	gz          [][]byte // gz[i], when non-nil, is a gzip member of parts[i]
	contentType string   // default application/json
	release     func()   // called once the answer is written (pooled buffers)
}

func (r representation) size() int {
	n := 0
	for _, p := range r.parts {
		n += len(p)
	}
	return n
}

// builder makes a representation from the snapshot a read is answered from.
type builder func(snap *store.Snapshot, now time.Time) (representation, error)

// cacheControl is what runtimesd honours of a request's Cache-Control.
type cacheControl struct {
	maxAge       time.Duration // < 0: not given
	staleIfError time.Duration // < 0: not given
}

func parseCacheControl(values []string) (cacheControl, error) {
	cc := cacheControl{maxAge: -1, staleIfError: -1}
	for _, v := range values {
		for dir := range strings.SplitSeq(v, ",") {
			name, arg, hasArg := strings.Cut(strings.TrimSpace(dir), "=")
			name = strings.ToLower(strings.TrimSpace(name))
			secs := func() (time.Duration, error) {
				n, err := strconv.ParseUint(strings.Trim(strings.TrimSpace(arg), `"`), 10, 31)
				if !hasArg || err != nil {
					return 0, errorf(http.StatusBadRequest, "bad_cache_control", "Cache-Control %s needs a number of seconds, got %q", name, arg)
				}
				return time.Duration(n) * time.Second, nil
			}
			var err error
			switch name {
			case "max-age":
				cc.maxAge, err = secs()
			case "stale-if-error":
				cc.staleIfError, err = secs()
			case "no-cache", "must-revalidate":
				cc.maxAge = 0
			}
			if err != nil {
				return cc, err
			}
		}
	}
	return cc, nil
}

// blocking is a blocking read's ?index=REV&wait=DUR.
type blocking struct {
	index uint64
	wait  time.Duration
	on    bool
}

func (s *Server) parseBlocking(c echo.Context) (blocking, error) {
	var b blocking
	idx, wait := c.QueryParam("index"), c.QueryParam("wait")
	if idx == "" {
		if wait != "" {
			return b, errorf(http.StatusBadRequest, "bad_parameter", "wait needs index: ?index=REV&wait=DUR")
		}
		return b, nil
	}
	n, err := strconv.ParseUint(idx, 10, 64)
	if err != nil {
		return b, errorf(http.StatusBadRequest, "bad_parameter", "index must be a revision number (X-Runtimes-Revision of an earlier answer), got %q", idx)
	}
	b.index, b.on, b.wait = n, true, s.opts.DefaultWait
	if wait != "" {
		d, err := time.ParseDuration(wait)
		if err != nil {
			if secs, serr := strconv.ParseUint(wait, 10, 31); serr == nil {
				d, err = time.Duration(secs)*time.Second, nil
			}
		}
		if err != nil || d <= 0 {
			return b, errorf(http.StatusBadRequest, "bad_parameter", "wait must be a duration such as 30s or 5m, got %q", wait)
		}
		b.wait = min(d, s.opts.MaxWait)
	}
	return b, nil
}

// serveRead answers a read: blocking until the revision passes ?index, refreshing first when
// Cache-Control asks for fresher data, then the cache headers, conditional requests (304),
// and gzip when the client accepts it.
func (s *Server) serveRead(c echo.Context, build builder) error {
	req := c.Request()
	cc, err := parseCacheControl(req.Header.Values("Cache-Control"))
	if err != nil {
		return err
	}
	bl, err := s.parseBlocking(c)
	if err != nil {
		return err
	}
	snap, err := s.snapshot()
	if err != nil {
		return err
	}
	if bl.on {
		snap = s.block(req.Context(), snap, bl)
	}
	now := s.opts.Now()
	xcache, warning := "", ""
	if cc.maxAge >= 0 && effectiveAge(snap, now) > cc.maxAge || cc.maxAge == 0 {
		outcome, rerr := s.refresh(req.Context(), req.URL.Path)
		now = s.opts.Now()
		switch {
		case rerr == nil:
			snap, _ = s.snapshot()
			xcache = cacheRevalidated
			if outcome == health.OutcomeChanged {
				xcache = cacheMiss
			}
		case cc.staleIfError >= 0 && effectiveAge(snap, now) <= cc.staleIfError:
			xcache = cacheStale
			warning = `111 runtimesd "Revalidation Failed: ` + sanitizeHeader(strings.ReplaceAll(rerr.Error(), `"`, "'")) + `"`
		default:
			var limited *rateLimitedError
			if errors.As(rerr, &limited) {
				c.Response().Header().Set("Retry-After", strconv.Itoa(limited.retryAfterSeconds()))
				return errorf(http.StatusTooManyRequests, "refresh_rate_limited",
					"forced refreshes of %s are rate-limited; the data is %s old (send stale-if-error to accept it)", req.URL.Path, ageText(snap, now))
			}
			return errorf(http.StatusGatewayTimeout, "refresh_failed",
				"the data is %s old, older than the max-age asked for, and refreshing it failed: %v", ageText(snap, now), rerr)
		}
	}
	rep, err := build(snap, now)
	if err != nil {
		return err
	}
	if rep.release != nil {
		defer rep.release()
	}
	return s.write(c, snap, now, rep, xcache, warning)
}

// effectiveAge is the snapshot's age; data never fetched from the control plane counts as
// infinitely old.
func effectiveAge(snap *store.Snapshot, now time.Time) time.Duration {
	if snap.FetchedAt.IsZero() {
		return 1<<63 - 1
	}
	return snap.Age(now)
}

func ageText(snap *store.Snapshot, now time.Time) string {
	if snap.FetchedAt.IsZero() {
		return "never-fetched (seed)"
	}
	return snap.Age(now).Truncate(time.Second).String()
}

// block waits until the revision differs from bl.index, the wait (plus up to 1/16 random
// extra, so a fleet of waiters does not return in lockstep) passes, the client goes away or
// the server shuts down. A waiter costs a goroutine parked on a channel: no CPU.
func (s *Server) block(ctx context.Context, snap *store.Snapshot, bl blocking) *store.Snapshot {
	if snap.Revision != bl.index {
		return snap // changed already, or the index is ahead (the file was replaced): at once
	}
	wait := bl.wait + rand.N(bl.wait/16+1)
	t := time.NewTimer(wait)
	defer t.Stop()
	s.waiting.Add(1)
	defer s.waiting.Add(-1)
	for {
		ch := s.opts.Live.Changed()
		cur := s.opts.Live.Load()
		if cur.Revision != bl.index {
			return cur
		}
		select {
		case <-ch:
		case <-t.C:
			return cur
		case <-ctx.Done():
			return cur
		case <-s.done:
			return cur
		}
	}
}

// rateLimitedError is a forced refresh refused by the per-resource token bucket.
type rateLimitedError struct{ every time.Duration }

func (e *rateLimitedError) Error() string { return "forced refresh rate-limited" }
func (e *rateLimitedError) retryAfterSeconds() int {
	return max(1, int((e.every+time.Second-1)/time.Second))
}

// refresh runs a sync (or joins the one in flight) for a read that wants fresher data, within
// RefreshWait, and reports its outcome. Refreshes that would start a run are rate-limited per
// resource, so clients cannot hammer the control plane through the sidecar.
func (s *Server) refresh(ctx context.Context, resource string) (health.Outcome, error) {
	st := s.opts.Syncer.Status()
	if !st.Enabled {
		return "", fmt.Errorf("sync is disabled: %s", st.DisabledReason)
	}
	if !st.Running && !s.limiter(resource).Allow() {
		return "", &rateLimitedError{every: time.Duration(float64(time.Second) / float64(s.opts.RefreshRate))}
	}
	ctx, cancel := context.WithTimeout(ctx, s.opts.RefreshWait)
	defer cancel()
	run, err := s.opts.Syncer.SyncNow(ctx, "refresh")
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		return "", fmt.Errorf("the refresh did not finish within %s", s.opts.RefreshWait)
	case err != nil:
		return "", err
	}
	switch run.Outcome {
	case health.OutcomeChanged, health.OutcomeUnchanged:
		return run.Outcome, nil
	}
	return run.Outcome, fmt.Errorf("refresh %s: %s", run.Outcome, run.Error)
}

func (s *Server) limiter(resource string) *rate.Limiter {
	s.limMu.Lock()
	defer s.limMu.Unlock()
	if l, ok := s.limiters[resource]; ok {
		return l
	}
	if len(s.limiters) >= 4096 { // bound the memory a client sweeping paths can take
		s.limiters = map[string]*rate.Limiter{}
	}
	l := rate.NewLimiter(rate.Limit(s.opts.RefreshRate), s.opts.RefreshBurst)
	s.limiters[resource] = l
	return l
}

// write sends a representation with the cache headers, answering 304 to a matching
// If-None-Match (or, without one, If-Modified-Since), and gzip when accepted.
func (s *Server) write(c echo.Context, snap *store.Snapshot, now time.Time, rep representation, xcache, warning string) error {
	req := c.Request()
	h := c.Response().Header()
	ct := rep.contentType
	if ct == "" {
		ct = echo.MIMEApplicationJSON
	}
	h.Set(echo.HeaderContentType, ct)
	// Clients may keep an answer but must revalidate it (If-None-Match) before reusing it.
	h.Set("Cache-Control", "no-cache")
	if !snap.FetchedAt.IsZero() {
		h.Set("Age", strconv.FormatInt(int64(snap.Age(now)/time.Second), 10))
	}
	if !snap.UpdatedAt.IsZero() {
		h.Set(echo.HeaderLastModified, snap.UpdatedAt.UTC().Format(http.TimeFormat))
	}
	if xcache == "" {
		xcache = cacheHit
		if stale, _ := s.staleness(snap, now); stale {
			xcache = cacheStale
		}
	}
	h.Set(HeaderCache, xcache)
	if s.metrics != nil {
		s.metrics.cache.WithLabelValues(strings.ToLower(xcache)).Inc()
	}
	if warning != "" {
		h.Set("Warning", warning)
	}
	h.Set(HeaderRevision, strconv.FormatUint(snap.Revision, 10))
	h.Set(HeaderSource, string(snap.Source))

	size := rep.size()
	useGzip := false
	if size >= gzipMinSize {
		h.Set(echo.HeaderVary, echo.HeaderAcceptEncoding)
		useGzip = acceptsGzip(req.Header.Get(echo.HeaderAcceptEncoding))
	}
	etag := rep.etag
	if useGzip {
		etag = etag[:len(etag)-1] + `-gzip"`
	}
	h.Set("ETag", etag)
	if inm := req.Header.Get("If-None-Match"); inm != "" {
		if etagMatches(inm, etag) {
			c.Response().WriteHeader(http.StatusNotModified)
			return nil
		}
	} else if ims := req.Header.Get("If-Modified-Since"); ims != "" && !snap.UpdatedAt.IsZero() {
		if t, err := http.ParseTime(ims); err == nil && !snap.UpdatedAt.Truncate(time.Second).After(t) {
			c.Response().WriteHeader(http.StatusNotModified)
			return nil
		}
	}
	parts := rep.parts
	if useGzip {
		parts = make([][]byte, len(rep.parts))
		for i, p := range rep.parts {
			if rep.gz != nil && rep.gz[i] != nil {
				parts[i] = rep.gz[i]
			} else {
				parts[i] = gzipMember(p)
			}
		}
		// Several gzip members one after another are one valid gzip stream (RFC 1952 2.2):
		// the parts compressed once per catalog are sent as they are.
		h.Set(echo.HeaderContentEncoding, "gzip")
		size = 0
		for _, p := range parts {
			size += len(p)
		}
	}
	h.Set(echo.HeaderContentLength, strconv.Itoa(size))
	c.Response().WriteHeader(http.StatusOK)
	if req.Method == http.MethodHead {
		return nil
	}
	for _, p := range parts {
		if _, err := c.Response().Write(p); err != nil {
			return nil // the client went away; nothing more to tell it
		}
	}
	return nil
}

// acceptsGzip reports whether Accept-Encoding allows gzip (listed, or "*", with q above 0).
func acceptsGzip(header string) bool {
	for part := range strings.SplitSeq(header, ",") {
		name, params, _ := strings.Cut(strings.TrimSpace(part), ";")
		name = strings.ToLower(strings.TrimSpace(name))
		if name != "gzip" && name != "x-gzip" && name != "*" {
			continue
		}
		for p := range strings.SplitSeq(params, ";") {
			k, v, _ := strings.Cut(strings.TrimSpace(p), "=")
			if strings.EqualFold(k, "q") {
				if q, err := strconv.ParseFloat(strings.TrimSpace(v), 64); err == nil && q <= 0 {
					return false
				}
			}
		}
		return true
	}
	return false
}

var gzipPool = sync.Pool{New: func() any { w, _ := gzip.NewWriterLevel(nil, gzip.BestSpeed); return w }}

// gzipMember compresses b into one gzip member (fast, for parts built per request).
func gzipMember(b []byte) []byte {
	var buf bytes.Buffer
	w := gzipPool.Get().(*gzip.Writer)
	w.Reset(&buf)
	_, _ = w.Write(b)
	_ = w.Close()
	gzipPool.Put(w)
	return buf.Bytes()
}

// gzipOnce compresses b at the default level; for bodies compressed once per catalog.
func gzipOnce(b []byte) []byte {
	var buf bytes.Buffer
	w, _ := gzip.NewWriterLevel(&buf, gzip.DefaultCompression)
	_, _ = w.Write(b)
	_ = w.Close()
	return buf.Bytes()
}

// etagMatches applies If-None-Match's weak comparison (RFC 9110 13.1.2): "*" or any listed
// tag equal to etag once W/ is dropped from both. The gzip and identity variants of one
// representation validate each other.
func etagMatches(header, etag string) bool {
	norm := func(t string) string {
		return strings.Replace(strings.TrimPrefix(strings.TrimSpace(t), "W/"), `-gzip"`, `"`, 1)
	}
	etag = norm(etag)
	for part := range strings.SplitSeq(header, ",") {
		part = strings.TrimSpace(part)
		if part == "*" || norm(part) == etag {
			return true
		}
	}
	return false
}

// jsonRep encodes v as a representation with a weak ETag of its bytes, the ages in them left
// out: an answer whose only change is that time passed still validates.
func jsonRep(v any) (representation, error) {
	b, err := marshalNoEscape(v)
	if err != nil {
		return representation{}, err
	}
	return representation{etag: weakETag(withoutAges(b)), parts: [][]byte{b}}, nil
}

// withoutAges returns b with the value of every "age_seconds" field removed.
func withoutAges(b []byte) []byte {
	const key = `"age_seconds":`
	if !bytes.Contains(b, []byte(key)) {
		return b
	}
	out := make([]byte, 0, len(b))
	for {
		i := bytes.Index(b, []byte(key))
		if i < 0 {
			return append(out, b...)
		}
		out = append(out, b[:i+len(key)]...)
		b = b[i+len(key):]
		for len(b) > 0 && (b[0] >= '0' && b[0] <= '9' || b[0] == '-') {
			b = b[1:]
		}
	}
}
