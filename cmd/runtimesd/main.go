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
)

// version is set at build time with -ldflags "-X main.version=v1.2.3".
var version = "dev"

// dbFile is the bbolt file's name inside the data directory.
const dbFile = "runtimesd.db"

// devAPIKey is the key `serve --dev` gives its in-process fake control plane.
const devAPIKey = "dev-only-key"

func main() {
	os.Exit(runCommand(context.Background(), os.Args[1:], os.Stdout, os.Stderr, os.Getenv))
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

// runCommand runs one command and returns the exit code: 0 clean, 1 failure, 2 bad usage.
func runCommand(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) int {
	stdout, stderr = termSafe{stdout}, termSafe{stderr}
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

// invalidConfig words a Validate error as `config check` does: the file named once, then each
// bad key by its dotted path and line.
func invalidConfig(path string, err error) error {
	if path == "" {
		return fmt.Errorf("config: %w", err)
	}
	data, _ := os.ReadFile(path)
	return fmt.Errorf("config %s: %w", path, withLines(data, err))
}

// loadClientConfig is loadConfig for the commands that never call the control plane or a
// relay (the clients, policy test, export, import): the API key file and the relays' token
// file are not read. The service's own config names files only the service can read (a
// systemd credential, a mounted secret), and it is still what tells these commands where the
// daemon listens and where the data lives.
func loadClientConfig(c common, getenv func(string) string) (Config, error) {
	cfg, err := LoadConfigFile(c.config)
	if err != nil {
		return cfg, err
	}
	cfg.ControlPlane.APIKeyFile, cfg.ControlPlane.RelayTokenFile = "", ""
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
	opts := storeOptions(cfg)
	opts.Logger, opts.ReadOnly, opts.OnCommit = logger, readOnly, onCommit
	for _, f := range more {
		f(&opts)
	}
	if fi, err := os.Stat(dir); err == nil && !fi.IsDir() {
		return nil, fmt.Errorf("data directory %s is a file, not a directory (give --data, or data_dir, the directory holding %s)", dir, dbFile)
	}
	path := filepath.Join(dir, dbFile)
	db, err := store.Open(path, opts)
	if err != nil {
		if errors.Is(err, fs.ErrPermission) || errors.Is(err, syscall.EROFS) {
			return nil, explainDataDir(path, err, readOnly)
		}
		return nil, err
	}
	return db, nil
}

// explainDataDir is the dataDirError of a data file this user may not use: written by
// serve, sync and import; only read by export and the --offline lookups, whose message
// must not say "cannot be written" about a file they never write.
func explainDataDir(path string, err error, readOnly bool) error {
	msg := store.ExplainUnwritable(path, err)
	if readOnly {
		msg = strings.Replace(msg, " cannot be written", " cannot be read", 1)
		msg = strings.Replace(msg, " is not writable by ", " is not readable by ", 1)
	}
	return &dataDirError{msg: msg, err: err}
}

// storeOptions are the data file's options from the config.
func storeOptions(cfg Config) store.Options {
	return store.Options{
		LockTimeout:     cfg.Store.LockTimeout.D(),
		ChangeLogSize:   cfg.Store.ChangeLogSize,
		HighWaterWindow: cfg.Sync.GuardWindow.D(),
	}
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
	opts := breakerOptions(cfg)
	opts.Store, opts.OnTransition, opts.Logger = db, onTransition, logger
	opts.IsSuccessful, opts.IsExcluded = rsync.IsSuccessful, rsync.IsExcluded
	return health.NewBreakers(rsync.CallKinds, opts)
}

// breakerOptions are the circuit breakers' options from the config.
func breakerOptions(cfg Config) health.BreakerOptions {
	br := cfg.ControlPlane.Breaker
	return health.BreakerOptions{
		ConsecutiveFailures: br.ConsecutiveFailures,
		FailureRatio:        br.FailureRatio,
		MinRequests:         br.MinRequests,
		Window:              br.Window.D(),
		OpenTimeout:         br.OpenTimeout.D(),
		HalfOpenProbes:      br.HalfOpenProbes,
	}
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
	opts := clientOptions(cfg)
	opts.APIKey, opts.Breakers, opts.Logger, opts.OnCall = cfg.apiKey, breakers, logger, onCall
	return rsync.NewClient(opts)
}

// clientOptions are the control-plane client's options from the config (no key, no breakers).
func clientOptions(cfg Config) rsync.ClientOptions {
	retries := cfg.ControlPlane.Retry.Attempts
	if retries == 0 {
		retries = -1 // none
	}
	return rsync.ClientOptions{
		BaseURL:            cfg.ControlPlane.BaseURL,
		Timeout:            cfg.ControlPlane.Timeout.D(),
		MaxResponseBytes:   cfg.ControlPlane.MaxResponseBytes,
		Retries:            retries,
		RetryBase:          cfg.ControlPlane.Retry.Base.D(),
		RetryMax:           cfg.ControlPlane.Retry.Max.D(),
		MaxRetryAfter:      cfg.ControlPlane.MaxRetryAfter.D(),
		UserAgent:          "runtimesd/" + version,
		CAFile:             cfg.ControlPlane.CAFile,
		InsecureSkipVerify: cfg.ControlPlane.InsecureSkipVerify,
	}
}

// pollerTunables are the poller's settings that a reload changes (see settings).
func pollerTunables(cfg Config) rsync.Tunables {
	return rsync.Tunables{Schedule: cfg.Sync.Schedule, Jitter: cfg.Sync.Jitter.D(), RunTimeout: cfg.Sync.RunTimeout.D(),
		HoldRepeats: cfg.Sync.HoldRepeats, DropRatio: cfg.Sync.DropRatio}
}

func pollerOptions(cfg Config, up rsync.Upstream, disabled string, db *store.DB, live *store.Live, logger *slog.Logger) rsync.Options {
	t := pollerTunables(cfg)
	return rsync.Options{
		Upstream:         up,
		DisabledReason:   disabled,
		DB:               db,
		Live:             live,
		RequirementsMode: rsync.RequirementsMode(cfg.ControlPlane.RequirementsMode),
		Concurrency:      cfg.ControlPlane.RequirementsConcurrency,
		Schedule:         t.Schedule,
		Jitter:           t.Jitter,
		RunTimeout:       t.RunTimeout,
		HoldRepeats:      t.HoldRepeats,
		DropRatio:        t.DropRatio,
		History:          cfg.Sync.History,
		Logger:           logger,
	}
}

// apiOptions are the HTTP API's options from the config and the reloadable settings; Run adds
// the running parts (Live, Syncer, Breakers, metrics, logger, policy rules).
func apiOptions(cfg Config, p settings) httpapi.Options {
	return httpapi.Options{
		Validator:         p.API.Validator,
		Classifier:        p.API.Classifier,
		ValidateMode:      p.API.ValidateMode,
		Fallback:          p.API.Fallback,
		MaxStale:          p.API.MaxStale,
		ControlPlaneURL:   cfg.ControlPlane.BaseURL,
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
		SyncWait:          cfg.HTTP.SyncWait.D(),
		ShutdownTimeout:   cfg.HTTP.ShutdownTimeout.D(),
		ReadHeaderTimeout: cfg.HTTP.ReadHeaderTimeout.D(),
		ReadTimeout:       cfg.HTTP.ReadTimeout.D(),
		WriteTimeout:      cfg.HTTP.WriteTimeout.D(),
		MaxConnections:    cfg.HTTP.MaxConnections,
		AllowedHosts:      cfg.HTTP.AllowedHosts,
		Version:           version,
	}
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
		return invalidConfig(c.config, err)
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
	cfg, err := loadClientConfig(c, getenv)
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
	cfg, err := loadClientConfig(c, getenv)
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
