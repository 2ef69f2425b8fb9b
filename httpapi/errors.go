package httpapi

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/runtimesd/runtimesd/health"
	"github.com/runtimesd/runtimesd/store"
)

// Error is every error this API answers with. Native routes encode it as
//
//	{"error": {"code": "runtime_not_found", "message": "no runtime has the id \"x\""}}
//
// and drop-in routes (under /api/) as the control plane does: {"detail": "..."}.
type Error struct {
	Status  int
	Code    string // stable, machine-readable
	Message string // a sentence for people
	// Detail, when set, is the drop-in "detail" value (the control plane's exact wording);
	// otherwise Message is used.
	Detail any
	// Body, when set, is the whole answer (it carries the error shape plus details).
	Body []byte
}

func (e *Error) Error() string { return e.Code + ": " + e.Message }

func errorf(status int, code, format string, args ...any) *Error {
	return &Error{Status: status, Code: code, Message: fmt.Sprintf(format, args...)}
}

type nativeError struct {
	Error struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

// handleError is echo's error handler: the one mapping from errors to HTTP answers. Internal
// details go to the log; clients get a stable code and a sentence.
func (s *Server) handleError(err error, c echo.Context) {
	if c.Response().Committed {
		return
	}
	if c.Path() == "" && s.metrics != nil { // no route matched: observe never ran
		defer func() { s.metrics.observe("unmatched", c.Request().Method, c.Response().Status, 0) }()
	}
	var apiErr *Error
	var he *echo.HTTPError
	switch {
	case errors.As(err, &apiErr):
	case errors.Is(err, store.ErrUnknownRuntime):
		apiErr = &Error{Status: http.StatusNotFound, Code: "runtime_not_found", Message: err.Error()}
	case errors.Is(err, health.ErrPolicyDenied):
		apiErr = &Error{Status: http.StatusForbidden, Code: "policy_denied", Message: err.Error()}
	case errors.As(err, &he):
		apiErr = fromEchoError(he, c)
	default:
		s.opts.Logger.Error("request failed", "method", c.Request().Method, "path", c.Request().URL.Path, "error", err)
		apiErr = errorf(http.StatusInternalServerError, "internal", "the sidecar failed to answer this request; see its log")
	}
	var body []byte
	if apiErr.Body != nil {
		body = apiErr.Body
	} else if isDropIn(c.Request().URL.Path) {
		detail := apiErr.Detail
		if detail == nil {
			detail = apiErr.Message
		}
		body, _ = marshalNoEscape(map[string]any{"detail": detail})
	} else {
		var ne nativeError
		ne.Error.Code, ne.Error.Message = apiErr.Code, apiErr.Message
		body, _ = marshalNoEscape(ne)
	}
	h := c.Response().Header()
	h.Set(echo.HeaderContentType, echo.MIMEApplicationJSON)
	h.Set(echo.HeaderContentLength, fmt.Sprint(len(body)))
	c.Response().WriteHeader(apiErr.Status)
	if c.Request().Method != http.MethodHead {
		_, _ = c.Response().Write(body)
	}
}

// writeError answers apiErr outside echo (checks made before routing), in the same shapes as
// handleError.
func (s *Server) writeError(w http.ResponseWriter, r *http.Request, apiErr *Error) {
	var body []byte
	if isDropIn(r.URL.Path) {
		body, _ = marshalNoEscape(map[string]any{"detail": apiErr.Message})
	} else {
		var ne nativeError
		ne.Error.Code, ne.Error.Message = apiErr.Code, apiErr.Message
		body, _ = marshalNoEscape(ne)
	}
	if s.metrics != nil {
		s.metrics.observe("unmatched", r.Method, apiErr.Status, 0)
	}
	h := w.Header()
	h.Set(echo.HeaderContentType, echo.MIMEApplicationJSON)
	h.Set(echo.HeaderContentLength, fmt.Sprint(len(body)))
	w.WriteHeader(apiErr.Status)
	if r.Method != http.MethodHead {
		_, _ = w.Write(body)
	}
}

func fromEchoError(he *echo.HTTPError, c echo.Context) *Error {
	switch he.Code {
	case http.StatusNotFound:
		return &Error{Status: he.Code, Code: "route_not_found", Detail: "Not Found",
			Message: fmt.Sprintf("no route %s %s; see /openapi.json or README for the API", c.Request().Method, c.Request().URL.Path)}
	case http.StatusMethodNotAllowed:
		return &Error{Status: he.Code, Code: "method_not_allowed", Detail: "Method Not Allowed",
			Message: fmt.Sprintf("%s is not allowed on %s", c.Request().Method, c.Request().URL.Path)}
	case http.StatusRequestEntityTooLarge:
		return &Error{Status: he.Code, Code: "body_too_large", Message: "the request body is larger than the sidecar accepts"}
	case http.StatusInternalServerError:
		return errorf(http.StatusInternalServerError, "internal", "the sidecar failed to answer this request; see its log")
	}
	msg := http.StatusText(he.Code)
	if m, ok := he.Message.(string); ok && m != "" {
		msg = m
	}
	return &Error{Status: he.Code, Code: strings.ToLower(strings.ReplaceAll(http.StatusText(he.Code), " ", "_")), Message: msg}
}

// isDropIn reports whether errors on path take the control plane's {"detail": ...} shape: every
// path outside the native surface (/v1/..., /dashboard, /metrics, /openapi.*, the probes), so an
// unknown path answers FastAPI's 404 {"detail": "Not Found"} as the control plane does.
func isDropIn(path string) bool {
	switch path {
	case "/v1", "/dashboard", "/metrics", "/healthz", "/readyz":
		return false
	}
	return !strings.HasPrefix(path, "/v1/") && !strings.HasPrefix(path, "/openapi.")
}

// marshalNoEscape encodes like json.Marshal without escaping <, > and & (the control plane
// does not either) and without the trailing newline.
func marshalNoEscape(v any) ([]byte, error) {
	var b strings.Builder
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return []byte(strings.TrimSuffix(b.String(), "\n")), nil
}
