package store

import (
	"encoding/json"
	"reflect"
	"testing"
)

const copyTestRaw = `{"id":"copy","name":"Copy","type":"agent","status":"active","default_model":"gpt-4o","features":["Tool-Calling","streaming"],"requirements":{"model_requirement":{"description":"d","supported_providers":["openai","anthropic"],"supported_families":["gpt"],"examples":["gpt-4o"]},"required_config_fields":["timeout"],"recommended_config_fields":["temperature"],"max_history_length":7,"requires_tools":true}}`

func copyTestRecord(t *testing.T) (*Runtime, []byte) {
	t.Helper()
	req, err := InlineRequirements(json.RawMessage(copyTestRaw))
	if err != nil {
		t.Fatal(err)
	}
	rt, err := NewRuntime(json.RawMessage(copyTestRaw), req)
	if err != nil {
		t.Fatal(err)
	}
	return rt, encodeRecord(rt)
}

// A record is read from bbolt's mmap, which is unmapped or rewritten after the transaction:
// nothing decoded may alias it. Overwriting the input after decoding changes nothing.
func TestDecodeRecord_CopiesOutOfTheInput(t *testing.T) {
	t.Parallel()
	want, rec := copyTestRecord(t)
	got, err := decodeRecord(rec)
	if err != nil {
		t.Fatal(err)
	}
	for i := range rec {
		rec[i] = 'X'
	}
	if string(got.Raw) != copyTestRaw || string(got.RequirementsRaw) != string(want.RequirementsRaw) ||
		got.ID != "copy" || got.Name != "Copy" || got.Status != "active" || !reflect.DeepEqual(got.Features, want.Features) ||
		!reflect.DeepEqual(got.Requirements, want.Requirements) || !reflect.DeepEqual(got.featureKeys, want.featureKeys) {
		t.Fatalf("decoded runtime changed when its input was overwritten: %+v", got)
	}
	if !reflect.DeepEqual(got.featureKeys, []string{" tool calling ", " streaming "}) {
		t.Fatalf("feature keys = %q", got.featureKeys)
	}
}

// Raw and RequirementsRaw share one copy: appending to one must not write into the other.
func TestDecodeRecord_SharedCopyIsCapped(t *testing.T) {
	t.Parallel()
	_, rec := copyTestRecord(t)
	got, err := decodeRecord(rec)
	if err != nil {
		t.Fatal(err)
	}
	before := string(got.RequirementsRaw)
	_ = append(got.Raw, "OVERWRITE-OVERWRITE-OVERWRITE"...)
	if string(got.RequirementsRaw) != before {
		t.Fatalf("appending to Raw overwrote RequirementsRaw: %s", got.RequirementsRaw)
	}
}

// A start decodes every stored runtime: a record costs a handful of allocations, not one per
// field (the code before this test cloned every field, then copied each string again: 50
// allocations for this record).
func TestDecodeRecord_Allocations(t *testing.T) {
	_, rec := copyTestRecord(t)
	allocs := testing.AllocsPerRun(100, func() {
		if _, err := decodeRecord(rec); err != nil {
			t.Fatal(err)
		}
	})
	if allocs > 16 {
		t.Fatalf("decodeRecord allocates %.0f times per record, want at most 16", allocs)
	}
}
