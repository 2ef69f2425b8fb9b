package sync

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	stdsync "sync"
	"time"

	"github.com/robfig/cron/v3"

	"github.com/runtimesd/runtimesd/health"
	"github.com/runtimesd/runtimesd/store"
)

// RequirementsMode says where a sync run takes each runtime's requirements from.
type RequirementsMode string

// The requirements modes.
const (
	// ModeAuto: inline when the runtime object carries them, otherwise fetched.
	ModeAuto RequirementsMode = "auto"
	// ModeInline: only inline; a runtime without them has none.
	ModeInline RequirementsMode = "inline"
	// ModeFetch: always GET /api/v1/runtimes/{id}/requirements.
	ModeFetch RequirementsMode = "fetch"
)

// ErrClosed is returned by SyncNow after Close, and to callers still waiting on a run when
// Close cancels it.
var ErrClosed = errors.New("syncing has stopped: the daemon is shutting down")

// Triggers of a run.
const (
	TriggerBoot     = "boot"
	TriggerSchedule = "schedule"
	TriggerManual   = "manual"
)

// Options configure a Poller. Zero values take the defaults.
type Options struct {
	// Upstream is the control plane. Nil disables syncing (DisabledReason says why); the
	// daemon then serves what it has.
	Upstream       Upstream
	DisabledReason string
	DB             *store.DB
	Live           *store.Live

	RequirementsMode RequirementsMode // default auto
	// Concurrency bounds parallel requirements fetches (default 4).
	Concurrency int
	// Schedule is a robfig/cron spec (default "@every 30s").
	Schedule string
	// Jitter is the largest random delay before a scheduled run (0: none; DefaultOptions has
	// DefaultJitter).
	Jitter time.Duration
	// RunTimeout bounds one run, all calls included (default 60s).
	RunTimeout time.Duration
	// HoldRepeats: an answer that would empty the catalog or drop more than DropRatio of it
	// is committed only when upstream gives it this many runs in a row (default 3; 1 turns
	// the guard off).
	HoldRepeats int
	// DropRatio is the share of runtimes an answer may remove without being held (default 0.5).
	DropRatio float64
	// History is how many runs GET /v1/sync shows (default 20).
	History int
	// ConfirmEvery is how often an unchanged run writes the time the control plane last
	// confirmed the data (store.DB.Confirm; default DefaultConfirmEvery), so a restart knows
	// the data's age within it.
	ConfirmEvery time.Duration
	// OnRun, when set, is told of every finished run (metrics).
	OnRun  func(health.Run)
	Logger *slog.Logger
	Now    func() time.Time
}

// DefaultJitter is the jitter the daemon adds to scheduled runs unless configured (so a fleet
// of sidecars does not hit the control plane in lockstep). A zero Options.Jitter means none.
const DefaultJitter = 3 * time.Second

// DefaultConfirmEvery is the default Options.ConfirmEvery: at the default schedule, one
// small write every other unchanged run.
const DefaultConfirmEvery = time.Minute

// DefaultOptions are the values NewPoller gives zero fields, and DefaultJitter (the daemon's
// config documents and reuses them).
func DefaultOptions() Options {
	var o Options
	o.setDefaults()
	o.Jitter = DefaultJitter
	return o
}

func (o *Options) setDefaults() {
	if o.RequirementsMode == "" {
		o.RequirementsMode = ModeAuto
	}
	if o.Concurrency <= 0 {
		o.Concurrency = 4
	}
	if o.Schedule == "" {
		o.Schedule = "@every 30s"
	}
	if o.RunTimeout <= 0 {
		o.RunTimeout = 60 * time.Second
	}
	if o.HoldRepeats <= 0 {
		o.HoldRepeats = 3
	}
	if o.DropRatio <= 0 || o.DropRatio > 1 {
		o.DropRatio = 0.5
	}
	if o.History <= 0 {
		o.History = 20
	}
	if o.ConfirmEvery <= 0 {
		o.ConfirmEvery = DefaultConfirmEvery
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
}

// Poller runs syncs: one at Start, then on the cron schedule, and on demand. Runs never
// overlap: a caller of SyncNow while a run is in flight waits for that run and gets its
// outcome.
type Poller struct {
	opts    Options
	history *health.History
	cron    *cron.Cron
	entry   cron.EntryID

	ctx    context.Context // canceled by Close; parent of every run
	cancel context.CancelFunc
	wg     stdsync.WaitGroup
	// commitMu orders commits with Close: a run commits only while holding it and with ctx
	// not canceled, and Close takes it after canceling, so nothing is committed after Close.
	commitMu stdsync.Mutex

	mu       stdsync.Mutex
	inflight *call
	seq      uint64
	hold     *hold
	// lostRequirements counts, per runtime, the answers in a row that dropped its requirements.
	lostRequirements map[string]int
	// notBefore is when the control plane's Retry-After (429, 503) allows the next call.
	notBefore time.Time
	// notBeforeWhy says which answer set notBefore and what it asked for.
	notBeforeWhy string
	// tune holds the options a config reload may change.
	tune    Tunables
	started bool
	closed  bool
}

type call struct {
	done chan struct{}
	run  health.Run
}

type hold struct {
	fingerprint [sha256.Size]byte
	info        health.Hold
}

// Tunables are the poller options a config reload can change without a restart.
type Tunables struct {
	Schedule    string
	Jitter      time.Duration
	RunTimeout  time.Duration
	HoldRepeats int
	DropRatio   float64
}

func (p *Poller) tunables() Tunables {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.tune
}

// Reload applies new tunables. The cron entry is replaced, its next run computed from the
// clock now, even when the schedule is the same: cron keeps a next run by the wall clock, so
// after the clock was stepped back scheduled runs wait until it catches up, and a reload
// (SIGHUP) is how an operator re-arms them. A run in flight keeps the settings it started
// with. An invalid schedule is an error and changes nothing.
func (p *Poller) Reload(t Tunables) error {
	o := Options{Schedule: t.Schedule, Jitter: t.Jitter, RunTimeout: t.RunTimeout, HoldRepeats: t.HoldRepeats, DropRatio: t.DropRatio}
	o.setDefaults()
	t = Tunables{Schedule: o.Schedule, Jitter: o.Jitter, RunTimeout: o.RunTimeout, HoldRepeats: o.HoldRepeats, DropRatio: o.DropRatio}
	if _, err := cron.ParseStandard(t.Schedule); err != nil {
		return fmt.Errorf("poller: schedule %q: %w", t.Schedule, err)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.entry != 0 {
		id, err := p.cron.AddFunc(t.Schedule, p.scheduled)
		if err != nil {
			return fmt.Errorf("poller: schedule: %w", err)
		}
		p.cron.Remove(p.entry)
		p.entry = id
	}
	p.tune = t
	return nil
}

// NewPoller checks the options. It does not start anything.
func NewPoller(opts Options) (*Poller, error) {
	opts.setDefaults()
	if opts.DB == nil || opts.Live == nil {
		return nil, errors.New("poller: DB and Live are required")
	}
	switch opts.RequirementsMode {
	case ModeAuto, ModeInline, ModeFetch:
	default:
		return nil, fmt.Errorf("poller: requirements mode %q: want auto, inline or fetch", opts.RequirementsMode)
	}
	if _, err := cron.ParseStandard(opts.Schedule); err != nil {
		return nil, fmt.Errorf("poller: schedule %q: %w", opts.Schedule, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	p := &Poller{opts: opts, history: health.NewHistory(opts.History), ctx: ctx, cancel: cancel,
		tune: Tunables{Schedule: opts.Schedule, Jitter: opts.Jitter, RunTimeout: opts.RunTimeout,
			HoldRepeats: opts.HoldRepeats, DropRatio: opts.DropRatio}}
	logger := cronLogger{opts.Logger}
	p.cron = cron.New(cron.WithChain(cron.Recover(logger), cron.SkipIfStillRunning(logger)), cron.WithLogger(logger))
	return p, nil
}

// Start runs the first sync in the background and starts the schedule. It returns at once:
// the daemon serves what it has while the first run is in flight.
func (p *Poller) Start() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return ErrClosed
	}
	if p.started {
		return errors.New("poller: already started")
	}
	p.started = true
	if p.opts.Upstream == nil {
		p.opts.Logger.Warn("sync disabled; serving stored or seed data only", "reason", p.opts.DisabledReason)
		return nil
	}
	id, err := p.cron.AddFunc(p.tune.Schedule, p.scheduled)
	if err != nil {
		return fmt.Errorf("poller: schedule: %w", err)
	}
	p.entry = id
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		_, _ = p.SyncNow(p.ctx, TriggerBoot)
	}()
	if f, ok := p.opts.Upstream.(follower); ok {
		p.wg.Add(1)
		go func() {
			defer p.wg.Done()
			f.follow(p.ctx, func() { _, _ = p.SyncNow(p.ctx, TriggerPush) })
		}()
	}
	p.cron.Start()
	return nil
}

// scheduled is the cron job: a random delay (so a fleet of sidecars does not call in
// lockstep), then a run, or joining the one in flight.
func (p *Poller) scheduled() {
	if j := p.tunables().Jitter; j > 0 {
		t := time.NewTimer(rand.N(j))
		defer t.Stop()
		select {
		case <-t.C:
		case <-p.ctx.Done():
			return
		}
	}
	_, _ = p.SyncNow(p.ctx, TriggerSchedule)
}

// SyncNow runs a sync, or joins the run in flight, and returns that run's record. ctx bounds
// only the wait: a caller that gives up does not cancel the run for the others.
func (p *Poller) SyncNow(ctx context.Context, trigger string) (health.Run, error) {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return health.Run{}, ErrClosed
	}
	c := p.inflight
	if c == nil {
		c = &call{done: make(chan struct{})}
		p.inflight = c
		p.seq++
		id := p.seq
		p.wg.Add(1)
		go func() {
			defer p.wg.Done()
			c.run = p.runOnce(id, trigger)
			p.mu.Lock()
			p.inflight = nil
			p.mu.Unlock()
			close(c.done)
		}()
	}
	p.mu.Unlock()
	select {
	case <-c.done:
		return c.run, nil
	case <-ctx.Done():
		return health.Run{}, ctx.Err()
	case <-p.ctx.Done(): // Close: the run is canceled; its waiters hear why at once
		return health.Run{}, ErrClosed
	}
}

// Status reports the schedule, the run in flight, the hold and the last runs.
func (p *Poller) Status() health.SyncStatus {
	st := health.SyncStatus{Enabled: p.opts.Upstream != nil, DisabledReason: p.opts.DisabledReason}
	if st.Enabled {
		st.Schedule = p.tunables().Schedule
		st.DisabledReason = ""
	}
	p.mu.Lock()
	st.Running = p.inflight != nil
	if !p.notBefore.IsZero() && p.opts.Now().Before(p.notBefore) {
		t := p.notBefore.UTC()
		st.RetryAfterUntil = &t
		st.RetryAfterReason = p.notBeforeWhy
	}
	if p.hold != nil {
		h := p.hold.info
		st.Held = &h
	}
	entry := p.entry
	st.Scheduled = entry != 0 && p.started && !p.closed
	p.mu.Unlock()
	if entry != 0 {
		e := p.cron.Entry(entry)
		if next := e.Next; !next.IsZero() {
			st.NextRun = &next
			if e.Schedule != nil {
				st.Interval = longestGap(e.Schedule, next)
			}
		}
		st.Jitter = p.tunables().Jitter
	}
	st.HighWater = p.highWater(p.opts.Now(), p.tunables())
	if rel, ok := p.opts.Upstream.(*Relays); ok {
		st.Relay = rel.RelayStatus()
	}
	p.history.Fill(&st)
	return st
}

// Close stops the schedule, cancels the run in flight and waits for it. It is idempotent.
func (p *Poller) Close() error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil
	}
	p.closed = true
	p.mu.Unlock()
	stopped := p.cron.Stop()
	p.cancel()
	p.waitCommits()
	<-stopped.Done()
	p.wg.Wait()
	return nil
}

// waitCommits returns once no commit is in progress; after cancel, none starts (runOnce
// checks the context under commitMu).
func (p *Poller) waitCommits() {
	p.commitMu.Lock()
	defer p.commitMu.Unlock()
	_ = p.ctx.Err() // canceled by now: later runs see it under this lock and do not commit
}

// runOnce is one sync run: fetch, build, compare, guard, commit, publish. It never panics
// out (a panic is recorded as a failed run) and always records its outcome.
func (p *Poller) runOnce(id uint64, trigger string) (run health.Run) {
	start := p.opts.Now()
	run = health.Run{ID: id, Trigger: trigger, StartedAt: start.UTC()}
	defer func() {
		if r := recover(); r != nil {
			run.Outcome, run.Error = health.OutcomeFailed, fmt.Sprintf("internal error: %v", r)
		}
		run.DurationMS = float64(p.opts.Now().Sub(start).Microseconds()) / 1000
		if cur := p.opts.Live.Load(); cur != nil {
			run.Revision, run.Runtimes = cur.Revision, cur.Catalog.Len()
		}
		run.DataAgeSeconds = health.DataAge(p.opts.Live.Load(), p.opts.Now())
		p.history.Add(run)
		p.logRun(run)
		if p.opts.OnRun != nil {
			p.opts.OnRun(run)
		}
	}()
	if p.opts.Upstream == nil {
		run.Outcome, run.Error = health.OutcomeSkipped, "sync disabled: "+p.opts.DisabledReason
		return run
	}
	p.mu.Lock()
	notBefore := p.notBefore
	p.mu.Unlock()
	if start.Before(notBefore) {
		run.Outcome = health.OutcomeSkipped
		run.Error = fmt.Sprintf("skipped: honouring the control plane's Retry-After until %s", notBefore.UTC().Format(time.RFC3339))
		return run
	}
	ctx, cancel := context.WithTimeout(p.ctx, p.tunables().RunTimeout)
	defer cancel()

	items, err := p.opts.Upstream.ListRuntimes(ctx)
	if err != nil {
		p.listFailed(&run, err)
		return run
	}
	cur := p.opts.Live.Load()
	var prev *store.Catalog
	if cur != nil {
		prev = cur.Catalog
	}
	next, rejected, err := p.build(ctx, items, prev)
	if err != nil {
		run.Outcome, run.Error = health.OutcomeFailed, err.Error()
		return run
	}
	run.Degraded, run.Rejected = next.Degraded(), rejected
	now := p.opts.Now()
	change := store.Diff(prev, next)
	src, fetchedAt, relays, err := p.provenance(cur, change, now)
	if err != nil {
		run.Outcome, run.Error = health.OutcomeFailed, err.Error()
		return run
	}

	if cur != nil && cur.Persisted() && change.Empty() {
		p.clearHold()
		touched := *cur
		touched.FetchedAt, touched.Source, touched.Relays = fetchedAt, src, relays
		touched.Catalog = withDegradedFrom(cur.Catalog, next)
		p.opts.Live.Publish(&touched)
		run.Outcome = health.OutcomeUnchanged
		p.confirm(src, fetchedAt)
		return run
	}
	if held, reason := p.guard(prev, next, cur != nil && cur.Persisted(), change, now); held {
		run.Outcome, run.Error = health.OutcomeHeld, reason
		return run
	}
	p.commitMu.Lock()
	if p.ctx.Err() != nil {
		p.commitMu.Unlock()
		run.Outcome, run.Error = health.OutcomeFailed, "canceled before commit: the daemon is shutting down"
		return run
	}
	snap, err := p.opts.DB.CommitAt(next, src, fetchedAt, now)
	p.commitMu.Unlock()
	if err != nil {
		run.Outcome, run.Error = health.OutcomeFailed, err.Error()
		return run
	}
	if relays != nil {
		withChain := *snap
		withChain.Relays = relays
		snap = &withChain
	}
	p.opts.Live.Publish(snap)
	run.Outcome = health.OutcomeChanged
	if n := len(snap.Changes); n > 0 {
		c := snap.Changes[n-1]
		run.Change = &c
	}
	return run
}

// confirm writes when the control plane last confirmed the unchanged data (at most every
// ConfirmEvery). A failure is logged and changes nothing served: the next change or
// confirmation writes again.
func (p *Poller) confirm(src store.Source, fetchedAt time.Time) {
	p.commitMu.Lock()
	defer p.commitMu.Unlock()
	if p.ctx.Err() != nil {
		return
	}
	if _, err := p.opts.DB.Confirm(src, fetchedAt, p.opts.ConfirmEvery); err != nil {
		p.opts.Logger.Warn("could not record the control plane's confirmation of the data; after a restart its age counts from the last change",
			"error", err)
	}
}

// listFailed records a failed list call on run: a breaker that is open skips the run, a
// Retry-After from the control plane is honoured by the next runs.
func (p *Poller) listFailed(run *health.Run, err error) {
	run.Outcome, run.Error = health.OutcomeFailed, err.Error()
	var ue *Error
	if errors.As(err, &ue) {
		switch {
		case ue.Kind == KindBreakerOpen:
			run.Outcome = health.OutcomeSkipped
			run.Error = "skipped: circuit breaker open for " + CallList + "; the next probe goes when it turns half-open"
		case ue.RetryAfter > 0:
			why := fmt.Sprintf("HTTP %d from %s with Retry-After: %s", ue.Status, ue.Call, ue.RetryAfterHeader)
			if ue.RetryAfterCapped {
				why += fmt.Sprintf(" (capped at %s)", ue.RetryAfter)
			}
			p.mu.Lock()
			p.notBefore = p.opts.Now().Add(ue.RetryAfter)
			p.notBeforeWhy = why
			p.mu.Unlock()
			run.Error += fmt.Sprintf("; next attempt after Retry-After (%s)", ue.RetryAfter)
		}
	}
}

// guard holds back an answer that would empty a populated catalog or remove more than
// DropRatio of it, until upstream gives the same answer HoldRepeats runs in a row: an empty
// list from a sick control plane must not wipe what agents rely on.
func (p *Poller) guard(prev, next *store.Catalog, persisted bool, change store.Change, now time.Time) (bool, string) {
	tune := p.tunables()
	n := prev.Len()
	var reason string
	switch {
	case n == 0:
	case !persisted && next.Len() > 0:
		// The seed is a stand-in, not this control plane's data: its first non-empty answer
		// replaces it whatever it drops. An empty answer is still held: seed beats nothing.
	case next.Len() == 0:
		reason = fmt.Sprintf("upstream answered an empty catalog while %d runtimes are served", n)
	case float64(len(change.Removed)) > tune.DropRatio*float64(n):
		reason = fmt.Sprintf("upstream's answer removes %d of the %d runtimes served", len(change.Removed), n)
	case len(change.Removed) > 0:
		// Cumulative shrink: steps that each stay under DropRatio still add up. An answer that
		// removes runtimes and ends below the floor of the window's high-water mark is held too.
		if hw := p.highWater(now, tune); hw != nil && float64(next.Len()) < hw.Floor {
			reason = fmt.Sprintf("upstream's answer has %d runtimes, far below the %d served within the last %s",
				next.Len(), hw.Runtimes, hw.Window())
		}
	}
	if reason == "" || tune.HoldRepeats <= 1 {
		p.clearHold()
		return false, ""
	}
	fp := next.Fingerprint()
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.hold == nil || p.hold.fingerprint != fp {
		p.hold = &hold{fingerprint: fp, info: health.Hold{
			Since: now.UTC(), Reason: reason, Needed: tune.HoldRepeats, Serving: n, Answer: next.Len(),
		}}
	}
	p.hold.info.Seen++
	if p.hold.info.Seen >= tune.HoldRepeats {
		p.opts.Logger.Warn("committing an answer held back until it repeated", "reason", reason, "times", p.hold.info.Seen)
		p.hold = nil
		return false, ""
	}
	return true, fmt.Sprintf("%s; held back until upstream repeats it (%d of %d)", reason, p.hold.info.Seen, tune.HoldRepeats)
}

// highWater is the store's high-water mark and the floor DropRatio puts under it.
func (p *Poller) highWater(now time.Time, tune Tunables) *health.HighWater {
	n := p.opts.DB.HighWater(now)
	if n == 0 {
		return nil
	}
	return &health.HighWater{Runtimes: n, WindowSeconds: int64(p.opts.DB.HighWaterWindow() / time.Second),
		Floor: (1 - tune.DropRatio) * float64(n)}
}

func (p *Poller) clearHold() {
	p.mu.Lock()
	p.hold = nil
	p.mu.Unlock()
}

// build turns upstream's runtime objects into a catalog, taking requirements inline or
// fetching them with bounded concurrency. A runtime whose requirements cannot be fetched
// keeps its previous requirements (from prev) and is marked degraded; so does one that
// loses its requirements, until upstream repeats that (see keepLostRequirements). A runtime
// object that cannot be used is isolated (see decodeList) and listed in the returned
// rejections.
func (p *Poller) build(ctx context.Context, items []json.RawMessage, prev *store.Catalog) (*store.Catalog, []string, error) {
	rts, fetch, rejected := decodeList(items, prev, p.opts.RequirementsMode)
	if len(fetch) > 0 {
		sem := make(chan struct{}, p.opts.Concurrency)
		var wg stdsync.WaitGroup
		for _, i := range fetch {
			sem <- struct{}{}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer func() { <-sem }()
				rts[i] = p.withFetchedRequirements(ctx, rts[i], prev)
			}()
		}
		wg.Wait()
		if err := ctx.Err(); err != nil {
			return nil, nil, fmt.Errorf("fetch requirements: %w", err)
		}
	}
	p.keepLostRequirements(rts, prev)
	kept := make([]*store.Runtime, 0, len(rts))
	for _, rt := range rts {
		if rt != nil {
			kept = append(kept, rt)
		}
	}
	c, err := store.NewCatalog(kept)
	return c, rejected, err
}

// decodeList builds a runtime from each upstream object, isolating the bad ones: an object
// that cannot be used (not an object, no id, a field of the wrong type, malformed
// requirements, an id seen earlier in the list) keeps that runtime at its previous version,
// marked degraded with the reason, or leaves a runtime new to prev out. rts has a nil where
// an object was left out; fetch lists the positions whose requirements must be fetched;
// rejected says, for each object left out, which one and why. The rest are committed as usual.
func decodeList(items []json.RawMessage, prev *store.Catalog, mode RequirementsMode) (rts []*store.Runtime, fetch []int, rejected []string) {
	rts = make([]*store.Runtime, len(items))
	seen := make(map[string]bool, len(items))
	for i, raw := range items {
		rt, err := decodeOne(raw, prev, mode)
		if err == nil && seen[rt.ID] {
			err = fmt.Errorf("%w: id %q appears earlier in the list", store.ErrInvalidRuntime, rt.ID)
		}
		if err != nil {
			id := store.PeekID(raw)
			if old, ok := prev.Get(id); ok && !seen[id] {
				seen[id] = true
				rts[i] = old.WithDegraded(fmt.Sprintf("upstream sent an unusable object for it (%v); serving its previous version", err))
				continue
			}
			what := fmt.Sprintf("runtime %d in the list", i)
			if id != "" {
				what += fmt.Sprintf(" (%q)", clip(id)) // an id may be as long as upstream likes
			}
			rejected = append(rejected, fmt.Sprintf("%s left out: %v", what, err))
			continue
		}
		seen[rt.ID] = true
		rts[i] = rt
		if rt.Degraded == "" && rt.RequirementsRaw == nil && mode != ModeInline {
			fetch = append(fetch, i)
		}
	}
	return rts, fetch, rejected
}

// decodeOne builds one runtime, reusing prev's when the object is byte for byte as last time
// and its requirements came from inside it (fetched requirements are fetched anew).
func decodeOne(raw json.RawMessage, prev *store.Catalog, mode RequirementsMode) (*store.Runtime, error) {
	if mode != ModeFetch {
		if old, ok := prev.LookupRaw(raw); ok && inlineIn(old, raw, mode) {
			if old.Degraded != "" {
				old = old.WithDegraded("")
			}
			return old, nil
		}
	}
	inline, err := store.InlineRequirements(raw)
	if err != nil {
		return nil, err
	}
	if mode == ModeFetch {
		inline = nil
	}
	return store.NewRuntime(raw, inline)
}

// keepLostRequirements treats a runtime that keeps its id but loses its requirements (none
// inline and none from the endpoint, where prev had some) like a removal: its previous
// requirements are kept, marked degraded, until upstream gives that answer HoldRepeats runs
// in a row. Dropping them at once would turn the requirements route into a 404 and let
// validation accept any model for it.
func (p *Poller) keepLostRequirements(rts []*store.Runtime, prev *store.Catalog) {
	needed := p.tunables().HoldRepeats
	p.mu.Lock()
	defer p.mu.Unlock()
	lost := map[string]int{}
	for i, rt := range rts {
		if rt == nil || rt.RequirementsRaw != nil || rt.Degraded != "" || needed <= 1 {
			continue
		}
		old, ok := prev.Get(rt.ID)
		if !ok || old.RequirementsRaw == nil {
			continue
		}
		n := p.lostRequirements[rt.ID] + 1
		if n >= needed {
			p.opts.Logger.Warn("dropping requirements that upstream no longer gives, after it repeated that", "runtime", rt.ID, "times", n)
			continue
		}
		kept, err := store.NewRuntime(rt.Raw, old.RequirementsRaw)
		if err != nil {
			continue
		}
		lost[rt.ID] = n
		rts[i] = kept.WithDegraded(fmt.Sprintf(
			"upstream no longer gives requirements for it (%d of %d answers in a row); serving the previous ones until it repeats", n, needed))
	}
	p.lostRequirements = lost
}

// inlineIn reports whether old's requirements are the ones raw carries inline (or, in inline
// mode, none).
func inlineIn(old *store.Runtime, raw []byte, mode RequirementsMode) bool {
	if old.RequirementsRaw == nil {
		return mode == ModeInline
	}
	return bytes.Contains(raw, old.RequirementsRaw)
}

func (p *Poller) withFetchedRequirements(ctx context.Context, rt *store.Runtime, prev *store.Catalog) *store.Runtime {
	req, err := p.opts.Upstream.GetRequirements(ctx, rt.ID)
	if errors.Is(err, ErrNoRequirements) {
		return rt
	}
	if err == nil {
		withReq, berr := store.NewRuntime(rt.Raw, req)
		if berr == nil {
			return withReq
		}
		err = berr
	}
	reason := err.Error()
	var keep []byte
	if old, ok := prev.Get(rt.ID); ok {
		keep = old.RequirementsRaw
		reason += "; serving the previous requirements"
	}
	kept, kerr := store.NewRuntime(rt.Raw, keep)
	if kerr != nil {
		kept = rt
	}
	return kept.WithDegraded(reason)
}

// withDegradedFrom returns cur, or when next marks different runtimes degraded, a copy of cur
// carrying next's degraded marks. Content is cur's: an unchanged run keeps the bytes served.
func withDegradedFrom(cur, next *store.Catalog) *store.Catalog {
	same := true
	for _, rt := range cur.Runtimes() {
		n, _ := next.Get(rt.ID)
		if n == nil || n.Degraded != rt.Degraded {
			same = false
			break
		}
	}
	if same {
		return cur
	}
	rts := make([]*store.Runtime, 0, cur.Len())
	for _, rt := range cur.Runtimes() {
		reason := ""
		if n, ok := next.Get(rt.ID); ok {
			reason = n.Degraded
		}
		rts = append(rts, rt.WithDegraded(reason))
	}
	c, err := store.NewCatalog(rts)
	if err != nil { // cannot happen: same ids as cur
		return cur
	}
	return c
}

func (p *Poller) logRun(r health.Run) {
	attrs := []any{"run", r.ID, "trigger", r.Trigger, "outcome", r.Outcome,
		"duration_ms", r.DurationMS, "revision", r.Revision, "runtimes", r.Runtimes}
	if r.Change != nil {
		attrs = append(attrs, "added", len(r.Change.Added), "removed", len(r.Change.Removed), "changed", len(r.Change.Changed))
	}
	if len(r.Degraded) > 0 {
		attrs = append(attrs, "degraded", r.Degraded)
	}
	switch r.Outcome {
	case health.OutcomeFailed, health.OutcomeHeld:
		p.opts.Logger.Warn("sync run", append(attrs, "error", r.Error)...)
	default:
		p.opts.Logger.Info("sync run", attrs...)
	}
}

// cronLogger adapts slog to cron's logger; cron's routine messages go to debug.
type cronLogger struct{ l *slog.Logger }

func (c cronLogger) Info(msg string, kv ...any) { c.l.Debug("cron: "+msg, kv...) }
func (c cronLogger) Error(err error, msg string, kv ...any) {
	c.l.Error("cron: "+msg, append(kv, "error", err)...)
}

// longestGap is the longest time between consecutive runs of a schedule over its next few runs
// from t: the interval of "@every", the longest gap of an irregular cron ("Mondays and
// Tuesdays" is six days), for health to judge how far off a next run may be.
func longestGap(s cron.Schedule, t time.Time) time.Duration {
	var gap time.Duration
	for range 8 {
		n := s.Next(t)
		if n.IsZero() {
			break
		}
		gap = max(gap, n.Sub(t))
		t = n
	}
	return gap
}
