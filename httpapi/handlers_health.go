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

type healthReport struct {
	Status   string   `json:"status"`
	Reasons  []string `json:"reasons"`
	Version  string   `json:"version"`
	Snapshot *struct {
		provenance
		MaxStaleSeconds int64     `json:"max_stale_seconds"`
		UpdatedAt       time.Time `json:"updated_at"`
		Runtimes        int       `json:"runtimes"`
		// ClockSkew: fetched_at is ahead of this machine's clock, so age_seconds (0) means
		// "unknown", not "fresh" (the dashboard and `runtimesd health` say so).
		ClockSkew bool `json:"clock_skew,omitempty"`
	} `json:"snapshot"`
	ControlPlane struct {
		URL         string                          `json:"url,omitempty"`
		Breakers    map[string]health.BreakerStatus `json:"breakers"`
		Transitions []health.Transition             `json:"transitions"`
	} `json:"control_plane"`
	Sync     health.SyncStatus `json:"sync"`
	Runtimes struct {
		Healthy   []string        `json:"healthy"`
		Unhealthy []string        `json:"unhealthy"`
		Unknown   []string        `json:"unknown"`
		Degraded  []string        `json:"degraded"`
		Details   []runtimeHealth `json:"details"`
	} `json:"runtimes"`
	Fallbacks      []health.ActiveFallback `json:"fallbacks"`
	DefaultRuntime string                  `json:"default_runtime,omitempty"`
	// RecentChanges are the last change records, newest first, each list cut for the page.
	RecentChanges []changeSummary `json:"recent_changes"`
}

// Bounds of recent_changes: /v1/health is read every few seconds by every open dashboard, so
// a first sync that added 10,000 runtimes must not make it 10,000 ids long.
const (
	recentChanges   = 10
	recentChangeIDs = 20
)

// changeSummary is a change record with its id lists cut to recentChangeIDs; the counts are
// the full ones (/v1/changes has the whole record).
type changeSummary struct {
	store.Change
	AddedCount   int `json:"added_count"`
	RemovedCount int `json:"removed_count"`
	ChangedCount int `json:"changed_count"`
}

func summarizeChanges(all []store.Change) []changeSummary {
	out := make([]changeSummary, 0, min(len(all), recentChanges))
	for i := len(all) - 1; i >= 0 && len(out) < recentChanges; i-- {
		c := all[i]
		sum := changeSummary{Change: c, AddedCount: len(c.Added), RemovedCount: len(c.Removed), ChangedCount: len(c.Changed)}
		sum.Added, sum.Removed, sum.Changed = c.Added[:min(len(c.Added), recentChangeIDs)],
			c.Removed[:min(len(c.Removed), recentChangeIDs)], c.Changed[:min(len(c.Changed), recentChangeIDs)]
		if c.Fields != nil {
			sum.Fields = make(map[string][]string, len(sum.Changed))
			for _, id := range sum.Changed {
				if f, ok := c.Fields[id]; ok {
					sum.Fields[id] = f
				}
			}
		}
		out = append(out, sum)
	}
	return out
}

type runtimeHealth struct {
	ID       string       `json:"id"`
	Name     string       `json:"name"`
	Status   string       `json:"status"`
	Health   health.Class `json:"health"`
	Degraded string       `json:"degraded,omitempty"`
}

// report assembles what /v1/health answers.
func (s *Server) report(snap *store.Snapshot, now time.Time) healthReport {
	var r healthReport
	r.Version = s.opts.Version
	r.Sync = s.opts.Syncer.Status()
	r.ControlPlane.URL = s.opts.ControlPlaneURL
	r.ControlPlane.Breakers = map[string]health.BreakerStatus{}
	r.ControlPlane.Transitions = []health.Transition{}
	if s.opts.Breakers != nil {
		r.ControlPlane.Breakers = s.opts.Breakers.Status()
		r.ControlPlane.Transitions = s.opts.Breakers.Transitions()
	}
	notices := s.opts.Notices
	if s.opts.Conditions != nil {
		notices = append(slices.Clip(notices), s.opts.Conditions()...)
	}
	r.Status, r.Reasons = health.Assess(health.Inputs{Snapshot: snap, Now: now, MaxStale: s.dyn().MaxStale,
		Sync: r.Sync, Breakers: r.ControlPlane.Breakers, Notices: notices})
	r.DefaultRuntime = s.dyn().Fallback.Default
	r.Fallbacks = []health.ActiveFallback{}
	r.Runtimes.Healthy, r.Runtimes.Unhealthy, r.Runtimes.Unknown = []string{}, []string{}, []string{}
	r.Runtimes.Degraded, r.Runtimes.Details = []string{}, []runtimeHealth{}
	r.RecentChanges = []changeSummary{}
	if snap == nil {
		return r
	}
	r.RecentChanges = summarizeChanges(snap.Changes)
	r.Snapshot = &struct {
		provenance
		MaxStaleSeconds int64     `json:"max_stale_seconds"`
		UpdatedAt       time.Time `json:"updated_at"`
		Runtimes        int       `json:"runtimes"`
		ClockSkew       bool      `json:"clock_skew,omitempty"`
	}{s.provenanceOf(snap, now), int64(s.dyn().MaxStale / time.Second), snap.UpdatedAt.UTC(), snap.Catalog.Len(), snap.FromFuture(now)}
	g := health.Groups(snap.Catalog, s.dyn().Classifier)
	r.Runtimes.Healthy, r.Runtimes.Unhealthy, r.Runtimes.Unknown = g[health.Healthy], g[health.Unhealthy], g[health.Unknown]
	for _, rt := range snap.Catalog.Runtimes() {
		r.Runtimes.Details = append(r.Runtimes.Details, runtimeHealth{ID: rt.ID, Name: rt.Name, Status: rt.Status,
			Health: s.dyn().Classifier.Of(rt), Degraded: rt.Degraded})
		if rt.Degraded != "" {
			r.Runtimes.Degraded = append(r.Runtimes.Degraded, rt.ID)
		}
	}
	r.Fallbacks = s.dyn().Fallback.Fallbacks(snap.Catalog, s.dyn().Classifier)
	return r
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
		return jsonRep(s.report(snap, now))
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
		s := string(dashboardHTML)
		i := strings.Index(s, open)
		j := strings.Index(s, close)
		if i < 0 || j < i {
			panic("httpapi: dashboard.html lacks " + open) // a build defect, caught by tests
		}
		body := s[i+len(open) : j]
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
