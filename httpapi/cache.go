package httpapi

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"slices"
	"strconv"
	"strings"
	stdsync "sync"
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

// etagPair is a representation's ETag and that of its gzip variant, as header values built
// once (a cached read sets them without allocating).
type etagPair struct{ id, gz []string }

func newETag(tag string) etagPair {
	return etagPair{id: []string{tag}, gz: []string{tag[:len(tag)-1] + `-gzip"`}}
}

// representation is one read answer built from a snapshot: its validator and its body in up
// to three parts, with gzip members for the parts that are pre-compressed once per catalog.
type representation struct {
	etag        etagPair
	parts       [3][]byte // the body is the concatenation of parts[:n]
	gz          [3][]byte // gz[i], when non-nil, is a gzip member of parts[i]
	n           int
	contentType []string // nil: application/json
	pooled      [2]*[]byte
	// provenance is set when the body carries the provenance fields ("stale" among them) and
	// so state that changes without a new revision (staleness, degraded flags): a stale answer
	// gets its own ETag (the ETags of the list, a runtime and the matrix are tied to the data
	// and revision only), and If-Modified-Since never makes it a 304, since Last-Modified (the
	// revision's commit) dates none of that: a copy taken before a runtime was marked degraded,
	// or while the data was stale, carries the same date as the answer now. If-None-Match
	// revalidates it.
	provenance bool
	// volatile is set when the body holds state that changes without a new revision (sync
	// runs, breakers): Last-Modified (the revision's commit) does not date it, so
	// If-Modified-Since never makes it a 304; If-None-Match does.
	volatile bool
}

func (r *representation) add(part, gz []byte) {
	r.parts[r.n], r.gz[r.n] = part, gz
	r.n++
}

func single(etag etagPair, body []byte) representation {
	r := representation{etag: etag}
	r.add(body, nil)
	return r
}

func (r *representation) size() int {
	n := 0
	for _, p := range r.parts[:r.n] {
		n += len(p)
	}
	return n
}

func (r *representation) release() {
	for _, p := range r.pooled {
		if p != nil {
			bufPool.Put(p)
		}
	}
}

// cacheControl is what runtimesd honours of a request's Cache-Control.
type cacheControl struct {
	maxAge       time.Duration // < 0: not given
	staleIfError time.Duration // < 0: not given
}

func parseCacheControl(values []string) (cacheControl, error) {
	cc := cacheControl{maxAge: -1, staleIfError: -1}
	revalidate := false // no-cache or must-revalidate: max-age=0 whatever max-age says, in any order
	for _, v := range values {
		for dir := range strings.SplitSeq(v, ",") {
			name, arg, hasArg := strings.Cut(strings.TrimSpace(dir), "=")
			name = strings.ToLower(strings.TrimSpace(name))
			secs := func() (time.Duration, error) {
				n, err := strconv.ParseUint(strings.Trim(strings.TrimSpace(arg), `"`), 10, 31)
				if errors.Is(err, strconv.ErrRange) {
					// RFC 9111 1.2.2: a delta-seconds too large to represent counts as 2^31.
					n, err = 1<<31, nil
				}
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
				revalidate = true
			}
			if err != nil {
				return cc, err
			}
		}
	}
	if revalidate {
		cc.maxAge = 0
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

// readState is what beginRead decided: the snapshot to answer from and the cache result.
type readState struct {
	snap          *store.Snapshot
	now           time.Time
	xcache        string
	warning       string
	accepted      bool // the client accepts gzip
	askedEncoding bool // the request has an Accept-Encoding header
}

// beginRead prepares a read: blocking until the revision passes ?index, refreshing first when
// Cache-Control asks for fresher data. The handler then builds its representation from
// st.snap and calls finishRead.
func (s *Server) beginRead(c echo.Context) (readState, error) {
	var st readState
	req := c.Request()
	cc, err := parseCacheControl(req.Header["Cache-Control"])
	if err != nil {
		return st, err
	}
	var bl blocking
	if raw := req.URL.RawQuery; strings.Contains(raw, "index") || strings.Contains(raw, "wait") { // parsing allocates
		if bl, err = s.parseBlocking(c); err != nil {
			return st, err
		}
	}
	snap, err := s.snapshot()
	if err != nil {
		return st, err
	}
	if bl.on {
		snap = s.block(req.Context(), snap, bl)
	}
	now := s.opts.Now()
	if cc.maxAge >= 0 && effectiveAge(snap, now) > cc.maxAge || cc.maxAge == 0 {
		if resource, ok := s.refreshResource(c, snap); ok {
			outcome, rerr := s.refresh(req.Context(), resource, snap)
			now = s.opts.Now()
			var limited *rateLimitedError
			switch {
			case rerr == nil:
				snap, _ = s.snapshot()
				st.xcache = cacheRevalidated
				if outcome == health.OutcomeChanged {
					st.xcache = cacheMiss
				}
			case errors.As(rerr, &limited) && effectiveAge(snap, now) < s.dyn().PollInterval:
				// A browser reload (no-cache, max-age=0) on data younger than the poll
				// interval: as fresh as a refresh would likely make it, so the cached answer.
			case cc.staleIfError >= 0 && effectiveAge(snap, now) <= cc.staleIfError:
				st.xcache = cacheStale
				st.warning = `111 runtimesd "Revalidation Failed: ` + sanitizeHeader(strings.ReplaceAll(rerr.Error(), `"`, "'")) + `"`
			default:
				if limited != nil {
					c.Response().Header().Set("Retry-After", strconv.Itoa(limited.retryAfterSeconds()))
					return st, errorf(http.StatusTooManyRequests, "refresh_rate_limited",
						"forced refreshes of %s are rate-limited; %s (send stale-if-error to accept it)", req.URL.Path, ageText(snap, now))
				}
				return st, errorf(http.StatusGatewayTimeout, "refresh_failed",
					"%s: older than the max-age asked for, and refreshing it failed: %v", ageText(snap, now), rerr)
			}
		}
	}
	st.snap, st.now = snap, now
	if ae := req.Header["Accept-Encoding"]; len(ae) == 1 {
		st.accepted, st.askedEncoding = acceptsGzip(ae[0]), true
	} else if len(ae) > 1 {
		// Several header lines are one comma-separated list (RFC 9110 5.3).
		st.accepted, st.askedEncoding = acceptsGzip(strings.Join(ae, ",")), true
	}
	return st, nil
}

// serveRead is beginRead, build, finishRead: for reads whose bodies are built per request.
func (s *Server) serveRead(c echo.Context, build func(*store.Snapshot, time.Time) (representation, error)) error {
	st, err := s.beginRead(c)
	if err != nil {
		return err
	}
	rep, err := build(st.snap, st.now)
	if err != nil {
		return err
	}
	return s.finishRead(c, st, rep)
}

// effectiveAge is the snapshot's age; data never fetched from the control plane, or fetched
// "in the future" (clock skew: age unknown), counts as infinitely old.
func effectiveAge(snap *store.Snapshot, now time.Time) time.Duration {
	if snap.FetchedAt.IsZero() || snap.FromFuture(now) {
		return 1<<63 - 1
	}
	return snap.Age(now)
}

// ageText says how old the data is, for an error message.
func ageText(snap *store.Snapshot, now time.Time) string {
	if snap.FetchedAt.IsZero() {
		return "the data was never fetched from the control plane (the built-in seed or an import)"
	}
	return "the data is " + snap.Age(now).Truncate(time.Second).String() + " old"
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

// refreshResource is the rate-limit key of a forced refresh for this read: one runtime the
// catalog knows ("runtime:ID"), or "list" for reads of the whole catalog. A read of an id the
// catalog does not know refreshes nothing (its 404 comes from the cache): a sweep of invented
// ids must not reach the control plane. /v1/resolve answers unknown ids (with a fallback), so
// there they count against the list.
func (s *Server) refreshResource(c echo.Context, snap *store.Snapshot) (string, bool) {
	if !slices.Contains(c.ParamNames(), "id") {
		return "list", true
	}
	id, err := pathParam(c, "id")
	if err != nil {
		return "", false // the handler answers 400
	}
	if _, ok := snap.Catalog.Get(id); ok {
		return "runtime:" + id, true
	}
	if strings.HasPrefix(c.Path(), "/v1/resolve/") {
		return "list", true
	}
	return "", false
}

// refresh runs a sync (or joins the one in flight) for a read that wants fresher data, within
// RefreshWait, and reports its outcome. Refreshes that would start a run are rate-limited per
// resource (refreshResource), so clients cannot hammer the control plane through the sidecar.
func (s *Server) refresh(ctx context.Context, resource string, snap *store.Snapshot) (health.Outcome, error) {
	st := s.opts.Syncer.Status()
	if !st.Enabled {
		return "", fmt.Errorf("sync is disabled: %s", st.DisabledReason)
	}
	if !st.Running && !s.limiter(resource, snap).Allow() {
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
	// A skipped run's error already starts "skipped: " (the run records say so on their own).
	return run.Outcome, fmt.Errorf("refresh %s: %s", run.Outcome, strings.TrimPrefix(run.Error, string(run.Outcome)+": "))
}

// limiter returns the token bucket of a resource. Buckets exist only for the list and known
// runtimes; when the map outgrows the catalog, the buckets that are full (idle: the same as a
// new one) or whose runtime is gone are dropped, so no client ever gets a fresh set of tokens
// by sweeping.
func (s *Server) limiter(resource string, snap *store.Snapshot) *rate.Limiter {
	s.limMu.Lock()
	defer s.limMu.Unlock()
	if l, ok := s.limiters[resource]; ok {
		return l
	}
	if len(s.limiters) >= 2*snap.Catalog.Len()+64 {
		for k, l := range s.limiters {
			id, isRuntime := strings.CutPrefix(k, "runtime:")
			_, known := snap.Catalog.Get(id)
			if l.Tokens() >= float64(s.opts.RefreshBurst) || isRuntime && !known {
				delete(s.limiters, k)
			}
		}
	}
	l := rate.NewLimiter(rate.Limit(s.opts.RefreshRate), s.opts.RefreshBurst)
	s.limiters[resource] = l
	return l
}

// Header values that never change, set without allocating.
var (
	hvJSON        = []string{echo.MIMEApplicationJSON}
	hvNoCache     = []string{"no-cache"}
	hvVary        = []string{echo.HeaderAcceptEncoding}
	hvGzip        = []string{"gzip"}
	hvHit         = []string{cacheHit}
	hvStale       = []string{cacheStale}
	hvRevalidated = []string{cacheRevalidated}
	// HeaderValidatedBy is canonical (textproto), so it can be set as a map key.
	hvValidatedLocal = []string{ValidateLocal}
	hvMiss           = []string{cacheMiss}
)

// smallInts are header values for the integers most headers carry (Age, short lengths).
// They are built at package init, so from one string and one array (a slice and a string
// per value made 8,000 allocations on every start of the binary).
var smallInts = func() (v [4096][]string) {
	var digits []byte
	var ends [len(v)]int
	for i := range v {
		digits = strconv.AppendInt(digits, int64(i), 10)
		ends[i] = len(digits)
	}
	all, vals := string(digits), new([len(v)]string)
	for i := range v {
		from := 0
		if i > 0 {
			from = ends[i-1]
		}
		vals[i] = all[from:ends[i]]
		v[i] = vals[i : i+1 : i+1]
	}
	return v
}()

func intHeader(n int) []string {
	if n >= 0 && n < len(smallInts) {
		return smallInts[n]
	}
	return []string{strconv.Itoa(n)}
}

// snapHeaders are the header values of one snapshot, built once.
type snapHeaders struct {
	snap         *store.Snapshot
	revision     []string
	source       []string
	lastModified []string
	nativeAll    etagPair // the unfiltered native list's ETag
	mu           stdsync.Mutex
	items        map[string]etagPair // native single-runtime ETags, made on first use
	reqs         map[string]etagPair // native requirements ETags, made on first use
	dropInReqs   map[string]etagPair // drop-in requirements ETags, made on first use
	lengths      map[int][]string    // Content-Length values seen
}

func (s *Server) headersFor(snap *store.Snapshot) *snapHeaders {
	if h := s.snapHdr.Load(); h != nil && h.snap == snap {
		return h
	}
	h := &snapHeaders{snap: snap, revision: []string{strconv.FormatUint(snap.Revision, 10)},
		source: []string{string(snap.Source)}, items: map[string]etagPair{}, reqs: map[string]etagPair{}, dropInReqs: map[string]etagPair{},
		lengths: map[int][]string{}}
	if !snap.UpdatedAt.IsZero() {
		h.lastModified = []string{snap.UpdatedAt.UTC().Format(http.TimeFormat)}
	}
	h.nativeAll = newETag(revETag(s.encodedFor(snap.Catalog).allETag, snap))
	s.snapHdr.Store(h)
	return h
}

// itemETag is the ETag of a native answer about one runtime: the hash of its item and the
// revision, computed on first use.
func (h *snapHeaders) itemETag(id string, item []byte) etagPair {
	return h.memoETag(h.items, id, func() string { return revETag(weakETag(item), h.snap) })
}

// reqETag is the ETag of a native requirements answer. Its body also says whether the runtime
// is degraded, which a sync changes without changing the requirements or the revision (the
// previous requirements are kept when their fetch fails): the flag is part of the tag.
func (h *snapHeaders) reqETag(id string, req []byte, degraded bool) etagPair {
	return h.memoETag(h.reqs, id, func() string {
		tag := revETag(weakETag(req), h.snap)
		if degraded {
			tag = tag[:len(tag)-1] + `.degraded"`
		}
		return tag
	})
}

// dropInReqETag is the strong ETag of a drop-in requirements answer (the object verbatim).
func (h *snapHeaders) dropInReqETag(id string, req []byte) etagPair {
	return h.memoETag(h.dropInReqs, id, func() string { return strongETag(req) })
}

func (h *snapHeaders) memoETag(m map[string]etagPair, key string, make func() string) etagPair {
	h.mu.Lock()
	defer h.mu.Unlock()
	if e, ok := m[key]; ok {
		return e
	}
	e := newETag(make())
	if len(m) < 100000 {
		m[key] = e
	}
	return e
}

func (h *snapHeaders) length(n int) []string {
	if n < len(smallInts) {
		return smallInts[n]
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if v, ok := h.lengths[n]; ok {
		return v
	}
	v := []string{strconv.Itoa(n)}
	if len(h.lengths) < 4096 {
		h.lengths[n] = v
	}
	return v
}

// setXCache sets X-Cache: the read's own result, else hit or stale by the snapshot's age.
func (s *Server) setXCache(h http.Header, st readState, stale bool) {
	xcache := st.xcache
	if xcache == "" {
		xcache = cacheHit
		if stale {
			xcache = cacheStale
		}
	}
	switch xcache {
	case cacheHit:
		h[HeaderCache] = hvHit
	case cacheStale:
		h[HeaderCache] = hvStale
	case cacheRevalidated:
		h[HeaderCache] = hvRevalidated
	default:
		h[HeaderCache] = hvMiss
	}
	if s.metrics != nil {
		s.metrics.cacheResult(xcache)
	}
}

// finishRead sends a representation with the cache headers, answering 304 to a matching
// If-None-Match (or, without one, If-Modified-Since), and gzip when accepted. A cached read
// sets every header from values built once per snapshot.
//
// The response header map is net/http's, made per request: a Go map holds 8 entries in its
// first group and grows (allocating and rehashing) at the 9th, which cost a small cached read
// 6-9 % of its throughput. So a small answer puts at most 8 entries there (Content-Type,
// Cache-Control, Age, Last-Modified, X-Cache, X-Runtimes-Revision, X-Runtimes-Source, ETag)
// and leaves the two headers net/http writes by itself out of the map: Date (net/http adds
// it to every answer that has none) and Content-Length (net/http computes it for an answer
// that fits its 2 KiB buffer). A larger GET answer is sent chunked, as net/http sends any
// answer whose handler sets no length: a 9th entry for its Content-Length cost the 2,143-byte
// drop-in list of two runtimes 5 % of its throughput (interleaved wrk runs, 0.89 -> 0.94 of
// an echo server sending the bytes only), and HTTP/1.1 clients read both framings alike (an
// HTTP/1.0 client gets the length-less answer closed by net/http instead). HEAD answers
// carry the length. Vary is sent where it informs a cache (below).
func (s *Server) finishRead(c echo.Context, st readState, rep representation) error {
	defer rep.release()
	req := c.Request()
	h := c.Response().Header()
	snap, sh := st.snap, s.headersFor(st.snap)
	if rep.contentType != nil {
		h["Content-Type"] = rep.contentType
	} else {
		h["Content-Type"] = hvJSON
	}
	// Clients may keep an answer but must revalidate it (If-None-Match) before reusing it.
	h["Cache-Control"] = hvNoCache
	if !snap.FetchedAt.IsZero() {
		h["Age"] = intHeader(int(snap.Age(st.now) / time.Second))
	}
	if sh.lastModified != nil {
		h["Last-Modified"] = sh.lastModified
	}
	// One staleness decision (health.StalenessOf) for X-Cache, the body's "stale" (the same
	// function words it) and the ETag of a stale answer.
	stale := health.StalenessOf(snap, st.now, s.dyn().MaxStale).Stale()
	s.setXCache(h, st, stale)
	if st.warning != "" {
		h.Set("Warning", st.warning)
	}
	h[HeaderRevision] = sh.revision
	h[HeaderSource] = sh.source

	size := rep.size()
	useGzip := false
	if size >= gzipMinSize {
		useGzip = st.accepted
		if st.askedEncoding {
			// Only to a request that named its encodings: the identity answer to one that
			// named none is what every client decodes, so a cache that reuses it for any
			// request is never wrong (at most less compressed), and the small answer keeps
			// its 8 map entries (above).
			h["Vary"] = hvVary
		}
	}
	etag := rep.etag.id
	if useGzip {
		etag = rep.etag.gz
	}
	if rep.provenance && stale {
		// The body says "stale": true. Its validator must differ from the fresh answer's, or a
		// client revalidating the copy it got while the data was fresh is answered 304 and
		// keeps reading "stale": false (and the other way round once a sync confirms the data).
		tag := rep.etag.id[0]
		tag = tag[:len(tag)-1] + ".stale"
		if useGzip {
			etag = []string{tag + `-gzip"`}
		} else {
			etag = []string{tag + `"`}
		}
	}
	h["Etag"] = etag
	if inm := req.Header["If-None-Match"]; len(inm) > 0 {
		if etagMatches(strings.Join(inm, ","), etag[0]) {
			c.Response().WriteHeader(http.StatusNotModified)
			return nil
		}
	} else if ims := req.Header.Get("If-Modified-Since"); ims != "" && !snap.UpdatedAt.IsZero() && !rep.volatile && !rep.provenance {
		if t, err := http.ParseTime(ims); err == nil && !snap.UpdatedAt.Truncate(time.Second).After(t) {
			c.Response().WriteHeader(http.StatusNotModified)
			return nil
		}
	}
	parts := rep.parts
	if useGzip {
		for i := range rep.n {
			if rep.gz[i] != nil {
				parts[i] = rep.gz[i]
			} else {
				parts[i] = gzipMember(rep.parts[i])
			}
		}
		// Several gzip members one after another are one valid gzip stream (RFC 1952 2.2):
		// the parts compressed once per catalog are sent as they are.
		h["Content-Encoding"] = hvGzip
		size = 0
		for _, p := range parts[:rep.n] {
			size += len(p)
		}
	}
	if req.Method == http.MethodHead {
		// The length GET would send (net/http sends a HEAD answer without one).
		h["Content-Length"] = sh.length(size)
		c.Response().WriteHeader(http.StatusOK)
		return nil
	}
	c.Response().WriteHeader(http.StatusOK)
	for _, p := range parts[:rep.n] {
		if _, err := c.Response().Write(p); err != nil {
			return nil // the client went away; nothing more to tell it
		}
	}
	return nil
}

// acceptsGzip reports whether Accept-Encoding allows gzip: listed with q above 0, or, when
// gzip is not listed, "*" with q above 0 ("*" stands only for the codings not listed, RFC 9110
// 12.5.3: "*, gzip;q=0" refuses gzip).
func acceptsGzip(header string) bool {
	star := false
	for part := range strings.SplitSeq(header, ",") {
		name, params, _ := strings.Cut(strings.TrimSpace(part), ";")
		name = strings.ToLower(strings.TrimSpace(name))
		if name != "gzip" && name != "x-gzip" && name != "*" {
			continue
		}
		ok := true
		for p := range strings.SplitSeq(params, ";") {
			k, v, _ := strings.Cut(strings.TrimSpace(p), "=")
			if strings.EqualFold(k, "q") {
				if q, err := strconv.ParseFloat(strings.TrimSpace(v), 64); err == nil && q <= 0 {
					ok = false
				}
			}
		}
		if name != "*" {
			return ok // the first listing of gzip decides
		}
		star = star || ok
	}
	return star
}

var gzipPool = stdsync.Pool{New: func() any { w, _ := gzip.NewWriterLevel(nil, gzip.BestSpeed); return w }}

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
	rep := single(newETag(weakETag(withoutAges(b))), b)
	rep.provenance = true
	return rep, nil
}

// volatileRep is jsonRep for an answer holding state that changes without a new revision.
func volatileRep(v any) (representation, error) {
	rep, err := jsonRep(v)
	rep.volatile = true
	return rep, err
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
