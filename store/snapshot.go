package store

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"slices"
	"strings"
	"time"
)

// Source says where the data of a snapshot came from.
type Source string

// The sources of a snapshot.
const (
	// SourceUpstream: confirmed by the control plane during this process's life.
	SourceUpstream Source = "upstream"
	// SourceCache: loaded from the bbolt file, not yet confirmed by the control plane.
	SourceCache Source = "cache"
	// SourceSeed: the built-in seed catalog or a --seed file; nothing stored yet.
	SourceSeed Source = "seed"
	// SourceImport: imported from an exported snapshot and not yet confirmed upstream.
	SourceImport Source = "import"
	// SourceRelay: confirmed through a relay (another runtimesd following the control plane)
	// during this process's life; FetchedAt is the control plane's answer, not the relay's copy.
	SourceRelay Source = "relay"
)

// Catalog is an immutable, ordered set of runtimes with a lookup index. Snapshots that differ
// only in provenance share one Catalog, so anything derived from it (encoded bodies, indexes)
// can be cached per Catalog pointer.
type Catalog struct {
	runtimes []*Runtime
	byID     map[string]*Runtime
	byRaw    map[[32]byte]*Runtime
}

// NewCatalog builds a catalog in the given order. Duplicate ids are an error.
func NewCatalog(rts []*Runtime) (*Catalog, error) {
	c := &Catalog{runtimes: rts, byID: make(map[string]*Runtime, len(rts)), byRaw: make(map[[32]byte]*Runtime, len(rts))}
	for _, rt := range rts {
		if _, dup := c.byID[rt.ID]; dup {
			return nil, fmt.Errorf("%w: duplicate id %q", ErrInvalidRuntime, rt.ID)
		}
		c.byID[rt.ID] = rt
		c.byRaw[rt.rawSum] = rt
	}
	return c, nil
}

// LookupRaw returns the runtime whose upstream object is byte for byte raw. A sync uses it to
// reuse unchanged runtimes without parsing them again.
func (c *Catalog) LookupRaw(raw []byte) (*Runtime, bool) {
	if c == nil {
		return nil, false
	}
	rt, ok := c.byRaw[sha256.Sum256(raw)]
	if !ok || !bytes.Equal(rt.Raw, raw) {
		return nil, false
	}
	return rt, true
}

// Runtimes returns the runtimes in upstream order. The slice must not be modified.
func (c *Catalog) Runtimes() []*Runtime {
	if c == nil {
		return nil
	}
	return c.runtimes
}

// Get returns the runtime with exactly this id (case-sensitive, like the control plane).
func (c *Catalog) Get(id string) (*Runtime, bool) {
	if c == nil {
		return nil, false
	}
	rt, ok := c.byID[id]
	return rt, ok
}

// Len is the number of runtimes.
func (c *Catalog) Len() int {
	if c == nil {
		return 0
	}
	return len(c.runtimes)
}

// Fingerprint identifies the catalog's content whatever the order of its runtimes (and of
// their provider and family sets): the same runtimes in another order have the same
// fingerprint, different content a different one.
func (c *Catalog) Fingerprint() [sha256.Size]byte {
	rts := slices.Clone(c.Runtimes())
	slices.SortFunc(rts, func(a, b *Runtime) int { return strings.Compare(a.ID, b.ID) })
	h := sha256.New()
	for _, rt := range rts {
		h.Write([]byte(rt.ID))
		h.Write([]byte{0})
		h.Write(rt.digest[:])
	}
	var out [sha256.Size]byte
	h.Sum(out[:0])
	return out
}

// Degraded returns the ids of runtimes whose requirements could not be refreshed.
func (c *Catalog) Degraded() []string {
	var ids []string
	for _, rt := range c.Runtimes() {
		if rt.Degraded != "" {
			ids = append(ids, rt.ID)
		}
	}
	return ids
}

// Snapshot is what the daemon serves at one moment: a catalog and its provenance. Snapshots
// are immutable; a sync publishes a new one.
type Snapshot struct {
	// Revision counts committed changes in the bbolt file; 0 means nothing is stored
	// (seed data).
	Revision uint64
	Source   Source
	// FetchedAt is when the control plane last confirmed this data (or when it was stored,
	// after a restart). Zero for the built-in seed.
	FetchedAt time.Time
	// UpdatedAt is when this revision was committed.
	UpdatedAt time.Time
	Catalog   *Catalog
	// Changes is the bounded change log, oldest first.
	Changes []Change
	// SeedFile is the operator's snapshot file (serve --seed) a SourceSeed snapshot came from;
	// "" for the built-in seed catalog.
	SeedFile string
	// Relays are the runtimesds this data passed through on its way from the control plane,
	// nearest the control plane first (the X-Runtimes-Relay-Chain of the answer followed); nil
	// when fetched from the control plane directly. In memory only: a restart forgets it.
	Relays []string
}

// Age is the time since the data was fetched from the control plane; for data never fetched
// (the built-in seed) it is zero.
func (s *Snapshot) Age(now time.Time) time.Duration {
	if s.FetchedAt.IsZero() || now.Before(s.FetchedAt) {
		return 0
	}
	return now.Sub(s.FetchedAt)
}

// Persisted reports whether this snapshot is stored in the bbolt file.
func (s *Snapshot) Persisted() bool { return s.Revision > 0 }

// ChangesSince returns the change records with a revision above rev, and whether the log
// still reaches back that far (false: records between rev and the oldest kept are gone, or
// rev is ahead of this snapshot, which happens when the data file was replaced: either way
// the reader must re-read the catalog; see ResetReason).
func (s *Snapshot) ChangesSince(rev uint64) (changes []Change, complete bool) {
	if rev > s.Revision {
		return nil, false
	}
	complete = true
	if len(s.Changes) > 0 && s.Changes[0].Revision > rev+1 {
		complete = false
	}
	if len(s.Changes) == 0 && s.Revision > rev {
		complete = false
	}
	for _, c := range s.Changes {
		if c.Revision > rev {
			changes = append(changes, c)
		}
	}
	return changes, complete
}

// ResetReason says why the change records after rev cannot bring a reader up to date, or ""
// when they can. /v1/changes and /v1/watch give the same answer for the same rev.
func (s *Snapshot) ResetReason(rev uint64) string {
	if rev > s.Revision {
		return fmt.Sprintf("revision %d is ahead of the data (%d): the data file was replaced; re-read the catalog", rev, s.Revision)
	}
	if _, complete := s.ChangesSince(rev); !complete {
		return fmt.Sprintf("the change history after revision %d is gone; re-read the catalog", rev)
	}
	return ""
}
