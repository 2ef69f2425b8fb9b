package httpapi_test

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"strings"
	"testing"

	"github.com/runtimesd/runtimesd/httpapi"
	rsync "github.com/runtimesd/runtimesd/sync"
	"github.com/runtimesd/runtimesd/sync/fakecp"
)

// sdkRequests is testdata/sdk_requests.json: what the Kubiya Python SDK's ControlPlaneClient
// (kubiya-control-plane@2.1.1) sends, recorded on the wire (a copy of shared/sdk/requests.json).
type sdkRequests struct {
	Meta struct {
		Client  string            `json:"client"`
		Headers map[string]string `json:"headers"`
	} `json:"meta"`
	Calls []struct {
		SDK    string  `json:"sdk"`
		Method string  `json:"method"`
		Path   string  `json:"path"`
		Body   *string `json:"body"`
		Status int     `json:"status"`
	} `json:"calls"`
}

// TestSDKCompatibility replays every call of the Python SDK with exactly its headers (UserKey
// scheme, gzip accepted, Content-Type on GETs too) and checks the status and the shape the
// SDK's caller reads: with no local token (any key passes), with token_reads on and the right
// token, and with a wrong token (every call 401, which the SDK raises as an authentication error).
func TestSDKCompatibility(t *testing.T) {
	t.Parallel()
	data, err := os.ReadFile("testdata/sdk_requests.json")
	if err != nil {
		t.Fatal(err)
	}
	var file sdkRequests
	if err := json.Unmarshal(data, &file); err != nil {
		t.Fatal(err)
	}
	if len(file.Calls) < 12 || !strings.Contains(file.Meta.Client, "2.1.1") {
		t.Fatalf("unexpected recording: %d calls, client %q", len(file.Calls), file.Meta.Client)
	}
	const token = "sidecar-local-token"
	for _, mode := range []struct {
		name, token, key string
		reads, wrong     bool
	}{
		{name: "NoToken", key: "the-callers-own-kubiya-key"},
		{name: "TokenReads", token: token, key: token, reads: true},
		{name: "TokenMutatingOnly", token: token, key: "the-callers-own-kubiya-key"},
		{name: "WrongToken", token: token, key: "not-the-token", reads: true, wrong: true},
	} {
		t.Run(mode.name, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t, fakecp.Options{}, func(o *httpapi.Options, _ *rsync.Client) {
				o.Token, o.TokenReads = mode.token, mode.reads
			})
			h.sync(t)
			for _, call := range file.Calls {
				var body io.Reader
				if call.Body != nil {
					body = strings.NewReader(*call.Body)
				}
				req, err := http.NewRequest(call.Method, h.url+call.Path, body)
				if err != nil {
					t.Fatal(err)
				}
				for k, v := range file.Meta.Headers {
					req.Header.Set(k, strings.ReplaceAll(v, "<token>", mode.key))
				}
				resp, err := (&http.Client{Transport: identityTransport}).Do(req)
				if err != nil {
					t.Fatal(err)
				}
				raw, err := io.ReadAll(resp.Body)
				resp.Body.Close()
				if err != nil {
					t.Fatal(err)
				}
				if resp.Header.Get("Content-Encoding") == "gzip" {
					zr, err := gzip.NewReader(bytes.NewReader(raw))
					if err != nil {
						t.Fatalf("%s: gzip: %v", call.SDK, err)
					}
					if raw, err = io.ReadAll(zr); err != nil {
						t.Fatalf("%s: gzip: %v", call.SDK, err)
					}
				}
				want := call.Status
				if mode.wrong {
					want = http.StatusUnauthorized
				}
				if resp.StatusCode != want {
					t.Errorf("%s: status %d, want %d: %s", call.SDK, resp.StatusCode, want, raw)
					continue
				}
				if err := sdkShape(call.Path, want, raw); err != "" {
					t.Errorf("%s: %s: %s", call.SDK, err, raw)
				}
			}
		})
	}
}

// sdkShape checks what the SDK's caller reads of each answer; "" when it fits.
func sdkShape(path string, status int, raw []byte) string {
	var v any
	if err := json.Unmarshal(raw, &v); err != nil {
		return "not JSON (response.json() would raise)"
	}
	obj, isObj := v.(map[string]any)
	has := func(keys ...string) string {
		if !isObj {
			return "not an object"
		}
		for _, k := range keys {
			if _, ok := obj[k]; !ok {
				return "no " + k
			}
		}
		return ""
	}
	switch {
	case status == http.StatusUnauthorized || status == http.StatusNotFound:
		if _, ok := obj["detail"].(string); !ok {
			return "no detail sentence"
		}
	case status == http.StatusUnprocessableEntity:
		if _, ok := obj["detail"].([]any); !ok {
			return "no detail list"
		}
	case path == "/api/v1/runtimes":
		list, ok := v.([]any)
		if !ok || len(list) == 0 {
			return "not a non-empty array"
		}
		for _, it := range list {
			m, _ := it.(map[string]any)
			if _, ok := m["id"].(string); !ok {
				return "an item without id"
			}
		}
	case strings.HasSuffix(path, "/requirements"):
		return has("model_requirement", "required_config_fields")
	case path == "/api/v1/runtimes/validate":
		if e := has("valid", "errors"); e != "" {
			return e
		}
		if _, ok := obj["valid"].(bool); !ok {
			return "valid is not a boolean"
		}
	case path == "/api/health/detailed":
		if e := has("api", "timestamp", "status"); e != "" {
			return e
		}
		if s := obj["status"]; s != "healthy" && s != "degraded" {
			return "status is not healthy|degraded"
		}
	case path == "/api/ready":
		return has("status", "timestamp")
	case path == "/api/health":
		return has("status")
	default:
		return "no shape known for " + path
	}
	return ""
}
