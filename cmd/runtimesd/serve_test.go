package main

import (
	"bytes"
	"context"
	"errors"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/runtimesd/runtimesd/health"
	"github.com/runtimesd/runtimesd/store"
	rsync "github.com/runtimesd/runtimesd/sync"
	"github.com/runtimesd/runtimesd/sync/fakecp"
)

// startMain runs the daemon in-process (NewMain, ParseFlags, Run) on 127.0.0.1:0 and closes
// it when the test ends. Run returns once the daemon serves: no log line to wait for.
func startMain(t *testing.T, env map[string]string, args ...string) (*Main, *syncBuffer) {
	t.Helper()
	var logs syncBuffer
	m := NewMain(&logs, func(k string) string { return env[k] })
	if err := m.ParseFlags(append([]string{"--listen", "127.0.0.1:0"}, args...)); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = m.Close() })
	if err := m.Run(context.Background()); err != nil {
		t.Fatalf("run: %v\n%s", err, logs.String())
	}
	return m, &logs
}

// TestMain_RunClose runs the daemon through Main: it serves once Run returns, syncs from the
// control plane, and Close shuts down (logged) and releases the data file (a second Close is
// a no-op). That the port stops answering is not asserted: parallel tests may be given the
// freed port at once.
func TestMain_RunClose(t *testing.T) {
	t.Parallel()
	fake, err := fakecp.Start(fakecp.Options{APIKey: "main-key"})
	if err != nil {
		t.Fatal(err)
	}
	defer fake.Close()
	data := t.TempDir()
	env := map[string]string{EnvAPIKey: "main-key", EnvBaseURL: fake.URL(), "HOME": t.TempDir()}
	m, logs := startMain(t, env, "--data", data)
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	run, err := m.Poller.SyncNow(ctx, rsync.TriggerManual)
	if err != nil || run.Outcome == health.OutcomeFailed {
		t.Fatalf("sync: %v %+v", err, run)
	}
	addr := m.API.Addr()
	resp, body := get(t, "http://"+addr+"/v1/runtimes")
	if resp.StatusCode != 200 || resp.Header.Get("X-Runtimes-Source") == "seed" || !bytes.Contains(body, []byte(`"revision":1`)) {
		t.Fatalf("after a sync: %d %s %s", resp.StatusCode, resp.Header.Get("X-Runtimes-Source"), body)
	}
	if err := m.Close(); err != nil {
		t.Fatalf("close: %v\n%s", err, logs.String())
	}
	if err := m.Close(); err != nil {
		t.Errorf("second close: %v", err)
	}
	for _, line := range []string{`msg="shutting down"`, `msg=stopped`} {
		if !strings.Contains(logs.String(), line) {
			t.Errorf("log lacks %s:\n%s", line, logs.String())
		}
	}
	db, err := store.Open(filepath.Join(data, dbFile), store.Options{LockTimeout: 100 * time.Millisecond})
	if err != nil {
		t.Fatalf("the data file is still held after Close: %v", err)
	}
	defer db.Close()
	if snap := db.Loaded(); snap == nil || snap.Revision != 1 {
		t.Errorf("stored snapshot %+v, want revision 1", snap)
	}
}

// TestMain_RunFailsBusyPort: a busy port fails Run with the address named, and Close then
// releases the data file Run had opened (no lock left behind for the next attempt).
func TestMain_RunFailsBusyPort(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	data := t.TempDir()
	var logs syncBuffer
	m := NewMain(&logs, func(k string) string { return map[string]string{"HOME": data}[k] })
	if err := m.ParseFlags([]string{"--data", data, "--listen", ln.Addr().String()}); err != nil {
		t.Fatal(err)
	}
	err = m.Run(context.Background())
	if err == nil || !strings.Contains(err.Error(), ln.Addr().String()) {
		t.Fatalf("run on a busy port: %v, want an error naming %s", err, ln.Addr())
	}
	if err := m.Close(); err != nil {
		t.Fatalf("close after a failed run: %v", err)
	}
	db, err := store.Open(filepath.Join(data, dbFile), store.Options{LockTimeout: 100 * time.Millisecond})
	if err != nil {
		t.Fatalf("the data file is still held after a failed Run and Close: %v", err)
	}
	db.Close()
}

// TestMain_RunInterrupted: a context already ended (a signal during start-up) makes Run give
// up with errInterrupted before it listens; Close is clean.
func TestMain_RunInterrupted(t *testing.T) {
	t.Parallel()
	data := t.TempDir()
	var logs syncBuffer
	m := NewMain(&logs, func(k string) string { return map[string]string{"HOME": data}[k] })
	if err := m.ParseFlags([]string{"--data", data, "--listen", "127.0.0.1:0"}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := m.Run(ctx); !errors.Is(err, errInterrupted) {
		t.Fatalf("run with an ended context: %v, want errInterrupted", err)
	}
	if m.API != nil && m.API.Addr() != "" {
		t.Errorf("an interrupted start-up listened on %s", m.API.Addr())
	}
	if err := m.Close(); err != nil {
		t.Fatalf("close: %v", err)
	}
	if m.abandoned != nil {
		<-m.abandoned // the open given up on finishes in the background: let it before TempDir cleanup
	}
}

// TestMain_ParseFlags: flags land in Main's fields; a stray argument is a usage error (exit 2).
func TestMain_ParseFlags(t *testing.T) {
	t.Parallel()
	m := NewMain(&bytes.Buffer{}, func(string) string { return "" })
	if err := m.ParseFlags([]string{"--config", "c.yaml", "--data", "d", "--listen", "unix:/x", "--seed", "s.json", "--dev"}); err != nil {
		t.Fatal(err)
	}
	if m.ConfigPath != "c.yaml" || m.DataDir != "d" || m.Listen != "unix:/x" || m.SeedPath != "s.json" || !m.Dev {
		t.Errorf("parsed %+v", m)
	}
	var ee *exitError
	if err := NewMain(&bytes.Buffer{}, nil).ParseFlags([]string{"extra"}); !errors.As(err, &ee) || ee.code != 2 {
		t.Errorf("stray argument: %v, want a usage error", err)
	}
}
