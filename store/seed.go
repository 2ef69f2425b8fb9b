package store

import (
	"bytes"
	_ "embed"
	"encoding/json"
	"fmt"
)

// seedJSON is the control plane's public runtime catalog as GET /api/v1/runtimes returned it
// (shared/conformance/public_catalog.json).
//
//go:embed seed.json
var seedJSON []byte

// SeedJSON returns the built-in seed catalog as the control plane sends it: compact JSON.
func SeedJSON() []byte {
	var b bytes.Buffer
	if err := json.Compact(&b, seedJSON); err != nil {
		panic(fmt.Sprintf("store: built-in seed catalog: %v", err)) // a build defect, caught by tests
	}
	return b.Bytes()
}

// SeedCatalog returns the built-in seed catalog: the control plane's public runtimes and their
// requirements, served when nothing is stored and the control plane cannot be reached.
func SeedCatalog() *Catalog {
	c, err := ParseSnapshotFile(SeedJSON())
	if err != nil {
		panic(fmt.Sprintf("store: built-in seed catalog: %v", err)) // a build defect, caught by tests
	}
	return c
}
