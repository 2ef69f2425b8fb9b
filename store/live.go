package store

import (
	"sync"
	"sync/atomic"
)

// Live holds the snapshot being served. Readers call Load, which is one atomic load and never
// blocks; publishers call Publish. Waiters use Changed to learn of the next publish without
// polling.
type Live struct {
	cur atomic.Pointer[Snapshot]

	mu      sync.Mutex
	changed chan struct{} // closed and replaced on every Publish
}

// NewLive returns a Live serving s (which may be nil: nothing to serve yet).
func NewLive(s *Snapshot) *Live {
	l := &Live{changed: make(chan struct{})}
	if s != nil {
		l.cur.Store(s)
	}
	return l
}

// Load returns the current snapshot, or nil when there is none.
func (l *Live) Load() *Snapshot { return l.cur.Load() }

// Publish makes s the current snapshot and wakes every waiter.
func (l *Live) Publish(s *Snapshot) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.cur.Store(s)
	close(l.changed)
	l.changed = make(chan struct{})
}

// Changed returns a channel closed at the next Publish.
func (l *Live) Changed() <-chan struct{} {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.changed
}
