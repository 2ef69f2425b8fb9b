package store

import (
	"bytes"
	"encoding/json"
	"slices"
	"sort"
	"strings"
	"time"
)

// Change records what one committed revision changed.
type Change struct {
	Revision uint64    `json:"revision"`
	Time     time.Time `json:"time"`
	Source   Source    `json:"source"`
	Added    []string  `json:"added"`
	Removed  []string  `json:"removed"`
	Changed  []string  `json:"changed"`
	// Fields names, per changed runtime id, the fields that changed as JSON-pointer paths
	// (RFC 6901 escaping): "/status", "/requirements/model_requirement/examples". Paths
	// into the requirements object start with /requirements whether upstream sent it inline
	// or from the requirements endpoint. An array that changed is named as a whole. Records
	// written before this field existed have none (nil). Only the first MaxFieldsRuntimes
	// changed runtimes are named; FieldsOmitted counts the others.
	Fields map[string][]string `json:"fields,omitempty"`
	// FieldsOmitted is how many changed runtimes have no entry in Fields because the
	// revision changed more than MaxFieldsRuntimes of them.
	FieldsOmitted int `json:"fields_omitted,omitempty"`
}

// Empty reports whether the change adds, removes and changes nothing.
func (c Change) Empty() bool { return len(c.Added)+len(c.Removed)+len(c.Changed) == 0 }

// Bounds of the paths named for one changed runtime: a hostile or odd upstream object (deep
// nesting, thousands of keys) costs a bounded amount of work and memory in every record.
const (
	// maxPathDepth is how deep paths go; a difference below is named at this depth.
	maxPathDepth = 8
	// MaxChangedPaths is the most paths kept per runtime. When more fields changed, only
	// the top-level fields are named (at most this many, then "/…" for the rest).
	MaxChangedPaths = 32
	// MaxFieldsRuntimes is the most changed runtimes whose fields one change record names:
	// naming fields decodes both versions of a runtime, so a revision that changes a whole
	// large catalog would otherwise triple the commit's cost, and every such record in the
	// change log would hold thousands of path lists.
	MaxFieldsRuntimes = 100
)

// Diff compares two catalogs by content (see Runtime.SameContent): added and changed ids in
// next's order, removed ids in prev's order. Either catalog may be nil. A different order of
// the same runtimes is not a change. It does not name the changed fields (see
// DiffWithFields), so that asking "did anything change?" on every sync stays cheap.
func Diff(prev, next *Catalog) Change { return diff(prev, next, false) }

// DiffWithFields is Diff plus Change.Fields, the changed fields of each changed runtime. A
// commit records it; it decodes the JSON of changed runtimes only.
func DiffWithFields(prev, next *Catalog) Change { return diff(prev, next, true) }

func diff(prev, next *Catalog, fields bool) Change {
	c := Change{Added: []string{}, Removed: []string{}, Changed: []string{}}
	for _, rt := range next.Runtimes() {
		old, ok := prev.Get(rt.ID)
		switch {
		case !ok:
			c.Added = append(c.Added, rt.ID)
		case !old.SameContent(rt):
			c.Changed = append(c.Changed, rt.ID)
			if !fields {
				continue
			}
			if len(c.Fields) == MaxFieldsRuntimes {
				c.FieldsOmitted++
				continue
			}
			if c.Fields == nil {
				c.Fields = map[string][]string{}
			}
			c.Fields[rt.ID] = ChangedPaths(old, rt)
		}
	}
	for _, rt := range prev.Runtimes() {
		if _, ok := next.Get(rt.ID); !ok {
			c.Removed = append(c.Removed, rt.ID)
		}
	}
	return c
}

// ChangedPaths names the fields that differ between two versions of a runtime, sorted, as
// JSON-pointer paths (see Change.Fields). The order of supported_providers and
// supported_families and JSON formatting are not differences, as in SameContent.
func ChangedPaths(old, cur *Runtime) []string {
	set := map[string]bool{}
	diffDoc(set, "", old.Raw, cur.Raw, maxPathDepth)
	diffDoc(set, "/requirements", old.RequirementsRaw, cur.RequirementsRaw, maxPathDepth)
	if len(set) > MaxChangedPaths {
		clear(set)
		diffDoc(set, "", old.Raw, cur.Raw, 1)
		diffDoc(set, "/requirements", old.RequirementsRaw, cur.RequirementsRaw, 0)
	}
	paths := make([]string, 0, len(set))
	for p := range set {
		paths = append(paths, p)
	}
	sort.Strings(paths)
	if len(paths) > MaxChangedPaths {
		paths = append(paths[:MaxChangedPaths-1:MaxChangedPaths-1], "/…")
	}
	return paths
}

// diffDoc adds the paths where two JSON documents differ, under prefix. A document that does
// not decode is compared as a whole.
func diffDoc(set map[string]bool, prefix string, a, b json.RawMessage, depth int) {
	if bytes.Equal(a, b) {
		return
	}
	va, oka := decodeForDiff(a)
	vb, okb := decodeForDiff(b)
	if !oka || !okb {
		if !bytes.Equal(a, b) {
			set[rootPath(prefix)] = true
		}
		return
	}
	diffValue(set, prefix, va, vb, depth)
}

func rootPath(prefix string) string {
	if prefix == "" {
		return "/"
	}
	return prefix
}

func decodeForDiff(b json.RawMessage) (any, bool) {
	if isNull(b) {
		return nil, true
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, false
	}
	canonicalise(v)
	return v, true
}

func diffValue(set map[string]bool, path string, a, b any, depth int) {
	ma, oka := a.(map[string]any)
	mb, okb := b.(map[string]any)
	if !oka || !okb || depth <= 0 {
		if !sameValue(a, b) {
			set[rootPath(path)] = true
		}
		return
	}
	for k, va := range ma {
		vb, ok := mb[k]
		switch {
		case !ok:
			set[path+"/"+escapePointer(k)] = true
		default:
			diffValue(set, path+"/"+escapePointer(k), va, vb, depth-1)
		}
	}
	for k := range mb {
		if _, ok := ma[k]; !ok {
			set[path+"/"+escapePointer(k)] = true
		}
	}
}

// sameValue compares decoded JSON values (numbers as written, like the content digest).
func sameValue(a, b any) bool {
	switch x := a.(type) {
	case map[string]any:
		y, ok := b.(map[string]any)
		if !ok || len(x) != len(y) {
			return false
		}
		for k, v := range x {
			w, ok := y[k]
			if !ok || !sameValue(v, w) {
				return false
			}
		}
		return true
	case []any:
		y, ok := b.([]any)
		return ok && slices.EqualFunc(x, y, sameValue)
	default:
		return a == b
	}
}

var pointerEscaper = strings.NewReplacer("~", "~0", "/", "~1")

// escapePointer escapes a key as RFC 6901 asks ("~" as "~0", "/" as "~1").
func escapePointer(k string) string { return pointerEscaper.Replace(k) }
