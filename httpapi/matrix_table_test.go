package httpapi_test

import (
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/runtimesd/runtimesd/store"
	"github.com/runtimesd/runtimesd/sync/fakecp"
)

// A runtime a hostile or careless control plane could send: a long name without spaces, a
// terminal escape, many providers and long features.
const wideRuntime = `{"id":"wide_runtime_with_a_rather_long_identifier","name":"AVeryLongNameWithoutAnySpacesThatCannotBreakAtAWordBoundaryAtAll\u001b[31mRED","status":"available","features":["` +
	`Feature one that goes on and on and on for quite a while","Feature two, also rather verbose, with commas, and more commas"],` +
	`"requirements":{"model_requirement":{"description":"","supported_providers":["anthropic","azure","bedrock","cohere","google","groq","mistral","openai","together","vertex"],` +
	`"supported_families":["claude","command","gemini","gpt","llama","mistral","mixtral"],"examples":["a-model-with-a-very-long-name-2026-01-01"]},` +
	`"required_config_fields":["timeout","max_tokens","temperature","top_p"],"recommended_config_fields":["stop"],"max_history_length":1000,"requires_system_prompt":true,"requires_tools":true}}`

// 17.11: the matrix table is readable in a 120-column terminal: no line is wider, long cells
// wrap onto continuation lines instead of being cut, fewer columns by default and ?columns=
// chooses them; escapes from upstream data never reach the terminal.
func TestMatrixTable_Fits120Columns(t *testing.T) {
	t.Parallel()
	seed := strings.TrimSuffix(string(store.SeedJSON()), "]")
	h := newHarness(t, fakecp.Options{Catalog: []byte(seed + "," + wideRuntime + "]")})
	h.sync(t)
	table := func(query string) string {
		t.Helper()
		a := do(t, "GET", h.url+"/v1/matrix?format=table"+query, "")
		if a.status != 200 {
			t.Fatalf("%s: %d %s", query, a.status, a.body)
		}
		body := string(a.body)
		for i, line := range strings.Split(body, "\n") {
			if n := utf8.RuneCountInString(line); n > 120 {
				t.Errorf("%s: line %d is %d columns wide:\n%s", query, i+1, n, line)
			}
		}
		if strings.ContainsRune(body, '\x1b') {
			t.Errorf("%s: a terminal escape from upstream data reached the table", query)
		}
		return body
	}
	def := table("")
	header := strings.Fields(strings.SplitN(def, "\n", 2)[0])
	if strings.Join(header, " ") != "ID NAME STATUS HEALTH PROVIDERS FAMILIES REQUIRED" {
		t.Errorf("default columns %q", header)
	}
	// Wrapped, not cut: every provider of the wide runtime is in the table.
	for _, p := range []string{"anthropic", "bedrock", "together", "vertex", "mixtral", "top_p"} {
		if !strings.Contains(def, p) {
			t.Errorf("default table lost %q:\n%s", p, def)
		}
	}
	all := table("&columns=all")
	if !strings.Contains(all, "FEATURES") || !strings.Contains(all, "quite a") || !strings.Contains(all, "[31mRED") {
		t.Errorf("columns=all:\n%s", all)
	}
	some := table("&columns=features,ID")
	if h := strings.Fields(strings.SplitN(some, "\n", 2)[0]); strings.Join(h, " ") != "ID FEATURES" {
		t.Errorf("columns=features,ID printed %q, want the table's order", h)
	}
	for query, want := range map[string]string{
		"format=table&columns=id,bogus": `unknown column \"bogus\"`,
		"format=csv&columns=id":         "format=table only",
		"format=table&columns=":         "is empty",
	} {
		a := do(t, "GET", h.url+"/v1/matrix?"+query, "")
		if a.status != 400 || !strings.Contains(string(a.body), want) {
			t.Errorf("%s: %d %s, want 400 naming %q", query, a.status, a.body, want)
		}
	}
}
