package sync

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	stdsync "sync"
	"time"

	"github.com/runtimesd/runtimesd/health"
	"github.com/runtimesd/runtimesd/store"
)

// Headers of the relay protocol. A follower names itself in HeaderFollower; a runtimesd that
// sees it adds HeaderFetchedAt (when the control plane gave the data, RFC 3339) and
// HeaderRelayChain (the runtimesds the data passed through, nearest the control plane first,
// itself last) to its drop-in list and requirements answers, besides the X-Runtimes-Source and
// X-Runtimes-Revision every read carries.
const (
	HeaderFollower   = "X-Runtimes-Follower"
	HeaderFetchedAt  = "X-Runtimes-Fetched-At"
	HeaderRelayChain = "X-Runtimes-Relay-Chain"
	HeaderSource     = "X-Runtimes-Source"
	HeaderRevision   = "X-Runtimes-Revision"
)

// TriggerPush is the trigger of a run started because a followed relay's revision moved.
const TriggerPush = "push"

// MaxRelayChain bounds the hops a relay chain may name (and so what a hostile relay can make a
// follower keep).
const MaxRelayChain = 16

// maxNodeName bounds one name in a relay chain.
const maxNodeName = 256

// Origin is the provenance of a list answer that came through a relay.
type Origin struct {
	Relay     string    // the relay's URL
	Source    string    // what the relay reported for its own copy
	FetchedAt time.Time // when the control plane gave the data
	Chain     []string  // runtimesds the data passed through, nearest the control plane first
	Revision  uint64    // the relay's revision
}

// RelayOptions configure Relays.
type RelayOptions struct {
	// URLs are the relays' base URLs, in the operator's order; each follower starts at a
	// random one so a fleet spreads over them, and fails over in order.
	URLs []string
	// Name is this runtimesd's name in relay chains (loop detection). Required.
	Name string
	// Client is the template of each relay's client: Timeout, MaxResponseBytes, breaker
	// settings, TLS, UserAgent. APIKey is the relay's local token. BaseURL and Breakers are
	// set per relay (one circuit breaker set each).
	Client ClientOptions
	// Direct, when set, is the control plane, called when every relay fails.
	Direct Upstream
	// Wait is how long one blocking read on the relay waits (default 60s).
	Wait time.Duration
	// WayBack is how often a follower moved off its preferred relay tries it again first
	// (default 30s).
	WayBack time.Duration
	// Start is the index of the first preferred relay; negative: a random one.
	Start  int
	Logger *slog.Logger
	Now    func() time.Time
}

// Relays is an Upstream made of relay runtimesds: the list comes from the first relay that
// answers like a runtimesd, with its provenance checked; requirements from the same relay.
// It also follows the relay by push (see follow) so changes arrive without waiting for the
// schedule.
type Relays struct {
	opts  RelayOptions
	eps   []*relayEndpoint // in this follower's order of preference
	watch *http.Client

	mu        stdsync.Mutex
	cur       int // index in eps of the relay answering now; -1 the control plane directly; -2 none yet
	origin    Origin
	hasOrigin bool
	preferAt  time.Time
	push      bool
}

type relayEndpoint struct {
	url    string
	client *Client
	// guarded by Relays.mu
	lastOK, lastErrAt time.Time
	lastErr           string
	avoidUntil        time.Time // answered older data than served: tried last until then
}

var _ Upstream = (*Relays)(nil)

// NewRelays checks the options and builds one client (and one breaker set) per relay.
func NewRelays(opts RelayOptions) (*Relays, error) {
	if len(opts.URLs) == 0 {
		return nil, errors.New("relays: no relay URL")
	}
	if err := ValidNodeName(opts.Name); err != nil {
		return nil, fmt.Errorf("relays: node name: %w", err)
	}
	if opts.Wait <= 0 {
		opts.Wait = 60 * time.Second
	}
	if opts.WayBack <= 0 {
		opts.WayBack = 30 * time.Second
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Start < 0 {
		opts.Start = rand.N(len(opts.URLs))
	}
	r := &Relays{opts: opts, cur: -2}
	seen := map[string]bool{}
	for i := range opts.URLs {
		u := strings.TrimRight(opts.URLs[(i+opts.Start)%len(opts.URLs)], "/")
		if seen[u] {
			return nil, fmt.Errorf("relays: %s is listed twice", u)
		}
		seen[u] = true
		co := opts.Client
		co.BaseURL, co.Breakers, co.FollowerName = u, nil, opts.Name
		if co.Retries == 0 {
			co.Retries = -1 // failing over to the next relay is the retry
		}
		c, err := NewClient(co)
		if err != nil {
			return nil, fmt.Errorf("relay %q: %w", u, err)
		}
		r.eps = append(r.eps, &relayEndpoint{url: u, client: c})
	}
	t := r.eps[0].client.http.Transport.(*http.Transport).Clone()
	t.ResponseHeaderTimeout = 0 // a blocking read answers when the data changes
	r.watch = &http.Client{Transport: t, CheckRedirect: r.eps[0].client.http.CheckRedirect}
	return r, nil
}

// ValidNodeName checks a runtimesd's name in relay chains: 1 to 256 printable ASCII
// characters, no comma (the chain's separator) and no space.
func ValidNodeName(name string) error {
	if name == "" {
		return errors.New("empty")
	}
	if len(name) > maxNodeName {
		return fmt.Errorf("%d bytes: at most %d", len(name), maxNodeName)
	}
	for _, c := range []byte(name) {
		if c <= ' ' || c >= 0x7f || c == ',' {
			return fmt.Errorf("%q: only printable ASCII without spaces or commas", name)
		}
	}
	return nil
}

// ListRuntimes asks the relays in turn, starting at the one in use (or, every WayBack, the
// preferred one), and returns the first answer that is a runtimesd's with usable provenance.
// With every relay failing it asks the control plane directly when configured; otherwise the
// run fails and the daemon keeps serving its copy.
func (r *Relays) ListRuntimes(ctx context.Context) ([]json.RawMessage, error) {
	const call = "GET /api/v1/runtimes"
	var errs []error
	allOpen := true
	for _, i := range r.order() {
		ep := r.eps[i]
		body, h, err := ep.client.getWithHeader(ctx, CallList, "/api/v1/runtimes")
		var org Origin
		if err == nil {
			org, err = r.checkAnswer(ep.url, h)
		}
		var items []json.RawMessage
		if err == nil {
			items, err = ep.client.parseList(body)
		}
		if err == nil {
			r.succeeded(i, org)
			return items, nil
		}
		var ue *Error
		if !errors.As(err, &ue) || ue.Kind != KindBreakerOpen {
			allOpen = false
		}
		r.failed(ep, err)
		errs = append(errs, fmt.Errorf("relay %s: %w", ep.url, err))
		if ctx.Err() != nil {
			break
		}
	}
	if r.opts.Direct != nil && ctx.Err() == nil {
		items, err := r.opts.Direct.ListRuntimes(ctx)
		if err == nil {
			r.mu.Lock()
			r.cur, r.hasOrigin = -1, false
			r.mu.Unlock()
			return items, nil
		}
		errs = append(errs, fmt.Errorf("control plane (direct fallback): %w", err))
		allOpen = false
	}
	kind := KindNetwork
	if allOpen {
		kind = KindBreakerOpen
	}
	return nil, &Error{Call: call, Kind: kind, Err: fmt.Errorf("every relay failed, serving the stored copy: %w", errors.Join(errs...))}
}

// order is the order to ask the relays in this run: from the one in use, except every
// WayBack from the preferred one (the way back after a failover); relays that answered older
// data than served go last.
func (r *Relays) order() []int {
	r.mu.Lock()
	defer r.mu.Unlock()
	now := r.opts.Now()
	start := max(r.cur, 0)
	if start != 0 && !now.Before(r.preferAt) {
		start = 0
		r.preferAt = now.Add(r.opts.WayBack)
	}
	var first, last []int
	for k := range r.eps {
		i := (start + k) % len(r.eps)
		if now.Before(r.eps[i].avoidUntil) {
			last = append(last, i)
		} else {
			first = append(first, i)
		}
	}
	return append(first, last...)
}

func (r *Relays) succeeded(i int, org Origin) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.cur != i {
		r.opts.Logger.Info("following relay", "relay", r.eps[i].url, "chain", strings.Join(org.Chain, " -> "))
		r.moveLocked(i)
	}
	r.origin, r.hasOrigin = org, true
	r.eps[i].lastOK = r.opts.Now()
}

// moveLocked makes relay i the one in use. Moving off the preferred relay starts the way
// back: the preferred one is tried first again WayBack from now, not at the very next run
// (a relay that just failed, or hangs until the timeout, would cost that run first). r.mu is
// held.
func (r *Relays) moveLocked(i int) {
	if i != 0 {
		r.preferAt = r.opts.Now().Add(r.opts.WayBack)
	}
	r.cur = i
}

func (r *Relays) failed(ep *relayEndpoint, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	ep.lastErr, ep.lastErrAt = err.Error(), r.opts.Now()
	r.opts.Logger.Warn("relay failed", "relay", ep.url, "error", err)
}

// checkAnswer reads the provenance headers of a relay's answer. An answer without them is not
// a runtimesd's; seed data is no copy of the control plane's; a chain naming this runtimesd
// is a loop.
func (r *Relays) checkAnswer(relay string, h http.Header) (Origin, error) {
	call := "GET " + relay + "/api/v1/runtimes"
	bad := func(format string, args ...any) (Origin, error) {
		return Origin{}, &Error{Call: call, Kind: KindBadResponse, Status: 200, Err: fmt.Errorf(format, args...)}
	}
	org := Origin{Relay: relay, Source: h.Get(HeaderSource)}
	switch store.Source(org.Source) {
	case store.SourceUpstream, store.SourceCache, store.SourceImport, store.SourceRelay:
	case "":
		return bad("not a runtimesd relay: the answer has no %s header (control_plane.relays must name runtimesds; the control plane itself goes in control_plane.base_url)", HeaderSource)
	case store.SourceSeed:
		return bad("the relay serves seed data: it has no copy of the control plane's data yet")
	default:
		return bad("%s %q is not one of upstream, cache, relay, import", HeaderSource, clip(org.Source))
	}
	fa := h.Get(HeaderFetchedAt)
	t, err := time.Parse(time.RFC3339Nano, fa)
	if err != nil {
		return bad("%s %q: want an RFC 3339 time (is the relay a runtimesd with fleet support?)", HeaderFetchedAt, clip(fa))
	}
	if ahead := t.Sub(r.opts.Now()); ahead > store.ClockSkewTolerance {
		return bad("%s %s is %s ahead of this machine's clock: check the clocks", HeaderFetchedAt, fa, ahead.Truncate(time.Second))
	}
	org.FetchedAt = t
	if org.Revision, err = strconv.ParseUint(h.Get(HeaderRevision), 10, 64); err != nil {
		return bad("%s %q: want a revision number", HeaderRevision, clip(h.Get(HeaderRevision)))
	}
	raw := h.Get(HeaderRelayChain)
	if raw == "" {
		return bad("no %s header", HeaderRelayChain)
	}
	parts := strings.Split(raw, ",")
	if len(parts) > MaxRelayChain {
		return bad("%s names %d runtimesds: at most %d hops", HeaderRelayChain, len(parts), MaxRelayChain)
	}
	for _, p := range parts {
		p = strings.TrimSpace(p)
		if err := ValidNodeName(p); err != nil {
			return bad("%s: a name is %v", HeaderRelayChain, err)
		}
		org.Chain = append(org.Chain, strings.Clone(p))
	}
	if slices.Contains(org.Chain, r.opts.Name) {
		return Origin{}, &Error{Call: call, Kind: KindBadResponse, Status: 200, Err: LoopError(append(slices.Clone(org.Chain), r.opts.Name))}
	}
	return org, nil
}

// ErrRelayLoop is wrapped by the error of a relay chain that comes back to its follower.
var ErrRelayLoop = errors.New("relay loop")

// LoopError names a relay loop: chain ends with the runtimesd that appears twice.
func LoopError(chain []string) error {
	return fmt.Errorf("%w: %s: %s already passed this data on; refusing to follow it (point control_plane.relays at runtimesds closer to the control plane)",
		ErrRelayLoop, strings.Join(chain, " -> "), chain[len(chain)-1])
}

func clip(s string) string {
	if len(s) > 64 {
		return strings.ToValidUTF8(s[:64], "") + "…"
	}
	return s
}

// GetRequirements asks the relay (or the control plane) that gave this run's list.
func (r *Relays) GetRequirements(ctx context.Context, id string) (json.RawMessage, error) {
	r.mu.Lock()
	cur := r.cur
	r.mu.Unlock()
	switch {
	case cur == -1 && r.opts.Direct != nil:
		return r.opts.Direct.GetRequirements(ctx, id)
	case cur < 0:
		return nil, &Error{Call: "GET /api/v1/runtimes/" + url.PathEscape(id) + "/requirements", Kind: KindNetwork, Err: errors.New("no relay answers")}
	}
	return r.eps[cur].client.GetRequirements(ctx, id)
}

// lastOrigin is the provenance of the last list answer: ok is false when it came from the
// control plane directly.
func (r *Relays) lastOrigin() (Origin, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.origin, r.hasOrigin && r.cur >= 0
}

// refuse records that the relay answered data older than what is served: it is asked last
// for a while, so the follower moves to another relay instead of going back in time.
func (r *Relays) refuse(relay string, why string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, ep := range r.eps {
		if ep.url == relay {
			ep.lastErr, ep.lastErrAt = why, r.opts.Now()
			ep.avoidUntil = r.opts.Now().Add(r.opts.WayBack)
		}
	}
}

// RelayStatus reports the relays for /v1/sync and /v1/health.
func (r *Relays) RelayStatus() *health.RelayStatus {
	r.mu.Lock()
	defer r.mu.Unlock()
	st := &health.RelayStatus{DirectFallback: r.opts.Direct != nil, Push: r.push, Chain: []string{}}
	switch {
	case r.cur == -1:
		st.Following = "direct"
	case r.cur >= 0:
		st.Following = r.eps[r.cur].url
	}
	if r.hasOrigin && r.cur >= 0 {
		st.Chain = slices.Clone(r.origin.Chain)
		st.OriginSource = r.origin.Source
		t := r.origin.FetchedAt.UTC()
		st.OriginFetchedAt = &t
	}
	for _, ep := range r.eps {
		e := health.RelayEndpoint{URL: ep.url, Breaker: ep.client.breakers.State(CallList), LastError: ep.lastErr}
		if !ep.lastOK.IsZero() {
			t := ep.lastOK.UTC()
			e.LastOK = &t
		}
		if !ep.lastErrAt.IsZero() {
			t := ep.lastErrAt.UTC()
			e.LastErrorAt = &t
		}
		st.Relays = append(st.Relays, e)
	}
	return st
}

// follow keeps a blocking read open on the relay in use and calls sync whenever its revision
// moves, so a change committed on the relay is served here within a round trip and a sync;
// the schedule is only the safety net. A failed read moves to the next relay at once; when
// every relay has failed in a row, sync runs once (it falls back to the control plane when so
// configured, or fails and the daemon serves its copy) and the next attempts back off (capped
// at 5s, jittered) without calling the control plane again. It returns when ctx is done.
func (r *Relays) follow(ctx context.Context, sync func()) {
	var (
		rev     uint64
		watched *relayEndpoint // the relay whose revision rev is; nil: none yet
		fails   int            // watch failures in a row
		backoff time.Duration
	)
	defer r.setPush(false)
	lim := readLimiter{tokens: followBurst}
	var warned time.Time
	for ctx.Err() == nil {
		if wait := lim.take(time.Now()); wait > 0 {
			if time.Since(warned) > time.Minute {
				warned = time.Now()
				r.opts.Logger.Warn("relay blocking reads answer at once: following is slowed to one read a second "+
					"(a proxy that drops ?index&wait, or relays with different revisions behind one URL: list each relay in control_plane.relays)",
					"relay", r.eps[max(r.current(), 0)].url)
			}
			if !sleepCtx(ctx, wait) {
				return
			}
			continue
		}
		// No relay has answered a run yet (-2), or the control plane is used directly (-1):
		// watch the preferred relay.
		cur := max(r.current(), 0)
		ep := r.eps[cur]
		first := watched != ep
		got, err := r.blockingRead(ctx, ep, rev, !first)
		if ctx.Err() != nil {
			return
		}
		if err != nil {
			r.setPush(false)
			r.failed(ep, err)
			watched = nil
			fails++
			r.mu.Lock()
			if r.cur == cur || r.cur < 0 { // unless a run has moved on meanwhile
				r.moveLocked((cur + 1) % len(r.eps))
				r.hasOrigin = false
			}
			r.mu.Unlock()
			if fails%len(r.eps) == 0 {
				// Every relay failed in a row: one run now (it fails over, falls back to the
				// control plane, or fails and the copy is served); after that only the
				// schedule calls the control plane, while the relays are probed with backoff.
				if fails == len(r.eps) {
					sync()
				}
				if !sleepCtx(ctx, r.nextBackoff(&backoff)) {
					return
				}
			}
			continue
		}
		fails, backoff = 0, 0
		r.setPush(true)
		if first || got != rev {
			rev, watched = got, ep
			sync()
		}
	}
}

// A follower's blocking reads are rate-limited: a burst of followBurst, then one per
// followEvery. A working relay holds each read until its revision moves (up to Wait), so the
// limit never binds there; a relay URL that answers at once (a proxy dropping ?index&wait, or
// round-robin between relays whose revisions differ, where every read "changes" the revision)
// made a follower send 3,000 reads and 6,000 list calls a second.
const (
	followBurst = 5
	followEvery = time.Second
)

// readLimiter is a token bucket (one goroutine: the follow loop).
type readLimiter struct {
	tokens float64
	last   time.Time
}

// take spends a token and returns 0, or returns how long to wait for one.
func (l *readLimiter) take(now time.Time) time.Duration {
	if !l.last.IsZero() {
		l.tokens = min(followBurst, l.tokens+float64(now.Sub(l.last))/float64(followEvery))
	}
	l.last = now
	if l.tokens >= 1 {
		l.tokens--
		return 0
	}
	return time.Duration((1 - l.tokens) * float64(followEvery))
}

func (r *Relays) current() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.cur
}

func (r *Relays) setPush(on bool) {
	r.mu.Lock()
	r.push = on
	r.mu.Unlock()
}

// nextBackoff doubles the wait from 100ms up to 5s, with full jitter.
func (r *Relays) nextBackoff(b *time.Duration) time.Duration {
	*b = min(max(*b*2, 100*time.Millisecond), 5*time.Second)
	return *b/2 + rand.N(*b/2)
}

func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// blockingRead is HEAD /api/v1/runtimes?index=REV&wait=W on the relay (no body: the run that
// follows re-reads with If-None-Match). Without block it answers at once with the revision.
func (r *Relays) blockingRead(ctx context.Context, ep *relayEndpoint, rev uint64, block bool) (uint64, error) {
	u := ep.url + "/api/v1/runtimes"
	timeout := ep.client.opts.Timeout
	if block {
		u += "?index=" + strconv.FormatUint(rev, 10) + "&wait=" + strconv.Itoa(int(r.opts.Wait/time.Second)) + "s"
		timeout += r.opts.Wait + r.opts.Wait/16 // the relay adds up to 1/16 to spread its waiters
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodHead, u, nil)
	if err != nil {
		return 0, err
	}
	req.Header.Set("User-Agent", ep.client.opts.UserAgent)
	req.Header.Set(HeaderFollower, r.opts.Name)
	if k := ep.client.opts.APIKey; k != "" {
		req.Header.Set("Authorization", "Bearer "+k)
	}
	resp, err := r.watch.Do(req)
	if err != nil {
		return 0, ep.client.transportError(ctx, "HEAD "+u, err)
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 4096))
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return 0, &Error{Call: "HEAD " + u, Kind: KindServer, Status: resp.StatusCode, Err: errors.New(http.StatusText(resp.StatusCode))}
	}
	n, err := strconv.ParseUint(resp.Header.Get(HeaderRevision), 10, 64)
	if err != nil {
		return 0, &Error{Call: "HEAD " + u, Kind: KindBadResponse, Status: 200, Err: fmt.Errorf("%s %q: want a revision number", HeaderRevision, clip(resp.Header.Get(HeaderRevision)))}
	}
	return n, nil
}

// provenance decides the source and fetched_at of a run's answer. From a relay they are the
// control plane's (the origin), never going back in time: an answer the control plane gave
// before the data served is refused when it changes anything (and the relay is asked last for
// a while), and confirms without moving fetched_at back when it changes nothing.
func (p *Poller) provenance(cur *store.Snapshot, change store.Change, now time.Time) (store.Source, time.Time, []string, error) {
	rel, ok := p.opts.Upstream.(*Relays)
	if !ok {
		return store.SourceUpstream, now, nil, nil
	}
	org, ok := rel.lastOrigin()
	if !ok {
		return store.SourceUpstream, now, nil, nil
	}
	fetchedAt := org.FetchedAt
	if cur != nil && cur.Source != store.SourceSeed && !cur.FetchedAt.IsZero() && fetchedAt.Before(cur.FetchedAt) {
		if !change.Empty() {
			why := fmt.Sprintf("relay %s answered data the control plane gave at %s, older than the data served (given at %s): not followed backwards",
				org.Relay, fetchedAt.UTC().Format(time.RFC3339), cur.FetchedAt.UTC().Format(time.RFC3339))
			rel.refuse(org.Relay, why)
			return "", time.Time{}, nil, errors.New(why)
		}
		fetchedAt = cur.FetchedAt
	}
	return store.SourceRelay, fetchedAt, org.Chain, nil
}

// follower is an Upstream that can follow its source by push.
type follower interface {
	follow(ctx context.Context, sync func())
}

// noticeRuntimesd recognises a control plane that is in fact another runtimesd (its answers
// carry X-Runtimes-Source) and says once how to follow it by push instead of polling it.
func (c *Client) noticeRuntimesd(h http.Header) {
	if c.opts.FollowerName != "" || h.Get(HeaderSource) == "" {
		return
	}
	c.mu.Lock()
	told := c.toldRuntimesd
	c.toldRuntimesd = true
	c.mu.Unlock()
	if !told {
		c.opts.Logger.Warn("the control plane's base URL answers like a runtimesd: it is polled on the schedule like a control plane; "+
			"list it in control_plane.relays (RUNTIMESD_RELAYS) to follow it by push, with the control plane's provenance", "base_url", c.base.String())
	}
}
