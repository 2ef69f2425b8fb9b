package store

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
)

// Every strict prefix of a record is rejected (a torn or truncated value never decodes as a
// runtime with fields missing), and a record whose last field ends exactly at the end of the
// value decodes.
func TestDecodeRecord_Truncated(t *testing.T) {
	t.Parallel()
	for _, raw := range []string{
		`{"id":"full","name":"F","status":"beta","features":["a"],"requirements":{"model_requirement":{"description":"d","supported_providers":["openai"],"supported_families":["gpt"],"examples":["x"]},"required_config_fields":["timeout"],"recommended_config_fields":["t"],"max_history_length":7,"requires_tools":true}}`,
		`{"id":"nohist","requirements":{"model_requirement":{"description":"d"},"recommended_config_fields":["last"]}}`,
	} {
		req, err := InlineRequirements(json.RawMessage(raw))
		if err != nil {
			t.Fatal(err)
		}
		rt, err := NewRuntime(json.RawMessage(raw), req)
		if err != nil {
			t.Fatal(err)
		}
		rec := encodeRecord(rt)
		got, err := decodeRecord(rec)
		if err != nil {
			t.Fatalf("%s: full record: %v", rt.ID, err)
		}
		if !reflect.DeepEqual(got.Requirements, rt.Requirements) || got.ID != rt.ID || string(got.Raw) != raw {
			t.Fatalf("%s: round trip differs: %+v", rt.ID, got.Requirements)
		}
		for i := range len(rec) {
			if _, err := decodeRecord(rec[:i]); err == nil {
				t.Errorf("%s: a record cut to %d of %d bytes decoded", rt.ID, i, len(rec))
			}
		}
	}
}

// Fetched requirements may be far larger than the runtime object they belong to.
func TestEncodeRecord_LargeFetchedRequirements(t *testing.T) {
	t.Parallel()
	big := `{"model_requirement":{"description":"` + strings.Repeat("d", 4096) + `"}}`
	rt, err := NewRuntime(json.RawMessage(`{"id":"a"}`), json.RawMessage(big))
	if err != nil {
		t.Fatal(err)
	}
	got, err := decodeRecord(encodeRecord(rt))
	if err != nil || string(got.RequirementsRaw) != big {
		t.Fatalf("round trip of a runtime with large fetched requirements: %v", err)
	}
}
