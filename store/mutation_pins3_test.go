package store_test

// Pins for the gremlins survivors of store after the round-3 merge (issue 14): each test names
// the mutant it kills and asserts what a user would notice.

import (
	"strings"
	"testing"

	"github.com/runtimesd/runtimesd/store"
)

// A runtime object with a field of the wrong type is refused with an error naming the runtime
// when its id was read, and the field either way (runtime.go decodeRuntimeWire).
func TestParseSnapshot_WrongTypeNamesRuntimeAndField(t *testing.T) {
	t.Parallel()
	for body, want := range map[string]string{
		`[{"id":"x","name":"X","status":5}]`: `invalid runtime: runtime "x": field "status"`,
		`[{"id":5,"name":"X"}]`:              `invalid runtime: field "id"`,
		`[{"id":"x","features":"a"}]`:        `invalid runtime: runtime "x": field "features"`,
	} {
		_, err := store.ParseSnapshotFile([]byte(body))
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: err = %v, want one naming %q", body, err, want)
		}
	}
}
