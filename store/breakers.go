package store

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"

	bolt "go.etcd.io/bbolt"
)

var bucketBreakers = []byte("breakers")

// BreakerStore keeps circuit-breaker state in the bbolt file so a restarted sidecar does not
// stampede a control plane that was failing. It implements gobreaker v2's SharedDataStore
// (Lock, Unlock, GetData, SetData) without importing it.
//
// Writes are coalesced: the latest state of each breaker is kept in memory, and the file is
// written only when a breaker's state, generation or expiry changes (a transition), never for
// a mere change of counts, so an ordinary sync run still writes nothing. The bbolt file is
// exclusive to this process, so Lock is a process-local mutex per name.
type BreakerStore struct {
	db *DB

	mu        sync.Mutex
	mem       map[string][]byte
	persisted map[string]breakerKey
	locks     map[string]*sync.Mutex
}

type breakerKey struct {
	State      json.RawMessage `json:"state"`
	Generation uint64          `json:"generation"`
	Expiry     json.RawMessage `json:"expiry"`
}

// ErrNotLocked is returned by Unlock for a name that is not locked.
var ErrNotLocked = errors.New("breaker store: not locked")

// Breakers returns the breaker store of db, loading what the file holds.
func (db *DB) Breakers() (*BreakerStore, error) {
	s := &BreakerStore{db: db, mem: map[string][]byte{}, persisted: map[string]breakerKey{}, locks: map[string]*sync.Mutex{}}
	err := db.bolt.View(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketBreakers)
		if b == nil {
			return nil
		}
		return b.ForEach(func(k, v []byte) error {
			if strings.HasPrefix(string(k), "meta:") {
				return nil
			}
			var key breakerKey
			if json.Unmarshal(v, &key) != nil {
				return nil // an unreadable record is dropped: the breaker starts closed
			}
			s.mem[string(k)] = append([]byte(nil), v...)
			s.persisted[string(k)] = key
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("load breaker state: %w", err)
	}
	return s, nil
}

// Lock takes the process-local lock of name.
func (s *BreakerStore) Lock(name string) error {
	s.mu.Lock()
	l, ok := s.locks[name]
	if !ok {
		l = &sync.Mutex{}
		s.locks[name] = l
	}
	s.mu.Unlock()
	l.Lock()
	return nil
}

// Unlock releases the lock of name.
func (s *BreakerStore) Unlock(name string) error {
	s.mu.Lock()
	l, ok := s.locks[name]
	s.mu.Unlock()
	if !ok {
		return ErrNotLocked
	}
	l.Unlock()
	return nil
}

// GetData returns the latest data of name, or nil.
func (s *BreakerStore) GetData(name string) ([]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]byte(nil), s.mem[name]...), nil
}

// SetData records data for name, and writes it to the file when the transition-relevant part
// (state, generation, expiry) differs from what the file holds.
func (s *BreakerStore) SetData(name string, data []byte) error {
	var key breakerKey
	if err := json.Unmarshal(data, &key); err != nil {
		return fmt.Errorf("breaker store: %s: %w", name, err)
	}
	s.mu.Lock()
	s.mem[name] = append([]byte(nil), data...)
	old, had := s.persisted[name]
	s.mu.Unlock()
	if had && string(old.State) == string(key.State) && old.Generation == key.Generation && string(old.Expiry) == string(key.Expiry) {
		return nil
	}
	if err := s.db.put(bucketBreakers, []byte(name), data); err != nil {
		return fmt.Errorf("breaker store: persist %s: %w", name, err)
	}
	s.mu.Lock()
	s.persisted[name] = key
	s.mu.Unlock()
	return nil
}

// put writes one key in its own transaction.
func (db *DB) put(bucket, key, value []byte) error {
	db.mu.Lock()
	defer db.mu.Unlock()
	if db.closed {
		return errors.New("store is closed")
	}
	if db.checkFileLocked(); db.memOnly != "" {
		return nil // not persisting (read-only or replaced file): health says so
	}
	if db.opts.ReadOnly {
		return errors.New("store is open read-only")
	}
	err := db.bolt.Update(func(tx *bolt.Tx) error {
		b, err := tx.CreateBucketIfNotExists(bucket)
		if err != nil {
			return err
		}
		return b.Put(key, value)
	})
	db.ident, _ = identOf(db.path)
	return err
}

// PutMeta stores a small named value (breaker trip records and the like) outside the snapshot.
func (db *DB) PutMeta(name string, value []byte) error {
	return db.put(bucketBreakers, []byte("meta:"+name), value)
}

// GetMeta returns a value stored with PutMeta, or nil.
func (db *DB) GetMeta(name string) ([]byte, error) {
	var out []byte
	err := db.bolt.View(func(tx *bolt.Tx) error {
		if b := tx.Bucket(bucketBreakers); b != nil {
			out = append([]byte(nil), b.Get([]byte("meta:"+name))...)
		}
		return nil
	})
	if len(out) == 0 {
		out = nil
	}
	return out, err
}
