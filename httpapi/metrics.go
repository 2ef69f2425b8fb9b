package httpapi

import (
	"log/slog"
	"net/http"
	"strconv"
	stdsync "sync"
	"sync/atomic"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// httpMetrics are the API's own metrics.
type httpMetrics struct {
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
	cache    *prometheus.CounterVec

	// Resolved series, so counting a request does not build label slices.
	cacheHit, cacheStale, cacheRevalidated, cacheMiss prometheus.Counter
	mu                                                stdsync.RWMutex
	series                                            map[seriesKey]*series
}

type seriesKey struct {
	route, method string
	code          int
}

type series struct {
	count    prometheus.Counter
	duration prometheus.Observer
}

func (m *httpMetrics) cacheResult(xcache string) {
	switch xcache {
	case cacheHit:
		m.cacheHit.Inc()
	case cacheStale:
		m.cacheStale.Inc()
	case cacheRevalidated:
		m.cacheRevalidated.Inc()
	default:
		m.cacheMiss.Inc()
	}
}

// observe counts one request; the series of a route, method and code are resolved once.
// Labels fed from the request are bounded: a method outside the known set counts as "other"
// and a status code outside 100–599 as 0, so no client can add series at will.
func (m *httpMetrics) observe(route, method string, code int, took time.Duration) {
	sr := m.seriesFor(route, metricMethod(method), metricCode(code))
	sr.count.Inc()
	sr.duration.Observe(took.Seconds())
}

func (m *httpMetrics) seriesFor(route, method string, code int) *series {
	k := seriesKey{route, method, code}
	m.mu.RLock()
	sr, ok := m.series[k]
	m.mu.RUnlock()
	if ok {
		return sr
	}
	sr = &series{count: m.requests.WithLabelValues(route, method, strconv.Itoa(code)),
		duration: m.duration.WithLabelValues(route, method)}
	m.mu.Lock()
	if len(m.series) < 10000 {
		m.series[k] = sr
	}
	m.mu.Unlock()
	return sr
}

// knownMethods are the method label values; any other method is counted as "other".
var knownMethods = []string{http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch,
	http.MethodDelete, http.MethodOptions, http.MethodConnect, http.MethodTrace}

// metricMethod is the method label of a request: one of knownMethods (returned as the
// constant, so the label never keeps a request's memory alive) or "other".
func metricMethod(method string) string {
	for _, m := range knownMethods {
		if method == m {
			return m
		}
	}
	return "other"
}

// metricCode is the code label of an answer: 100–599, or 0 for anything else.
func metricCode(code int) int {
	if code < 100 || code > 599 {
		return 0
	}
	return code
}

func newHTTPMetrics(reg prometheus.Registerer, waiting func() float64) (*httpMetrics, error) {
	m := &httpMetrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "runtimesd_http_requests_total",
			Help: "HTTP requests answered, by route pattern, method and status code.",
		}, []string{"route", "method", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "runtimesd_http_request_duration_seconds",
			Help:    "Time to answer HTTP requests, by route pattern and method (blocking reads and watch streams included).",
			Buckets: []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, 1, 5, 30, 120, 600},
		}, []string{"route", "method"}),
		cache: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "runtimesd_cache_results_total",
			Help: "Reads by cache result: hit, stale, revalidated, miss.",
		}, []string{"result"}),
	}
	waitingGauge := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "runtimesd_blocking_reads_waiting",
		Help: "Blocking reads (?index=&wait=) parked until the revision changes.",
	}, waiting)
	for _, c := range []prometheus.Collector{m.requests, m.duration, m.cache, waitingGauge} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	m.cacheHit, m.cacheStale = m.cache.WithLabelValues("hit"), m.cache.WithLabelValues("stale")
	m.cacheRevalidated, m.cacheMiss = m.cache.WithLabelValues("revalidated"), m.cache.WithLabelValues("miss")
	m.series = map[seriesKey]*series{}
	return m, nil
}

// observeRoute returns middleware that counts and times every request of one route, and logs
// it at debug level. Labels use the route pattern (/v1/runtimes/:id), never the raw path, so
// ids cannot blow up the number of series; the series of a 200 answer are resolved once.
func (s *Server) observeRoute(route string) echo.MiddlewareFunc {
	var ok [3]atomic.Pointer[series] // 200 answers to GET, HEAD, POST
	slot := func(method string) (int, bool) {
		switch method {
		case http.MethodGet:
			return 0, true
		case http.MethodHead:
			return 1, true
		case http.MethodPost:
			return 2, true
		}
		return 0, false
	}
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			start := time.Now()
			err := next(c)
			if err != nil {
				c.Error(err) // write the error answer now, so its status is what is counted
			}
			took := time.Since(start)
			method, code := c.Request().Method, c.Response().Status
			if m := s.metrics; m != nil {
				if i, known := slot(method); code == http.StatusOK && known {
					sr := ok[i].Load()
					if sr == nil {
						sr = m.seriesFor(route, metricMethod(method), code)
						ok[i].Store(sr)
					}
					sr.count.Inc()
					sr.duration.Observe(took.Seconds())
				} else {
					m.observe(route, method, code, took)
				}
			}
			if s.opts.Logger.Enabled(c.Request().Context(), slog.LevelDebug) { // a level reload applies at once
				s.opts.Logger.Debug("request", "method", method, "path", c.Request().URL.Path,
					"route", route, "status", code, "duration_ms", float64(took.Microseconds())/1000)
			}
			return nil
		}
	}
}

// handleMetrics is GET /metrics (Prometheus text format).
func (s *Server) handleMetrics(c echo.Context) error {
	if s.opts.Gatherer == nil {
		return errorf(http.StatusNotFound, "metrics_disabled", "no metrics registry is configured")
	}
	promhttp.HandlerFor(s.opts.Gatherer, promhttp.HandlerOpts{ErrorHandling: promhttp.ContinueOnError}).ServeHTTP(c.Response(), c.Request())
	return nil
}
