package main

import (
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"testing"
)

// Package initialisation runs before main on every start of the binary, daemon and CLI alike,
// so it is part of the time to ready. httpapi's used to parse the OpenAPI YAML and build 4,096
// header values one by one: ~39,600 allocations and 1.9 MB, 20-50 ms of a start on the
// shared 2-core machine. (Counts, not timings: GODEBUG=inittrace=1 reports both.)
func TestStartup_HTTPAPIInitIsCheap(t *testing.T) {
	t.Parallel()
	bin := buildBinary(t)
	cmd := exec.Command(bin, "version")
	cmd.Env = append(os.Environ(), "GODEBUG=inittrace=1")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("runtimesd version: %v\n%s", err, out)
	}
	m := regexp.MustCompile(`init github.com/runtimesd/runtimesd/httpapi @[0-9.]+ ms, [0-9.]+ ms clock, ([0-9]+) bytes, ([0-9]+) allocs`).FindSubmatch(out)
	if m == nil {
		if !regexp.MustCompile(`(?m)^init [^ ]+ @`).Match(out) {
			t.Fatalf("GODEBUG=inittrace=1 printed no init lines:\n%s", out)
		}
		return // no package-level initialisation work in httpapi at all
	}
	bytes, _ := strconv.Atoi(string(m[1]))
	allocs, _ := strconv.Atoi(string(m[2]))
	if allocs > 1000 || bytes > 1<<20 {
		t.Errorf("httpapi's package init made %d allocations of %d bytes, want at most 1,000 and 1 MiB", allocs, bytes)
	}
}
