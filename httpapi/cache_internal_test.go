package httpapi

import (
	"errors"
	"fmt"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/labstack/echo/v4"
	"golang.org/x/time/rate"

	"github.com/runtimesd/runtimesd/store"
)

// TestParseCacheControl: the directives honoured (max-age, stale-if-error, no-cache and
// must-revalidate as max-age=0), case and spaces and quotes as RFC 9111 allows, others
// ignored, and a 400 naming the directive for a value that is not a number of seconds that
// fits 31 bits.
func TestParseCacheControl(t *testing.T) {
	t.Parallel()
	const unset = -1
	for _, tc := range []struct {
		in                 []string
		maxAge, staleIfErr time.Duration
		bad                string // the directive the 400 names
	}{
		{nil, unset, unset, ""},
		{[]string{"max-age=60"}, 60 * time.Second, unset, ""},
		{[]string{`MAX-AGE = "7" , Stale-If-Error=0`}, 7 * time.Second, 0, ""},
		{[]string{"private", "stale-if-error=2147483647"}, unset, 2147483647 * time.Second, ""},
		{[]string{"no-cache"}, 0, unset, ""},
		{[]string{"max-age=60, must-revalidate"}, 0, unset, ""},
		// no-cache wins over max-age in either order (it made max-age=0 only when it came last)
		{[]string{"no-cache, max-age=60"}, 0, unset, ""},
		{[]string{"must-revalidate", "max-age=3600"}, 0, unset, ""},
		{[]string{"no-store, max-age=0"}, 0, unset, ""},
		{[]string{"max-age"}, 0, 0, "max-age"},
		{[]string{"max-age="}, 0, 0, "max-age"},
		{[]string{"max-age=-1"}, 0, 0, "max-age"},
		{[]string{"max-age=1.5"}, 0, 0, "max-age"},
		// RFC 9111 1.2.2: delta-seconds beyond 2^31 count as 2^31, not as an error
		{[]string{"stale-if-error=2147483648"}, unset, 2147483648 * time.Second, ""},
		{[]string{"max-age=99999999999999999999999"}, 2147483648 * time.Second, unset, ""},
		{[]string{"max-age=1", "stale-if-error=x"}, 0, 0, "stale-if-error"},
	} {
		cc, err := parseCacheControl(tc.in)
		if tc.bad != "" {
			var apiErr *Error
			if !errors.As(err, &apiErr) || apiErr.Status != 400 || apiErr.Code != "bad_cache_control" ||
				!strings.HasPrefix(apiErr.Message, "Cache-Control "+tc.bad+" needs a number of seconds") {
				t.Errorf("%q: %v, want a 400 naming %s", tc.in, err, tc.bad)
			}
			continue
		}
		if err != nil || cc.maxAge != tc.maxAge || cc.staleIfError != tc.staleIfErr {
			t.Errorf("%q: max-age %v stale-if-error %v %v, want %v %v", tc.in, cc.maxAge, cc.staleIfError, err, tc.maxAge, tc.staleIfErr)
		}
	}
}

// TestParseBlocking: ?index=REV&wait=DUR — a duration or plain seconds, the default wait
// without one, never more than MaxWait, and a 400 for a wait that is not positive.
func TestParseBlocking(t *testing.T) {
	t.Parallel()
	s := &Server{opts: Options{DefaultWait: 5 * time.Minute, MaxWait: 10 * time.Minute}}
	e := echo.New()
	parse := func(q string) (blocking, error) {
		return s.parseBlocking(e.NewContext(httptest.NewRequest("GET", "/v1/runtimes?"+q, nil), httptest.NewRecorder()))
	}
	for _, tc := range []struct {
		q     string
		index uint64
		wait  time.Duration
	}{
		{"index=3", 3, 5 * time.Minute},
		{"index=3&wait=30", 3, 30 * time.Second},
		{"index=0&wait=1ns", 0, time.Nanosecond},
		{"index=18446744073709551615&wait=10m", 1<<64 - 1, 10 * time.Minute},
		{"index=1&wait=10m1s", 1, 10 * time.Minute},
		{"index=1&wait=3600", 1, 10 * time.Minute},
	} {
		b, err := parse(tc.q)
		if err != nil || !b.on || b.index != tc.index || b.wait != tc.wait {
			t.Errorf("%s: %+v %v, want index %d wait %v", tc.q, b, err, tc.index, tc.wait)
		}
	}
	if b, err := parse("status=beta"); err != nil || b.on {
		t.Errorf("no index: %+v %v", b, err)
	}
	for _, q := range []string{"index=1&wait=0s", "index=1&wait=0", "index=1&wait=-1s", "index=1&wait=1x", "wait=1s", "index=-1", "index=1&wait=2147483648"} {
		if _, err := parse(q); err == nil {
			t.Errorf("%s: accepted", q)
		}
	}
}

// TestAcceptsGzip: gzip, x-gzip or * listed with a q above 0, names and q compared
// case-insensitively.
func TestAcceptsGzip(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]bool{
		"gzip":                      true,
		"GZip":                      true,
		"x-gzip":                    true,
		"*":                         true,
		"br, gzip;q=0.5":            true,
		" deflate , gzip ; q=0.001": true,
		"gzip;Q=0":                  false,
		"gzip;q=0.0":                false,
		"gzip; q=0, *":              false, // the first listing of gzip decides
		"*;q=0":                     false,
		"br":                        false,
		"identity":                  false,
		"":                          false,
		"gzipx":                     false,
		"gzip;level=1;q=1":          true,
		"gzip;q=abc":                true,  // an unreadable q is ignored
		"*, gzip;q=0":               false, // "*" is the codings not listed: gzip is refused
		"*;q=0, gzip":               true,  // gzip is listed: "*;q=0" does not refuse it
		"br;q=0, *":                 true,
	} {
		if got := acceptsGzip(in); got != want {
			t.Errorf("%q: %v, want %v", in, got, want)
		}
	}
}

// TestWithoutAges: the ETag of a JSON answer leaves out every age_seconds value (digits and
// a sign), so an answer whose only change is time passing still validates; nothing else is cut.
func TestWithoutAges(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		`{"a":1}`:                             `{"a":1}`,
		`{"age_seconds":0,"x":"age_seconds"}`: `{"age_seconds":,"x":"age_seconds"}`,
		`{"age_seconds":1234567890,"b":{"age_seconds":-9},"c":9}`: `{"age_seconds":,"b":{"age_seconds":},"c":9}`,
		`{"age_seconds":null}`: `{"age_seconds":null}`,
		`{"age_seconds":`:      `{"age_seconds":`,
		`["age_seconds":5]`:    `["age_seconds":]`,
	} {
		if got := string(withoutAges([]byte(in))); got != want {
			t.Errorf("%s: %s, want %s", in, got, want)
		}
	}
	// Ages that differ in any digit give the same ETag.
	a, _ := jsonRep(map[string]any{"age_seconds": 9, "v": 1})
	b, _ := jsonRep(map[string]any{"age_seconds": 10, "v": 1})
	c, _ := jsonRep(map[string]any{"age_seconds": 10, "v": 2})
	if a.etag.id[0] != b.etag.id[0] || b.etag.id[0] == c.etag.id[0] {
		t.Errorf("ETags %s %s %s: age must not count, data must", a.etag.id[0], b.etag.id[0], c.etag.id[0])
	}
}

// TestIntHeaders: header values of integers are the decimal numbers, at the edges of the
// prebuilt table too.
func TestIntHeaders(t *testing.T) {
	t.Parallel()
	h := &snapHeaders{lengths: map[int][]string{}}
	for _, n := range []int{0, 1, 9, 10, 4095, 4096, 4097, 1 << 20} {
		want := strconv.Itoa(n)
		if got := intHeader(n); len(got) != 1 || got[0] != want {
			t.Errorf("intHeader(%d) = %q", n, got)
		}
		if got := h.length(n); len(got) != 1 || got[0] != want {
			t.Errorf("length(%d) = %q", n, got)
		}
	}
	if got := intHeader(-1); got[0] != "-1" {
		t.Errorf("intHeader(-1) = %q", got)
	}
}

// TestRetryAfter: a refused forced refresh says to retry after the bucket's refill interval,
// rounded up to whole seconds and at least 1.
func TestRetryAfter(t *testing.T) {
	t.Parallel()
	for every, want := range map[time.Duration]int{
		100 * time.Second:       100,
		100*time.Second + 1:     101,
		2500 * time.Millisecond: 3,
		time.Second:             1,
		100 * time.Millisecond:  1,
		3*time.Second - 1:       3,
	} {
		if got := (&rateLimitedError{every: every}).retryAfterSeconds(); got != want {
			t.Errorf("every %v: Retry-After %d, want %d", every, got, want)
		}
	}
}

// TestLimiter_Bounded: the forced-refresh buckets stay bounded whatever ids a catalog sheds:
// at 2×catalog+64 buckets, those of runtimes the catalog no longer has and those full (the
// same as a new one) are dropped; a bucket with tokens spent is kept, so nobody gets a fresh
// set by sweeping.
func TestLimiter_Bounded(t *testing.T) {
	t.Parallel()
	s := &Server{opts: Options{RefreshRate: 0.001, RefreshBurst: 2}, limiters: map[string]*rate.Limiter{}}
	snap := &store.Snapshot{Catalog: store.SeedCatalog()}
	bound := 2*snap.Catalog.Len() + 64
	known := snap.Catalog.Runtimes()[0].ID
	spent := s.limiter("list", snap)
	spent.Allow() // one of two tokens spent: kept
	full := s.limiter("runtime:"+known, snap)
	s.limiter("runtime:"+snap.Catalog.Runtimes()[1].ID, snap).Allow()
	for i := 0; len(s.limiters) < bound; i++ {
		s.limiter(fmt.Sprintf("runtime:gone-%d", i), snap)
	}
	if s.limiter("list", snap) != spent || s.limiter("runtime:"+known, snap) != full {
		t.Fatal("an existing bucket was replaced below the bound")
	}
	if len(s.limiters) != bound {
		t.Fatalf("%d buckets, want the bound %d", len(s.limiters), bound)
	}
	s.limiter("runtime:gone-new", snap) // at the bound: prune, then add
	if len(s.limiters) != 3 {
		t.Fatalf("after pruning at %d buckets: %d left, want 3 (list, the spent runtime bucket, the new one)", bound, len(s.limiters))
	}
	if s.limiter("list", snap) != spent {
		t.Error("a bucket with tokens spent was dropped: sweeping would refill it")
	}
	if _, ok := s.limiters["runtime:"+known]; ok {
		t.Error("a full bucket was kept")
	}
}

// TestSnapHeaders_MemoBounded: the per-snapshot memos of ETags and Content-Length values keep
// at most 100,000 and 4,096 entries; values beyond are still right, only not kept.
func TestSnapHeaders_MemoBounded(t *testing.T) {
	t.Parallel()
	h := &snapHeaders{snap: &store.Snapshot{Revision: 7}, items: map[string]etagPair{}, lengths: map[int][]string{}}
	for i := range 100001 {
		h.itemETag(strconv.Itoa(i), []byte(strconv.Itoa(i)))
	}
	if len(h.items) != 100000 {
		t.Errorf("%d ETags kept, want 100000", len(h.items))
	}
	if e := h.itemETag("x", []byte("x")); e.id[0] != revETag(weakETag([]byte("x")), h.snap) {
		t.Errorf("an ETag beyond the memo: %q", e.id)
	}
	for n := 4096; n < 4096+4097; n++ {
		if v := h.length(n); v[0] != strconv.Itoa(n) {
			t.Fatalf("length(%d) = %q", n, v)
		}
	}
	if len(h.lengths) != 4096 {
		t.Errorf("%d lengths kept, want 4096", len(h.lengths))
	}
}
