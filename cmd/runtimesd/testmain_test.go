package main

import (
	"fmt"
	"os"
	"sync"
	"testing"
)

// The real binary is built once per test run (buildBinary) into binDir.
var (
	binDir  string
	binOnce sync.Once
	binPath string
	binErr  error
)

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "runtimesd-test-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "make the binary's directory:", err)
		os.Exit(1)
	}
	binDir = dir
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}
