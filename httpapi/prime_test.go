package httpapi_test

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	stdsync "sync"
	"testing"
	"time"

	"github.com/runtimesd/runtimesd/httpapi"
	"github.com/runtimesd/runtimesd/store"
	"github.com/runtimesd/runtimesd/sync/fakecp"
)

// primeRoutes are the reads whose bodies are encoded once per catalog (what Prime builds).
var primeRoutes = []string{"/api/v1/runtimes", "/v1/runtimes", "/v1/runtimes/rt-7", "/v1/runtimes/rt-7/requirements",
	"/api/v1/runtimes/rt-7/requirements", "/v1/runtimes?status=active", "/v1/matrix"}

func primeServer(t *testing.T, cat *store.Catalog) *httpapi.Server {
	t.Helper()
	live := store.NewLive(&store.Snapshot{Revision: 3, Source: store.SourceUpstream, Catalog: cat,
		FetchedAt: time.Unix(1_800_000_000, 0), UpdatedAt: time.Unix(1_800_000_000, 0)})
	api, err := httpapi.New(httpapi.Options{Live: live, Syncer: noSync{},
		Now: func() time.Time { return time.Unix(1_800_000_010, 0) }})
	if err != nil {
		t.Fatal(err)
	}
	return api
}

type primeAnswer struct {
	status int
	etag   string
	body   []byte
}

// getPrime GETs url; client must not ask for gzip itself (DisableCompression).
func getPrime(t *testing.T, client *http.Client, url string, gzip bool) primeAnswer {
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	if gzip {
		req.Header.Set("Accept-Encoding", "gzip")
	}
	resp, err := client.Do(req)
	if err != nil {
		t.Error(err)
		return primeAnswer{}
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return primeAnswer{resp.StatusCode, resp.Header.Get("ETag"), b}
}

// The daemon listens before its bodies are encoded (Serve primes in the background): reads
// that arrive while priming runs, or on a server never primed, answer the same bytes and
// ETags as a primed server, identity and gzip.
func TestServer_ReadsBeforePrimingAreCorrect(t *testing.T) {
	t.Parallel()
	cat, err := store.ParseSnapshotFile(fakecp.SyntheticCatalog(1000))
	if err != nil {
		t.Fatal(err)
	}
	plainClient := &http.Client{Transport: &http.Transport{DisableCompression: true}}
	defer plainClient.CloseIdleConnections()
	ref := primeServer(t, cat)
	ref.Prime()
	refSrv := httptest.NewServer(ref.Handler())
	defer refSrv.Close()
	want := map[string]primeAnswer{}
	for _, gz := range []bool{false, true} {
		for _, p := range primeRoutes {
			a := getPrime(t, plainClient, refSrv.URL+p, gz)
			if a.status != http.StatusOK || len(a.body) == 0 {
				t.Fatalf("reference %s: %d", p, a.status)
			}
			want[fmt.Sprint(p, gz)] = a
		}
	}

	t.Run("NeverPrimed", func(t *testing.T) {
		t.Parallel()
		srv := httptest.NewServer(primeServer(t, cat).Handler())
		defer srv.Close()
		for _, gz := range []bool{true, false} {
			for _, p := range primeRoutes {
				if got, w := getPrime(t, plainClient, srv.URL+p, gz), want[fmt.Sprint(p, gz)]; got.etag != w.etag || !bytes.Equal(got.body, w.body) {
					t.Errorf("%s gzip=%v: unprimed answer differs (etag %s, want %s)", p, gz, got.etag, w.etag)
				}
			}
		}
	})

	t.Run("WhilePriming", func(t *testing.T) {
		t.Parallel()
		api := primeServer(t, cat)
		if err := api.Listen("127.0.0.1:0"); err != nil {
			t.Fatal(err)
		}
		defer api.Shutdown()
		api.Serve() // returns at once; the first reads race with the background Prime
		client := &http.Client{Transport: &http.Transport{DisableCompression: true, MaxIdleConnsPerHost: 8}}
		defer client.CloseIdleConnections()
		var wg stdsync.WaitGroup
		for i := range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				gz := i%2 == 1
				for j := range primeRoutes {
					p := primeRoutes[(i+j)%len(primeRoutes)]
					if got, w := getPrime(t, client, "http://"+api.Addr()+p, gz), want[fmt.Sprint(p, gz)]; got.etag != w.etag || !bytes.Equal(got.body, w.body) {
						t.Errorf("%s gzip=%v: answer during priming differs (status %d, etag %s, want %s)", p, gz, got.status, got.etag, w.etag)
					}
				}
			}()
		}
		wg.Wait()
		select {
		case <-api.Primed():
		case <-time.After(time.Minute):
			t.Fatal("the background priming started by Serve never finished")
		}
	})
}
