package httpapi

import (
	"crypto/sha256"
	"crypto/subtle"
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"
)

// requireToken guards routes with the local token: mutating routes whenever a token is
// configured, and every route but the probes when TokenReads is on. It accepts the token in
// every form the control plane accepts an API key (see presentedKeys), so an SDK pointed at the
// sidecar works unchanged. The comparison is constant-time over fixed-length digests, so
// neither the token nor its length leaks.
func (s *Server) requireToken(next echo.HandlerFunc) echo.HandlerFunc {
	want := sha256.Sum256([]byte(s.opts.Token))
	return func(c echo.Context) error {
		if s.opts.Token == "" || !s.guarded(c.Request()) {
			return next(c)
		}
		auth, userKey := presentedKeys(c.Request().Header)
		a := sha256.Sum256([]byte(auth))
		u := sha256.Sum256([]byte(userKey))
		// Both compared every time, so the answer's timing does not say which header was tried.
		okAuth := subtle.ConstantTimeCompare(a[:], want[:]) & boolInt(auth != "")
		okUser := subtle.ConstantTimeCompare(u[:], want[:]) & boolInt(userKey != "")
		if okAuth|okUser != 1 {
			c.Response().Header().Set(echo.HeaderWWWAuthenticate, `Bearer realm="runtimesd"`)
			return errorf(http.StatusUnauthorized, "unauthorized",
				"this route needs the sidecar's local token (RUNTIMESD_TOKEN): Authorization: Bearer <token> or UserKey <token>")
		}
		return next(c)
	}
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// authSchemes are the schemes the control plane accepts before an API key, lower-cased
// ("baerer" is a typo it tolerates on purpose).
var authSchemes = []string{"bearer", "userkey", "baerer"}

// presentedKeys returns the key carried by the Authorization header and by a separate UserKey
// header, as the control plane reads them: "Authorization: <scheme> <key>" with a scheme of
// authSchemes matched case-insensitively (RFC 9110), or a bare "Authorization: <key>" with no
// scheme; "UserKey: <key>". An absent form is "".
func presentedKeys(h http.Header) (auth, userKey string) {
	auth = strings.TrimSpace(h.Get(echo.HeaderAuthorization))
	if scheme, rest, ok := strings.Cut(auth, " "); ok {
		for _, known := range authSchemes {
			if strings.EqualFold(scheme, known) {
				auth = strings.TrimSpace(rest)
				break
			}
		}
	}
	return auth, strings.TrimSpace(h.Get("UserKey"))
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
