package store_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/runtimesd/runtimesd/store"
)

// A data file cut short (a copy or restore interrupted, a disk that filled) keeps valid meta
// pages whose page count reaches past its end. bbolt maps the file and the consistency check
// read the missing pages: SIGBUS, the process died (serve crash-looped, the offline CLI too)
// instead of the file being moved aside. It is corrupt: moved aside (writable open) or refused
// (read-only), never a crash.
func TestDB_TruncatedFile(t *testing.T) {
	t.Parallel()
	src := filepath.Join(t.TempDir(), "runtimesd.db")
	db, err := store.Open(src, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	big := `{"id":"big","name":"` + strings.Repeat("x", 64<<10) + `","status":"available"}`
	if _, err := db.Commit(mustCatalog(t, big, `{"id":"a"}`), store.SourceUpstream, time.Now()); err != nil {
		t.Fatal(err)
	}
	db.Close()
	full, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	cut := full[:4*4096] // both meta pages and a little more: the tree's pages are gone
	t.Run("Writable", func(t *testing.T) {
		t.Parallel()
		path := filepath.Join(t.TempDir(), "runtimesd.db")
		if err := os.WriteFile(path, cut, 0o600); err != nil {
			t.Fatal(err)
		}
		db, err := store.Open(path, store.Options{})
		if err != nil {
			t.Fatalf("a truncated file must not stop the daemon: %v", err)
		}
		defer db.Close()
		if db.MovedAside() == "" || db.Loaded() != nil {
			t.Fatalf("moved aside %q, loaded %v: want the file moved aside and a fresh one", db.MovedAside(), db.Loaded())
		}
	})
	t.Run("ReadOnly", func(t *testing.T) {
		t.Parallel()
		path := filepath.Join(t.TempDir(), "runtimesd.db")
		if err := os.WriteFile(path, cut, 0o600); err != nil {
			t.Fatal(err)
		}
		_, err := store.Open(path, store.Options{ReadOnly: true})
		if !errors.Is(err, store.ErrCorrupt) || !strings.Contains(err.Error(), "truncated") {
			t.Fatalf("read-only open of a truncated file: %v, want ErrCorrupt saying it is truncated", err)
		}
	})
}
