package httpapi

import (
	"fmt"
	"net/http"
	"time"
	"unicode/utf8"

	"github.com/labstack/echo/v4"
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
	return s.finishRead(c, st, rep)
}

// handleDropInRequirements is GET /api/v1/runtimes/{id}/requirements: the requirements
// object verbatim, or the control plane's 404.
func (s *Server) handleDropInRequirements(c echo.Context) error {
	id, err := pathParam(c, "id")
	if err != nil {
		return err
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
	return s.finishRead(c, st, single(s.headersFor(st.snap).dropInReqETag(id, rt.RequirementsRaw), rt.RequirementsRaw))
}

// handleDropInHealth is GET /api/health, shaped like the control plane's own.
func (s *Server) handleDropInHealth(c echo.Context) error {
	return writeJSON(c, http.StatusOK, map[string]any{
		"status":    "healthy",
		"service":   "runtimesd",
		"version":   s.opts.Version,
		"timestamp": s.opts.Now().UTC().Format(time.RFC3339),
	})
}

// handleDropInReady is GET /api/ready: ready while any snapshot is loaded (fail static).
func (s *Server) handleDropInReady(c echo.Context) error {
	if s.opts.Live.Load() == nil {
		return writeJSON(c, http.StatusServiceUnavailable, map[string]any{"status": "not_ready"})
	}
	return writeJSON(c, http.StatusOK, map[string]any{"status": "ready"})
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
