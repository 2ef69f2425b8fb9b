// Package httpapi is runtimesd's local HTTP API on echo v4: the drop-in surface (the control
// plane's own paths and JSON, served from the cache), the native surface, error mapping,
// caching headers and middleware.
//
// httpapi imports store and health of this project; it never imports bbolt or sync. What it
// needs of the poller is the small Syncer interface below.
package httpapi

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"slices"
	"strings"
	stdsync "sync"
	"sync/atomic"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"
	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/time/rate"

	"github.com/runtimesd/runtimesd/health"
	"github.com/runtimesd/runtimesd/health/policy"
	"github.com/runtimesd/runtimesd/store"
)

// Syncer is what the API needs of the poller.
type Syncer interface {
	// SyncNow runs a sync or joins the one in flight; ctx bounds only the wait.
	SyncNow(ctx context.Context, trigger string) (health.Run, error)
	Status() health.SyncStatus
}

// Options configure a Server. Zero values take the defaults.
type Options struct {
	Live   *store.Live
	Syncer Syncer
	// MaxBodyBytes caps request bodies (default 1 MiB).
	MaxBodyBytes int64
	// MaxStale is the age beyond which data is reported stale (default 5m).
	MaxStale time.Duration
	// SyncWait bounds how long POST /v1/sync waits for the run (default 60s).
	SyncWait time.Duration
	// ShutdownTimeout bounds a graceful shutdown (default 10s).
	ShutdownTimeout time.Duration
	// DefaultWait and MaxWait bound blocking reads (?index=&wait=; defaults 5m and 10m).
	DefaultWait, MaxWait time.Duration
	// RefreshWait bounds how long a read asking for fresher data (Cache-Control max-age)
	// waits for the refresh (default 10s).
	RefreshWait time.Duration
	// RefreshRate and RefreshBurst are the token bucket of forced refreshes per resource
	// (defaults 1 per second, burst 3).
	RefreshRate  float64
	RefreshBurst int
	// PollInterval is the sync schedule's interval (default 30s): a forced refresh refused by
	// the rate limit on data younger than this is answered from the cache (a browser reload),
	// not with 429.
	PollInterval time.Duration
	// ReadHeaderTimeout (default 10s) and ReadTimeout (default 30s) bound how long a client
	// may take to send the headers, and the whole request with its body. A request without a
	// body has no read deadline once its headers are in (blocking reads and streams last).
	ReadHeaderTimeout, ReadTimeout time.Duration
	// WriteTimeout (default 30s) bounds how long one write of an answer may wait for the
	// client to read (TCP and unix listeners): a client that stops reading is cut off and its
	// connection freed. Answers of any length and streams last as long as the client reads.
	WriteTimeout time.Duration
	// MaxConnections caps open connections on the listener, TCP or unix (default 16384,
	// lowered to fit the process's open-file limit with room for the data file, upstream calls
	// and the probe slots); ProbeSlots more (default 16) may answer only /healthz and /readyz, so probes
	// still answer at the cap.
	MaxConnections, ProbeSlots int
	// AllowedHosts are Host names served besides loopback names and the listen address (TCP
	// listeners only: a unix socket serves any Host).
	AllowedHosts []string
	// NodeName is this runtimesd's name in relay chains (default: host name and bound address).
	NodeName string
	// FilterMemoBytes bounds the memo of filtered lists of one catalog, bodies and keys
	// counted (default 8 MiB).
	FilterMemoBytes int
	// Heartbeat is the interval of comments on /v1/watch streams (default 15s).
	Heartbeat time.Duration
	Version   string
	// Validator applies the validation rules (default: built-in model patterns).
	Validator *store.Validator
	// Classifier maps upstream statuses to health classes (default: health.DefaultStatusMap).
	Classifier *health.Classifier
	// ValidateMode is "local" (default) or "upstream": forward drop-in validate requests to
	// UpstreamValidator and answer locally when that fails.
	ValidateMode      string
	UpstreamValidator UpstreamValidator
	// Breakers reports the control plane's circuit breakers (nil: none to report).
	Breakers BreakerReporter
	// Fallback are the fallback rules of /v1/resolve and /v1/health.
	Fallback health.FallbackRules
	// Gate is the organisation's policy applied to native answers (validate, select, resolve,
	// matrix, build-config); nil allows everything. Drop-in answers are not affected.
	Gate health.Gate
	// ControlPlaneURL is shown by /v1/health.
	ControlPlaneURL string
	// Notices are start-up conditions /v1/health reports (and that make it degraded), such as
	// a corrupt data file moved aside.
	Notices []string
	// Conditions, when set, returns conditions that arise while running (a data file that can
	// no longer be written); /v1/health reports them like Notices.
	Conditions func() []string
	// Token, when set, is the local bearer token required on mutating routes (POST /v1/sync)
	// and, with TokenReads, on every route but /healthz and /readyz.
	Token      string
	TokenReads bool
	// CORSOrigins, when set, are the browser origins allowed to call the API (no CORS
	// headers otherwise).
	CORSOrigins []string
	// Registerer receives the API's metrics and Gatherer is served at /metrics (both nil:
	// no metrics).
	Registerer prometheus.Registerer
	Gatherer   prometheus.Gatherer
	Logger     *slog.Logger
	Now        func() time.Time
	// Policy is the organisation's policy (issue 18), shown by GET /v1/policy and the
	// dashboard, and applied to drop-in validate answers when its EnforceDropIn is set
	// (nil: no policy).
	Policy *policy.Holder
}

// DefaultOptions are the values New gives zero fields (the daemon's config documents and
// reuses them).
func DefaultOptions() Options {
	var o Options
	o.setDefaults()
	return o
}

func (o *Options) setDefaults() {
	if o.MaxBodyBytes <= 0 {
		o.MaxBodyBytes = 1 << 20
	}
	if o.MaxStale <= 0 {
		o.MaxStale = 5 * time.Minute
	}
	if o.SyncWait <= 0 {
		o.SyncWait = 60 * time.Second
	}
	if o.ShutdownTimeout <= 0 {
		o.ShutdownTimeout = 10 * time.Second
	}
	if o.DefaultWait <= 0 {
		o.DefaultWait = 5 * time.Minute
	}
	if o.MaxWait <= 0 {
		o.MaxWait = 10 * time.Minute
	}
	if o.RefreshWait <= 0 {
		o.RefreshWait = 10 * time.Second
	}
	if o.RefreshRate <= 0 {
		o.RefreshRate = 1
	}
	if o.RefreshBurst <= 0 {
		o.RefreshBurst = 3
	}
	if o.PollInterval <= 0 {
		o.PollInterval = 30 * time.Second
	}
	if o.ReadHeaderTimeout <= 0 {
		o.ReadHeaderTimeout = 10 * time.Second
	}
	if o.ReadTimeout <= 0 {
		o.ReadTimeout = max(30*time.Second, o.ReadHeaderTimeout)
	}
	if o.WriteTimeout <= 0 {
		o.WriteTimeout = 30 * time.Second
	}
	if o.MaxConnections <= 0 {
		o.MaxConnections = 16384
	}
	if o.ProbeSlots <= 0 {
		o.ProbeSlots = 16
	}
	if o.FilterMemoBytes <= 0 {
		o.FilterMemoBytes = 8 << 20
	}
	if o.Heartbeat <= 0 {
		o.Heartbeat = 15 * time.Second
	}
	if o.Validator == nil {
		o.Validator, _ = store.NewValidator(nil) // the built-in patterns compile
	}
	if o.Classifier == nil {
		o.Classifier, _ = health.NewClassifier(nil)
	}
	if o.ValidateMode == "" {
		o.ValidateMode = ValidateLocal
	}
	if o.Version == "" {
		o.Version = "dev"
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
}

// Server is the local HTTP API.
type Server struct {
	opts  Options
	echo  *echo.Echo
	enc   atomic.Pointer[encoded]
	encMu stdsync.Mutex

	httpSrv *http.Server
	ln      net.Listener
	served  chan struct{}
	primed  chan struct{} // closed when Serve's background Prime is done

	// done is closed at Shutdown: blocking reads and watch streams end.
	done     chan struct{}
	doneOnce stdsync.Once
	// waiting counts blocking reads parked on a revision change.
	waiting atomic.Int64

	limMu    stdsync.Mutex
	limiters map[string]*rate.Limiter

	metrics *httpMetrics

	// checkHost is set by Listen on TCP: Host headers are checked (hostAllowed) against
	// listenHost and Options.AllowedHosts.
	checkHost  bool
	listenHost string

	chain, postChain []echo.MiddlewareFunc

	reloadable atomic.Pointer[Reloadable]
	snapHdr    atomic.Pointer[snapHeaders]
	clock      atomic.Int64 // unix nanoseconds, when Options.Now is not given
}

// tick keeps the coarse clock until Shutdown.
func (s *Server) tick() {
	t := time.NewTicker(100 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case now := <-t.C:
			s.clock.Store(now.UnixNano())
		case <-s.done:
			return
		}
	}
}

// Reloadable are the options a config reload can change while the server runs. Requests read
// them through one atomic load, so a reload never blocks or tears a request.
type Reloadable struct {
	Validator    *store.Validator
	Classifier   *health.Classifier
	Fallback     health.FallbackRules
	MaxStale     time.Duration
	ValidateMode string
	// PollInterval is Options.PollInterval, which follows sync.schedule.
	PollInterval time.Duration
}

func (s *Server) dyn() *Reloadable { return s.reloadable.Load() }

// Settings are the reloadable options in force (the last reload's), for readers outside the
// HTTP answers such as the daemon's /metrics collector.
func (s *Server) Settings() Reloadable { return *s.dyn() }

// Reload replaces the reloadable options (nil pointers keep the current ones).
func (s *Server) Reload(r Reloadable) {
	cur := *s.dyn()
	if r.Validator == nil {
		r.Validator = cur.Validator
	}
	if r.Classifier == nil {
		r.Classifier = cur.Classifier
	}
	if r.MaxStale <= 0 {
		r.MaxStale = cur.MaxStale
	}
	if r.ValidateMode == "" {
		r.ValidateMode = cur.ValidateMode
	}
	if r.PollInterval <= 0 {
		r.PollInterval = cur.PollInterval
	}
	s.reloadable.Store(&r)
	s.enc.Store(nil) // memoised filtered lists and matrices may depend on the old classes
}

// New builds the server and its routes. It does not listen.
func New(opts Options) (*Server, error) {
	opts.setDefaults()
	if opts.Live == nil || opts.Syncer == nil {
		return nil, errors.New("httpapi: Live and Syncer are required")
	}
	s := &Server{opts: opts, done: make(chan struct{}), primed: make(chan struct{}), limiters: map[string]*rate.Limiter{}}
	if s.opts.Now == nil {
		// Ages and freshness are in whole seconds: a clock read every 100 ms in the background
		// saves each request a clock read, which costs more than the rest of a cached GET on
		// some virtual machines.
		s.clock.Store(time.Now().UnixNano())
		go s.tick()
		s.opts.Now = func() time.Time { return time.Unix(0, s.clock.Load()) }
	}
	s.reloadable.Store(&Reloadable{Validator: opts.Validator, Classifier: opts.Classifier, Fallback: opts.Fallback,
		MaxStale: opts.MaxStale, ValidateMode: opts.ValidateMode, PollInterval: opts.PollInterval})
	if opts.Registerer != nil {
		m, err := newHTTPMetrics(opts.Registerer, func() float64 { return float64(s.waiting.Load()) })
		if err != nil {
			return nil, fmt.Errorf("httpapi: metrics: %w", err)
		}
		s.metrics = m
	}
	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	e.HTTPErrorHandler = s.handleError
	// Middleware is composed with each route's handler once, at registration, rather than
	// given to echo, which composes it again for every request: a cached read allocates
	// nothing for its middleware. Order: observe (counts every answer, panics included), recover,
	// token; POST routes add the body limit.
	recoverMW := middleware.RecoverWithConfig(middleware.RecoverConfig{
		DisableStackAll:   true,
		DisablePrintStack: true,
		LogErrorFunc: func(c echo.Context, err error, stack []byte) error {
			s.opts.Logger.Error("panic while answering a request", "method", c.Request().Method,
				"path", c.Request().URL.Path, "panic", err.Error(), "stack", string(stack))
			return err
		},
	})
	s.chain = []echo.MiddlewareFunc{recoverMW, s.requireToken} // observeRoute(path) goes first
	s.postChain = append(slices.Clone(s.chain), middleware.BodyLimit(fmt.Sprint(opts.MaxBodyBytes)+"B"))
	if len(opts.CORSOrigins) > 0 { // preflights reach no route: this one must be global
		e.Use(middleware.CORSWithConfig(middleware.CORSConfig{AllowOrigins: opts.CORSOrigins,
			AllowMethods:  []string{http.MethodGet, http.MethodHead, http.MethodPost},
			AllowHeaders:  []string{echo.HeaderAuthorization, echo.HeaderContentType, "Cache-Control", "If-None-Match", "Last-Event-ID"},
			ExposeHeaders: []string{"ETag", "Age", HeaderCache, HeaderRevision, HeaderSource, HeaderValidatedBy}}))
	}
	s.echo = e
	s.routes()
	return s, nil
}

func (s *Server) routes() {
	// Drop-in: the control plane's paths and JSON.
	s.get("/api/v1/runtimes", s.handleDropInList)
	s.get("/api/v1/runtimes/:id/requirements", s.handleDropInRequirements)
	s.post("/api/v1/runtimes/validate", s.dropInPolicy(s.handleDropInValidate)) // issue 18: policy.enforce_dropin
	s.get("/api/health", s.handleDropInHealth)
	s.get("/api/ready", s.handleDropInReady)
	s.get("/api/health/detailed", s.handleDropInHealthDetailed)

	// Native.
	s.get("/v1/runtimes", s.handleRuntimeList)
	s.get("/v1/runtimes/:id", s.handleRuntimeGet)
	s.get("/v1/runtimes/:id/requirements", s.handleRuntimeRequirements)
	s.get("/v1/runtimes/:id/config", s.handleConfigGet)
	s.post("/v1/runtimes/:id/config", s.handleConfigPost)
	s.post("/v1/validate", s.handleValidate)
	s.post("/v1/select", s.handleSelect)
	s.get("/v1/matrix", s.handleMatrix)
	s.get("/v1/sync", s.handleSyncStatus)
	s.post("/v1/sync", s.handleSyncTrigger)
	s.get("/v1/changes", s.handleChanges)
	s.get("/v1/watch", s.handleWatch)
	s.get("/v1/health", s.handleHealth)
	s.get("/v1/resolve/:id", s.handleResolve)
	s.get("/v1/policy", s.handlePolicy) // issue 18 (handlers_policy.go)
	s.get("/dashboard", s.handleDashboard)
	s.get("/", s.handleRoot)
	s.get("/metrics", s.handleMetrics)
	s.get("/openapi.json", s.handleOpenAPIJSON)
	s.get("/openapi.yaml", s.handleOpenAPIYAML)
	s.get("/healthz", s.handleHealthz)
	s.get("/readyz", s.handleReadyz)
}

// compose wraps h in middleware once. (echo v4 applies the middleware given to a route
// again on every request, allocating each time; composing at registration does not.)
func compose(h echo.HandlerFunc, mw []echo.MiddlewareFunc) echo.HandlerFunc {
	for i := len(mw) - 1; i >= 0; i-- {
		h = mw[i](h)
	}
	return h
}

// get registers h for GET and HEAD (net/http drops the body of a HEAD answer).
func (s *Server) get(path string, h echo.HandlerFunc) {
	h = compose(h, append([]echo.MiddlewareFunc{s.observeRoute(path)}, s.chain...))
	s.echo.GET(path, h)
	s.echo.HEAD(path, h)
}

// post registers h for POST, with the body limit.
func (s *Server) post(path string, h echo.HandlerFunc) {
	s.echo.POST(path, compose(h, append([]echo.MiddlewareFunc{s.observeRoute(path)}, s.postChain...)))
}

// Prime encodes the current snapshot's bodies now, so the first request does not pay for it.
// Serve calls it in the background; it need not be called at all: every read encodes what it
// needs on demand (encodedFor), and a read arriving while Prime runs waits for that one
// encoding rather than doing it twice.
func (s *Server) Prime() {
	if snap := s.opts.Live.Load(); snap != nil {
		s.encodedFor(snap.Catalog)
		s.headersFor(snap)
	}
}

// Primed is closed when the background priming started by Serve has finished.
func (s *Server) Primed() <-chan struct{} { return s.primed }

// Routes lists every route (method and path pattern).
func (s *Server) Routes() []*echo.Route {
	return s.echo.Routes()
}

// Handler is the API as an http.Handler (tests, benchmarks).
func (s *Server) Handler() http.Handler { return s }

// ServeHTTP answers a path with a trailing slash with a 307 to the path without it, as the
// control plane (FastAPI) does, and hands everything else to echo.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if err := s.crossSiteWrite(r); err != nil {
		s.writeError(w, r, err)
		return
	}
	if p := r.URL.Path; len(p) > 1 && p[len(p)-1] == '/' && strings.HasSuffix(r.URL.EscapedPath(), "/") {
		u := *r.URL
		u.Path = strings.TrimRight(p, "/") // "" for "//": made "/" below
		u.RawPath = ""
		if r.URL.RawPath != "" {
			u.RawPath = strings.TrimRight(r.URL.RawPath, "/")
		}
		// "//evil.example/" must not redirect to "//evil.example", which a browser reads as
		// another host: collapse leading slashes (and so never send a scheme-relative path).
		u.Path = "/" + strings.TrimLeft(u.Path, "/")
		if u.RawPath != "" {
			u.RawPath = "/" + strings.TrimLeft(u.RawPath, "/")
		}
		u.Scheme, u.Host = "", ""
		w.Header().Set(echo.HeaderLocation, u.RequestURI())
		w.WriteHeader(http.StatusTemporaryRedirect)
		return
	}
	s.echo.ServeHTTP(w, r)
}

// Listen binds addr synchronously, so a busy port fails at start: "host:port" for TCP
// (":0" picks a free port) or "unix:/path/to.sock" for a unix socket (created 0600).
func (s *Server) Listen(addr string) error {
	var (
		ln  net.Listener
		err error
	)
	if path, ok := strings.CutPrefix(addr, "unix:"); ok {
		if fi, serr := os.Lstat(path); serr == nil && fi.Mode()&os.ModeSocket != 0 {
			if socketAnswers(path) {
				return fmt.Errorf("listen on %s: another process answers on this socket (a second runtimesd?); refusing to take it over", addr)
			}
			_ = os.Remove(path) // a stale socket from a previous run: nobody answers on it
		}
		ln, err = net.Listen("unix", path)
		if err == nil {
			err = os.Chmod(path, 0o600)
		}
	} else {
		ln, err = net.Listen("tcp", addr)
		if err == nil {
			s.checkHost = true
			s.listenHost, _, _ = net.SplitHostPort(addr)
		}
	}
	if err != nil {
		return fmt.Errorf("listen on %s: %w", addr, err)
	}
	// The connection cap and the write deadline apply on a unix socket too: its connections
	// take the same descriptors and goroutines, and a local client can stall as well.
	s.ln = &capListener{Listener: ln, max: s.connectionCap(), reserve: int64(s.opts.ProbeSlots), writeTimeout: s.opts.WriteTimeout}
	s.warnLoweredCap()
	return nil
}

// socketAnswers reports whether a process accepts connections on the unix socket at path.
// A refused connection (nobody listening) means the socket file is stale.
func socketAnswers(path string) bool {
	conn, err := net.DialTimeout("unix", path, time.Second)
	if err != nil {
		var ne net.Error
		return errors.As(err, &ne) && ne.Timeout() // a listener too busy to accept is still alive
	}
	_ = conn.Close()
	return true
}

// Addr is the bound address (after Listen), e.g. "127.0.0.1:7878" or "unix:/run/x.sock".
func (s *Server) Addr() string {
	if s.ln == nil {
		return ""
	}
	if s.ln.Addr().Network() == "unix" {
		return "unix:" + s.ln.Addr().String()
	}
	return s.ln.Addr().String()
}

// Serve serves on the bound listener in a goroutine.
func (s *Server) Serve() {
	s.httpSrv = &http.Server{
		Handler:           http.HandlerFunc(s.serveListener),
		ConnContext:       connContext,
		ReadHeaderTimeout: s.opts.ReadHeaderTimeout,
		ReadTimeout:       s.opts.ReadTimeout,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(s.opts.Logger.Handler(), slog.LevelDebug),
	}
	s.served = make(chan struct{})
	go func() {
		defer close(s.served)
		if err := s.httpSrv.Serve(s.ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.opts.Logger.Error("http server stopped", "error", err)
		}
	}()
	// Listen first, prime after: encoding a 10,000-runtime catalog takes longer than the
	// rest of a start, and a read does not need it done (see Prime).
	go func() {
		defer close(s.primed)
		s.Prime()
	}()
}

// Shutdown stops accepting, lets requests in flight finish within ShutdownTimeout, then
// closes what is left. It is safe to call when Serve was never called.
func (s *Server) Shutdown() error {
	s.doneOnce.Do(func() { close(s.done) })
	if s.httpSrv == nil {
		if s.ln != nil {
			return s.ln.Close()
		}
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), s.opts.ShutdownTimeout)
	defer cancel()
	err := s.httpSrv.Shutdown(ctx)
	if err != nil {
		err = errors.Join(err, s.httpSrv.Close())
	}
	<-s.served
	return err
}
