package store_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/runtimesd/runtimesd/store"
)

// The timer notices a data file moved over the live one without any commit, and the next
// commit is then kept in memory only: the new file is left as it was.
func TestDB_ReplacedFileNoticedByTimer(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := filepath.Join(dir, "runtimesd.db")
	db, err := store.Open(path, store.Options{FileCheckInterval: 10 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Commit(store.SeedCatalog(), store.SourceUpstream, time.Now()); err != nil {
		t.Fatal(err)
	}
	if why := db.NotPersisting(); why != "" {
		t.Fatalf("own commits counted as a foreign change: %s", why)
	}
	other := filepath.Join(t.TempDir(), "other.db")
	odb, err := store.Open(other, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	odb.Close()
	if err := os.Rename(other, path); err != nil {
		t.Fatal(err)
	}
	before, _ := os.ReadFile(path)
	for deadline := time.Now().Add(10 * time.Second); db.NotPersisting() == ""; {
		if time.Now().After(deadline) {
			t.Fatal("the replaced file was not noticed within 10s")
		}
		time.Sleep(5 * time.Millisecond)
	}
	if why := db.NotPersisting(); !strings.Contains(why, "replaced") {
		t.Errorf("reason: %s", why)
	}
	snap, err := db.Commit(store.SeedCatalog(), store.SourceUpstream, time.Now())
	if err != nil || snap.Revision != 2 {
		t.Fatalf("memory-only commit: %v %+v", err, snap)
	}
	after, _ := os.ReadFile(path)
	if string(before) != string(after) {
		t.Error("the file moved into place was written to")
	}
}
