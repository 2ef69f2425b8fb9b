// Command fakecp runs the fake control plane on its own, for bench/compare.sh: the public
// catalog (-runtimes 2) or a synthetic one of N runtimes, behind an API key.
package main

import (
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/runtimesd/runtimesd/store"
	"github.com/runtimesd/runtimesd/sync/fakecp"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:0", "listen address")
	n := flag.Int("runtimes", 2, "catalog size: 2 serves the public catalog, else a synthetic one")
	key := flag.String("key", "bench", "API key to require")
	flag.Parse()
	catalog := store.SeedJSON()
	if *n != 2 {
		catalog = fakecp.SyntheticCatalog(*n)
	}
	s, err := fakecp.Start(fakecp.Options{Addr: *addr, APIKey: *key, Catalog: catalog})
	if err != nil {
		fmt.Fprintln(os.Stderr, "fakecp:", err)
		os.Exit(1)
	}
	fmt.Println(s.URL())
	ctx := make(chan os.Signal, 1)
	signal.Notify(ctx, os.Interrupt, syscall.SIGTERM)
	<-ctx
	s.Close()
}
