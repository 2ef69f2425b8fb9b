// Command runtimesd keeps the control plane's Runtimes Service on the local machine: it polls
// the control plane, keeps everything in a bbolt file, and answers over a local HTTP API, still
// when the control plane is slow, down or unreachable.
//
// main parses flags and the config file, copies them into each package's Options, wires the
// packages, and handles signals. It is the only package that imports sync and httpapi.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strings"
	"syscall"
	"time"

	"github.com/runtimesd/runtimesd/health"
	"github.com/runtimesd/runtimesd/httpapi"
	"github.com/runtimesd/runtimesd/store"
	rsync "github.com/runtimesd/runtimesd/sync"
	"github.com/runtimesd/runtimesd/sync/fakecp"
)

// version is set at build time with -ldflags "-X main.version=v1.2.3".
var version = "dev"

// dbFile is the bbolt file's name inside the data directory.
const dbFile = "runtimesd.db"

// devAPIKey is the key `serve --dev` gives its in-process fake control plane.
const devAPIKey = "dev-only-key"

func main() {
	os.Exit(Main(context.Background(), os.Args[1:], os.Stdout, os.Stderr, os.Getenv))
}

// exitError carries an exit code with its message.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }

func usageErr(format string, args ...any) error {
	return &exitError{code: 2, err: fmt.Errorf(format, args...)}
}

// Main runs one command and returns the exit code: 0 clean, 1 failure, 2 bad usage.
func Main(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) int {
	err := run(ctx, args, stdout, stderr, getenv)
	if err == nil {
		return 0
	}
	var hs *helpShown
	if errors.As(err, &hs) {
		// -h/--help on a command: its usage, positional arguments and flags, on stdout, exit 0
		if c, ok := lookupCommand(hs.fs.Name()); ok {
			commandHelp(stdout, c, hs.fs)
		}
		return 0
	}
	fmt.Fprintf(stderr, "runtimesd: %v\n", err)
	var ee *exitError
	if errors.As(err, &ee) {
		return ee.code
	}
	return 1
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, usageText())
		return usageErr("no command given")
	}
	cmd, rest := args[0], args[1:]
	switch cmd {
	case "--version", "-version":
		return cmdVersion(stdout)
	case "-h", "--help", "-help":
		fmt.Fprint(stdout, usageText())
		return nil
	}
	c, ok := lookupCommand(cmd)
	if !ok {
		fmt.Fprint(stderr, usageText())
		return usageErr("unknown command %q", cmd)
	}
	return c.run(ctx, rest, stdout, stderr, getenv)
}

// common are the flags every data command takes.
type common struct {
	config, data string
}

func newFlags(name string, stderr io.Writer, c *common) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	// The flag package's own messages are not printed: a parse error comes back as one usage
	// error line, -h/--help as helpShown (printed by Main from the command table).
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	fs.StringVar(&c.config, "config", "", "YAML config file (see config.example.yaml)")
	fs.StringVar(&c.data, "data", "", "data directory holding "+dbFile+" (overrides data_dir)")
	return fs
}

// parseFlags parses flags given before, between or after positional arguments
// ("get ID --json" as well as "get --json ID"); fs.Args() then holds the positionals.
func parseFlags(fs *flag.FlagSet, args []string) error {
	var positional []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return &helpShown{fs: fs}
			}
			return usageErr("%s: %v (see runtimesd %s --help)", fs.Name(), err, fs.Name())
		}
		rest := fs.Args()
		if len(rest) == 0 {
			break
		}
		if rest[0] == "--" {
			positional = append(positional, rest[1:]...)
			break
		}
		positional = append(positional, rest[0])
		args = rest[1:]
	}
	return fs.Parse(append([]string{"--"}, positional...))
}

// loadConfig applies file, environment and the --data flag, then validates.
func loadConfig(c common, getenv func(string) string) (Config, error) {
	cfg, err := LoadConfigFile(c.config)
	if err != nil {
		return cfg, err
	}
	if err := cfg.ApplyEnv(getenv); err != nil {
		return cfg, err
	}
	if c.data != "" {
		cfg.DataDir = c.data
	}
	return cfg, nil
}

func newLogger(cfg LogConfig, w io.Writer) *slog.Logger {
	l, _ := newLeveledLogger(cfg, w)
	return l
}

// newLeveledLogger returns a logger whose level can change at run time (config reload).
func newLeveledLogger(cfg LogConfig, w io.Writer) (*slog.Logger, *slog.LevelVar) {
	var level slog.Level
	_ = level.UnmarshalText([]byte(cfg.Level))
	lv := &slog.LevelVar{}
	lv.Set(level)
	return newLoggerAt(cfg, w, lv), lv
}

func newLoggerAt(cfg LogConfig, w io.Writer, level slog.Leveler) *slog.Logger {
	opts := &slog.HandlerOptions{Level: level}
	if cfg.Format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

func openStore(cfg Config, getenv func(string) string, logger *slog.Logger, readOnly bool) (*store.DB, error) {
	return openStoreWith(cfg, getenv, logger, readOnly, nil)
}

func openStoreWith(cfg Config, getenv func(string) string, logger *slog.Logger, readOnly bool, onCommit func(time.Duration), more ...func(*store.Options)) (*store.DB, error) {
	dir, err := cfg.ResolvedDataDir(getenv)
	if err != nil {
		return nil, err
	}
	opts := store.Options{
		LockTimeout:     cfg.Store.LockTimeout.D(),
		ChangeLogSize:   cfg.Store.ChangeLogSize,
		Logger:          logger,
		ReadOnly:        readOnly,
		OnCommit:        onCommit,
		HighWaterWindow: cfg.Sync.GuardWindow.D(),
	}
	for _, f := range more {
		f(&opts)
	}
	path := filepath.Join(dir, dbFile)
	db, err := store.Open(path, opts)
	if err != nil {
		if errors.Is(err, fs.ErrPermission) || errors.Is(err, syscall.EROFS) {
			return nil, &dataDirError{msg: store.ExplainUnwritable(path, err), err: err}
		}
		return nil, err
	}
	return db, nil
}

// dataDirError is a data file or directory this user cannot write: its message says whose it
// is and what to do, not a chain of "open …: permission denied".
type dataDirError struct {
	msg string
	err error
}

func (e *dataDirError) Error() string { return e.msg }
func (e *dataDirError) Unwrap() error { return e.err }

// newBreakers builds the circuit breakers of the upstream call kinds, their state kept in
// the data file so a restart does not reset an open breaker.
func newBreakers(cfg Config, db *store.DB, logger *slog.Logger, onTransition func(kind, from, to string)) (*health.Breakers, error) {
	bs, err := db.Breakers()
	if err != nil {
		return nil, err
	}
	br := cfg.ControlPlane.Breaker
	return health.NewBreakers(rsync.CallKinds, health.BreakerOptions{
		ConsecutiveFailures: br.ConsecutiveFailures,
		FailureRatio:        br.FailureRatio,
		MinRequests:         br.MinRequests,
		Window:              br.Window.D(),
		OpenTimeout:         br.OpenTimeout.D(),
		HalfOpenProbes:      br.HalfOpenProbes,
		Store:               bs,
		TripStore:           db,
		IsSuccessful:        rsync.IsSuccessful,
		IsExcluded:          rsync.IsExcluded,
		OnTransition:        onTransition,
		Logger:              logger,
	})
}

// pollInterval is the interval of an "@every D" schedule, 0 (the default) for a cron spec.
func pollInterval(schedule string) time.Duration {
	if d, ok := strings.CutPrefix(schedule, "@every "); ok {
		if v, err := time.ParseDuration(strings.TrimSpace(d)); err == nil {
			return v
		}
	}
	return 0
}

func newClient(cfg Config, breakers *health.Breakers, logger *slog.Logger, onCall func(string, int, time.Duration)) (*rsync.Client, error) {
	retries := cfg.ControlPlane.Retry.Attempts
	if retries == 0 {
		retries = -1 // none
	}
	return rsync.NewClient(rsync.ClientOptions{
		BaseURL:            cfg.ControlPlane.BaseURL,
		APIKey:             cfg.apiKey,
		Timeout:            cfg.ControlPlane.Timeout.D(),
		MaxResponseBytes:   cfg.ControlPlane.MaxResponseBytes,
		Breakers:           breakers,
		Retries:            retries,
		RetryBase:          cfg.ControlPlane.Retry.Base.D(),
		RetryMax:           cfg.ControlPlane.Retry.Max.D(),
		MaxRetryAfter:      cfg.ControlPlane.MaxRetryAfter.D(),
		UserAgent:          "runtimesd/" + version,
		Logger:             logger,
		OnCall:             onCall,
		CAFile:             cfg.ControlPlane.CAFile,
		InsecureSkipVerify: cfg.ControlPlane.InsecureSkipVerify,
	})
}

func pollerOptions(cfg Config, up rsync.Upstream, disabled string, db *store.DB, live *store.Live, logger *slog.Logger) rsync.Options {
	return rsync.Options{
		Upstream:         up,
		DisabledReason:   disabled,
		DB:               db,
		Live:             live,
		RequirementsMode: rsync.RequirementsMode(cfg.ControlPlane.RequirementsMode),
		Concurrency:      cfg.ControlPlane.RequirementsConcurrency,
		Schedule:         cfg.Sync.Schedule,
		Jitter:           cfg.Sync.Jitter.D(),
		RunTimeout:       cfg.Sync.RunTimeout.D(),
		HoldRepeats:      cfg.Sync.HoldRepeats,
		DropRatio:        cfg.Sync.DropRatio,
		History:          cfg.Sync.History,
		Logger:           logger,
	}
}

func cmdServe(ctx context.Context, args []string, stderr io.Writer, getenv func(string) string) error {
	// Signals are trapped first thing: SIGINT or SIGTERM during start-up is a clean, quick exit
	// (checked after every step that can take time), never a death by the signal.
	sigCtx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	var c common
	var listen, seed string
	var dev bool
	fs := newFlags("serve", stderr, &c)
	fs.StringVar(&listen, "listen", "", "listen address: host:port or unix:/path (overrides listen)")
	fs.StringVar(&seed, "seed", "", "snapshot file to serve when nothing is stored (from `runtimesd export`, or a saved GET /api/v1/runtimes)")
	fs.BoolVar(&dev, "dev", false, "start an in-process fake control plane with the public catalog and sync from it")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usageErr("serve: unexpected argument %q", fs.Arg(0))
	}
	// SIGHUP re-reads the config; caught from the start so an early one cannot kill the daemon.
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)

	// overrides are the flags and --dev settings, applied over the file at start and at every
	// reload alike.
	var devURL, devDir string
	overrides := func(cfg *Config) {
		if c.data != "" {
			cfg.DataDir = c.data
		}
		if listen != "" {
			cfg.Listen = listen
		}
		if dev {
			cfg.ControlPlane.BaseURL, cfg.apiKey = devURL, devAPIKey
			if c.data == "" {
				cfg.DataDir = devDir
			}
		}
	}
	cfg, err := LoadConfigFile(c.config)
	if err != nil {
		return err
	}
	if err := cfg.ApplyEnv(getenv); err != nil {
		return err
	}
	logger, level := newLeveledLogger(cfg.Log, stderr)

	if dev {
		fake, err := fakecp.Start(fakecp.Options{APIKey: devAPIKey, ETags: true})
		if err != nil {
			return err
		}
		defer fake.Close()
		devURL = fake.URL()
		if c.data == "" {
			dir, err := os.MkdirTemp("", "runtimesd-dev-")
			if err != nil {
				return err
			}
			defer os.RemoveAll(dir)
			devDir = dir
		}
	}
	overrides(&cfg)
	if dev {
		logger.Warn("dev mode: syncing from an in-process fake control plane serving the public catalog",
			"control_plane", devURL, "data_dir", cfg.DataDir)
	}
	if err := cfg.Validate(); err != nil {
		if c.config != "" {
			data, _ := os.ReadFile(c.config)
			err = withLines(data, err)
		}
		return fmt.Errorf("config: %w", err)
	}

	m := newMetrics()
	defer startGCFloor(getenv, logger, filepath.Join(cfg.DataDir, dbFile))()
	db, err := openStoreInterruptible(sigCtx, cfg, getenv, logger, m.onCommit)
	if errors.Is(err, errInterrupted) {
		logger.Info("signal received during start-up: exiting")
		return nil
	}
	if err != nil {
		return err
	}
	defer db.Close()

	initial := db.Loaded()
	switch {
	case initial != nil:
		logger.Info("serving the stored snapshot", "file", db.Path(), "revision", initial.Revision, "runtimes", initial.Catalog.Len())
	case seed != "":
		data, err := os.ReadFile(seed)
		if err != nil {
			return fmt.Errorf("--seed: %w", err)
		}
		cat, err := store.ParseSnapshotFile(data)
		if err != nil {
			return fmt.Errorf("--seed %s: %w", seed, err)
		}
		initial = &store.Snapshot{Source: store.SourceSeed, Catalog: cat, SeedFile: seed}
		logger.Info("nothing stored yet: serving the seed file until the first sync", "file", seed, "runtimes", cat.Len())
	default:
		initial = &store.Snapshot{Source: store.SourceSeed, Catalog: store.SeedCatalog()}
		logger.Info("nothing stored yet: serving the built-in seed catalog until the first sync", "runtimes", initial.Catalog.Len())
	}
	if ahead := time.Until(initial.FetchedAt); ahead > store.ClockSkewTolerance {
		logger.Warn("clock skew: the stored data's fetched_at is ahead of this machine's clock; its age is unknown and it counts as stale until a sync confirms it",
			"fetched_at", initial.FetchedAt.UTC().Format(time.RFC3339), "ahead", ahead.Truncate(time.Second).String())
	}
	live := store.NewLive(initial)

	breakers, err := newBreakers(cfg, db, logger, m.onTransition)
	if err != nil {
		return err
	}
	var (
		up     rsync.Upstream
		client *rsync.Client
	)
	disabled := ""
	if cfg.apiKey == "" {
		disabled = "no API key: set " + EnvAPIKey + " or control_plane.api_key_file"
	} else {
		client, err = newClient(cfg, breakers, logger, m.onCall)
		if err != nil {
			return fmt.Errorf("config: %w", err)
		}
		up = client
	}
	name := nodeName(cfg)
	if relays, err := newRelays(cfg, name, client, logger); err != nil {
		return err
	} else if relays != nil {
		up, disabled = relays, ""
	}
	popts := pollerOptions(cfg, up, disabled, db, live, logger)
	popts.OnRun = m.onRun
	poller, err := rsync.NewPoller(popts)
	if err != nil {
		return fmt.Errorf("config: %w", err)
	}
	defer poller.Close()

	validator, err := store.NewValidator(cfg.Validation.ModelPatterns)
	if err != nil {
		return fmt.Errorf("config: validation.model_patterns: %w", err)
	}
	classifier, err := health.NewClassifier(cfg.Health.StatusMap)
	if err != nil {
		return fmt.Errorf("config: health.status_map: %w", err)
	}
	gate, err := newPolicyHolder(cfg.Policy, classifier) // issue 18 (policy.go)
	if err != nil {
		return fmt.Errorf("config: policy: %w", err)
	}
	var upstreamValidator httpapi.UpstreamValidator
	if cfg.Validation.Mode == httpapi.ValidateUpstream {
		if client == nil {
			logger.Warn("validation.mode is upstream but there is no API key: validating locally")
		} else {
			upstreamValidator = client
		}
	}
	api, err := httpapi.New(httpapi.Options{
		Live:              live,
		Syncer:            poller,
		Validator:         validator,
		Classifier:        classifier,
		ValidateMode:      cfg.Validation.Mode,
		UpstreamValidator: upstreamValidator,
		Breakers:          breakers,
		Fallback:          cfg.Fallback.Rules(),
		ControlPlaneURL:   cfg.ControlPlane.BaseURL,
		Registerer:        m.reg,
		Gatherer:          m.reg,
		Notices:           startupNotices(db),
		Conditions:        storeConditions(db),
		Token:             cfg.token,
		TokenReads:        cfg.HTTP.TokenReads,
		CORSOrigins:       cfg.HTTP.CORSOrigins,
		MaxBodyBytes:      cfg.HTTP.MaxBodyBytes,
		DefaultWait:       cfg.HTTP.DefaultWait.D(),
		MaxWait:           cfg.HTTP.MaxWait.D(),
		RefreshWait:       cfg.HTTP.RefreshWait.D(),
		RefreshRate:       cfg.HTTP.RefreshRate,
		RefreshBurst:      cfg.HTTP.RefreshBurst,
		PollInterval:      pollInterval(cfg.Sync.Schedule),
		Heartbeat:         cfg.HTTP.Heartbeat.D(),
		MaxStale:          cfg.Health.MaxStale.D(),
		SyncWait:          cfg.HTTP.SyncWait.D(),
		ShutdownTimeout:   cfg.HTTP.ShutdownTimeout.D(),
		ReadHeaderTimeout: cfg.HTTP.ReadHeaderTimeout.D(),
		ReadTimeout:       cfg.HTTP.ReadTimeout.D(),
		MaxConnections:    cfg.HTTP.MaxConnections,
		AllowedHosts:      cfg.HTTP.AllowedHosts,
		NodeName:          name,
		Version:           version,
		Logger:            logger,
		Policy:            gate,
	})
	if err != nil {
		return err
	}
	m.reg.MustRegister(newStateCollector(live, db, poller, breakers, classifier))
	m.reg.MustRegister(newPolicyCollector(gate))
	if sigCtx.Err() != nil {
		logger.Info("signal received during start-up: exiting")
		return nil
	}
	// Loading and encoding left garbage behind (the file's records, decode buffers): hand it
	// back to the OS now rather than at the next GC cycles, so RSS reflects what is kept.
	go debug.FreeOSMemory()
	if err := api.Listen(cfg.Listen); err != nil {
		return err
	}
	if !isLoopback(cfg.Listen) {
		if cfg.token == "" {
			logger.Warn("SECURITY: listening beyond loopback WITHOUT a token: anyone who can reach this address can read the catalog and trigger syncs; set "+EnvToken+" (and http.token_reads) or listen on 127.0.0.1",
				"listen", cfg.Listen)
		} else if !cfg.HTTP.TokenReads {
			logger.Warn("listening beyond loopback: reads are open to anyone who can reach this address (http.token_reads is off)", "listen", cfg.Listen)
		}
	}
	if cfg.ControlPlane.InsecureSkipVerify {
		logger.Warn("SECURITY: TLS verification of the control plane is OFF (control_plane.insecure_skip_verify): the API key can be sent to an impostor")
	}
	api.Serve()
	logger.Info("listening", "addr", api.Addr(), "version", version, "control_plane", cfg.ControlPlane.BaseURL,
		"sync", up != nil, "schedule", cfg.Sync.Schedule)

	rl := &reloader{path: c.config, overrides: overrides, getenv: getenv, cur: cfg, level: level,
		poller: poller, api: api, logger: logger, policy: gate}
	if err := poller.Start(); err != nil {
		_ = api.Shutdown()
		return err
	}
	for running := true; running; {
		select {
		case <-hup:
			rl.reload()
		case <-sigCtx.Done():
			running = false
		}
	}
	stop() // a second signal now gets the default action: exit at once

	// The sync in flight is canceled first: it commits nothing from here on, and the clients
	// waiting on it (POST /v1/sync, max-age=0 reads) are answered at once that the daemon is
	// shutting down, so the HTTP shutdown does not wait for a hung control plane.
	var errs []error
	if err := poller.Close(); err != nil {
		errs = append(errs, fmt.Errorf("poller: %w", err))
	}
	logger.Info("shutting down")
	if err := api.Shutdown(); err != nil {
		errs = append(errs, fmt.Errorf("http shutdown: %w", err))
	}
	if err := db.Close(); err != nil {
		errs = append(errs, fmt.Errorf("close store: %w", err))
	}
	if len(errs) == 0 {
		logger.Info("stopped")
	}
	return errors.Join(errs...)
}

// storeConditions reports, for /v1/health, why the data file is not being written (read-only,
// replaced under the daemon), as it happens.
func storeConditions(db *store.DB) func() []string {
	return func() []string {
		if why := db.NotPersisting(); why != "" {
			return []string{why}
		}
		return nil
	}
}

// errInterrupted is a start-up step abandoned because a signal asked the daemon to stop.
var errInterrupted = errors.New("interrupted by a signal during start-up")

// openStoreInterruptible opens the data file like openStoreWith, but gives up when ctx ends
// (a signal during a long store.lock_timeout wait); a file opened after that is closed.
func openStoreInterruptible(ctx context.Context, cfg Config, getenv func(string) string, logger *slog.Logger, onCommit func(time.Duration)) (*store.DB, error) {
	type result struct {
		db  *store.DB
		err error
	}
	ch := make(chan result, 1)
	go func() {
		// The daemon keeps serving (and syncing in memory) when its file cannot be written.
		db, err := openStoreWith(cfg, getenv, logger, false, onCommit, func(o *store.Options) { o.MemoryFallback = true })
		ch <- result{db, err}
	}()
	select {
	case r := <-ch:
		return r.db, r.err
	case <-ctx.Done():
		go func() {
			if r := <-ch; r.db != nil {
				_ = r.db.Close()
			}
		}()
		return nil, errInterrupted
	}
}

// startupNotices are what the daemon found at start and /v1/health keeps reporting.
func startupNotices(db *store.DB) []string {
	if aside := db.MovedAside(); aside != "" {
		return []string{"the data file was unreadable at start and was moved aside to " + aside + " (kept for inspection)"}
	}
	return nil
}

func isLoopback(listen string) bool {
	if strings.HasPrefix(listen, "unix:") {
		return true
	}
	host := listen
	if i := strings.LastIndex(listen, ":"); i >= 0 {
		host = strings.Trim(listen[:i], "[]")
	}
	return host == "localhost" || strings.HasPrefix(host, "127.") || host == "::1"
}

func cmdSync(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) error {
	var c common
	var once, noGuard bool
	fs := newFlags("sync", stderr, &c)
	fs.BoolVar(&once, "once", false, "run one sync into the data file, print what changed, and exit")
	fs.BoolVar(&noGuard, "no-guard", false, "commit even an answer that empties or mostly drops the catalog")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if !once {
		return usageErr("sync: only --once is supported here; a running daemon syncs on its schedule (POST /v1/sync triggers it)")
	}
	cfg, err := loadConfig(c, getenv)
	if err != nil {
		return err
	}
	if err := cfg.Validate(); err != nil {
		return fmt.Errorf("config: %w", err)
	}
	if cfg.apiKey == "" {
		return fmt.Errorf("sync: no API key: set %s or control_plane.api_key_file", EnvAPIKey)
	}
	if noGuard {
		cfg.Sync.HoldRepeats = 1
	}
	logger := newLogger(cfg.Log, stderr)
	db, err := openStore(cfg, getenv, logger, false)
	if err != nil {
		return err
	}
	defer db.Close()
	breakers, err := newBreakers(cfg, db, logger, nil)
	if err != nil {
		return err
	}
	client, err := newClient(cfg, breakers, logger, nil)
	if err != nil {
		return fmt.Errorf("config: %w", err)
	}
	live := store.NewLive(db.Loaded())
	poller, err := rsync.NewPoller(pollerOptions(cfg, client, "", db, live, logger))
	if err != nil {
		return fmt.Errorf("config: %w", err)
	}
	defer poller.Close()
	r, err := poller.SyncNow(ctx, rsync.TriggerManual)
	if err != nil {
		return err
	}
	printRun(stdout, r)
	if r.Outcome == health.OutcomeFailed || r.Outcome == health.OutcomeHeld {
		return errors.New("sync " + string(r.Outcome) + ": " + r.Error)
	}
	return nil
}

func printRun(w io.Writer, r health.Run) {
	fmt.Fprintf(w, "outcome: %s\nrevision: %d\nruntimes: %d\n", r.Outcome, r.Revision, r.Runtimes)
	if r.Change != nil {
		fmt.Fprintf(w, "added: %s\nremoved: %s\nchanged: %s\n",
			listOrNone(r.Change.Added), listOrNone(r.Change.Removed), listOrNone(r.Change.Changed))
	}
	if len(r.Degraded) > 0 {
		fmt.Fprintf(w, "degraded: %s\n", strings.Join(r.Degraded, ", "))
	}
}

func listOrNone(ids []string) string {
	if len(ids) == 0 {
		return "(none)"
	}
	return strings.Join(ids, ", ")
}

func lockedHint(err error) error {
	if errors.Is(err, store.ErrLocked) {
		return fmt.Errorf("%w\n  a running daemon holds the file: stop it, or save its GET /api/v1/runtimes answer (import and --seed read that too)", err)
	}
	return err
}

func cmdExport(args []string, stdout, stderr io.Writer, getenv func(string) string) error {
	var c common
	fs := newFlags("export", stderr, &c)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 1 {
		return usageErr("export: at most one output FILE")
	}
	cfg, err := loadConfig(c, getenv)
	if err != nil {
		return err
	}
	dir, err := cfg.ResolvedDataDir(getenv)
	if err != nil {
		return err
	}
	if _, err := os.Stat(filepath.Join(dir, dbFile)); errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("export: %s does not exist: no snapshot stored yet (run `runtimesd sync --once` or the daemon first)", filepath.Join(dir, dbFile))
	}
	logger := newLogger(LogConfig{Level: "warn", Format: "text"}, stderr)
	db, err := openStore(cfg, getenv, logger, true)
	if err != nil {
		return lockedHint(err)
	}
	defer db.Close()
	snap := db.Loaded()
	if snap == nil {
		return fmt.Errorf("export: %s holds no snapshot yet (run `runtimesd sync --once` or the daemon first)", db.Path())
	}
	out, err := store.Export(snap)
	if err != nil {
		return err
	}
	out = append(out, '\n')
	if fs.NArg() == 1 {
		if err := os.WriteFile(fs.Arg(0), out, 0o600); err != nil {
			return fmt.Errorf("export: %w", err)
		}
		fmt.Fprintf(stderr, "exported revision %d (%d runtimes) to %s\n", snap.Revision, snap.Catalog.Len(), fs.Arg(0))
		return nil
	}
	_, err = stdout.Write(out)
	return err
}

func cmdImport(args []string, stdout, stderr io.Writer, getenv func(string) string) error {
	var c common
	var force bool
	fs := newFlags("import", stderr, &c)
	fs.BoolVar(&force, "force", false, "import even a snapshot that is empty or would remove stored runtimes")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return usageErr("import: give exactly one snapshot FILE")
	}
	data, err := os.ReadFile(fs.Arg(0))
	if err != nil {
		return fmt.Errorf("import: %w", err)
	}
	file, err := store.ParseSnapshotDoc(data)
	if err != nil {
		return fmt.Errorf("import %s: %w", fs.Arg(0), err)
	}
	cat := file.Catalog
	cfg, err := loadConfig(c, getenv)
	if err != nil {
		return err
	}
	logger := newLogger(LogConfig{Level: "warn", Format: "text"}, stderr)
	db, err := openStore(cfg, getenv, logger, false)
	if err != nil {
		return lockedHint(err)
	}
	defer db.Close()
	var stored *store.Catalog
	if cur := db.Loaded(); cur != nil {
		stored = cur.Catalog
	}
	change := store.Diff(stored, cat)
	switch {
	case stored != nil && change.Empty():
		fmt.Fprintf(stdout, "nothing imported: %s holds the same %d runtimes as revision %d in %s\n",
			fs.Arg(0), cat.Len(), db.Loaded().Revision, db.Path())
		return nil
	case cat.Len() == 0 && !force:
		return fmt.Errorf("import %s: the snapshot holds no runtime; importing it would empty the catalog (%d stored). Nothing imported; run again with --force to import it anyway",
			fs.Arg(0), stored.Len())
	case len(change.Removed) > 0 && !force:
		return fmt.Errorf("import %s: the snapshot would remove %d of the %d stored runtimes (%s). Nothing imported; run again with --force to replace them",
			fs.Arg(0), len(change.Removed), stored.Len(), listOrNone(change.Removed))
	}
	// The data keeps the age it had when exported: a year-old export is served as a year old
	// (stale), and a plain array, never confirmed by the control plane, has no fetched_at.
	snap, err := db.CommitAt(cat, store.SourceImport, file.FetchedAt, time.Now())
	if err != nil {
		return err
	}
	ch := snap.Changes[len(snap.Changes)-1]
	fetched := "unknown (never confirmed by the control plane)"
	if !file.FetchedAt.IsZero() {
		fetched = file.FetchedAt.UTC().Format(time.RFC3339)
	}
	from := ""
	if file.Source != "" {
		from = fmt.Sprintf(" (exported from revision %d, source %s)", file.Revision, file.Source)
	}
	fmt.Fprintf(stdout, "imported %d runtimes as revision %d into %s%s\nfetched_at: %s\nadded: %s\nremoved: %s\nchanged: %s\n",
		cat.Len(), snap.Revision, db.Path(), from, fetched, listOrNone(ch.Added), listOrNone(ch.Removed), listOrNone(ch.Changed))
	return nil
}

func cmdConfig(args []string, stdout, stderr io.Writer, getenv func(string) string) error {
	fs := flag.NewFlagSet("config", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	if isHelpArg(args) {
		return &helpShown{fs: fs}
	}
	if len(args) != 2 || args[0] != "check" {
		return usageErr("usage: runtimesd config check FILE")
	}
	// The API key file is often only readable on the target host (a systemd credential, a
	// mounted secret): not finding it here is a warning, not an invalid config.
	cfg, err := loadChecked(args[1], getenv, nil)
	var keyErr *keyFileError
	if errors.As(err, &keyErr) {
		fmt.Fprintf(stderr, "runtimesd: warning: %v (checked here without it)\n", err)
		cfg.ControlPlane.APIKeyFile, err = "", nil
		if cerr := cfg.Validate(); cerr != nil {
			data, _ := os.ReadFile(args[1])
			err = withLines(data, cerr)
		}
	}
	var fe *fileError
	if err != nil && !errors.As(err, &fe) { // a fileError names the path already
		err = fmt.Errorf("config %s: %w", args[1], err)
	}
	if err != nil {
		return err
	}
	fmt.Fprint(stdout, cfg.Redacted())
	return nil
}

// cmdVersionArgs is `runtimesd version`: it takes no argument.
func cmdVersionArgs(args []string, stdout, _ io.Writer) error {
	if isHelpArg(args) {
		return &helpShown{fs: flag.NewFlagSet("version", flag.ContinueOnError)}
	}
	if len(args) > 0 {
		return usageErr("version: takes no argument, got %q", args[0])
	}
	return cmdVersion(stdout)
}

func cmdVersion(w io.Writer) error {
	commit := "unknown"
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" {
				commit = s.Value
			}
		}
	}
	fmt.Fprintf(w, "runtimesd %s\ncommit: %s\ngo: %s\nbbolt schema: %d\n", version, commit, runtime.Version(), store.SchemaVersion)
	return nil
}
