package store_test

import (
	"errors"
	"testing"

	"github.com/runtimesd/runtimesd/store"
)

// Keys match exactly, as in the control plane's JSON; encoding/json alone would take case
// variants (and letters Unicode folds onto ASCII) for the fields runtimesd reads.
func TestNewRuntime_KeysAreCaseSensitive(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ raw, id, status string }{
		{`{"id":"a","status":"available","Status":"error"}`, "a", "available"},
		{`{"id":"a","status":"available","ſtatus":"error"}`, "a", "available"},
		{`{"id":"a","ID":"b"}`, "a", ""},
		{`{"ID":"b","id":"a","STATUS":"x"}`, "a", ""},
		{`{"id":"a","st\u0061tus":"beta"}`, "a", "beta"},
	} {
		rt, err := store.NewRuntime([]byte(tc.raw), nil)
		if err != nil || rt.ID != tc.id || rt.Status != tc.status {
			t.Errorf("%s: %+v %v; want id %q status %q", tc.raw, rt, err, tc.id, tc.status)
		}
	}
	if _, err := store.NewRuntime([]byte(`{"ID":"b","Id":"c"}`), nil); !errors.Is(err, store.ErrInvalidRuntime) {
		t.Errorf("no exact id key: %v, want ErrInvalidRuntime", err)
	}
	rt, err := store.NewRuntime([]byte(`{"id":"a"}`), []byte(`{"max_history_length":5,"Max_History_Length":9,"required_config_fields":["x"],"REQUIRED_CONFIG_FIELDS":["y"]}`))
	if err != nil || *rt.Requirements.MaxHistoryLength != 5 || rt.Requirements.RequiredConfigFields[0] != "x" {
		t.Errorf("requirements keys: %+v %v", rt.Requirements, err)
	}
}
