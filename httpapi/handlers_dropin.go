package httpapi

import (
	"fmt"
	"net/http"
	"time"
	"unicode/utf8"

	"github.com/labstack/echo/v4"

	"github.com/runtimesd/runtimesd/store"
)

// handleDropInList is GET /api/v1/runtimes: upstream's runtime objects verbatim.
func (s *Server) handleDropInList(c echo.Context) error {
	return s.serveRead(c, func(snap *store.Snapshot, _ time.Time) (representation, error) {
		enc := s.encodedFor(snap.Catalog)
		rep := representation{etag: enc.listETag, parts: [][]byte{enc.list}}
		if acceptsGzip(c.Request().Header.Get(echo.HeaderAcceptEncoding)) {
			rep.gz = [][]byte{enc.listGzip()}
		}
		return rep, nil
	})
}

// handleDropInRequirements is GET /api/v1/runtimes/{id}/requirements: the requirements
// object verbatim, or the control plane's 404.
func (s *Server) handleDropInRequirements(c echo.Context) error {
	id, err := pathParam(c, "id")
	if err != nil {
		return err
	}
	return s.serveRead(c, func(snap *store.Snapshot, _ time.Time) (representation, error) {
		rt, ok := snap.Catalog.Get(id)
		if !ok || rt.RequirementsRaw == nil {
			return representation{}, &Error{Status: http.StatusNotFound, Code: "requirements_not_found",
				Message: fmt.Sprintf("Runtime '%s' not found or has no requirements", pythonReplace(id))}
		}
		enc := s.encodedFor(snap.Catalog)
		return representation{etag: enc.items[id].reqETag, parts: [][]byte{rt.RequirementsRaw}}, nil
	})
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
