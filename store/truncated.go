package store

import (
	"encoding/binary"
	"fmt"
	"hash/fnv"
	"io"
	"os"
)

// bbolt's meta page, as written by go.etcd.io/bbolt v1.x in the machine's byte order: a 16-byte
// page header, then magic, version, page size, flags, root bucket (root, sequence), freelist,
// pgid (the high-water mark: pages in use), txid, and a FNV-64a checksum of the fields before it.
const (
	boltMagic       = 0xED0CDAED
	boltMetaAt      = 16
	boltChecksumEnd = boltMetaAt + 56
)

// checkLength refuses a file shorter than its newest valid meta page says it is. bbolt maps the
// file and reads pages in place: a page beyond the end of a file cut short (an interrupted copy
// or restore, a full disk) is a SIGBUS that kills the process, which no recover catches, before
// the file could be moved aside. A file whose meta pages cannot be read is left to bbolt's own
// checks.
func checkLength(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return nil // bbolt reports it
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil || st.Size() == 0 {
		return nil
	}
	head := make([]byte, boltChecksumEnd+8)
	if _, err := io.ReadFull(f, head); err != nil {
		return nil
	}
	pageSize := int64(binary.NativeEndian.Uint32(head[boltMetaAt+8:]))
	if pageSize < 512 || pageSize > 1<<20 {
		return nil
	}
	var best struct{ txid, pgid uint64 }
	found := false
	for i := int64(0); i < 2; i++ {
		m := make([]byte, boltChecksumEnd+8)
		if _, err := f.ReadAt(m, i*pageSize); err != nil {
			continue
		}
		h := fnv.New64a()
		h.Write(m[boltMetaAt:boltChecksumEnd])
		if binary.NativeEndian.Uint32(m[boltMetaAt:]) != boltMagic || binary.NativeEndian.Uint64(m[boltChecksumEnd:]) != h.Sum64() {
			continue
		}
		pgid, txid := binary.NativeEndian.Uint64(m[boltMetaAt+40:]), binary.NativeEndian.Uint64(m[boltMetaAt+48:])
		if !found || txid > best.txid {
			best.txid, best.pgid, found = txid, pgid, true
		}
	}
	if !found || best.pgid > uint64(1<<62)/uint64(pageSize) {
		return nil
	}
	if need := int64(best.pgid) * pageSize; st.Size() < need {
		return fmt.Errorf("%w: %s: truncated: %d bytes, its pages reach %d", ErrCorrupt, path, st.Size(), need)
	}
	return nil
}
