package httpapi_test

import (
	"testing"

	"github.com/runtimesd/runtimesd/httpapi"
)

// serveLoopback builds a server from opts, serves it on a free loopback port and shuts it
// down when the test ends.
func serveLoopback(t *testing.T, opts httpapi.Options) *httpapi.Server {
	t.Helper()
	api, err := httpapi.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	if err := api.Listen("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	api.Serve()
	t.Cleanup(func() { api.Shutdown() })
	return api
}
