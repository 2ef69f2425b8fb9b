package httpapi

import (
	"crypto/sha256"
	"encoding/hex"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/runtimesd/runtimesd/health"
	"github.com/runtimesd/runtimesd/store"
)

// encoded holds the response bodies of one catalog, built once when the catalog is first
// served and shared by every request until the next catalog: a cached read is a copy of
// these bytes.
type encoded struct {
	cat *store.Catalog
	// list is the drop-in GET /api/v1/runtimes body: upstream's objects verbatim.
	list     []byte
	listETag etagPair
	// items is the native JSON of each runtime, by id: slices of all, every item joined by
	// commas (one buffer, no copy per item).
	items   map[string]*encodedRuntime
	all     []byte
	allETag string

	// filtered memoises filtered native lists by normalised filter (filterKey) and aliases
	// them by raw query string; both count against memoLimit bytes.
	filterMu              sync.RWMutex
	filtered, aliases     map[string]*filteredList
	listBytes, aliasBytes int
	memoLimit             int

	// matrices memoises the matrix per classifier and format.
	matrixMu sync.Mutex
	matrices map[matrixKey]*matrixMemo

	// Gzip members of list and all, made on first use (only if a client asks for gzip).
	listGzOnce, allGzOnce sync.Once
	listGz, allGz         []byte
}

func (e *encoded) listGzip() []byte {
	e.listGzOnce.Do(func() { e.listGz = gzipOnce(e.list) })
	return e.listGz
}

func (e *encoded) allGzip() []byte {
	e.allGzOnce.Do(func() { e.allGz = gzipOnce(e.all) })
	return e.allGz
}

type encodedRuntime struct {
	item []byte // the native JSON of the runtime: a slice of encoded.all
}

type matrixKey struct {
	cls    any // the classifier in force (a reload replaces it)
	format string
}

type matrixMemo struct {
	rep representation
	err error
}

// matrixFor returns the matrix rendered by build, once per catalog, rules (the classifier and
// policy rules in force: any comparable key) and format.
func (e *encoded) matrixFor(cls any, format string, build func() (representation, error)) *matrixMemo {
	e.matrixMu.Lock()
	defer e.matrixMu.Unlock()
	k := matrixKey{cls, format}
	if m, ok := e.matrices[k]; ok {
		return m
	}
	rep, err := build()
	m := &matrixMemo{rep: rep, err: err}
	if e.matrices == nil || len(e.matrices) > 16 {
		e.matrices = map[matrixKey]*matrixMemo{}
	}
	e.matrices[k] = m
	return m
}

// filteredList is one memoised filtered native list.
type filteredList struct {
	items []byte
	count int
	etag  etagPair
}

// memoEntryOverhead approximates what a memo entry costs beyond its key and body bytes (map
// slot, headers, the ETag strings).
const memoEntryOverhead = 256

// memoFilter returns the filtered list memoised under a raw query string, if any: a query
// answered before is served with no parsing at all.
func (e *encoded) memoFilter(raw string) (*filteredList, bool) {
	e.filterMu.RLock()
	defer e.filterMu.RUnlock()
	fl, ok := e.aliases[raw]
	return fl, ok
}

// filter returns the matching items of f, computed once per catalog and normalised filter
// (key, see filterKey): the case, spelling and order variants of one filter share one entry,
// and each raw query string seen (raw, when not empty) becomes a small alias of it. The memo
// is bounded in bytes (encoded.memoLimit), counting bodies, keys and aliases: over the bound
// the aliases go first, then the lists; a list larger than the bound alone is not kept. A
// catalog belongs to one revision, so the ETag is memoised with it.
func (e *encoded) filter(raw, key string, f store.Filter, snap *store.Snapshot) *filteredList {
	e.filterMu.RLock()
	fl, ok := e.filtered[key]
	e.filterMu.RUnlock()
	if !ok {
		matched := f.Apply(e.cat)
		var items []byte
		for i, rt := range matched {
			if i > 0 {
				items = append(items, ',')
			}
			items = append(items, e.items[rt.ID].item...)
		}
		fl = &filteredList{items: items, count: len(matched), etag: newETag(revETag(weakETag(items), snap))}
	}
	e.filterMu.Lock()
	defer e.filterMu.Unlock()
	if cur, ok := e.filtered[key]; ok {
		fl = cur // another request built it meanwhile
	} else if cost := len(fl.items) + len(key) + memoEntryOverhead; cost <= e.memoLimit {
		e.makeRoom(cost)
		if e.filtered == nil {
			e.filtered = map[string]*filteredList{}
		}
		e.filtered[key] = fl
		e.listBytes += cost
	} else {
		return fl // too large to keep: built per request
	}
	if raw != "" {
		if _, ok := e.aliases[raw]; !ok {
			if cost := len(raw) + memoEntryOverhead/4; cost <= e.memoLimit-e.listBytes {
				e.makeRoom(cost)
				if e.aliases == nil {
					e.aliases = map[string]*filteredList{}
				}
				e.aliases[raw] = fl
				e.aliasBytes += cost
			}
		}
	}
	return fl
}

// makeRoom drops memo entries until cost more bytes fit: the aliases first (they are cheap
// to rebuild), then the lists. Called with filterMu held.
func (e *encoded) makeRoom(cost int) {
	if e.listBytes+e.aliasBytes+cost <= e.memoLimit {
		return
	}
	e.aliases, e.aliasBytes = nil, 0
	if e.listBytes+cost > e.memoLimit {
		e.filtered, e.listBytes = nil, 0
	}
}

// filterKey is the normalised form of a filter: the values compared case-insensitively are
// lowered, features are normalised (store.NormalizeFeature), sorted and deduplicated (they
// all must match, so order and repeats do not change the answer).
func filterKey(f store.Filter, healthClass string) string {
	feats := make([]string, len(f.Features))
	for i, x := range f.Features {
		feats[i] = store.NormalizeFeature(x)
	}
	slices.Sort(feats)
	feats = slices.Compact(feats)
	return strings.Join([]string{strings.ToLower(f.Status), strings.ToLower(f.Type), strings.ToLower(f.Provider),
		strings.ToLower(healthClass), strings.Join(feats, "\x01")}, "\x00")
}

func encodeCatalog(cat *store.Catalog) *encoded {
	e := &encoded{cat: cat, items: make(map[string]*encodedRuntime, cat.Len())}
	size := 2
	for _, rt := range cat.Runtimes() {
		size += len(rt.Raw) + 1
	}
	list := make([]byte, 0, size)
	all := make([]byte, 0, 2*size+256*cat.Len())
	offsets := make([]int, 0, cat.Len()+1)
	list = append(list, '[')
	for i, rt := range cat.Runtimes() {
		if i > 0 {
			list = append(list, ',')
			all = append(all, ',')
		}
		list = append(list, rt.Raw...)
		offsets = append(offsets, len(all))
		all = appendNativeItem(all, rt)
	}
	offsets = append(offsets, len(all))
	list = append(list, ']')
	for i, rt := range cat.Runtimes() {
		start, end := offsets[i], offsets[i+1]
		if i+1 < cat.Len() {
			end-- // the comma before the next item
		}
		e.items[rt.ID] = &encodedRuntime{item: all[start:end:end]}
	}
	e.list, e.listETag = list, newETag(strongETag(list))
	e.all, e.allETag = all, weakETag(all)
	return e
}

// appendNativeItem appends the native view of one runtime: normalised fields next to
// upstream's objects verbatim (already validated JSON, so appended as they are).
func appendNativeItem(b []byte, rt *store.Runtime) []byte {
	b = append(b, `{"id":`...)
	b = appendJSONString(b, rt.ID)
	b = append(b, `,"name":`...)
	b = appendJSONString(b, rt.Name)
	if rt.Type != "" {
		b = append(b, `,"type":`...)
		b = appendJSONString(b, rt.Type)
	}
	b = append(b, `,"status":`...)
	b = appendJSONString(b, rt.Status)
	for _, f := range []struct {
		name string
		list []string
	}{{"features", rt.Features}, {"providers", rt.Providers}, {"families", rt.Families}} {
		b = append(b, `,"`...)
		b = append(b, f.name...)
		b = append(b, `":[`...)
		for i, v := range f.list {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendJSONString(b, v)
		}
		b = append(b, ']')
	}
	b = append(b, `,"degraded":`...)
	b = strconv.AppendBool(b, rt.Degraded != "")
	if rt.Degraded != "" {
		b = append(b, `,"degraded_reason":`...)
		b = appendJSONString(b, rt.Degraded)
	}
	b = append(b, `,"runtime":`...)
	b = append(b, rt.Raw...)
	b = append(b, `,"requirements":`...)
	if rt.RequirementsRaw == nil {
		b = append(b, "null"...)
	} else {
		b = append(b, rt.RequirementsRaw...)
	}
	return append(b, '}')
}

// appendJSONString appends s as a JSON string: quotes, backslashes and control characters
// escaped, invalid UTF-8 replaced by U+FFFD, everything else as it is (like marshalNoEscape).
func appendJSONString(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			switch {
			case c == '"' || c == '\\':
				b = append(b, '\\', c)
			case c == '\n':
				b = append(b, '\\', 'n')
			case c == '\r':
				b = append(b, '\\', 'r')
			case c == '\t':
				b = append(b, '\\', 't')
			case c < 0x20:
				b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
			default:
				b = append(b, c)
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			b = append(b, `\ufffd`...)
		case r == '\u2028' || r == '\u2029':
			b = append(b, '\\', 'u', '2', '0', '2', hex[r&0xf])
		default:
			b = append(b, s[i:i+size]...)
		}
		i += size
	}
	return append(b, '"')
}

// strongETag is for bodies served byte for byte as hashed.
func strongETag(b []byte) string {
	sum := sha256.Sum256(b)
	return `"` + hex.EncodeToString(sum[:12]) + `"`
}

// weakETag is for native bodies: the data is identical, but the provenance around it
// (age_seconds) changes from second to second.
func weakETag(b []byte) string { return "W/" + strongETag(b) }

// encodedFor returns the bodies of cat, building them on first use. Concurrent first
// requests build once (double-checked under encMu).
func (s *Server) encodedFor(cat *store.Catalog) *encoded {
	if e := s.enc.Load(); e != nil && e.cat == cat {
		return e
	}
	s.encMu.Lock()
	defer s.encMu.Unlock()
	if e := s.enc.Load(); e != nil && e.cat == cat {
		return e
	}
	e := encodeCatalog(cat)
	e.memoLimit = s.opts.FilterMemoBytes
	s.enc.Store(e)
	return e
}

var bufPool = sync.Pool{New: func() any { b := make([]byte, 0, 4096); return &b }}

// appendProvenance appends the provenance fields every native answer carries, without braces
// (health.AppendProvenance decides and words them).
func (s *Server) appendProvenance(b []byte, snap *store.Snapshot, now time.Time) []byte {
	return health.AppendProvenance(b, snap, now, s.dyn().MaxStale)
}

// answers is the answer layer with the rules in force now (one atomic load).
func (s *Server) answers() health.Answers {
	d := s.dyn()
	return health.Answers{Validator: d.Validator, Classifier: d.Classifier, Fallback: d.Fallback, MaxStale: d.MaxStale, Gate: s.gate()}
}

// gate is the policy the answers apply: Options.Gate when set, else the configured rules when
// there is at least one (no rules leaves every native answer as it is without a policy: no
// policy fields, no matrix column).
func (s *Server) gate() health.Gate {
	if s.opts.Gate != nil {
		return s.opts.Gate
	}
	if set := s.opts.Policy.Current(); set.Len() > 0 {
		return set
	}
	return nil
}
