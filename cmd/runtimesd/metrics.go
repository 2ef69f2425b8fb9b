package main

import (
	"runtime"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/runtimesd/runtimesd/health"
	"github.com/runtimesd/runtimesd/httpapi"
	"github.com/runtimesd/runtimesd/store"
	rsync "github.com/runtimesd/runtimesd/sync"
)

// metrics are the daemon's Prometheus metrics outside the HTTP API (which registers its own).
// Counters and histograms are fed by the packages' hooks; gauges are read at scrape time.
type metrics struct {
	reg         *prometheus.Registry
	syncRuns    *prometheus.CounterVec
	syncSeconds prometheus.Histogram
	upstream    *prometheus.CounterVec
	upstreamDur *prometheus.HistogramVec
	transitions *prometheus.CounterVec
	commit      prometheus.Histogram
}

func newMetrics() *metrics {
	m := &metrics{
		reg: prometheus.NewRegistry(),
		syncRuns: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "runtimesd_sync_runs_total",
			Help: "Sync runs by outcome: changed, unchanged, held, failed, skipped.",
		}, []string{"outcome"}),
		syncSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "runtimesd_sync_duration_seconds",
			Help:    "Duration of sync runs.",
			Buckets: []float64{.001, .005, .01, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60},
		}),
		upstream: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "runtimesd_upstream_requests_total",
			Help: "HTTP requests to the control plane by call kind and status class (2xx, 3xx, 4xx, 5xx, or error when no answer came).",
		}, []string{"call", "status_class"}),
		upstreamDur: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "runtimesd_upstream_request_duration_seconds",
			Help:    "Latency of requests to the control plane by call kind.",
			Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"call"}),
		transitions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "runtimesd_breaker_transitions_total",
			Help: "Circuit breaker state changes by call kind and the state entered.",
		}, []string{"call", "to"}),
		commit: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "runtimesd_store_commit_duration_seconds",
			Help:    "Duration of bbolt commits of new revisions.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5},
		}),
	}
	m.reg.MustRegister(m.syncRuns, m.syncSeconds, m.upstream, m.upstreamDur, m.transitions, m.commit,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name:        "runtimesd_build_info",
			Help:        "A constant 1 labelled with the build's version and Go version.",
			ConstLabels: prometheus.Labels{"version": version, "goversion": runtime.Version()},
		}, func() float64 { return 1 }))
	// Series that exist before their first event, so dashboards and alerts see zeros.
	for _, o := range []health.Outcome{health.OutcomeChanged, health.OutcomeUnchanged, health.OutcomeHeld, health.OutcomeFailed, health.OutcomeSkipped} {
		m.syncRuns.WithLabelValues(string(o))
	}
	return m
}

func (m *metrics) onRun(r health.Run) {
	m.syncRuns.WithLabelValues(string(r.Outcome)).Inc()
	m.syncSeconds.Observe(r.DurationMS / 1000)
}

func (m *metrics) onCall(kind string, status int, took time.Duration) {
	class := "error"
	if status > 0 {
		class = strconv.Itoa(status/100) + "xx"
	}
	m.upstream.WithLabelValues(kind, class).Inc()
	m.upstreamDur.WithLabelValues(kind).Observe(took.Seconds())
}

func (m *metrics) onTransition(kind, _, to string) { m.transitions.WithLabelValues(kind, to).Inc() }

func (m *metrics) onCommit(d time.Duration) { m.commit.Observe(d.Seconds()) }

// stateCollector reads the daemon's state at scrape time: snapshot, runtimes by health class,
// breaker states, held answers, data file size.
type stateCollector struct {
	live     *store.Live
	db       *store.DB
	poller   *rsync.Poller
	breakers *health.Breakers
	settings func() httpapi.Reloadable // those in force: health.status_map and max_stale reload
	now      func() time.Time

	revision, age, stale, runtimes, byClass, breaker, held, size *prometheus.Desc
	highWater, condition, persisting                             *prometheus.Desc
}

func newStateCollector(live *store.Live, db *store.DB, poller *rsync.Poller, breakers *health.Breakers, settings func() httpapi.Reloadable) *stateCollector {
	return &stateCollector{
		live: live, db: db, poller: poller, breakers: breakers, settings: settings, now: time.Now,
		revision: prometheus.NewDesc("runtimesd_snapshot_revision", "Revision of the snapshot served (0: nothing stored).", nil, nil),
		age: prometheus.NewDesc("runtimesd_snapshot_age_seconds",
			"Seconds since the served data was fetched from the control plane (absent for seed data, and when its fetch time is ahead of the clock: age unknown).", nil, nil),
		stale: prometheus.NewDesc("runtimesd_snapshot_stale",
			"1 while /v1/health calls the served data stale (seed, unconfirmed, older than health.max_stale, or fetched ahead of the clock).", nil, nil),
		runtimes: prometheus.NewDesc("runtimesd_snapshot_runtimes", "Runtimes in the snapshot served, by source.", []string{"source"}, nil),
		byClass:  prometheus.NewDesc("runtimesd_runtimes", "Runtimes served, by health class.", []string{"health"}, nil),
		breaker:  prometheus.NewDesc("runtimesd_breaker_state", "Circuit breaker state per call kind: 1 for the current state.", []string{"call", "state"}, nil),
		held:     prometheus.NewDesc("runtimesd_sync_held_answers", "1 while an upstream answer that would empty or mostly drop the catalog is held back.", nil, nil),
		size:     prometheus.NewDesc("runtimesd_store_file_size_bytes", "Size of the bbolt data file.", nil, nil),
		highWater: prometheus.NewDesc("runtimesd_catalog_high_water_runtimes",
			"Most runtimes served within the guard window (sync.guard_window).", nil, nil),
		persisting: prometheus.NewDesc("runtimesd_store_persisting",
			"1 while syncs are written to the data file; 0 once it was replaced, removed or overwritten under the daemon (served from memory, lost at restart: /v1/health says why).", nil, nil),
		condition: prometheus.NewDesc("runtimesd_catalog_condition",
			"1 while the catalog served is in the condition: catalog_empty, catalog_below_high_water.", []string{"condition"}, nil),
	}
}

func (c *stateCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.revision, c.age, c.stale, c.runtimes, c.byClass, c.breaker, c.held, c.size, c.highWater, c.condition, c.persisting} {
		ch <- d
	}
}

func (c *stateCollector) Collect(ch chan<- prometheus.Metric) {
	if snap := c.live.Load(); snap != nil {
		set, now := c.settings(), c.now()
		ch <- prometheus.MustNewConstMetric(c.revision, prometheus.GaugeValue, float64(snap.Revision))
		if !snap.FetchedAt.IsZero() && !snap.FromFuture(now) {
			ch <- prometheus.MustNewConstMetric(c.age, prometheus.GaugeValue, snap.Age(now).Seconds())
		}
		stale := 0.0
		if health.StalenessOf(snap, now, set.MaxStale).Stale() {
			stale = 1
		}
		ch <- prometheus.MustNewConstMetric(c.stale, prometheus.GaugeValue, stale)
		ch <- prometheus.MustNewConstMetric(c.runtimes, prometheus.GaugeValue, float64(snap.Catalog.Len()), string(snap.Source))
		for class, ids := range health.Groups(snap.Catalog, set.Classifier) {
			ch <- prometheus.MustNewConstMetric(c.byClass, prometheus.GaugeValue, float64(len(ids)), string(class))
		}
	}
	for kind, st := range c.breakers.Status() {
		for _, state := range []string{"closed", "half-open", "open"} {
			v := 0.0
			if st.State == state {
				v = 1
			}
			ch <- prometheus.MustNewConstMetric(c.breaker, prometheus.GaugeValue, v, kind, state)
		}
	}
	st := c.poller.Status()
	held := 0.0
	if st.Held != nil {
		held = 1
	}
	ch <- prometheus.MustNewConstMetric(c.held, prometheus.GaugeValue, held)
	if st.HighWater != nil {
		ch <- prometheus.MustNewConstMetric(c.highWater, prometheus.GaugeValue, float64(st.HighWater.Runtimes))
	}
	conds := map[string]float64{health.CondCatalogEmpty: 0, health.CondBelowHighWater: 0}
	for _, cond := range health.CatalogConditions(c.live.Load(), st.HighWater) {
		conds[cond.Code] = 1
	}
	for code, v := range conds {
		ch <- prometheus.MustNewConstMetric(c.condition, prometheus.GaugeValue, v, code)
	}
	ch <- prometheus.MustNewConstMetric(c.size, prometheus.GaugeValue, float64(c.db.Size()))
	persisting := 1.0
	if c.db.NotPersisting() != "" {
		persisting = 0
	}
	ch <- prometheus.MustNewConstMetric(c.persisting, prometheus.GaugeValue, persisting)
}
