package httpapi

import (
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/runtimesd/runtimesd/store"
)

// Response headers of every catalog read.
const (
	HeaderCache    = "X-Cache"             // HIT: fresh; STALE: older than max_stale, or seed data
	HeaderRevision = "X-Runtimes-Revision" // the snapshot revision
	HeaderSource   = "X-Runtimes-Source"   // upstream, cache, seed or import
)

// writeRead answers a catalog read: the cache headers, then 304 when If-None-Match matches
// etag, else body. HEAD gets the headers only (net/http drops the body).
func (s *Server) writeRead(c echo.Context, snap *store.Snapshot, now time.Time, etag string, body []byte) error {
	h := c.Response().Header()
	h.Set(echo.HeaderContentType, echo.MIMEApplicationJSON)
	h.Set("ETag", etag)
	if !snap.FetchedAt.IsZero() {
		h.Set("Age", strconv.FormatInt(int64(snap.Age(now)/time.Second), 10))
		h.Set(echo.HeaderLastModified, snap.UpdatedAt.UTC().Format(http.TimeFormat))
	}
	if stale, _ := s.staleness(snap, now); stale {
		h.Set(HeaderCache, "STALE")
	} else {
		h.Set(HeaderCache, "HIT")
	}
	h.Set(HeaderRevision, strconv.FormatUint(snap.Revision, 10))
	h.Set(HeaderSource, string(snap.Source))
	if inm := c.Request().Header.Get("If-None-Match"); inm != "" && etagMatches(inm, etag) {
		c.Response().WriteHeader(http.StatusNotModified)
		return nil
	}
	h.Set(echo.HeaderContentLength, strconv.Itoa(len(body)))
	c.Response().WriteHeader(http.StatusOK)
	_, err := c.Response().Write(body)
	if err == http.ErrBodyNotAllowed { // HEAD
		err = nil
	}
	return err
}

// etagMatches applies If-None-Match's weak comparison (RFC 9110 13.1.2): "*" or any listed
// tag equal to etag once W/ is dropped from both.
func etagMatches(header, etag string) bool {
	etag = strings.TrimPrefix(etag, "W/")
	for part := range strings.SplitSeq(header, ",") {
		part = strings.TrimSpace(part)
		if part == "*" || strings.TrimPrefix(part, "W/") == etag {
			return true
		}
	}
	return false
}
