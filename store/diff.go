package store

import "time"

// Change records what one committed revision changed.
type Change struct {
	Revision uint64    `json:"revision"`
	Time     time.Time `json:"time"`
	Source   Source    `json:"source"`
	Added    []string  `json:"added"`
	Removed  []string  `json:"removed"`
	Changed  []string  `json:"changed"`
}

// Empty reports whether the change adds, removes and changes nothing.
func (c Change) Empty() bool { return len(c.Added)+len(c.Removed)+len(c.Changed) == 0 }

// Diff compares two catalogs by content (see Runtime.SameContent): added and changed ids in
// next's order, removed ids in prev's order. Either catalog may be nil. A different order of
// the same runtimes is not a change.
func Diff(prev, next *Catalog) Change {
	c := Change{Added: []string{}, Removed: []string{}, Changed: []string{}}
	for _, rt := range next.Runtimes() {
		old, ok := prev.Get(rt.ID)
		switch {
		case !ok:
			c.Added = append(c.Added, rt.ID)
		case !old.SameContent(rt):
			c.Changed = append(c.Changed, rt.ID)
		}
	}
	for _, rt := range prev.Runtimes() {
		if _, ok := next.Get(rt.ID); !ok {
			c.Removed = append(c.Removed, rt.ID)
		}
	}
	return c
}
