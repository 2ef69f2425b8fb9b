package httpapi

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/labstack/echo/v4"

	"github.com/runtimesd/runtimesd/health"
	"github.com/runtimesd/runtimesd/store"
)

// snapshot returns the snapshot being served, or a 503 when there is none at all.
func (s *Server) snapshot() (*store.Snapshot, error) {
	snap := s.opts.Live.Load()
	if snap == nil {
		return nil, errorf(http.StatusServiceUnavailable, "no_data",
			"no runtime data yet: nothing stored, no seed, and no sync has succeeded")
	}
	return snap, nil
}

// pathParam returns a path parameter decoded once. echo routes on the escaped path when the
// request has one, so "claude%5Fcode" arrives escaped and is decoded here.
func pathParam(c echo.Context, name string) (string, error) {
	v := c.Param(name)
	if c.Request().URL.RawPath == "" {
		return v, nil
	}
	d, err := url.PathUnescape(v)
	if err != nil {
		return "", errorf(http.StatusBadRequest, "bad_path", "path parameter %s is not valid percent-encoding", name)
	}
	return d, nil
}

// repeatable are the query parameters that may be given more than once.
var repeatable = map[string]bool{"feature": true}

// maxParamLen bounds a query parameter's value.
const maxParamLen = 512

// checkQuery rejects a malformed query string, query parameters the route does not know,
// empty, repeated (but feature), overlong values and values with control characters or
// invalid UTF-8, so a typo or garbage is a 400 rather than a silently ignored or empty filter.
func checkQuery(c echo.Context, allowed ...string) (url.Values, error) {
	if raw := c.Request().URL.RawQuery; raw != "" {
		// echo's QueryParams drops the pairs url.ParseQuery cannot read ("status=%zz",
		// "status=beta;type=x"): the filter would be silently ignored, the whole list answered.
		if _, err := url.ParseQuery(raw); err != nil {
			return nil, errorf(http.StatusBadRequest, "bad_parameter",
				"the query string is malformed (%v): separate parameters with & and percent-encode %%, & and ; in values", err)
		}
	}
	q := c.QueryParams()
	for k, vs := range q {
		if !slices.Contains(allowed, k) && len(allowed) == 0 {
			return nil, errorf(http.StatusBadRequest, "unknown_parameter", "unknown query parameter %q; this route takes none", k)
		}
		if !slices.Contains(allowed, k) {
			return nil, errorf(http.StatusBadRequest, "unknown_parameter",
				"unknown query parameter %q; this route takes %v", k, allowed)
		}
		if len(vs) > 1 && !repeatable[k] || len(vs) > 32 {
			return nil, errorf(http.StatusBadRequest, "bad_parameter", "query parameter %q is given %d times", k, len(vs))
		}
		for _, v := range vs {
			switch {
			case v == "":
				return nil, errorf(http.StatusBadRequest, "bad_parameter", "query parameter %q is empty", k)
			case len(v) > maxParamLen:
				return nil, errorf(http.StatusBadRequest, "bad_parameter", "query parameter %q is longer than %d bytes", k, maxParamLen)
			case !utf8.ValidString(v) || strings.ContainsFunc(v, unicode.IsControl):
				return nil, errorf(http.StatusBadRequest, "bad_parameter", "query parameter %q has control characters or invalid UTF-8", k)
			}
		}
	}
	return q, nil
}

// readParams are the query parameters every read takes (blocking reads).
var readParams = []string{"index", "wait"}

// handleRuntimeList is GET /v1/runtimes with filters status, type, provider, health and
// feature (repeatable; all must match). Filtered lists are memoised per catalog.
func (s *Server) handleRuntimeList(c echo.Context) error {
	st, err := s.beginRead(c)
	if err != nil {
		return err
	}
	snap := st.snap
	enc := s.encodedFor(snap.Catalog)
	var fl *filteredList
	if raw := c.Request().URL.RawQuery; raw != "" {
		// A query answered before is valid and its list memoised: no parsing at all.
		if memo, ok := enc.memoFilter(raw); ok {
			fl = memo
		} else {
			q, err := checkQuery(c, append([]string{"status", "type", "provider", "feature", "health"}, readParams...)...)
			if err != nil {
				return err
			}
			h := q.Get("health")
			// A reload drops the memoised lists (Reload), so the classifier in f stays right.
			f, err := s.answers().ListFilter(snap, store.Filter{Status: q.Get("status"), Type: q.Get("type"),
				Provider: q.Get("provider"), Features: q["feature"]}, h)
			if err != nil {
				code := "bad_parameter"
				if errors.Is(err, store.ErrNoTypes) {
					code = "unknown_field"
				}
				return &Error{Status: http.StatusBadRequest, Code: code, Message: strings.TrimPrefix(err.Error(), health.ErrBadFilter.Error()+": ")}
			}
			if f.Status != "" || f.Type != "" || f.Provider != "" || len(f.Features) != 0 || f.Where != nil {
				// The list is that of the normalised filter, so every variant of one filter
				// shares one memo entry and one ETag.
				key := filterKey(f, h)
				f.Status, f.Type, f.Provider = strings.ToLower(f.Status), strings.ToLower(f.Type), strings.ToLower(f.Provider)
				alias := raw
				if q.Has("index") || q.Has("wait") { // varying values: no alias per raw query
					alias = ""
				}
				fl = enc.filter(alias, key, f, snap)
			}
		}
	}
	bp := bufPool.Get().(*[]byte)
	b := append((*bp)[:0], '{')
	b = s.appendProvenance(b, snap, st.now)
	b = append(b, `,"count":`...)
	rep := representation{pooled: [2]*[]byte{bp}, provenance: true}
	if fl == nil {
		b = strconv.AppendInt(b, int64(snap.Catalog.Len()), 10)
		b = append(b, `,"runtimes":[`...)
		*bp = b
		rep.etag = s.headersFor(snap).nativeAll
		rep.add(b, nil)
		var gz []byte
		if st.accepted {
			gz = enc.allGzip()
		}
		rep.add(enc.all, gz)
	} else {
		b = strconv.AppendInt(b, int64(fl.count), 10)
		b = append(b, `,"runtimes":[`...)
		*bp = b
		rep.etag = fl.etag
		rep.add(b, nil)
		rep.add(fl.items, nil)
	}
	rep.add(listSuffix, nil)
	return s.finishRead(c, st, rep)
}

var listSuffix = []byte("]}")

// revETag ties a native body's ETag to the revision in its provenance.
func revETag(etag string, snap *store.Snapshot) string {
	return etag[:len(etag)-1] + "." + strconv.FormatUint(snap.Revision, 10) + `"`
}

// handleRuntimeGet is GET /v1/runtimes/{id}.
func (s *Server) handleRuntimeGet(c echo.Context) error {
	return s.serveRuntime(c, func(b []byte, st readState, rt *store.Runtime, item []byte) ([]byte, etagPair) {
		b = append(b, `,"runtime":`...)
		b = append(b, item...)
		return b, s.headersFor(st.snap).itemETag(rt.ID, item)
	})
}

// handleRuntimeRequirements is GET /v1/runtimes/{id}/requirements: the requirements object
// verbatim (null when the runtime has none) and whether it is degraded.
func (s *Server) handleRuntimeRequirements(c echo.Context) error {
	return s.serveRuntime(c, func(b []byte, st readState, rt *store.Runtime, _ []byte) ([]byte, etagPair) {
		req := rt.RequirementsRaw
		if req == nil {
			req = []byte("null")
		}
		b = append(b, `,"id":`...)
		b = appendJSONString(b, rt.ID)
		b = append(b, `,"degraded":`...)
		b = strconv.AppendBool(b, rt.Degraded != "")
		b = append(b, `,"requirements":`...)
		b = append(b, req...)
		return b, s.headersFor(st.snap).reqETag(rt.ID, req, rt.Degraded != "")
	})
}

// serveRuntime answers a native read about one runtime: {provenance, ...fields}, the fields
// appended by body (which also names the ETag), in a pooled buffer.
func (s *Server) serveRuntime(c echo.Context, body func(b []byte, st readState, rt *store.Runtime, item []byte) ([]byte, etagPair)) error {
	id, err := s.lookupParams(c)
	if err != nil {
		return err
	}
	st, err := s.beginRead(c)
	if err != nil {
		return err
	}
	rt, err := s.lookup(st.snap, id)
	if err != nil {
		return err
	}
	item := s.encodedFor(st.snap.Catalog).items[rt.ID].item
	bp := bufPool.Get().(*[]byte)
	b := append((*bp)[:0], '{')
	b = s.appendProvenance(b, st.snap, st.now)
	b, etag := body(b, st, rt, item)
	b = append(b, '}')
	*bp = b
	rep := single(etag, b)
	rep.pooled[0] = bp
	rep.provenance = true
	return s.finishRead(c, st, rep)
}

// lookupParams checks a single-runtime read's query and returns the decoded id.
func (s *Server) lookupParams(c echo.Context) (string, error) {
	if c.Request().URL.RawQuery != "" {
		if _, err := checkQuery(c, readParams...); err != nil {
			return "", err
		}
	}
	return pathParam(c, "id")
}

func (s *Server) lookup(snap *store.Snapshot, id string) (*store.Runtime, error) {
	return s.answers().Lookup(snap, id)
}

// provenance is the provenance of an answer encoded per request (health decides it).
type provenance = health.Provenance

func (s *Server) provenanceOf(snap *store.Snapshot, now time.Time) provenance {
	return health.ProvenanceOf(snap, now, s.dyn().MaxStale)
}

// handleSyncStatus is GET /v1/sync: schedule, run in flight, held answer, last runs.
func (s *Server) handleSyncStatus(c echo.Context) error {
	if _, err := checkQuery(c, readParams...); err != nil {
		return err
	}
	return s.serveRead(c, func(snap *store.Snapshot, now time.Time) (representation, error) {
		return volatileRep(struct {
			provenance
			Sync health.SyncStatus `json:"sync"`
		}{s.provenanceOf(snap, now), s.opts.Syncer.Status()})
	})
}

// handleSyncTrigger is POST /v1/sync: run a sync now, or join the one in flight, and answer
// with its outcome. A failed run is reported in the body with 200: the request did what it
// asked; the control plane's failure is data, not an error of this API.
func (s *Server) handleSyncTrigger(c echo.Context) error {
	if _, err := checkQuery(c); err != nil {
		return err
	}
	if b, err := io.ReadAll(io.LimitReader(c.Request().Body, 1)); err != nil || len(b) > 0 {
		return errorf(http.StatusBadRequest, "bad_body", "POST /v1/sync takes no body")
	}
	if st := s.opts.Syncer.Status(); !st.Enabled {
		return errorf(http.StatusConflict, "sync_disabled", "sync is disabled: %s", st.DisabledReason)
	}
	ctx, cancel := context.WithTimeout(c.Request().Context(), s.opts.SyncWait)
	defer cancel()
	run, err := s.opts.Syncer.SyncNow(ctx, "manual")
	if errors.Is(err, context.DeadlineExceeded) {
		return writeJSON(c, http.StatusAccepted, map[string]any{
			"status": "running", "message": "the sync is still running; GET /v1/sync shows its outcome"})
	}
	if err != nil {
		return errorf(http.StatusServiceUnavailable, "sync_unavailable", "sync could not run: %v", err)
	}
	snap, err := s.snapshot()
	if err != nil {
		return err
	}
	return writeJSON(c, http.StatusOK, struct {
		provenance
		Run health.Run `json:"run"`
	}{s.provenanceOf(snap, s.opts.Now()), run})
}

// handleChanges is GET /v1/changes?since=REV: the change records after REV.
func (s *Server) handleChanges(c echo.Context) error {
	q, err := checkQuery(c, append([]string{"since"}, readParams...)...)
	if err != nil {
		return err
	}
	var since uint64
	if v := q.Get("since"); v != "" {
		since, err = strconv.ParseUint(v, 10, 64)
		if err != nil {
			return errorf(http.StatusBadRequest, "bad_parameter", "since must be a revision number (a non-negative integer), got %q", v)
		}
	}
	return s.serveRead(c, func(snap *store.Snapshot, now time.Time) (representation, error) {
		changes, complete := snap.ChangesSince(since)
		if changes == nil {
			changes = []store.Change{}
		}
		return jsonRep(struct {
			provenance
			Since uint64 `json:"since"`
			// Complete is false when records after Since were pruned from the bounded log,
			// or Since is ahead of the data (the file was replaced): the client should
			// re-read the whole catalog. ResetReason says which, in /v1/watch's words.
			Complete    bool           `json:"complete"`
			ResetReason string         `json:"reset_reason,omitempty"`
			Changes     []store.Change `json:"changes"`
		}{s.provenanceOf(snap, now), since, complete, snap.ResetReason(since), changes})
	})
}

// handleHealthz is GET /healthz: the process is alive and answering.
func (s *Server) handleHealthz(c echo.Context) error {
	return writeJSON(c, http.StatusOK, map[string]string{"status": "alive"})
}

// handleReadyz is GET /readyz: ready while any snapshot is loaded, even a stale one (fail
// static: stale data beats no data for agents).
func (s *Server) handleReadyz(c echo.Context) error {
	snap := s.opts.Live.Load()
	if snap == nil {
		return writeJSON(c, http.StatusServiceUnavailable, map[string]any{"status": "not_ready", "reason": "no snapshot loaded"})
	}
	return writeJSON(c, http.StatusOK, struct {
		Status string `json:"status"`
		provenance
	}{"ready", s.provenanceOf(snap, s.opts.Now())})
}

func writeJSON(c echo.Context, status int, v any) error {
	b, err := marshalNoEscape(v)
	if err != nil {
		return err
	}
	return writeBody(c, status, b)
}

// writeBody writes a JSON answer's bytes. Its length is left to net/http, as for the cached
// reads (finishRead): computed without the header map for an answer of at most 2 KiB, a larger
// one chunked; a HEAD answer carries it.
func writeBody(c echo.Context, status int, b []byte) error {
	h := c.Response().Header()
	h[echo.HeaderContentType] = hvJSON
	if c.Request().Method == http.MethodHead {
		h[echo.HeaderContentLength] = []string{strconv.Itoa(len(b))}
	}
	c.Response().WriteHeader(status)
	// The answer is committed: a failed write (the client gone; a HEAD answer, whose body
	// net/http drops) can not be answered any more, and handleError ignores committed answers.
	_, _ = c.Response().Write(b)
	return nil
}
