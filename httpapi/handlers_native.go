package httpapi

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"time"

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

// checkQuery rejects query parameters the route does not know, and empty values, so a
// typo is a 400 rather than a silently ignored filter.
func checkQuery(c echo.Context, allowed ...string) (url.Values, error) {
	q := c.QueryParams()
	for k, vs := range q {
		if !slices.Contains(allowed, k) {
			return nil, errorf(http.StatusBadRequest, "unknown_parameter",
				"unknown query parameter %q; this route takes %v", k, allowed)
		}
		for _, v := range vs {
			if v == "" {
				return nil, errorf(http.StatusBadRequest, "bad_parameter", "query parameter %q is empty", k)
			}
		}
	}
	return q, nil
}

// handleRuntimeList is GET /v1/runtimes with filters status, type, provider and feature
// (repeatable; all must match).
func (s *Server) handleRuntimeList(c echo.Context) error {
	q, err := checkQuery(c, "status", "type", "provider", "feature")
	if err != nil {
		return err
	}
	snap, err := s.snapshot()
	if err != nil {
		return err
	}
	now := s.opts.Now()
	enc := s.encodedFor(snap.Catalog)
	f := store.Filter{Status: q.Get("status"), Type: q.Get("type"), Provider: q.Get("provider"), Features: q["feature"]}

	bp := bufPool.Get().(*[]byte)
	defer bufPool.Put(bp)
	b := append((*bp)[:0], '{')
	b = s.appendProvenance(b, snap, now)
	var etag string
	if len(q) == 0 {
		b = append(b, `,"count":`...)
		b = strconv.AppendInt(b, int64(snap.Catalog.Len()), 10)
		b = append(b, `,"runtimes":[`...)
		b = append(b, enc.all...)
		etag = enc.allETag
	} else {
		matched := f.Apply(snap.Catalog)
		b = append(b, `,"count":`...)
		b = strconv.AppendInt(b, int64(len(matched)), 10)
		b = append(b, `,"runtimes":[`...)
		start := len(b)
		for i, rt := range matched {
			if i > 0 {
				b = append(b, ',')
			}
			b = append(b, enc.items[rt.ID].item...)
		}
		etag = weakETag(b[start:])
	}
	b = append(b, "]}"...)
	*bp = b
	return s.writeRead(c, snap, now, revETag(etag, snap), b)
}

// revETag ties a native body's ETag to the revision in its provenance.
func revETag(etag string, snap *store.Snapshot) string {
	return etag[:len(etag)-1] + "." + strconv.FormatUint(snap.Revision, 10) + `"`
}

// handleRuntimeGet is GET /v1/runtimes/{id}.
func (s *Server) handleRuntimeGet(c echo.Context) error {
	snap, rt, err := s.lookup(c)
	if err != nil {
		return err
	}
	now := s.opts.Now()
	er := s.encodedFor(snap.Catalog).items[rt.ID]
	bp := bufPool.Get().(*[]byte)
	defer bufPool.Put(bp)
	b := append((*bp)[:0], '{')
	b = s.appendProvenance(b, snap, now)
	b = append(b, `,"runtime":`...)
	b = append(b, er.item...)
	b = append(b, '}')
	*bp = b
	return s.writeRead(c, snap, now, revETag(er.itemETag, snap), b)
}

// handleRuntimeRequirements is GET /v1/runtimes/{id}/requirements: the requirements object
// verbatim (null when the runtime has none) and whether it is degraded.
func (s *Server) handleRuntimeRequirements(c echo.Context) error {
	snap, rt, err := s.lookup(c)
	if err != nil {
		return err
	}
	now := s.opts.Now()
	bp := bufPool.Get().(*[]byte)
	defer bufPool.Put(bp)
	b := append((*bp)[:0], '{')
	b = s.appendProvenance(b, snap, now)
	b = append(b, `,"id":`...)
	idJSON, _ := marshalNoEscape(rt.ID)
	b = append(b, idJSON...)
	b = append(b, `,"degraded":`...)
	b = strconv.AppendBool(b, rt.Degraded != "")
	b = append(b, `,"requirements":`...)
	req := rt.RequirementsRaw
	if req == nil {
		req = []byte("null")
	}
	b = append(b, req...)
	b = append(b, '}')
	*bp = b
	return s.writeRead(c, snap, now, revETag(weakETag(req), snap), b)
}

func (s *Server) lookup(c echo.Context) (*store.Snapshot, *store.Runtime, error) {
	if _, err := checkQuery(c); err != nil {
		return nil, nil, err
	}
	snap, err := s.snapshot()
	if err != nil {
		return nil, nil, err
	}
	id, err := pathParam(c, "id")
	if err != nil {
		return nil, nil, err
	}
	rt, ok := snap.Catalog.Get(id)
	if !ok {
		return nil, nil, errorf(http.StatusNotFound, "runtime_not_found",
			"no runtime has the id %q (ids are case-sensitive); GET /v1/runtimes lists them", id)
	}
	return snap, rt, nil
}

// provenance is the JSON form of appendProvenance, for answers encoded per request.
type provenance struct {
	Revision    uint64       `json:"revision"`
	Source      store.Source `json:"source"`
	FetchedAt   *time.Time   `json:"fetched_at"`
	AgeSeconds  int64        `json:"age_seconds"`
	Stale       bool         `json:"stale"`
	StaleReason string       `json:"stale_reason,omitempty"`
}

func (s *Server) provenanceOf(snap *store.Snapshot, now time.Time) provenance {
	p := provenance{Revision: snap.Revision, Source: snap.Source, AgeSeconds: int64(snap.Age(now) / time.Second)}
	if !snap.FetchedAt.IsZero() {
		t := snap.FetchedAt.UTC().Truncate(time.Second)
		p.FetchedAt = &t
	}
	p.Stale, p.StaleReason = s.staleness(snap, now)
	return p
}

// handleSyncStatus is GET /v1/sync: schedule, run in flight, held answer, last runs.
func (s *Server) handleSyncStatus(c echo.Context) error {
	if _, err := checkQuery(c); err != nil {
		return err
	}
	snap, err := s.snapshot()
	if err != nil {
		return err
	}
	return writeJSON(c, http.StatusOK, struct {
		provenance
		Sync health.SyncStatus `json:"sync"`
	}{s.provenanceOf(snap, s.opts.Now()), s.opts.Syncer.Status()})
}

// handleSyncTrigger is POST /v1/sync: run a sync now, or join the one in flight, and answer
// with its outcome. A failed run is reported in the body with 200: the request did what it
// asked; the control plane's failure is data, not an error of this API.
func (s *Server) handleSyncTrigger(c echo.Context) error {
	if _, err := checkQuery(c); err != nil {
		return err
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
	q, err := checkQuery(c, "since")
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
	snap, err := s.snapshot()
	if err != nil {
		return err
	}
	changes, complete := snap.ChangesSince(since)
	if changes == nil {
		changes = []store.Change{}
	}
	return writeJSON(c, http.StatusOK, struct {
		provenance
		Since uint64 `json:"since"`
		// Complete is false when records after Since were pruned from the bounded log:
		// the client should re-read the whole catalog.
		Complete bool           `json:"complete"`
		Changes  []store.Change `json:"changes"`
	}{s.provenanceOf(snap, s.opts.Now()), since, complete, changes})
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
	h := c.Response().Header()
	h.Set(echo.HeaderContentType, echo.MIMEApplicationJSON)
	h.Set(echo.HeaderContentLength, strconv.Itoa(len(b)))
	c.Response().WriteHeader(status)
	if _, err := c.Response().Write(b); err != nil && err != http.ErrBodyNotAllowed {
		return err
	}
	return nil
}
