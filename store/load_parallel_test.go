package store

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

func parallelTestRecords(t *testing.T, n int) ([]string, [][]byte, []*Runtime) {
	t.Helper()
	order := make([]string, n)
	vals := make([][]byte, n)
	want := make([]*Runtime, n)
	for i := range n {
		order[i] = fmt.Sprintf("rt-%04d", i)
		rt, err := NewRuntime([]byte(fmt.Sprintf(`{"id":%q,"name":"N%d","features":["f%d","streaming"]}`, order[i], i, i%7)), nil)
		if err != nil {
			t.Fatal(err)
		}
		want[i], vals[i] = rt, encodeRecord(rt)
	}
	return order, vals, want
}

// The records decoded on several goroutines come back in the stored order, each what one
// goroutine decodes; a damaged record is reported as the first in order, as a sequential load
// would report it, however the records are split among the goroutines.
func TestDecodeRecords_OrderAndFirstError(t *testing.T) {
	t.Parallel()
	const n = 4*decodeBatch + 37 // several goroutines on any machine with 2+ CPUs
	order, vals, want := parallelTestRecords(t, n)
	got, err := decodeRecords(order, vals)
	if err != nil {
		t.Fatal(err)
	}
	for i := range want {
		w, _ := decodeRecord(vals[i])
		if !reflect.DeepEqual(got[i], w) || got[i].ID != order[i] {
			t.Fatalf("record %d decoded as %q, want %q", i, got[i].ID, order[i])
		}
	}
	for _, bad := range [][]int{{n - 1}, {3, n - 5}, {n / 2, n/2 + 1, 0}, {decodeBatch, 3 * decodeBatch}} {
		damaged := append([][]byte(nil), vals...)
		first := n
		for _, i := range bad {
			damaged[i] = append([]byte(nil), vals[i]...)
			damaged[i][len(damaged[i])-1] ^= 0xff // the checksum no longer matches
			first = min(first, i)
		}
		_, err := decodeRecords(order, damaged)
		if err == nil || !strings.Contains(err.Error(), fmt.Sprintf("runtime %q", order[first])) {
			t.Errorf("records %v damaged: err = %v, want the first in order, %q", bad, err, order[first])
		}
	}
	// A record stored under another runtime's id is refused, naming both.
	swapped := append([][]byte(nil), vals...)
	swapped[7] = vals[8]
	if _, err := decodeRecords(order, swapped); err == nil || !strings.Contains(err.Error(), `runtime "rt-0008" stored under "rt-0007"`) {
		t.Errorf("swapped record: err = %v", err)
	}
}

// The page check runs beside the load on a read-write open, but its verdict still decides:
// a file of a newer schema whose records this build cannot decode is refused as newer and
// left untouched, not moved aside as corrupt because the load failed first.
func TestOpen_CheckVerdictWinsOverTheLoad(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "runtimesd.db")
	db, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	order, _, rts := parallelTestRecords(t, 2*decodeBatch)
	cat, err := NewCatalog(rts)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Commit(cat, SourceUpstream, time.Now()); err != nil {
		t.Fatal(err)
	}
	db.Close()
	b, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	err = b.Update(func(tx *bolt.Tx) error {
		for _, id := range order {
			if err := tx.Bucket(bucketRuntimes).Put([]byte(id), []byte("a record of schema 2")); err != nil {
				return err
			}
		}
		return tx.Bucket(bucketMeta).Put(keySchema, []byte("2"))
	})
	b.Close()
	if err != nil {
		t.Fatal(err)
	}
	before, _ := os.ReadFile(path)
	for range 20 { // the check and the load race; the verdict must not
		if _, err := Open(path, Options{}); !errors.Is(err, ErrNewerSchema) {
			t.Fatalf("err = %v, want ErrNewerSchema", err)
		}
	}
	if after, _ := os.ReadFile(path); string(after) != string(before) {
		t.Error("a newer file must be left untouched")
	}
	if m, _ := filepath.Glob(path + ".corrupt-*"); len(m) != 0 {
		t.Errorf("moved aside: %v", m)
	}
}
