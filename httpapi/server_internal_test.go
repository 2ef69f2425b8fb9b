package httpapi

import (
	"bytes"
	"errors"
	"log/slog"
	"net"
	"strings"
	stdsync "sync"
	"testing"

	"github.com/runtimesd/runtimesd/store"
)

// brokenListener fails every Accept with a permanent error, as a listener whose socket was
// taken away does.
type brokenListener struct{ net.Listener }

func (brokenListener) Accept() (net.Conn, error) { return nil, errors.New("accept: socket gone") }

type lockedBuffer struct {
	mu stdsync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}
func (l *lockedBuffer) String() string { l.mu.Lock(); defer l.mu.Unlock(); return l.b.String() }

// TestServer_ServeLogsWhyItStopped: when the listener fails (not a Shutdown), the API stops
// answering and says why in the log, so the operator is not left guessing.
func TestServer_ServeLogsWhyItStopped(t *testing.T) {
	t.Parallel()
	var out lockedBuffer
	s, err := New(Options{Live: store.NewLive(nil), Syncer: idleSyncer{}, Logger: slog.New(slog.NewTextHandler(&out, nil))})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	s.ln = brokenListener{ln}
	s.Serve()
	<-s.served
	if log := out.String(); !strings.Contains(log, "level=ERROR") || !strings.Contains(log, "http server stopped") || !strings.Contains(log, "socket gone") {
		t.Errorf("log after the listener failed:\n%s", log)
	}
	_ = s.Shutdown()
}
