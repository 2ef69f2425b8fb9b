package store_test

import (
	"context"
	"errors"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/runtimesd/runtimesd/store"
)

// chanHandler passes every log record with its attributes to a channel, so a test can wait for
// a message instead of sleeping.
type chanHandler struct {
	ch chan<- slog.Record
}

func (h chanHandler) Enabled(context.Context, slog.Level) bool { return true }
func (h chanHandler) Handle(_ context.Context, r slog.Record) error {
	h.ch <- r.Clone()
	return nil
}
func (h chanHandler) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h chanHandler) WithGroup(string) slog.Handler      { return h }

func attrs(r slog.Record) map[string]string {
	out := map[string]string{}
	r.Attrs(func(a slog.Attr) bool { out[a.Key] = a.Value.String(); return true })
	return out
}

// A lock_timeout exactly as long as the first probe (250ms) still fails with ErrLocked on a
// locked file; it must not turn into a wait without end.
func TestDB_LockTimeoutAtProbeLength(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "runtimesd.db")
	first, err := store.Open(path, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer first.Close()
	for _, lt := range []time.Duration{250 * time.Millisecond, 100 * time.Millisecond} {
		done := make(chan error, 1)
		go func() {
			second, err := store.Open(path, store.Options{LockTimeout: lt})
			if err == nil {
				second.Close()
			}
			done <- err
		}()
		select {
		case err := <-done:
			if !errors.Is(err, store.ErrLocked) {
				t.Fatalf("lock_timeout %v: err = %v, want ErrLocked", lt, err)
			}
		case <-time.After(10 * time.Second):
			first.Close() // releases the waiting open
			t.Fatalf("lock_timeout %v: a second open waited without end for a locked file", lt)
		}
	}
}

// A long lock_timeout on a locked file logs that it waits and for how long (the timeout less the
// first probe); when the lock is released meanwhile, the open succeeds and logs that it got the
// lock. When the wait runs out, it fails with ErrLocked and logs no success.
func TestDB_LockWaitLogged(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "runtimesd.db")
	first, err := store.Open(path, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	logs := make(chan slog.Record, 16)
	done := make(chan error, 1)
	go func() {
		second, err := store.Open(path, store.Options{LockTimeout: 30 * time.Second, Logger: slog.New(chanHandler{logs})})
		if err == nil {
			second.Close()
		}
		done <- err
	}()
	next := func(what string) slog.Record {
		t.Helper()
		select {
		case r := <-logs:
			return r
		case <-time.After(20 * time.Second):
			first.Close()
			t.Fatalf("no log record while waiting for %s", what)
		}
		return slog.Record{}
	}
	r := next("the lock")
	if a := attrs(r); r.Level != slog.LevelWarn || a["wait"] != "29.75s" || a["lock_timeout"] != "30s" || a["file"] != path {
		t.Fatalf("lock wait logged as %s %q %v, want a warning with wait=29.75s lock_timeout=30s", r.Level, r.Message, a)
	}
	first.Close()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("open after the lock was released: %v", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("open still waiting after the lock was released")
	}
	if r := next("the lock acquired"); r.Message != "data file lock acquired" {
		t.Fatalf("after the wait: %q, want \"data file lock acquired\"", r.Message)
	}

	// Running out of time: ErrLocked, and nothing says the lock was acquired.
	holder, err := store.Open(path, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer holder.Close()
	logs2 := make(chan slog.Record, 16)
	_, err = store.Open(path, store.Options{LockTimeout: 400 * time.Millisecond, Logger: slog.New(chanHandler{logs2})})
	if !errors.Is(err, store.ErrLocked) {
		t.Fatalf("err = %v, want ErrLocked", err)
	}
	close(logs2)
	for r := range logs2 {
		if r.Message == "data file lock acquired" {
			t.Fatal("a failed open logged that it acquired the lock")
		}
	}
}
