package httpapi_test

import (
	"encoding/csv"
	"strings"
	"testing"

	"github.com/runtimesd/runtimesd/sync/fakecp"
)

func TestSelectEndpoint(t *testing.T) {
	h := newHarness(t, fakecp.Options{Catalog: catalogWithStrict(t)})
	h.sync(t)
	post := func(body string) answer {
		return do(t, "POST", h.url+"/v1/select", body, "Content-Type", "application/json")
	}

	a := post(`{"features":["Repository awareness"],"model_provider":"anthropic","model_id":"claude-opus-4"}`)
	m := a.json(t)
	if a.status != 200 || m["best"].(map[string]any)["id"] != "claude_code" || len(m["candidates"].([]any)) != 3 || m["revision"] != 1.0 {
		t.Fatalf("%d %s", a.status, a.body)
	}
	a = post(`{"features":["code review"],"candidates":["strict"]}`)
	if a.status != 404 {
		t.Fatalf("an unhealthy only candidate must not be chosen: %d %s", a.status, a.body)
	}
	m = a.json(t)
	if e := m["error"].(map[string]any); e["code"] != "no_runtime_matches" || !strings.Contains(e["message"].(string), "unhealthy") {
		t.Errorf("%s", a.body)
	}
	if a = post(`{"features":["code review"],"candidates":["strict"],"allow_unhealthy":true}`); a.status != 200 {
		t.Errorf("allow_unhealthy: %d %s", a.status, a.body)
	}
	if a = post(`{"limit":1}`); a.status != 200 || len(a.json(t)["candidates"].([]any)) != 1 || a.json(t)["total"] != 3.0 {
		t.Errorf("limit: %s", a.body)
	}
	if a = post(`{"limit":-1}`); a.status != 400 {
		t.Errorf("negative limit: %d", a.status)
	}
	if a = post(``); a.status != 200 || a.json(t)["best"].(map[string]any)["id"] != "default" {
		t.Errorf("no requirements: the best healthy runtime, ties broken by id: %s", a.body)
	}
	for name, body := range map[string]string{
		"UnknownField":     `{"featurez":["x"]}`,
		"WrongType":        `{"features":"x"}`,
		"NotJSON":          `features=x`,
		"UnknownCandidate": `{"candidates":["Default"]}`,
	} {
		t.Run(name, func(t *testing.T) {
			if a := post(body); a.status != 400 || a.json(t)["error"] == nil {
				t.Errorf("%d %s", a.status, a.body)
			}
		})
	}
}

func TestMatrixEndpoint(t *testing.T) {
	h := newHarness(t, fakecp.Options{Catalog: catalogWithStrict(t)})
	h.sync(t)
	a := do(t, "GET", h.url+"/v1/matrix", "")
	rows := a.json(t)["runtimes"].([]any)
	if a.status != 200 || len(rows) != 3 {
		t.Fatalf("%d %s", a.status, a.body)
	}
	strict := rows[2].(map[string]any)
	if strict["health"] != "unhealthy" || strings.Join(toStrings(strict["required_config_fields"]), ",") != "timeout" || strict["requires_system_prompt"] != true {
		t.Errorf("strict row %v", strict)
	}

	table := do(t, "GET", h.url+"/v1/matrix?format=table", "")
	var lines []string // the header and the first line of each row (wrapped cells continue below, under a blank ID)
	for _, l := range strings.Split(strings.TrimSpace(string(table.body)), "\n") {
		if !strings.HasPrefix(l, " ") {
			lines = append(lines, l)
		}
	}
	if table.status != 200 || !strings.HasPrefix(table.header.Get("Content-Type"), "text/plain") || len(lines) != 4 {
		t.Fatalf("%d %q", table.status, table.body)
	}
	if col := strings.Index(lines[0], "STATUS"); col < 0 || !strings.HasPrefix(lines[3][col:], "inactive") {
		t.Errorf("columns not aligned:\n%s", table.body)
	}

	c := do(t, "GET", h.url+"/v1/matrix?format=csv", "")
	recs, err := csv.NewReader(strings.NewReader(string(c.body))).ReadAll()
	if err != nil || len(recs) != 4 || recs[0][0] != "ID" || recs[1][0] != "default" || !strings.Contains(recs[1][5], "openai") {
		t.Fatalf("csv: %v %q", err, c.body)
	}
	if bad := do(t, "GET", h.url+"/v1/matrix?format=xml", ""); bad.status != 400 {
		t.Errorf("format=xml: %d", bad.status)
	}
}
