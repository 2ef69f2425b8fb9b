package httpapi_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/runtimesd/runtimesd/httpapi"
	"github.com/runtimesd/runtimesd/store"
	"github.com/runtimesd/runtimesd/sync/fakecp"
)

func headerServer(t *testing.T, n int) *httpapi.Server {
	t.Helper()
	cat, err := store.ParseSnapshotFile(fakecp.SyntheticCatalog(n))
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	live := store.NewLive(&store.Snapshot{Revision: 4, Source: store.SourceUpstream, Catalog: cat,
		FetchedAt: now.Add(-3 * time.Second), UpdatedAt: now.Add(-time.Hour)})
	api, err := httpapi.New(httpapi.Options{Live: live, Syncer: noSync{}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = api.Shutdown() })
	return api
}

// The cached reads leave Date and (for small answers) Content-Length to net/http: clients
// get a Date on every read, a Content-Length with the right value on every answer of at most
// 2 KiB and on every HEAD, and a larger GET answer chunked (its length would be a 9th
// header-map entry), whole, small or large, identity or gzip.
func TestFinishRead_WireHeaders(t *testing.T) {
	t.Parallel()
	for _, n := range []int{2, 1000} {
		srv := httptest.NewServer(headerServer(t, n).Handler())
		t.Cleanup(srv.Close)
		client := &http.Client{Transport: &http.Transport{DisableCompression: true}}
		t.Cleanup(client.CloseIdleConnections)
		for _, path := range []string{"/api/v1/runtimes", "/v1/runtimes", "/v1/runtimes/rt-1", "/api/v1/runtimes/rt-1/requirements"} {
			for _, enc := range []string{"", "gzip"} {
				get := func(method string) (*http.Response, []byte) {
					req, _ := http.NewRequest(method, srv.URL+path, nil)
					if enc != "" {
						req.Header.Set("Accept-Encoding", enc)
					}
					resp, err := client.Do(req)
					if err != nil {
						t.Fatal(err)
					}
					defer resp.Body.Close()
					b, _ := io.ReadAll(resp.Body)
					return resp, b
				}
				resp, body := get(http.MethodGet)
				name := strconv.Itoa(n) + " " + path + " " + enc
				if resp.StatusCode != 200 {
					t.Fatalf("%s: %d", name, resp.StatusCode)
				}
				if len(body) <= 2048 {
					if len(resp.TransferEncoding) != 0 || resp.Header.Get("Content-Length") != strconv.Itoa(len(body)) {
						t.Errorf("%s: Transfer-Encoding %v, Content-Length %q for %d bytes", name, resp.TransferEncoding, resp.Header.Get("Content-Length"), len(body))
					}
				} else if !slices.Equal(resp.TransferEncoding, []string{"chunked"}) || resp.Header.Get("Content-Length") != "" {
					t.Errorf("%s: Transfer-Encoding %v, Content-Length %q for %d bytes: want chunked", name, resp.TransferEncoding, resp.Header.Get("Content-Length"), len(body))
				}
				if enc == "" && !json.Valid(body) {
					t.Errorf("%s: the body (%d bytes) is not whole JSON", name, len(body))
				}
				if d, err := http.ParseTime(resp.Header.Get("Date")); err != nil || time.Since(d).Abs() > time.Minute {
					t.Errorf("%s: Date %q", name, resp.Header.Get("Date"))
				}
				for _, h := range []string{"ETag", "Cache-Control", "Content-Type", "Age", "Last-Modified", "X-Cache", "X-Runtimes-Revision", "X-Runtimes-Source"} {
					if resp.Header.Get(h) == "" {
						t.Errorf("%s: no %s", name, h)
					}
				}
				head, hbody := get(http.MethodHead)
				wantLen := strconv.Itoa(len(body))
				if enc != "" { // a part compressed per request (age_seconds) may differ by a byte
					wantLen = head.Header.Get("Content-Length")
				}
				if len(hbody) != 0 || head.Header.Get("Content-Length") == "" || head.Header.Get("Content-Length") != wantLen || head.Header.Get("Date") == "" {
					t.Errorf("%s: HEAD Content-Length %q (GET sent %d bytes), Date %q", name, head.Header.Get("Content-Length"), len(body), head.Header.Get("Date"))
				}
			}
		}
	}
}

// countingWriter records how many entries the handler put in the header map by WriteHeader.
type countingWriter struct {
	h       http.Header
	entries int
	size    int
}

func (w *countingWriter) Header() http.Header         { return w.h }
func (w *countingWriter) Write(b []byte) (int, error) { w.size += len(b); return len(b), nil }
func (w *countingWriter) WriteHeader(int)             { w.entries = len(w.h) }

// A small cached read (no Accept-Encoding, as wrk and curl send) puts at most 8 entries in net/http's per-request header map: Go's small
// map holds 8, and the 9th grows it (an allocation and a rehash on every answer; measured at
// 6-9 % of the drop-in list's throughput). cc40ea0 put 10 or 11 there. A request that names
// its encodings still gets Vary: Accept-Encoding on an answer that could be compressed.
func TestFinishRead_SmallAnswerFitsTheSmallHeaderMap(t *testing.T) {
	t.Parallel()
	h := headerServer(t, 2).Handler()
	// Answers over net/http's 2 KiB buffer too (the native list of two synthetic runtimes, the
	// lists of 50): they are sent chunked rather than with a 9th entry for their length.
	big := headerServer(t, 50).Handler()
	for _, path := range []string{"/api/v1/runtimes", "/v1/runtimes", "/v1/runtimes/rt-1", "/api/v1/runtimes/rt-1/requirements", "big /api/v1/runtimes", "big /v1/runtimes"} {
		w := &countingWriter{h: http.Header{}}
		if p, ok := strings.CutPrefix(path, "big "); ok {
			big.ServeHTTP(w, httptest.NewRequest(http.MethodGet, p, nil))
			if w.size <= 2048 {
				t.Fatalf("%s: %d bytes, want a list over 2 KiB", path, w.size)
			}
		} else {
			h.ServeHTTP(w, httptest.NewRequest(http.MethodGet, path, nil))
		}
		if w.entries > 8 {
			t.Errorf("%s: %d header map entries %v, want at most 8", path, w.entries, w.h)
		}
		if path == "/api/v1/runtimes" {
			for _, ae := range []string{"identity", "gzip"} {
				w := &countingWriter{h: http.Header{}}
				r := httptest.NewRequest(http.MethodGet, path, nil)
				r.Header.Set("Accept-Encoding", ae)
				h.ServeHTTP(w, r)
				if w.h.Get("Vary") != "Accept-Encoding" {
					t.Errorf("%s with Accept-Encoding %s: Vary %q", path, ae, w.h.Get("Vary"))
				}
			}
		}
	}
}
