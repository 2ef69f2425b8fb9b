package store

import (
	"encoding/binary"
	"errors"
	"hash/fnv"
	"os"
	"path/filepath"
	"testing"
)

// writeMetaFile writes a file of size bytes whose pages (of pageSize) at index i hold a valid
// bbolt meta page with the given pgid and txid (metas[i]; a zero txid leaves that page empty).
func writeMetaFile(t *testing.T, pageSize uint32, size int64, metas ...[2]uint64) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "runtimesd.db")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := f.Truncate(size); err != nil {
		t.Fatal(err)
	}
	for i, m := range metas {
		if m[1] == 0 {
			continue
		}
		b := make([]byte, boltChecksumEnd+8)
		binary.NativeEndian.PutUint32(b[boltMetaAt:], boltMagic)
		binary.NativeEndian.PutUint32(b[boltMetaAt+4:], 2)
		binary.NativeEndian.PutUint32(b[boltMetaAt+8:], pageSize)
		binary.NativeEndian.PutUint64(b[boltMetaAt+40:], m[0])
		binary.NativeEndian.PutUint64(b[boltMetaAt+48:], m[1])
		h := fnv.New64a()
		h.Write(b[boltMetaAt:boltChecksumEnd])
		binary.NativeEndian.PutUint64(b[boltChecksumEnd:], h.Sum64())
		if _, err := f.WriteAt(b, int64(i)*int64(pageSize)); err != nil {
			t.Fatal(err)
		}
	}
	return path
}

// checkLength trusts the newest valid meta page (by txid, in either slot), counts pages exactly,
// reads only the two meta slots, and skips page sizes and page counts bbolt could not have
// written.
func TestCheckLength_Boundaries(t *testing.T) {
	t.Parallel()
	const ps = 4096
	cases := []struct {
		name      string
		pageSize  uint32
		size      int64
		metas     [][2]uint64 // {pgid, txid}
		truncated bool
	}{
		{"newest in slot 1 needs fewer pages", ps, 5 * ps, [][2]uint64{{10, 5}, {4, 6}}, false},
		{"newest in slot 0 needs fewer pages", ps, 5 * ps, [][2]uint64{{4, 6}, {10, 5}}, false},
		{"newest in slot 1 needs more pages", ps, 5 * ps, [][2]uint64{{4, 5}, {10, 6}}, true},
		{"exactly as long as its pages", ps, 7 * ps, [][2]uint64{{7, 5}, {7, 4}}, false},
		{"one byte short", ps, 7*ps - 1, [][2]uint64{{7, 5}, {7, 4}}, true},
		{"a third page is not a meta slot", ps, 5 * ps, [][2]uint64{{4, 5}, {4, 6}, {100, 9}}, false},
		{"smallest page size", 512, 9 * 512, [][2]uint64{{10, 5}, {10, 4}}, true},
		{"page size below bbolt's", 511, 9 * 511, [][2]uint64{{10, 5}, {10, 4}}, false},
		{"largest page size", 1 << 20, 2 << 20, [][2]uint64{{3, 5}, {3, 4}}, true},
		{"page size above bbolt's", 1<<20 + 1, 2 << 20, [][2]uint64{{3, 5}, {3, 4}}, false},
		{"page count at the overflow guard", ps, 5 * ps, [][2]uint64{{(1 << 62) / ps, 5}, {4, 4}}, true},
		{"page count beyond the overflow guard", ps, 5 * ps, [][2]uint64{{(1<<62)/ps + 1, 5}, {4, 4}}, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			err := checkLength(writeMetaFile(t, c.pageSize, c.size, c.metas...))
			if got := errors.Is(err, ErrCorrupt); got != c.truncated {
				t.Errorf("checkLength = %v, want truncated %v", err, c.truncated)
			}
		})
	}
}
