package httpapi

import (
	"crypto/sha256"
	"crypto/subtle"
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"
)

// requireToken guards routes with the local bearer token: mutating routes whenever a token is
// configured, and every route but the probes when TokenReads is on. The comparison is
// constant-time over fixed-length digests, so neither the token nor its length leaks.
func (s *Server) requireToken(next echo.HandlerFunc) echo.HandlerFunc {
	want := sha256.Sum256([]byte(s.opts.Token))
	return func(c echo.Context) error {
		if s.opts.Token == "" || !s.guarded(c.Request()) {
			return next(c)
		}
		got, ok := strings.CutPrefix(c.Request().Header.Get(echo.HeaderAuthorization), "Bearer ")
		sum := sha256.Sum256([]byte(strings.TrimSpace(got)))
		if !ok || subtle.ConstantTimeCompare(sum[:], want[:]) != 1 {
			c.Response().Header().Set(echo.HeaderWWWAuthenticate, `Bearer realm="runtimesd"`)
			return errorf(http.StatusUnauthorized, "unauthorized",
				"this route needs the sidecar's local token: Authorization: Bearer <token> (RUNTIMESD_TOKEN)")
		}
		return next(c)
	}
}

// guarded reports whether r needs the token.
func (s *Server) guarded(r *http.Request) bool {
	switch r.URL.Path {
	case "/healthz", "/readyz": // probes stay open
		return false
	case "/", "/dashboard": // a static page with no data: it asks for the token and sends it on its reads
		return false
	}
	if r.Method == http.MethodPost && r.URL.Path == "/v1/sync" {
		return true
	}
	return s.opts.TokenReads
}
