package httpapi

import (
	"bytes"
	"fmt"
	"net/http"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/labstack/echo/v4"

	"github.com/runtimesd/runtimesd/health"
)

// handleDropInList is GET /api/v1/runtimes: upstream's runtime objects verbatim.
func (s *Server) handleDropInList(c echo.Context) error {
	st, err := s.beginRead(c)
	if err != nil {
		return err
	}
	enc := s.encodedFor(st.snap.Catalog)
	rep := representation{etag: enc.listETag}
	var gz []byte
	if st.accepted {
		gz = enc.listGzip()
	}
	rep.add(enc.list, gz)
	if err := s.relayHeaders(c, st.snap); err != nil {
		return err
	}
	return s.finishRead(c, st, rep)
}

// handleDropInRequirements is GET /api/v1/runtimes/{id}/requirements: the requirements
// object verbatim, or the control plane's 404.
func (s *Server) handleDropInRequirements(c echo.Context) error {
	id, err := pathParam(c, "id")
	if err != nil {
		return err
	}
	if id == "" || strings.Contains(id, "/") {
		// Starlette decodes the path before routing and {runtime_id} is one or more characters
		// other than "/": an empty id or an encoded slash matches no route.
		return echo.ErrNotFound
	}
	st, err := s.beginRead(c)
	if err != nil {
		return err
	}
	rt, ok := st.snap.Catalog.Get(id)
	if !ok || rt.RequirementsRaw == nil {
		return &Error{Status: http.StatusNotFound, Code: "requirements_not_found",
			Message: fmt.Sprintf("Runtime '%s' not found or has no requirements", pythonReplace(id))}
	}
	if err := s.relayHeaders(c, st.snap); err != nil {
		return err
	}
	return s.finishRead(c, st, single(s.headersFor(st.snap).dropInReqETag(id, rt.RequirementsRaw), rt.RequirementsRaw))
}

// handleDropInHealth is GET /api/health, shaped like the control plane's own.
func (s *Server) handleDropInHealth(c echo.Context) error {
	return writeJSON(c, http.StatusOK, map[string]any{
		"status":    "healthy",
		"service":   "runtimesd",
		"version":   s.opts.Version,
		"timestamp": s.timestamp(),
	})
}

// handleDropInReady is GET /api/ready: ready while any snapshot is loaded (fail static).
func (s *Server) handleDropInReady(c echo.Context) error {
	if s.opts.Live.Load() == nil {
		return writeJSON(c, http.StatusServiceUnavailable, map[string]any{"status": "not_ready", "timestamp": s.timestamp()})
	}
	return writeJSON(c, http.StatusOK, map[string]any{"status": "ready", "timestamp": s.timestamp()})
}

func (s *Server) timestamp() string { return s.opts.Now().UTC().Format(time.RFC3339) }

// handleDropInHealthDetailed is GET /api/health/detailed in the control plane's flat shape:
// "api", "timestamp", one short state per component of the sidecar (health.AssessDetailed)
// and "status", "healthy" or "degraded". It answers 200 either way, as the control plane does.
func (s *Server) handleDropInHealthDetailed(c echo.Context) error {
	now := s.opts.Now()
	sync := s.opts.Syncer.Status()
	breakers := map[string]health.BreakerStatus{}
	if s.opts.Breakers != nil {
		breakers = s.opts.Breakers.Status()
	}
	d := health.AssessDetailed(health.Inputs{Snapshot: s.opts.Live.Load(), Now: now, MaxStale: s.dyn().MaxStale,
		Sync: sync, Breakers: breakers, Notices: s.opts.Notices})
	// Keys in the control plane's order: api, timestamp, the components, status.
	var b bytes.Buffer
	field := func(k, v string) {
		if b.Len() > 0 {
			b.WriteByte(',')
		} else {
			b.WriteByte('{')
		}
		kb, _ := marshalNoEscape(k)
		vb, _ := marshalNoEscape(v)
		b.Write(kb)
		b.WriteByte(':')
		b.Write(vb)
	}
	field("api", health.ComponentHealthy)
	field("timestamp", now.UTC().Format(time.RFC3339))
	for _, comp := range d.Components {
		field(comp.Name, comp.State)
	}
	field("status", d.Status)
	b.WriteByte('}')
	c.Response().Header().Set(echo.HeaderCacheControl, "no-store")
	return c.JSONBlob(http.StatusOK, b.Bytes())
}

// pythonReplace renders s the way the control plane (Python) decodes a path with invalid
// UTF-8: each invalid byte becomes U+FFFD.
func pythonReplace(s string) string {
	if utf8.ValidString(s) {
		return s
	}
	out := make([]rune, 0, len(s))
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		out = append(out, r) // RuneError for an invalid byte, size 1
		i += size
	}
	return string(out)
}
