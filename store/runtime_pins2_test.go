package store_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/runtimesd/runtimesd/store"
)

// A field of the wrong type is named with its value, cut after 40 bytes: a 40-byte value is
// shown whole, a 41-byte one cut and marked.
func TestNewRuntime_WrongTypeValueCut(t *testing.T) {
	t.Parallel()
	forty := strings.Repeat("7", 40)
	_, err := store.NewRuntime([]byte(`{"id":"a","status":`+forty+`}`), nil)
	if !errors.Is(err, store.ErrInvalidRuntime) || !strings.HasSuffix(err.Error(), `field "status" is `+forty+`, want a string`) {
		t.Fatalf("40-byte value: %v", err)
	}
	_, err = store.NewRuntime([]byte(`{"id":"a","status":`+forty+`1}`), nil)
	if !errors.Is(err, store.ErrInvalidRuntime) || !strings.HasSuffix(err.Error(), `field "status" is `+forty+`…, want a string`) {
		t.Fatalf("41-byte value: %v", err)
	}
}

// Keys are matched exactly: an object whose every key is written in capitals has no id, even
// though encoding/json would fold them. Empty input and a JSON null are invalid runtimes, not
// a panic or an empty one.
func TestNewRuntime_ExactKeysAndNonObjects(t *testing.T) {
	t.Parallel()
	keys := []string{"id", "name", "type", "status", "features", "supported_features",
		"model_requirements", "supported_providers", "supported_families", "default_model",
		"default_environment", "requirements", "model_requirement", "description", "examples",
		"required_config_fields", "recommended_config_fields", "max_history_length",
		"requires_system_prompt", "requires_tools", "required_features"}
	var parts []string
	for _, k := range keys {
		v := `null`
		if k == "id" {
			v = `"a"`
		}
		parts = append(parts, fmt.Sprintf("%q:%s", strings.ToUpper(k), v))
	}
	upper := "{" + strings.Join(parts, ",") + "}"
	if rt, err := store.NewRuntime([]byte(upper), nil); !errors.Is(err, store.ErrInvalidRuntime) || !strings.Contains(err.Error(), "missing id") {
		t.Fatalf("every key in capitals: %+v %v, want an invalid runtime missing its id", rt, err)
	}
	for _, raw := range []string{"", "   ", "null"} {
		if rt, err := store.NewRuntime([]byte(raw), nil); !errors.Is(err, store.ErrInvalidRuntime) {
			t.Fatalf("%q: %+v %v, want ErrInvalidRuntime", raw, rt, err)
		}
	}
	for _, raw := range []string{"null", "[]", `"x"`} {
		if _, err := store.NewRuntime([]byte(raw), nil); err == nil || err.Error() != "invalid runtime: not a JSON object" {
			t.Fatalf("%s: %v, want \"invalid runtime: not a JSON object\"", raw, err)
		}
	}
}

// Requirements that are not an object make the runtime invalid, naming the
// requirements.
func TestNewRuntime_RequirementsNotAnObject(t *testing.T) {
	t.Parallel()
	for _, req := range []string{"[]", `"x"`, "1"} {
		rt, err := store.NewRuntime([]byte(`{"id":"a"}`), []byte(req))
		if !errors.Is(err, store.ErrInvalidRuntime) || !strings.Contains(err.Error(), `runtime "a": requirements: `) {
			t.Fatalf("requirements %q: %+v %v, want an invalid runtime naming its requirements", req, rt, err)
		}
	}
}

// Did-you-mean bounds: an id of exactly 128 (normalised) runes still gets a suggestion, one of
// 129 none; the distance allowed grows with the length (a third of it, at most 2): a 3-letter
// typo one edit away is suggested, two edits away it is not; a 6-letter one two edits away is.
func TestSuggestID_Bounds(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("a", 127) + "b"
	c := catalogWith(t, `{"id":"`+long+`","name":"L","status":"available"}`, `{"id":"abc","name":"A","status":"available"}`,
		`{"id":"abcdef","name":"F","status":"available"}`)
	for in, want := range map[string]string{
		strings.Repeat("a", 127) + "c": long, // 128 runes, one edit away
		strings.Repeat("a", 128) + "c": "",   // 129 runes: too long to compare
		"abd":                          "abc",
		"xbd":                          "",
		"abcxyf":                       "abcdef",
	} {
		if got := store.SuggestID(c, in); got != want {
			t.Errorf("SuggestID(%d bytes %.12q…) = %.12q, want %.12q", len(in), in, got, want)
		}
	}
}
