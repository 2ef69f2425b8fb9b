package httpapi_test

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/runtimesd/runtimesd/sync/fakecp"
)

// rawExchange writes a raw HTTP/1.1 request and reads the answer.
func rawExchange(t *testing.T, addr, raw string) (int, http.Header, []byte) {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(conn, raw); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("no answer: %v", err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, b
}

// TestHostileInputs sends inputs meant to break a server. Every one gets a 4xx in the JSON
// error shape of its surface: never a 5xx, never a dropped connection, never a panic.
func TestHostileInputs(t *testing.T) {
	t.Parallel()
	h := newHarness(t, fakecp.Options{})
	h.sync(t)
	addr := strings.TrimPrefix(h.url, "http://")
	get := func(path string, headers ...string) string {
		return "GET " + path + " HTTP/1.1\r\nHost: x\r\nConnection: close\r\n" + strings.Join(headers, "") + "\r\n"
	}
	post := func(path, ctype, body string) string {
		return fmt.Sprintf("POST %s HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Type: %s\r\nContent-Length: %d\r\n\r\n%s", path, ctype, len(body), body)
	}
	deep := strings.Repeat(`{"a":`, 100000) + "1" + strings.Repeat("}", 100000)
	cases := map[string]string{
		"HugeBody":                 post("/v1/validate", "application/json", `{"runtime_type":"`+strings.Repeat("x", 2<<20)+`"}`),
		"HugeBodyDropIn":           post("/api/v1/runtimes/validate", "application/json", `{"runtime_type":"`+strings.Repeat("x", 2<<20)+`"}`),
		"DeepNestingNative":        post("/v1/validate", "application/json", deep),
		"DeepNestingDropIn":        post("/api/v1/runtimes/validate", "application/json", deep),
		"DeepNestingSelect":        post("/v1/select", "application/json", deep),
		"InvalidUTF8Body":          post("/api/v1/runtimes/validate", "application/json", "{\"runtime_type\":\"\xff\xfe\"}"),
		"InvalidUTF8Native":        post("/v1/validate", "application/json", "{\"runtime_type\":\"\xff\xfe\"}"),
		"NULInBody":                post("/v1/validate", "application/json", "{\"runtime_type\":\"a\x00b\"}"),
		"NULEscapedInID":           get("/v1/runtimes/a%00b"),
		"InvalidUTF8InID":          get("/v1/runtimes/%ff%fe"),
		"PathTraversal":            get("/v1/runtimes/..%2F..%2Fetc%2Fpasswd"),
		"PathTraversalDropIn":      get("/api/v1/runtimes/..%2F..%2Fetc%2Fpasswd/requirements"),
		"EncodedSlashID":           get("/v1/runtimes/default%2Frequirements"),
		"DotDotSegments":           get("/v1/runtimes/../../../etc/passwd"),
		"VeryLongID":               get("/v1/runtimes/" + strings.Repeat("x", 30000)),
		"VeryLongQuery":            get("/v1/runtimes?feature=" + strings.Repeat("y", 30000)),
		"UnknownFieldsSelect":      post("/v1/select", "application/json", `{"featurez":["a"],"__proto__":{}}`),
		"DuplicateKeysWrongType":   post("/v1/validate", "application/json", `{"runtime_type":"default","runtime_type":5}`),
		"WrongTypes":               post("/v1/validate", "application/json", `{"runtime_type":["a"],"model_id":{},"agent_config":"x"}`),
		"WrongTypesSelect":         post("/v1/select", "application/json", `{"features":[1,2],"allow_unhealthy":"yes"}`),
		"HeaderInjectionInID":      get("/v1/runtimes/x%0D%0AX-Injected:%201"),
		"HeaderInjectionRedirect":  get("/api/v1/runtimes/x%0D%0AX-Injected:%201/requirements/"),
		"HeaderInjectionCC":        get("/v1/runtimes", "Cache-Control: max-age=abc\r\n"),
		"BadIndex":                 get("/v1/runtimes?index=-1"),
		"BadWait":                  get("/v1/runtimes?index=1&wait=1y"),
		"ManyQueryParams":          get("/v1/runtimes?" + strings.Repeat("status=a&", 2000)),
		"BadMatrixFormat":          get("/v1/matrix?format=%00"),
		"NumberOverflow":           post("/v1/validate", "application/json", `{"runtime_type":"default","agent_config":{"n":1e999999}}`),
		"EmptyBodyNative":          post("/v1/validate", "application/json", ""),
		"WrongContentTypeNative":   post("/v1/select", "text/xml", "<features/>"),
		"ChangesHugeSince":         get("/v1/changes?since=99999999999999999999999"),
		"ResolveTraversal":         get("/v1/resolve/..%2F..%2F"),
		"WatchBadLastEventID":      get("/v1/watch", "Last-Event-ID: \x01\x02abc\r\n"),
		"SyncWithBody":             post("/v1/sync", "application/json", `{"x":`+strings.Repeat("[", 5000)+`}`),
		"UnsupportedMethodTrace":   "TRACE /v1/runtimes HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
		"UnsupportedMethodPutAPI":  "PUT /api/v1/runtimes HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: 0\r\n\r\n",
		"ChunkedGarbage":           "POST /v1/validate HTTP/1.1\r\nHost: x\r\nConnection: close\r\nTransfer-Encoding: chunked\r\nContent-Type: application/json\r\n\r\n5\r\n{\"a\":\r\n0\r\n\r\n",
		"QueryWithNUL":             get("/v1/runtimes?status=%00"),
		"FeatureFilterUTF8Garbage": get("/v1/runtimes?feature=%ff"),
	}
	for name, raw := range cases {
		t.Run(name, func(t *testing.T) {
			status, header, body := rawExchange(t, addr, raw)
			if header.Get("X-Injected") != "" {
				t.Fatalf("a header was injected into the answer: %v", header)
			}
			if status == http.StatusTemporaryRedirect && strings.HasPrefix(name, "HeaderInjection") {
				if loc := header.Get("Location"); strings.ContainsAny(loc, "\r\n") || !strings.Contains(loc, "%0D%0A") {
					t.Fatalf("Location %q", loc)
				}
				return // the trailing-slash redirect, with the CR LF kept encoded
			}
			if status == http.StatusBadRequest && strings.HasPrefix(string(body), "400 Bad Request") {
				return // net/http refused a malformed header line before any handler ran
			}
			if status < 400 || status >= 500 {
				t.Fatalf("status %d, want a 4xx: %.300s", status, body)
			}
			if status == 431 || status == 414 {
				return // rejected by net/http before routing (plain text by design of the server)
			}
			var m map[string]any
			if err := json.Unmarshal(body, &m); err != nil || (m["error"] == nil && m["detail"] == nil) {
				t.Fatalf("not the JSON error shape (%s): %.300s", header.Get("Content-Type"), body)
			}
		})
	}
	// The server is still well after all of that.
	if a := do(t, "GET", h.url+"/v1/runtimes", ""); a.status != 200 {
		t.Fatalf("after the hostile inputs: %d", a.status)
	}
}

func FuzzSelect(f *testing.F) {
	for _, s := range []string{`{"features":["code review"],"model_provider":"anthropic"}`, `{}`, `{"candidates":["default","x"]}`, `[`, `{"allow_unhealthy":true,"model_id":"claude"}`} {
		f.Add([]byte(s))
	}
	h := fuzzServer(f)
	f.Fuzz(func(t *testing.T, body []byte) {
		req := httptest.NewRequest("POST", "/v1/select", strings.NewReader(string(body)))
		req.Header.Set("Content-Type", "application/json")
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code >= 500 || !json.Valid(rec.Body.Bytes()) {
			t.Fatalf("%d %q for %q", rec.Code, rec.Body, body)
		}
	})
}

// FuzzReadRoutes sends fuzzed paths, queries and headers to the read routes.
func FuzzReadRoutes(f *testing.F) {
	f.Add("/v1/runtimes", "status=beta&feature=code%20review", "max-age=0", "*")
	f.Add("/api/v1/runtimes/claude_code/requirements", "index=1&wait=1ms", "", `W/"x"`)
	f.Add("/v1/resolve/default", "feature=x", "stale-if-error=5", "")
	f.Add("/v1/matrix", "format=csv", "no-cache", "")
	f.Add("/v1/changes", "since=0", "", "")
	h := fuzzServer(f)
	f.Fuzz(func(t *testing.T, path, query, cacheControl, ifNoneMatch string) {
		target := "/" + strings.TrimLeft(path, "/")
		if query != "" {
			target += "?" + query
		}
		req, err := http.NewRequest("GET", "http://sidecar"+target, nil)
		if err != nil {
			return // not a request a client can send
		}
		req.Header.Set("Cache-Control", cacheControl)
		req.Header.Set("If-None-Match", ifNoneMatch)
		if strings.Contains(query, "wait") || strings.HasPrefix(target, "/v1/watch") {
			return // blocking reads and streams wait by design
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code >= 500 && rec.Code != http.StatusGatewayTimeout {
			t.Fatalf("%s: %d %q", target, rec.Code, rec.Body)
		}
	})
}
