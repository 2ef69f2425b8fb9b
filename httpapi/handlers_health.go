package httpapi

import (
	"crypto/sha256"
	_ "embed"
	"encoding/base64"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/runtimesd/runtimesd/health"
	"github.com/runtimesd/runtimesd/store"
)

// BreakerReporter reports the control plane's circuit breakers.
type BreakerReporter interface {
	Status() map[string]health.BreakerStatus
	Transitions() []health.Transition
}

// report assembles what /v1/health answers (health.Answers.Report decides it).
func (s *Server) report(snap *store.Snapshot, now time.Time) health.Report {
	in := health.ReportInputs{Snapshot: snap, Now: now, Version: s.opts.Version, ControlPlaneURL: s.opts.ControlPlaneURL,
		Sync: s.opts.Syncer.Status(), Notices: s.opts.Notices}
	if s.opts.Breakers != nil {
		in.Breakers, in.Transitions = s.opts.Breakers.Status(), s.opts.Breakers.Transitions()
	}
	if s.opts.Conditions != nil {
		in.Notices = append(slices.Clip(in.Notices), s.opts.Conditions()...)
	}
	return s.answers().Report(in)
}

// handleHealth is GET /v1/health: overall status with reasons, the control plane and its
// breakers, the sync, runtimes by health class and the fallback rules active now. It answers
// 200 whatever the status (the body says it), so dashboards always get the details.
func (s *Server) handleHealth(c echo.Context) error {
	if _, err := checkQuery(c, readParams...); err != nil {
		return err
	}
	if s.opts.Live.Load() == nil { // down: still a report, not an error
		return writeJSON(c, http.StatusOK, s.report(nil, s.opts.Now()))
	}
	return s.serveRead(c, func(snap *store.Snapshot, now time.Time) (representation, error) {
		return volatileRep(s.report(snap, now))
	})
}

// handleResolve is GET /v1/resolve/{id}?feature=..: the runtime to use after the fallback
// rules, with why, and every candidate tried. Nothing qualifies: 404 naming each candidate.
func (s *Server) handleResolve(c echo.Context) error {
	q, err := checkQuery(c, append([]string{"feature"}, readParams...)...)
	if err != nil {
		return err
	}
	id, err := pathParam(c, "id")
	if err != nil {
		return err
	}
	return s.serveRead(c, func(snap *store.Snapshot, now time.Time) (representation, error) {
		res, ok := s.answers().Resolve(snap, id, q["feature"])
		if !ok {
			var e nativeError
			e.Error.Code = "no_runtime_qualifies"
			e.Error.Message = "no runtime can stand in for " + id + ": " + res.Reason
			b, err := marshalNoEscape(struct {
				nativeError
				provenance
				health.Resolution
			}{e, s.provenanceOf(snap, now), res})
			if err != nil {
				return representation{}, err
			}
			return representation{}, &Error{Status: http.StatusNotFound, Code: e.Error.Code, Message: e.Error.Message, Body: b}
		}
		enc := s.encodedFor(snap.Catalog)
		req := res.Runtime.RequirementsRaw
		if req == nil {
			req = []byte("null")
		}
		return jsonRep(struct {
			provenance
			health.Resolution
			Runtime      rawJSON `json:"runtime"`
			Requirements rawJSON `json:"requirements"`
		}{s.provenanceOf(snap, now), res, enc.items[res.Runtime.ID].item, rawJSON(req)})
	})
}

// rawJSON embeds pre-encoded JSON in an answer.
type rawJSON []byte

// MarshalJSON returns the bytes as they are.
func (r rawJSON) MarshalJSON() ([]byte, error) { return r, nil }

//go:embed dashboard.html
var dashboardHTML []byte

// dashboardCSP allows exactly the page's own inline script and style (by their SHA-256) and
// requests to this server; nothing else loads or runs.
var dashboardCSP = func() string {
	hashOf := func(open, close string) string {
		_, rest, opened := strings.Cut(string(dashboardHTML), open)
		body, _, closed := strings.Cut(rest, close)
		if !opened || !closed {
			panic("httpapi: dashboard.html lacks " + open + " or " + close) // a build defect, caught by tests
		}
		sum := sha256.Sum256([]byte(body))
		return "'sha256-" + base64.StdEncoding.EncodeToString(sum[:]) + "'"
	}
	return "default-src 'none'; script-src " + hashOf("<script>", "</script>") +
		"; style-src " + hashOf("<style>", "</style>") +
		"; connect-src 'self'; img-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
}()

// handleDashboard is GET /dashboard: one self-contained page (no external asset) that reads
// /v1/health and refreshes itself.
func (s *Server) handleDashboard(c echo.Context) error {
	h := c.Response().Header()
	h.Set("Content-Security-Policy", dashboardCSP)
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("X-Frame-Options", "DENY")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Cache-Control", "no-cache")
	return c.Blob(http.StatusOK, "text/html; charset=utf-8", dashboardHTML)
}

// handleRoot is GET /: a browser pointed at the sidecar (it asks for text/html) lands on the
// dashboard; any other client gets the control plane's own answer for an unknown path,
// FastAPI's 404 {"detail": "Not Found"}, so the drop-in surface stays the control plane's.
// The target is a fixed local path, never taken from the request (the query is ignored), so
// this can not become an open redirect.
func (s *Server) handleRoot(c echo.Context) error {
	c.Response().Header().Set("Vary", "Accept")
	if !acceptsHTML(c.Request().Header.Values("Accept")) {
		return echo.ErrNotFound
	}
	c.Response().Header().Set("Cache-Control", "no-cache")
	// The target is a fixed local path; the only thing carried over is the page's own
	// ?refresh=N (digits only), so "/?refresh=1" opens the page refreshing every second.
	target := "/dashboard"
	if q := c.QueryParams(); len(q) == 1 && len(q["refresh"]) == 1 && isDigits(q.Get("refresh"), 5) {
		target += "?refresh=" + q.Get("refresh")
	}
	return c.Redirect(http.StatusFound, target)
}

// acceptsHTML reports whether an Accept header asks for text/html: media types compared
// case-insensitively (RFC 9110), and "text/html;q=0" means HTML is not acceptable.
func acceptsHTML(accept []string) bool {
	for _, line := range accept {
		for _, r := range strings.Split(line, ",") {
			typ, params, _ := strings.Cut(r, ";")
			if !strings.EqualFold(strings.TrimSpace(typ), "text/html") {
				continue
			}
			q := 1.0
			for _, p := range strings.Split(params, ";") {
				k, v, _ := strings.Cut(strings.TrimSpace(p), "=")
				if strings.EqualFold(k, "q") {
					if f, err := strconv.ParseFloat(strings.TrimSpace(v), 64); err == nil {
						q = f
					}
				}
			}
			if q > 0 {
				return true
			}
		}
	}
	return false
}

// isDigits reports whether s is 1 to n ASCII digits.
func isDigits(s string, n int) bool {
	if s == "" || len(s) > n {
		return false
	}
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return true
}
