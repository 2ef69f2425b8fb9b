package store

import (
	"bytes"
	"errors"
	"fmt"

	bolt "go.etcd.io/bbolt"
)

var bucketBreakers = []byte("breakers")

// BreakerRecords returns every record of the circuit breakers' bucket, keyed by name (nil
// when there is none). The values are health's (health.Breakers writes them on each state
// transition and reads them once at start; the format is written down on its breakerRecord):
// the store keeps them opaque and copies them out of the transaction.
func (db *DB) BreakerRecords() (map[string][]byte, error) {
	var out map[string][]byte
	err := db.bolt.View(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketBreakers)
		if b == nil {
			return nil
		}
		out = map[string][]byte{}
		return b.ForEach(func(k, v []byte) error {
			if v != nil { // a nested bucket is no record
				out[string(k)] = bytes.Clone(v)
			}
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("load breaker records: %w", err)
	}
	return out, nil
}

// PutBreakerRecord writes one breaker record in its own transaction. Nothing is written (and
// no error returned) while the file is not being persisted (read-only or replaced: /v1/health
// says so).
func (db *DB) PutBreakerRecord(name string, value []byte) error {
	if err := db.put(bucketBreakers, []byte(name), value); err != nil {
		return fmt.Errorf("persist breaker %s: %w", name, err)
	}
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
