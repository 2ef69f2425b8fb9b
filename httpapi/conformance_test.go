package httpapi_test

import (
	"bufio"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/runtimesd/runtimesd/sync/fakecp"
)

// conformanceCase is one recorded request to the real control plane and its answer
// (testdata/runtimes_public.json, copied from shared/conformance).
type conformanceCase struct {
	ID          string            `json:"id"`
	Group       string            `json:"group"`
	Description string            `json:"description"`
	Method      string            `json:"method"`
	Path        string            `json:"path"`
	Headers     map[string]string `json:"headers"`
	BodyRaw     *string           `json:"request_body_raw"`
	BodyBase64  *string           `json:"request_body_base64"`
	Crash       bool              `json:"upstream_crash"`
	Expect      struct {
		Status      int             `json:"status"`
		ContentType *string         `json:"content_type"`
		Body        json.RawMessage `json:"body"`
	} `json:"expect"`
}

// TestConformance replays every recorded case against the real server (over loopback, with
// the exact request bytes) and compares as the file's meta says: provider and family lists
// as sets; for 422 the status and each detail item's loc and type; upstream crashes must be
// answered with a 4xx or a 200, never a 5xx; HEAD on a GET route may be 200 with no body.
func TestConformance(t *testing.T) {
	replayCorpus(t, "testdata/runtimes_public.json")
}

// TestConformance_EdgeCases replays testdata/edge_cases.json, our own cases written as the
// control plane answers them (FastAPI on CPython): bodies in UTF-16 and UTF-32, encoded
// slashes and empty ids in path parameters, unknown paths outside the native surface.
func TestConformance_EdgeCases(t *testing.T) {
	replayCorpus(t, "testdata/edge_cases.json")
}

func replayCorpus(t *testing.T, path string) {
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var file struct {
		Meta  struct{ Count int } `json:"meta"`
		Cases []conformanceCase   `json:"cases"`
	}
	if err := json.Unmarshal(data, &file); err != nil {
		t.Fatal(err)
	}
	if len(file.Cases) != file.Meta.Count {
		t.Fatalf("file has %d cases, meta says %d", len(file.Cases), file.Meta.Count)
	}
	h := newHarness(t, fakecp.Options{})
	h.sync(t) // the fake serves the public catalog: this is what the recordings were made against
	addr := strings.TrimPrefix(h.url, "http://")

	passed := 0
	for _, tc := range file.Cases {
		ok := t.Run(tc.ID, func(t *testing.T) {
			status, ctype, body := rawRequest(t, addr, tc)
			checkConformance(t, tc, status, ctype, body)
		})
		if ok {
			passed++
		}
	}
	t.Logf("conformance: %d of %d recorded cases reproduced", passed, len(file.Cases))
}

func checkConformance(t *testing.T, tc conformanceCase, status int, ctype string, body []byte) {
	t.Helper()
	exp := tc.Expect
	switch {
	case tc.Crash:
		if status >= 500 {
			t.Fatalf("%s: the control plane crashed here (500); the sidecar must not: got %d %s", tc.Description, status, body)
		}
		if !json.Valid(body) {
			t.Fatalf("answer is not JSON: %s", body)
		}
		return
	case tc.Method == "HEAD" && exp.Status == http.StatusMethodNotAllowed:
		if (status != 200 && status != 405) || len(body) != 0 {
			t.Fatalf("HEAD: %d with %d bytes", status, len(body))
		}
		return
	}
	if status != exp.Status {
		t.Fatalf("%s: status %d, want %d; body %s", tc.Description, status, exp.Status, body)
	}
	if exp.ContentType != nil && !strings.HasPrefix(ctype, "application/json") {
		t.Errorf("content type %q, want %q", ctype, *exp.ContentType)
	}
	if len(exp.Body) == 0 || string(exp.Body) == "null" {
		return
	}
	var got, want any
	if err := json.Unmarshal(body, &got); err != nil {
		t.Fatalf("body is not JSON: %v: %s", err, body)
	}
	if err := json.Unmarshal(exp.Body, &want); err != nil {
		t.Fatal(err)
	}
	if status == http.StatusUnprocessableEntity {
		got, want = locAndType(got), locAndType(want)
	} else {
		got, want = setsSorted(got), setsSorted(want)
	}
	if !reflect.DeepEqual(got, want) {
		g, _ := json.Marshal(got)
		w, _ := json.Marshal(want)
		t.Fatalf("%s:\n got %s\nwant %s", tc.Description, g, w)
	}
}

// locAndType keeps what the file's meta says matters in a 422: each item's loc and type.
func locAndType(v any) any {
	m, _ := v.(map[string]any)
	items, _ := m["detail"].([]any)
	var out []string
	for _, it := range items {
		im, _ := it.(map[string]any)
		loc, _ := json.Marshal(im["loc"])
		out = append(out, fmt.Sprintf("%s %v", loc, im["type"]))
	}
	return out
}

// setsSorted sorts every supported_providers and supported_families list.
func setsSorted(v any) any {
	switch t := v.(type) {
	case map[string]any:
		for k, child := range t {
			if arr, ok := child.([]any); ok && (k == "supported_providers" || k == "supported_families") {
				slices.SortFunc(arr, func(a, b any) int { return strings.Compare(fmt.Sprint(a), fmt.Sprint(b)) })
			}
			setsSorted(child)
		}
	case []any:
		for _, c := range t {
			setsSorted(c)
		}
	}
	return v
}

// rawRequest writes the recorded request byte for byte on a fresh connection.
func rawRequest(t *testing.T, addr string, tc conformanceCase) (int, string, []byte) {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n", tc.Method, tc.Path, addr)
	for k, v := range tc.Headers {
		fmt.Fprintf(&b, "%s: %s\r\n", k, v)
	}
	body := ""
	if tc.BodyRaw != nil {
		body = *tc.BodyRaw
	}
	if tc.BodyBase64 != nil {
		b, err := base64.StdEncoding.DecodeString(*tc.BodyBase64)
		if err != nil {
			t.Fatal(err)
		}
		body = string(b)
	}
	if tc.BodyRaw != nil || tc.BodyBase64 != nil || tc.Method == "POST" {
		fmt.Fprintf(&b, "Content-Length: %d\r\n", len(body))
	}
	b.WriteString("\r\n")
	b.WriteString(body)
	if _, err := io.WriteString(conn, b.String()); err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest(tc.Method, "/", nil)
	resp, err := http.ReadResponse(bufio.NewReader(conn), req)
	if err != nil {
		t.Fatalf("read response: %v", err)
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, resp.Header.Get("Content-Type"), out
}
