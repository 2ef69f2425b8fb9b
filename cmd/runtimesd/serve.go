package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"runtime/debug"
	"syscall"
	"time"

	"github.com/runtimesd/runtimesd/health"
	"github.com/runtimesd/runtimesd/health/policy"
	"github.com/runtimesd/runtimesd/httpapi"
	"github.com/runtimesd/runtimesd/store"
	rsync "github.com/runtimesd/runtimesd/sync"
	"github.com/runtimesd/runtimesd/sync/fakecp"
)

// Main is the daemon, `runtimesd serve` (the shape of WTF Dial's cmd/wtfd): NewMain,
// ParseFlags, Run to start it, then Close to stop it. Run starts every part in order (store,
// breakers, client, poller, HTTP server) and returns once the daemon serves; Close stops them
// in reverse order. Tests run the daemon in-process through it.
type Main struct {
	// Flags of `serve` (ParseFlags).
	ConfigPath, DataDir, Listen, SeedPath string
	Dev                                   bool

	// Config is the config in force: the file, the environment, then the flags (Run).
	Config Config

	Stderr io.Writer
	Getenv func(string) string

	Logger *slog.Logger
	level  *slog.LevelVar

	devURL, devDir string
	fake           *fakecp.Server
	metrics        *metrics

	DB       *store.DB
	Live     *store.Live
	Breakers *health.Breakers
	Client   *rsync.Client // nil without an API key
	Poller   *rsync.Poller
	API      *httpapi.Server
	Rules    *policy.Holder // the organisation's policy rules in force (issue 18)
	reloader *reloader
	stopGC   func() // undoes the GC floor (gcfloor.go)
	node     string // this daemon's name in relay chains (relay.go), chosen once

	abandoned chan struct{} // closed once a data file opened after an interrupt is closed again
	serving   bool          // the HTTP server was started: Close logs the shutdown
	closed    bool
}

// NewMain returns a daemon that logs to stderr and reads the environment through getenv.
func NewMain(stderr io.Writer, getenv func(string) string) *Main {
	return &Main{Stderr: stderr, Getenv: getenv, Logger: slog.New(slog.DiscardHandler)}
}

// ParseFlags parses the flags of `serve`.
func (m *Main) ParseFlags(args []string) error {
	var c common
	fs := newFlags("serve", m.Stderr, &c)
	fs.StringVar(&m.Listen, "listen", "", "listen address: host:port or unix:/path (overrides listen)")
	fs.StringVar(&m.SeedPath, "seed", "", "snapshot file to serve when nothing is stored (from `runtimesd export`, or a saved GET /api/v1/runtimes)")
	fs.BoolVar(&m.Dev, "dev", false, "start an in-process fake control plane with the public catalog and sync from it")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usageErr("serve: unexpected argument %q", fs.Arg(0))
	}
	m.ConfigPath, m.DataDir = c.config, c.data
	return nil
}

// errInterrupted is a start-up step abandoned because a signal asked the daemon to stop.
var errInterrupted = errors.New("interrupted by a signal during start-up")

// Run starts the daemon and returns once it serves. When ctx ends during start-up (a signal)
// it returns errInterrupted; on any error the caller still calls Close.
func (m *Main) Run(ctx context.Context) error {
	if err := m.loadConfig(); err != nil {
		return err
	}
	var loaded func()
	loaded, m.stopGC = startGCFloor(m.Getenv, m.Logger, filepath.Join(m.Config.DataDir, dbFile))
	err := m.openStore(ctx)
	loaded()
	if err != nil {
		return err
	}
	initial, err := m.initialSnapshot()
	if err != nil {
		return err
	}
	m.Live = store.NewLive(initial)
	if err := m.openUpstream(); err != nil {
		return err
	}
	if err := m.newAPI(); err != nil {
		return err
	}
	if ctx.Err() != nil {
		return errInterrupted
	}
	if err := m.serve(); err != nil {
		return err
	}
	// Loading and priming leave garbage behind (the file's records, decode and encode buffers):
	// hand it back to the OS once the background priming is done rather than at the next GC
	// cycles, so RSS reflects what is kept. Not before: a forced collection beside the start
	// slowed the way to ready, and the pages it returned were faulted in again by the priming.
	go func() {
		select {
		case <-m.API.Primed():
			debug.FreeOSMemory()
		case <-ctx.Done():
		}
	}()
	m.reloader = &reloader{path: m.ConfigPath, overrides: m.overrides, getenv: m.Getenv, cur: m.Config,
		level: m.level, poller: m.Poller, api: m.API, rules: m.Rules, logger: m.Logger}
	return m.Poller.Start()
}

// loadConfig reads the config file and the environment, starts the dev fake control plane
// when asked, applies the flags and validates the result.
func (m *Main) loadConfig() error {
	cfg, err := LoadConfigFile(m.ConfigPath)
	if err != nil {
		return err
	}
	if err := cfg.ApplyEnv(m.Getenv); err != nil {
		return err
	}
	m.Logger, m.level = newLeveledLogger(cfg.Log, m.Stderr)
	if err := m.startDev(); err != nil {
		return err
	}
	m.overrides(&cfg)
	if m.Dev {
		m.Logger.Warn("dev mode: syncing from an in-process fake control plane serving the public catalog",
			"control_plane", m.devURL, "data_dir", cfg.DataDir)
	}
	if err := cfg.Validate(); err != nil {
		return invalidConfig(m.ConfigPath, err)
	}
	m.Config = cfg
	m.node = nodeName(cfg)
	return nil
}

// startDev starts the in-process fake control plane of --dev, and a scratch data directory
// when --data is not given.
func (m *Main) startDev() error {
	if !m.Dev {
		return nil
	}
	fake, err := fakecp.Start(fakecp.Options{APIKey: devAPIKey, ETags: true})
	if err != nil {
		return fmt.Errorf("start dev control plane: %w", err)
	}
	m.fake, m.devURL = fake, fake.URL()
	if m.DataDir == "" {
		dir, err := os.MkdirTemp("", "runtimesd-dev-")
		if err != nil {
			return fmt.Errorf("make dev data directory: %w", err)
		}
		m.devDir = dir
	}
	return nil
}

// overrides are the flags and --dev settings, applied over the file at start and at every
// reload alike.
func (m *Main) overrides(cfg *Config) {
	if m.DataDir != "" {
		cfg.DataDir = m.DataDir
	}
	if m.Listen != "" {
		cfg.Listen = m.Listen
	}
	if m.Dev {
		cfg.ControlPlane.BaseURL, cfg.apiKey = m.devURL, devAPIKey
		if m.DataDir == "" {
			cfg.DataDir = m.devDir
		}
	}
}

// openStore opens the data file, giving up when ctx ends (a signal during a long
// store.lock_timeout wait: the daemon exits at once). The open cannot be canceled: a file it
// opens after that is closed in the background, and m.abandoned is closed then (tests wait on
// it before removing the directory; Close must not, or a signal would wait out the lock).
func (m *Main) openStore(ctx context.Context) error {
	m.metrics = newMetrics()
	type result struct {
		db  *store.DB
		err error
	}
	ch := make(chan result, 1)
	cfg, getenv, logger, onCommit := m.Config, m.Getenv, m.Logger, m.metrics.onCommit
	go func() {
		// The daemon keeps serving (and syncing in memory) when its file cannot be written.
		db, err := openStoreWith(cfg, getenv, logger, false, onCommit, func(o *store.Options) { o.MemoryFallback = true })
		ch <- result{db, err}
	}()
	select {
	case r := <-ch:
		m.DB = r.db
		return r.err
	case <-ctx.Done():
		m.abandoned = make(chan struct{})
		go func() {
			defer close(m.abandoned)
			if r := <-ch; r.db != nil {
				_ = r.db.Close()
			}
		}()
		return errInterrupted
	}
}

// initialSnapshot is what is served before the first sync: the stored snapshot, else the
// --seed file, else the built-in seed catalog.
func (m *Main) initialSnapshot() (*store.Snapshot, error) {
	initial := m.DB.Loaded()
	switch {
	case initial != nil:
		m.Logger.Info("serving the stored snapshot", "file", m.DB.Path(), "revision", initial.Revision, "runtimes", initial.Catalog.Len())
	case m.SeedPath != "":
		data, err := os.ReadFile(m.SeedPath)
		if err != nil {
			return nil, fmt.Errorf("--seed: %w", err)
		}
		cat, err := store.ParseSnapshotFile(data)
		if err != nil {
			return nil, fmt.Errorf("--seed %s: %w", m.SeedPath, err)
		}
		initial = &store.Snapshot{Source: store.SourceSeed, Catalog: cat, SeedFile: m.SeedPath}
		m.Logger.Info("nothing stored yet: serving the seed file until the first sync", "file", m.SeedPath, "runtimes", cat.Len(),
			"data_file", m.DB.Path())
	default:
		initial = &store.Snapshot{Source: store.SourceSeed, Catalog: store.SeedCatalog()}
		m.Logger.Info("nothing stored yet: serving the built-in seed catalog until the first sync", "runtimes", initial.Catalog.Len(),
			"data_file", m.DB.Path())
	}
	if ahead := time.Until(initial.FetchedAt); ahead > store.ClockSkewTolerance {
		m.Logger.Warn("clock skew: the stored data's fetched_at is ahead of this machine's clock; its age is unknown and it counts as stale until a sync confirms it",
			"fetched_at", initial.FetchedAt.UTC().Format(time.RFC3339), "ahead", ahead.Truncate(time.Second).String())
	}
	return initial, nil
}

// openUpstream builds the circuit breakers, the control-plane client (none without an API
// key: the daemon then serves what it has and says why it does not sync) and the poller.
func (m *Main) openUpstream() error {
	breakers, err := newBreakers(m.Config, m.DB, m.Logger, m.metrics.onTransition)
	if err != nil {
		return err
	}
	m.Breakers = breakers
	var up rsync.Upstream
	disabled := ""
	if m.Config.apiKey == "" {
		disabled = "no API key: set " + EnvAPIKey + " or control_plane.api_key_file"
	} else {
		if m.Client, err = newClient(m.Config, breakers, m.Logger, m.metrics.onCall); err != nil {
			return fmt.Errorf("config: %w", err)
		}
		up = m.Client
	}
	// Fleet mode (relay.go): a sidecar with relays follows them instead of the control plane.
	if relays, err := newRelays(m.Config, m.node, m.Client, m.Logger); err != nil {
		return err
	} else if relays != nil {
		up, disabled = relays, ""
	}
	popts := pollerOptions(m.Config, up, disabled, m.DB, m.Live, m.Logger)
	popts.OnRun = m.metrics.onRun
	if m.Poller, err = rsync.NewPoller(popts); err != nil {
		return fmt.Errorf("config: %w", err)
	}
	return nil
}

// newAPI builds the HTTP API and registers the state collector of /metrics.
func (m *Main) newAPI() error {
	set, err := newSettings(m.Config)
	if err != nil {
		return err
	}
	m.Rules = &policy.Holder{}
	if _, err := m.Rules.Replace(set.Rules, set.RuleOptions); err != nil {
		return fmt.Errorf("config: policy: %w", err)
	}
	// The client is handed over whatever the mode: validation.mode is reloadable, and the
	// handler reads the mode in force on each request.
	var upstreamValidator httpapi.UpstreamValidator
	if m.Client != nil {
		upstreamValidator = m.Client
	} else if m.Config.Validation.Mode == httpapi.ValidateUpstream {
		m.Logger.Warn("validation.mode is upstream but there is no API key: validating locally")
	}
	opts := apiOptions(m.Config, set)
	opts.Policy, opts.NodeName = m.Rules, m.node
	opts.Live, opts.Syncer, opts.Breakers, opts.UpstreamValidator = m.Live, m.Poller, m.Breakers, upstreamValidator
	opts.Registerer, opts.Gatherer = m.metrics.reg, m.metrics.reg
	opts.Notices, opts.Conditions = startupNotices(m.DB), storeConditions(m.DB)
	opts.Logger = m.Logger
	if m.API, err = httpapi.New(opts); err != nil {
		return err
	}
	m.metrics.reg.MustRegister(newStateCollector(m.Live, m.DB, m.Poller, m.Breakers, m.API.Settings))
	m.metrics.reg.MustRegister(newPolicyCollector(m.Rules))
	return nil
}

// serve binds the listen address (a busy port fails here), warns about exposed or unverified
// set-ups, and serves in the background.
func (m *Main) serve() error {
	cfg := m.Config
	if err := m.API.Listen(cfg.Listen); err != nil {
		return err
	}
	m.serving = true
	m.securityWarnings()
	m.API.Serve()
	m.Logger.Info("listening", "addr", m.API.Addr(), "version", version, "control_plane", cfg.ControlPlane.BaseURL,
		"sync", m.Client != nil, "schedule", cfg.Sync.Schedule)
	return nil
}

// securityWarnings names the settings that expose the catalog or the API key.
func (m *Main) securityWarnings() {
	cfg := m.Config
	if !isLoopback(cfg.Listen) {
		if cfg.token == "" {
			m.Logger.Warn("SECURITY: listening beyond loopback WITHOUT a token: anyone who can reach this address can read the catalog and trigger syncs; set "+EnvToken+" (and http.token_reads) or listen on 127.0.0.1",
				"listen", cfg.Listen)
		} else if !cfg.HTTP.TokenReads {
			m.Logger.Warn("listening beyond loopback: reads are open to anyone who can reach this address (http.token_reads is off)", "listen", cfg.Listen)
		}
	}
	if cfg.ControlPlane.InsecureSkipVerify {
		m.Logger.Warn("SECURITY: TLS verification of the control plane is OFF (control_plane.insecure_skip_verify): the API key can be sent to an impostor")
	}
}

// Reload re-reads the config file and applies what can change while running (SIGHUP).
func (m *Main) Reload() {
	if m.reloader != nil {
		m.reloader.reload()
	}
}

// Close stops the daemon in reverse order of start: the sync in flight, HTTP, the data file,
// then the dev fake. It is idempotent and safe after a failed Run.
func (m *Main) Close() error {
	if m.closed {
		return nil
	}
	m.closed = true
	// The sync in flight is canceled first: it commits nothing from here on, and the clients
	// waiting on it (POST /v1/sync, max-age=0 reads) are answered at once that the daemon is
	// shutting down, so the HTTP shutdown does not wait for a hung control plane.
	var errs []error
	if m.Poller != nil {
		if err := m.Poller.Close(); err != nil {
			errs = append(errs, fmt.Errorf("poller: %w", err))
		}
	}
	if m.serving {
		m.Logger.Info("shutting down")
	}
	if m.API != nil {
		if err := m.API.Shutdown(); err != nil {
			errs = append(errs, fmt.Errorf("http shutdown: %w", err))
		}
	}
	if m.DB != nil {
		if err := m.DB.Close(); err != nil {
			errs = append(errs, fmt.Errorf("close store: %w", err))
		}
	}
	if m.fake != nil {
		m.fake.Close()
	}
	if m.devDir != "" {
		_ = os.RemoveAll(m.devDir)
	}
	if m.stopGC != nil {
		m.stopGC()
	}
	if len(errs) == 0 && m.serving {
		m.Logger.Info("stopped")
	}
	return errors.Join(errs...)
}

// cmdServe is `runtimesd serve`: it runs Main until SIGINT or SIGTERM, and reloads the config
// on SIGHUP.
func cmdServe(ctx context.Context, args []string, stderr io.Writer, getenv func(string) string) error {
	// Signals are trapped first thing: SIGINT or SIGTERM during start-up is a clean, quick exit
	// (checked after every step that can take time), never a death by the signal.
	sigCtx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	// SIGHUP re-reads the config; caught from the start so an early one cannot kill the daemon.
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)

	m := NewMain(stderr, getenv)
	if err := m.ParseFlags(args); err != nil {
		return err
	}
	if err := m.Run(sigCtx); err != nil {
		cerr := m.Close()
		if errors.Is(err, errInterrupted) {
			m.Logger.Info("signal received during start-up: exiting")
			return cerr
		}
		return err
	}
	for running := true; running; {
		select {
		case <-hup:
			m.Reload()
		case <-sigCtx.Done():
			running = false
		}
	}
	stop() // a second signal now gets the default action: exit at once
	return m.Close()
}
