package store

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"sync"
	"syscall"
	"time"

	bolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"
)

// MaxIDBytes is the longest runtime id this build stores: bbolt's key limit. A longer one
// failed the commit of the whole catalog, run after run, so one such object stopped every
// sync; NewRuntime refuses it, and a sync leaves it out like any other invalid object.
const MaxIDBytes = bolt.MaxKeySize

// SchemaVersion is the layout of the bbolt file this build writes and reads.
const SchemaVersion = 1

var (
	// ErrLocked means another process (usually another runtimesd) holds the data file.
	ErrLocked = errors.New("data file is locked by another process")
	// ErrNewerSchema means the file was written by a newer runtimesd; it is left untouched.
	ErrNewerSchema = errors.New("data file was written by a newer runtimesd")
	// ErrUnknownSchema means the file claims a schema version below any runtimesd wrote (0,
	// negative); its layout cannot be known, so it is refused and left untouched.
	ErrUnknownSchema = errors.New("data file has a schema version no runtimesd release wrote")
	// ErrCorrupt is wrapped when a file cannot be read as a runtimesd store.
	ErrCorrupt = errors.New("data file is corrupt")
)

var (
	bucketMeta     = []byte("meta")
	bucketRuntimes = []byte("runtimes")
	bucketChanges  = []byte("changes")

	keySchema    = []byte("schema")
	keyRevision  = []byte("revision")
	keySource    = []byte("source")
	keyFetchedAt = []byte("fetched_at")
	keyUpdatedAt = []byte("updated_at")
	keyOrder     = []byte("order")
	keyHighWater = []byte("high_water")
)

// Options configure a DB. Zero values take the defaults.
type Options struct {
	// LockTimeout bounds the wait for the file lock (default 1s): a second instance fails fast.
	LockTimeout time.Duration
	// ChangeLogSize bounds the change records kept (default 1000).
	ChangeLogSize int
	Logger        *slog.Logger
	Now           func() time.Time
	// ReadOnly opens the file for reading only (offline lookups beside no daemon).
	ReadOnly bool
	// OnCommit, when set, is told how long each commit took (metrics).
	OnCommit func(time.Duration)
	// HighWaterWindow is how far back HighWater looks (default 24h).
	HighWaterWindow time.Duration
	// MemoryFallback keeps a daemon running when its data file cannot be written: a
	// read-only file is opened read-only, an unwritable directory gets a scratch file, and
	// commits then live in memory only (NotPersisting says why). Without it those are errors.
	MemoryFallback bool
	// FileCheckInterval is how often the data file is checked for having been replaced or
	// changed by another process (default 5s); every commit checks it too.
	FileCheckInterval time.Duration
}

// DefaultOptions are the values Open gives zero fields (the daemon's config documents and
// reuses them).
func DefaultOptions() Options {
	var o Options
	o.setDefaults()
	return o
}

func (o *Options) setDefaults() {
	if o.LockTimeout <= 0 {
		o.LockTimeout = time.Second
	}
	if o.ChangeLogSize <= 0 {
		o.ChangeLogSize = 1000
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.HighWaterWindow <= 0 {
		o.HighWaterWindow = 24 * time.Hour
	}
	if o.FileCheckInterval <= 0 {
		o.FileCheckInterval = 5 * time.Second
	}
}

// DB is the bbolt file that keeps the last committed snapshot and the change log.
//
// Only Commit writes, and only one Commit runs at a time (mu). The in-memory copy of what is
// stored (stored, revision, changes) is what Commit diffs against, so a commit never reads
// the file back.
type DB struct {
	path       string
	opts       Options
	bolt       *bolt.DB
	movedAside string

	mu       sync.Mutex
	loaded   *Snapshot
	stored   *Catalog
	revision uint64
	changes  []Change
	closed   bool
	// onFile is the fetched_at and source in the file's meta bucket (see Confirm).
	onFile struct {
		fetchedAt time.Time
		src       Source
	}

	// hwMu guards hw and hwServed apart from mu, so that health reads never wait on a commit.
	hwMu     sync.Mutex
	hw       highWater
	hwServed int
	// ident is the data file as this process last wrote or opened it; a file at path that no
	// longer matches was replaced or changed by another process.
	ident fileIdent
	// memOnly, when set, says why commits are kept in memory and not written.
	memOnly string
	// scratch is a temporary directory holding the bbolt file when the data directory
	// cannot be written (MemoryFallback); removed at Close.
	scratch   string
	stopCheck chan struct{}
	checkDone chan struct{}
}

// Open opens (or creates) the data file at path, checks it, and loads the stored snapshot.
// The directory is created 0700 and the file 0600. A file that is not a readable runtimesd
// store is renamed aside (see MovedAside) and a fresh one is created; a file locked by another
// process fails with ErrLocked after Options.LockTimeout.
func Open(path string, opts Options) (*DB, error) {
	opts.setDefaults()
	db, err := openAny(path, opts)
	if err == nil {
		db.startChecking()
	}
	return db, err
}

// openAny opens the file, falling back to memory-only operation (MemoryFallback) when the
// file or its directory cannot be written.
func openAny(path string, opts Options) (*DB, error) {
	if !opts.ReadOnly {
		if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
			if opts.MemoryFallback && unwritable(err) {
				return openScratch(path, opts, "the data directory cannot be created: "+ExplainUnwritable(filepath.Dir(path), err))
			}
			return nil, fmt.Errorf("create data directory: %w", err)
		}
	}
	db, err := openPersistent(path, opts)
	if err != nil && opts.MemoryFallback && !opts.ReadOnly && unwritable(err) {
		if _, serr := os.Stat(path); serr == nil {
			ro := opts
			ro.ReadOnly = true
			rdb, rerr := openWaiting(path, ro)
			if rerr == nil {
				rdb.memOnly = "the data file cannot be written: " + ExplainUnwritable(path, err)
				rdb.opts.Logger.Error("data file is not writable: serving the stored snapshot; syncs are kept in memory and NOT persisted",
					"file", path, "error", err.Error())
				return rdb, nil
			}
			return nil, rerr
		}
		return openScratch(path, opts, "the data file cannot be created: "+ExplainUnwritable(path, err))
	}
	return db, err
}

// unwritable reports whether err means the file system refuses writes (permissions, a
// read-only mount, an immutable file).
func unwritable(err error) bool {
	return errors.Is(err, fs.ErrPermission) || errors.Is(err, syscall.EROFS) || errors.Is(err, syscall.EPERM)
}

// openScratch opens a bbolt file in a temporary directory so the daemon runs without its
// data directory; nothing is persisted.
func openScratch(path string, opts Options, why string) (*DB, error) {
	dir, err := os.MkdirTemp("", "runtimesd-scratch-")
	if err != nil {
		return nil, fmt.Errorf("%s, and no scratch file: %w", why, err)
	}
	db, err := openChecked(filepath.Join(dir, filepath.Base(path)), opts)
	if err != nil {
		_ = os.RemoveAll(dir)
		return nil, err
	}
	db.path, db.scratch, db.memOnly = path, dir, why
	opts.Logger.Error("data directory is not writable: serving seed data; syncs are kept in memory and NOT persisted",
		"file", path, "reason", why)
	return db, nil
}

// openPersistent opens the data file for writing, moving a corrupt one aside.
func openPersistent(path string, opts Options) (*DB, error) {
	db, err := openWaiting(path, opts)
	if err == nil {
		warnLoosePermissions(path, opts.Logger)
	}
	if err == nil || !errors.Is(err, ErrCorrupt) || opts.ReadOnly {
		return db, err
	}
	aside := fmt.Sprintf("%s.corrupt-%s", path, opts.Now().UTC().Format("20060102T150405.000000000Z"))
	if rerr := os.Rename(path, aside); rerr != nil {
		return nil, fmt.Errorf("%w; moving it aside failed: %v", err, rerr)
	}
	opts.Logger.Warn("data file was corrupt; moved it aside and started a new one",
		"file", path, "moved_to", aside, "reason", err.Error())
	db, err = openChecked(path, opts)
	if err != nil {
		return nil, err
	}
	warnLoosePermissions(path, opts.Logger)
	db.movedAside = aside
	return db, nil
}

// fileIdent identifies the data file's contents as this process left them.
type fileIdent struct {
	dev, ino uint64
	size     int64
	mtime    time.Time
}

func identOf(path string) (fileIdent, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return fileIdent{}, err
	}
	id := fileIdent{size: fi.Size(), mtime: fi.ModTime()}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		id.dev, id.ino = uint64(st.Dev), st.Ino
	}
	return id, nil
}

// startChecking records the file's identity and checks it on a timer until Close.
func (db *DB) startChecking() {
	if db.memOnly != "" || db.opts.ReadOnly {
		return
	}
	db.ident, _ = identOf(db.path)
	db.stopCheck, db.checkDone = make(chan struct{}), make(chan struct{})
	go func() {
		defer close(db.checkDone)
		t := time.NewTicker(db.opts.FileCheckInterval)
		defer t.Stop()
		for {
			select {
			case <-t.C:
				db.mu.Lock()
				if !db.closed {
					db.checkFileLocked()
				}
				db.mu.Unlock()
			case <-db.stopCheck:
				return
			}
		}
	}()
}

// checkFileLocked stops writes when the file at path is no longer the one this process
// writes: replaced (mv: another inode), removed, or overwritten in place (cp: same inode,
// another size or modification time). db.mu is held. Every write of this process must
// refresh db.ident afterwards (Commit and put do), or it would count as a foreign change.
func (db *DB) checkFileLocked() {
	if db.memOnly != "" || db.opts.ReadOnly {
		return
	}
	now, err := identOf(db.path)
	var why string
	switch {
	case err != nil:
		why = fmt.Sprintf("the data file %s is gone (%v)", db.path, err)
	case now.dev != db.ident.dev || now.ino != db.ident.ino:
		why = fmt.Sprintf("the data file %s was replaced by another file (moved over it)", db.path)
	case now.size == db.ident.size && now.mtime.Equal(db.ident.mtime):
		return
	default:
		why = fmt.Sprintf("the data file %s was changed by another process (overwritten in place)", db.path)
	}
	db.memOnly = why
	db.opts.Logger.Error("data file replaced under the daemon: no longer writing to it; serving and syncing in memory until a restart",
		"file", db.path, "reason", why)
}

// NotPersisting says why commits are kept in memory and not written to the data file (a
// read-only or replaced file), or "" when they are written.
func (db *DB) NotPersisting() string {
	db.mu.Lock()
	defer db.mu.Unlock()
	if db.memOnly == "" {
		return ""
	}
	return db.memOnly + ": nothing is persisted; syncs are served from memory and lost at restart"
}

// lockProbe is how long Open tries the file lock before it says it is waiting for it.
const lockProbe = 250 * time.Millisecond

// openWaiting is openChecked, but when the lock is not free at once and LockTimeout is longer
// than lockProbe, it logs that another process holds the file and how long it will wait, so
// a long store.lock_timeout does not look like a hang.
func openWaiting(path string, opts Options) (*DB, error) {
	if opts.LockTimeout <= lockProbe {
		return openChecked(path, opts)
	}
	probe := opts
	probe.LockTimeout = lockProbe
	db, err := openChecked(path, probe)
	if !errors.Is(err, ErrLocked) {
		return db, err
	}
	opts.Logger.Warn("data file is locked by another process (another runtimesd?); waiting for it",
		"file", path, "wait", (opts.LockTimeout - lockProbe).String(), "lock_timeout", opts.LockTimeout.String())
	opts.LockTimeout -= lockProbe
	db, err = openChecked(path, opts)
	if err == nil {
		opts.Logger.Info("data file lock acquired", "file", path)
	}
	return db, err
}

// warnLoosePermissions warns when the data file or its directory can be read or written by
// others than the owner (runtimesd creates them 0600 and 0700; an operator may have loosened
// them). They are not changed behind the operator's back.
func warnLoosePermissions(path string, logger *slog.Logger) {
	for _, p := range []struct {
		path string
		want fs.FileMode
	}{{filepath.Dir(path), 0o700}, {path, 0o600}} {
		fi, err := os.Stat(p.path)
		if err == nil && fi.Mode().Perm()&0o077 != 0 {
			logger.Warn("data file or directory is accessible to other users", "path", p.path,
				"mode", fmt.Sprintf("%#o", fi.Mode().Perm()), "want", fmt.Sprintf("%#o", p.want))
		}
	}
}

// openChecked opens and checks the file and loads what it holds.
func openChecked(path string, opts Options) (db *DB, err error) {
	var bdb *bolt.DB
	defer func() {
		// bbolt panics on some kinds of page corruption instead of returning an error.
		if r := recover(); r != nil {
			if bdb != nil {
				_ = bdb.Close()
			}
			db, err = nil, fmt.Errorf("%w: %s: %v", ErrCorrupt, path, r)
		}
	}()
	if err := checkLength(path); err != nil {
		return nil, err
	}
	bdb, err = bolt.Open(path, 0o600, &bolt.Options{
		Timeout:      opts.LockTimeout,
		ReadOnly:     opts.ReadOnly,
		FreelistType: bolt.FreelistMapType,
	})
	if err != nil {
		var pe *fs.PathError
		switch {
		case errors.Is(err, bolterrors.ErrTimeout):
			return nil, fmt.Errorf("%w: %s (is another runtimesd running with this data directory?)", ErrLocked, path)
		case errors.As(err, &pe), errors.Is(err, fs.ErrPermission), errors.Is(err, fs.ErrNotExist):
			return nil, fmt.Errorf("open %s: %w", path, err)
		default:
			return nil, fmt.Errorf("%w: %s: %v", ErrCorrupt, path, err)
		}
	}
	db = &DB{path: path, opts: opts, bolt: bdb}
	if err := db.checkAndLoad(); err != nil {
		_ = bdb.Close()
		return nil, err
	}
	return db, nil
}

// checkAndLoad checks the file and loads what it holds. On a file opened for writing the
// check (every page of the file, ~20 ms at 10,000 runtimes) runs beside the load, in its own
// read transaction; its verdict still comes first: a file the check refuses (corrupt, or of
// another schema) is refused whatever the load found, and the load has no effect until both
// are done. A read-only open checks first: bbolt v1.5 loads a read-only file's freelist on
// first use without a lock, so two transactions at once race there.
func (db *DB) checkAndLoad() error {
	if db.opts.ReadOnly {
		if err := db.check(); err != nil {
			return err
		}
		return db.load()
	}
	checked := make(chan error, 1)
	go func() { checked <- db.checkRecovered() }()
	var err error
	func() {
		// Wait for the check even when the load panics: the file is closed only once no
		// transaction of the check is open, and the check's verdict wins over the panic too
		// (a newer schema's records need not decode here).
		defer func() {
			r := recover()
			switch cerr := <-checked; {
			case cerr != nil:
				err = cerr
			case r != nil:
				err = fmt.Errorf("%w: %s: %v", ErrCorrupt, db.path, r)
			}
		}()
		err = db.load()
	}()
	return err
}

// checkRecovered is check on a goroutine of its own: bbolt panics on some kinds of page
// corruption instead of returning an error, and the panic is the file's corruption.
func (db *DB) checkRecovered() (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%w: %s: %v", ErrCorrupt, db.path, r)
		}
	}()
	return db.check()
}

// check runs bbolt's consistency check and verifies the schema version.
func (db *DB) check() error {
	err := db.bolt.View(func(tx *bolt.Tx) error {
		for cerr := range tx.Check() {
			return fmt.Errorf("%w: %s: %v", ErrCorrupt, db.path, cerr)
		}
		meta := tx.Bucket(bucketMeta)
		if meta == nil {
			return nil
		}
		v := meta.Get(keySchema)
		if v == nil {
			return nil
		}
		n, err := strconv.Atoi(string(v))
		if err != nil {
			return fmt.Errorf("%w: %s: schema version %q", ErrCorrupt, db.path, v)
		}
		if n > SchemaVersion {
			return fmt.Errorf("%w: %s has schema %d, this build reads %d", ErrNewerSchema, db.path, n, SchemaVersion)
		}
		if n < 1 { // versions start at 1: nothing to migrate from
			return fmt.Errorf("%w: %s has schema version %d, this build reads %d and migrates nothing older: it is left untouched; move it aside and the daemon starts a new file (syncing, or serving the seed)",
				ErrUnknownSchema, db.path, n, SchemaVersion)
		}
		return nil
	})
	if err != nil {
		return err
	}
	if db.opts.ReadOnly {
		return nil
	}
	// Create the buckets once, on a new file; an existing file is not written at open.
	var missing bool
	_ = db.bolt.View(func(tx *bolt.Tx) error {
		missing = tx.Bucket(bucketMeta) == nil || tx.Bucket(bucketRuntimes) == nil || tx.Bucket(bucketChanges) == nil
		return nil
	})
	if !missing {
		return nil
	}
	return db.bolt.Update(func(tx *bolt.Tx) error {
		for _, name := range [][]byte{bucketMeta, bucketRuntimes, bucketChanges} {
			if _, err := tx.CreateBucketIfNotExists(name); err != nil {
				return err
			}
		}
		return tx.Bucket(bucketMeta).Put(keySchema, []byte(strconv.Itoa(SchemaVersion)))
	})
}

// load reads the stored snapshot into memory. Records are copied out inside the transaction.
func (db *DB) load() error {
	var (
		rev                  uint64
		src                  Source
		fetchedAt, updatedAt time.Time
		rts                  []*Runtime
		changes              []Change
		hw                   highWater
	)
	err := db.bolt.View(func(tx *bolt.Tx) error {
		meta := tx.Bucket(bucketMeta)
		if meta == nil {
			return nil
		}
		if v := meta.Get(keyRevision); v != nil {
			if len(v) != 8 {
				return fmt.Errorf("revision is %d bytes", len(v))
			}
			rev = binary.BigEndian.Uint64(v)
		}
		if rev == 0 {
			return nil
		}
		src = Source(meta.Get(keySource))
		if v := meta.Get(keyHighWater); v != nil {
			// A record this build cannot read only loses the history of sizes; the stored
			// catalog still counts (see HighWater).
			if err := json.Unmarshal(v, &hw); err != nil {
				hw = highWater{}
			}
		}
		var err error
		if fetchedAt, err = parseTime(meta.Get(keyFetchedAt)); err != nil {
			return fmt.Errorf("fetched_at: %v", err)
		}
		if updatedAt, err = parseTime(meta.Get(keyUpdatedAt)); err != nil {
			return fmt.Errorf("updated_at: %v", err)
		}
		var order []string
		if err := json.Unmarshal(meta.Get(keyOrder), &order); err != nil {
			return fmt.Errorf("order: %v", err)
		}
		bucket := tx.Bucket(bucketRuntimes)
		if bucket == nil {
			return errors.New("no runtimes bucket")
		}
		vals := make([][]byte, len(order))
		for i, id := range order {
			if vals[i] = bucket.Get([]byte(id)); vals[i] == nil {
				return fmt.Errorf("runtime %q listed but not stored", id)
			}
		}
		if rts, err = decodeRecords(order, vals); err != nil {
			return err
		}
		if cb := tx.Bucket(bucketChanges); cb != nil {
			return cb.ForEach(func(_, v []byte) error {
				var c Change
				if err := json.Unmarshal(v, &c); err != nil {
					return fmt.Errorf("change record: %v", err)
				}
				changes = append(changes, c)
				return nil
			})
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("%w: %s: %v", ErrCorrupt, db.path, err)
	}
	if rev == 0 {
		return nil
	}
	cat, err := NewCatalog(rts)
	if err != nil {
		return fmt.Errorf("%w: %s: %v", ErrCorrupt, db.path, err)
	}
	db.onFile.fetchedAt, db.onFile.src = fetchedAt, src
	if src != SourceImport {
		src = SourceCache
	}
	db.stored, db.revision, db.changes, db.hw, db.hwServed = cat, rev, changes, hw, cat.Len()
	db.loaded = &Snapshot{
		Revision: rev, Source: src, FetchedAt: fetchedAt, UpdatedAt: updatedAt,
		Catalog: cat, Changes: slices.Clone(changes),
	}
	return nil
}

// decodeRecords decodes the stored records of the runtimes in order (vals[i] is order[i]'s,
// read in the open transaction), on as many goroutines as there are CPUs: a cold start is
// mostly this (copying, checksumming and indexing each record, and the page faults of a new
// heap). The error is the first record's in order, as one goroutine would find it.
func decodeRecords(order []string, vals [][]byte) ([]*Runtime, error) {
	rts := make([]*Runtime, len(order))
	errs := make([]error, len(order))
	decode := func(lo, hi int) {
		for i := lo; i < hi; i++ {
			rt, err := decodeRecord(vals[i])
			switch {
			case err != nil:
				errs[i] = fmt.Errorf("runtime %q: %v", order[i], err)
			case rt.ID != order[i]:
				errs[i] = fmt.Errorf("runtime %q stored under %q", rt.ID, order[i])
			}
			if errs[i] != nil {
				return
			}
			rts[i] = rt
		}
	}
	n := len(order)
	workers := min(runtime.GOMAXPROCS(0), n/decodeBatch+1)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() { decode(w*n/workers, (w+1)*n/workers) })
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return nil, err
		}
	}
	return rts, nil
}

// decodeBatch is the fewest records worth a goroutine of their own.
const decodeBatch = 256

// Size is the data file's size in bytes (0 when it cannot be read).
func (db *DB) Size() int64 {
	fi, err := os.Stat(db.path)
	if err != nil {
		return 0
	}
	return fi.Size()
}

// Path is the data file's path.
func (db *DB) Path() string { return db.path }

// MovedAside is where a corrupt file was moved at Open, or "".
func (db *DB) MovedAside() string { return db.movedAside }

// Loaded is the snapshot found in the file at Open, or nil when the file held none.
func (db *DB) Loaded() *Snapshot { return db.loaded }

// WriteCount is the number of pages bbolt has written since Open: a commit that changes
// nothing must leave it unchanged. Tests and metrics read it.
func (db *DB) WriteCount() int64 {
	s := db.bolt.Stats()
	return s.TxStats.GetWrite()
}

// Commit stores next as a new revision in one transaction: it writes the runtimes that are
// new or changed relative to what is stored, deletes removed ones, bumps the revision and
// appends a change record (pruning the log to Options.ChangeLogSize). A crash leaves either
// the previous revision or this one. It returns the new snapshot; the caller publishes it.
func (db *DB) Commit(next *Catalog, src Source, now time.Time) (*Snapshot, error) {
	return db.CommitAt(next, src, now, now)
}

// CommitAt is Commit for data fetched from the control plane at fetchedAt rather than now (an
// import keeps its export's age; zero: never confirmed by the control plane).
func (db *DB) CommitAt(next *Catalog, src Source, fetchedAt, now time.Time) (*Snapshot, error) {
	db.mu.Lock()
	defer db.mu.Unlock()
	if db.closed {
		return nil, errors.New("commit: store is closed")
	}
	db.checkFileLocked()
	if db.opts.ReadOnly && db.memOnly == "" {
		return nil, errors.New("commit: store is open read-only")
	}
	change := DiffWithFields(db.stored, next)
	change.Revision = db.revision + 1
	change.Time = now.UTC()
	change.Source = src

	order := make([]string, 0, next.Len())
	for _, rt := range next.Runtimes() {
		order = append(order, rt.ID)
	}
	orderJSON, err := json.Marshal(order)
	if err != nil {
		return nil, fmt.Errorf("commit: %w", err)
	}
	changeJSON, err := json.Marshal(change)
	if err != nil {
		return nil, fmt.Errorf("commit: %w", err)
	}
	ts := []byte(now.UTC().Format(time.RFC3339Nano))
	var fetchedTS []byte
	if !fetchedAt.IsZero() {
		fetchedTS = []byte(fetchedAt.UTC().Format(time.RFC3339Nano))
	}
	write := slices.Concat(change.Added, change.Changed)
	db.hwMu.Lock()
	hw := highWater{Buckets: slices.Clone(db.hw.Buckets)}
	db.hwMu.Unlock()
	hw.observe(now, db.opts.HighWaterWindow, db.stored.Len(), next.Len())

	if db.memOnly != "" {
		return db.publishLocked(next, src, fetchedAt, now, change, hw), nil
	}
	started := time.Now()
	err = db.bolt.Update(func(tx *bolt.Tx) error {
		meta, rb, cb := tx.Bucket(bucketMeta), tx.Bucket(bucketRuntimes), tx.Bucket(bucketChanges)
		for _, id := range write {
			rt, _ := next.Get(id)
			if err := rb.Put([]byte(id), encodeRecord(rt)); err != nil {
				return err
			}
		}
		for _, id := range change.Removed {
			if err := rb.Delete([]byte(id)); err != nil {
				return err
			}
		}
		var revKey [8]byte
		binary.BigEndian.PutUint64(revKey[:], change.Revision)
		for _, kv := range [][2][]byte{
			{keySchema, []byte(strconv.Itoa(SchemaVersion))},
			{keyRevision, revKey[:]},
			{keySource, []byte(src)},
			{keyFetchedAt, fetchedTS},
			{keyUpdatedAt, ts},
			{keyOrder, orderJSON},
			{keyHighWater, hw.encode()},
		} {
			if err := meta.Put(kv[0], kv[1]); err != nil {
				return err
			}
		}
		if err := cb.Put(revKey[:], changeJSON); err != nil {
			return err
		}
		// Prune change records older than the bound (keys are big-endian revisions).
		if change.Revision <= uint64(db.opts.ChangeLogSize) {
			return nil
		}
		oldest := change.Revision - uint64(db.opts.ChangeLogSize) + 1
		c := cb.Cursor()
		for k, _ := c.First(); k != nil && binary.BigEndian.Uint64(k) < oldest; k, _ = c.First() {
			if err := c.Delete(); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("commit revision %d: %w", change.Revision, err)
	}
	if db.opts.OnCommit != nil {
		db.opts.OnCommit(time.Since(started))
	}
	db.ident, _ = identOf(db.path)
	db.onFile.fetchedAt, db.onFile.src = fetchedAt, src
	return db.publishLocked(next, src, fetchedAt, now, change, hw), nil
}

// Confirm records that the control plane confirmed the stored revision at fetchedAt, from
// src, without a change: it writes the fetched_at and source keys only (no revision, no
// change record), so a restart dates the data from its last confirmation rather than from its
// last change (which could make data confirmed a minute ago look hours old, stale, while the
// control plane is down). To keep an unchanged sync every 30 s from writing every time, it
// writes only when src differs from the file's or fetchedAt is at least every away from the
// file's time (either way: a clock stepped back is corrected too); it reports whether it
// wrote. Nothing is written before the first commit, or when the store does not persist.
func (db *DB) Confirm(src Source, fetchedAt time.Time, every time.Duration) (bool, error) {
	db.mu.Lock()
	defer db.mu.Unlock()
	if db.closed {
		return false, errors.New("confirm: store is closed")
	}
	if db.revision == 0 || fetchedAt.IsZero() {
		return false, nil
	}
	if d := fetchedAt.Sub(db.onFile.fetchedAt); src == db.onFile.src && d < every && d > -every {
		return false, nil
	}
	db.checkFileLocked()
	if db.memOnly != "" || db.opts.ReadOnly {
		return false, nil
	}
	ts := []byte(fetchedAt.UTC().Format(time.RFC3339Nano))
	err := db.bolt.Update(func(tx *bolt.Tx) error {
		meta := tx.Bucket(bucketMeta)
		if err := meta.Put(keyFetchedAt, ts); err != nil {
			return err
		}
		return meta.Put(keySource, []byte(src))
	})
	if err != nil {
		return false, fmt.Errorf("confirm revision %d: %w", db.revision, err)
	}
	db.ident, _ = identOf(db.path)
	db.onFile.fetchedAt, db.onFile.src = fetchedAt, src
	return true, nil
}

// publishLocked records a committed (or, memory-only, kept) revision in memory and returns
// its snapshot. db.mu is held.
func (db *DB) publishLocked(next *Catalog, src Source, fetchedAt, now time.Time, change Change, hw highWater) *Snapshot {
	db.stored, db.revision = next, change.Revision
	db.hwMu.Lock()
	db.hw, db.hwServed = hw, next.Len()
	db.hwMu.Unlock()
	db.changes = append(db.changes, change)
	if over := len(db.changes) - db.opts.ChangeLogSize; over > 0 {
		db.changes = slices.Clone(db.changes[over:])
	}
	return &Snapshot{
		Revision: change.Revision, Source: src, FetchedAt: fetchedAt, UpdatedAt: now,
		Catalog: next, Changes: slices.Clone(db.changes),
	}
}

// Close closes the file. It is idempotent and waits for a Commit in progress.
func (db *DB) Close() error {
	db.mu.Lock()
	if db.closed {
		db.mu.Unlock()
		return nil
	}
	db.closed = true
	err := db.bolt.Close()
	if db.scratch != "" {
		_ = os.RemoveAll(db.scratch)
	}
	db.mu.Unlock()
	if db.stopCheck != nil {
		close(db.stopCheck)
		<-db.checkDone
	}
	return err
}

func parseTime(b []byte) (time.Time, error) {
	if len(b) == 0 {
		return time.Time{}, nil
	}
	return time.Parse(time.RFC3339Nano, string(b))
}
