// Command echobytes is the baseline of bench/compare.sh: an echo v4 server that answers every
// GET with the same pre-encoded bytes (read once from a URL at start), nothing else.
package main

import (
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"

	"github.com/labstack/echo/v4"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:0", "listen address")
	from := flag.String("from", "", "URL whose body to serve")
	key := flag.String("key", "", "Bearer key for -from")
	sameHeaders := flag.Bool("same-headers", false, "also send the cache headers runtimesd sends a request without Accept-Encoding (to price them)")
	flag.Parse()
	req, _ := http.NewRequest("GET", *from, nil)
	if *key != "" {
		req.Header.Set("Authorization", "Bearer "+*key)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		fmt.Fprintln(os.Stderr, "echobytes:", err)
		os.Exit(1)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	// With Content-Type, the eight header-map entries runtimesd sets on a cached read for a
	// request without Accept-Encoding (compare.sh's wrk sends none). Vary is not one of them:
	// runtimesd sends it only to a request that named its encodings, and a ninth entry would
	// grow the map and price more than runtimesd pays (this baseline sent it until 2026-12-06).
	extra := map[string][]string{
		"Cache-Control": {"no-cache"}, "Age": {"1"}, "Last-Modified": {"Thu, 26 Nov 2026 18:00:00 GMT"},
		"X-Cache": {"HIT"}, "X-Runtimes-Revision": {"1"}, "X-Runtimes-Source": {"upstream"},
		"Etag": {`"0123456789abcdef01234567"`},
	}
	e.GET("/*", func(c echo.Context) error {
		if *sameHeaders {
			h := c.Response().Header()
			for k, v := range extra {
				h[k] = v
			}
		}
		return c.Blob(http.StatusOK, echo.MIMEApplicationJSON, body)
	})
	if err := e.Start(*addr); err != nil && err != http.ErrServerClosed {
		fmt.Fprintln(os.Stderr, "echobytes:", err)
		os.Exit(1)
	}
}
