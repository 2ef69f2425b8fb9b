package sync_test

import (
	"bytes"
	"context"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	stdsync "sync"
	"sync/atomic"
	"testing"
	"time"

	rsync "github.com/runtimesd/runtimesd/sync"
)

// Client behaviours that survived a gremlins run of sync (issue 14): defaults taken from zero
// options, the retry bound, the caller's logger, CA files, same-host redirects, error wording
// and the validate pass-through. Each test uses a plain httptest server so that the request
// the client sends, and how often, is asserted exactly.

const pinKey = "pin-key-0123456789"

// upstream is a programmable control plane: answer decides each reply; it records calls.
type upstream struct {
	srv    *httptest.Server
	calls  atomic.Int64
	mu     stdsync.Mutex
	header http.Header // of the last request
	answer atomic.Value
}

type answerFunc func(w http.ResponseWriter, r *http.Request)

func newUpstream(t *testing.T, tls bool, answer answerFunc) *upstream {
	t.Helper()
	u := &upstream{}
	u.answer.Store(answer)
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u.calls.Add(1)
		u.mu.Lock()
		u.header = r.Header.Clone()
		u.mu.Unlock()
		u.answer.Load().(answerFunc)(w, r)
	})
	if tls {
		u.srv = httptest.NewUnstartedServer(h)
		u.srv.Config.ErrorLog = log.New(io.Discard, "", 0) // the refused handshake is expected
		u.srv.StartTLS()
	} else {
		u.srv = httptest.NewServer(h)
	}
	t.Cleanup(u.srv.Close)
	return u
}

func (u *upstream) lastHeader(name string) string {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.header.Get(name)
}

func status(code int, body string) answerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(code)
		fmt.Fprint(w, body)
	}
}

func newPinClient(t *testing.T, o rsync.ClientOptions) *rsync.Client {
	t.Helper()
	c, err := rsync.NewClient(o)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func errKind(err error) rsync.ErrorKind {
	var ue *rsync.Error
	if errors.As(err, &ue) {
		return ue.Kind
	}
	return ""
}

// A client built from zero options (as the daemon does when the config leaves them out)
// answers, retries a failing GET twice, and says who it is.
func TestNewClient_ZeroOptionsTakeDefaults(t *testing.T) {
	t.Parallel()
	u := newUpstream(t, false, status(500, `{"detail":"down"}`))
	c := newPinClient(t, rsync.ClientOptions{BaseURL: u.srv.URL, APIKey: pinKey})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if _, err := c.ListRuntimes(ctx); errKind(err) != rsync.KindServer {
		t.Fatalf("500: err %v, want a server error", err)
	}
	if n := u.calls.Load(); n != 3 {
		t.Errorf("a failing GET was sent %d times, want 3 (the call and the 2 default retries)", n)
	}
	if ua := u.lastHeader("User-Agent"); ua != "runtimesd" {
		t.Errorf("User-Agent %q, want the default runtimesd", ua)
	}
	u.answer.Store(status(200, `[{"id":"a","status":"available"}]`))
	items, err := c.ListRuntimes(ctx)
	if err != nil || len(items) != 1 {
		t.Fatalf("healthy upstream, zero Timeout and MaxResponseBytes (defaults): %d items, err %v", len(items), err)
	}
}

func TestClientOptions_RetriesAndUserAgent(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		retries int
		want    int64
	}{{-1, 1}, {1, 2}, {3, 4}} {
		t.Run(fmt.Sprint(tc.retries), func(t *testing.T) {
			t.Parallel()
			u := newUpstream(t, false, status(502, `{}`))
			c := newPinClient(t, rsync.ClientOptions{BaseURL: u.srv.URL, APIKey: pinKey, Retries: tc.retries,
				RetryBase: time.Millisecond, RetryMax: 2 * time.Millisecond, BreakerFailures: 100, UserAgent: "agent/7"})
			if _, err := c.ListRuntimes(context.Background()); errKind(err) != rsync.KindServer {
				t.Fatalf("err %v, want a server error", err)
			}
			if n := u.calls.Load(); n != tc.want {
				t.Errorf("Retries %d: sent %d times, want %d", tc.retries, n, tc.want)
			}
			if ua := u.lastHeader("User-Agent"); ua != "agent/7" {
				t.Errorf("User-Agent %q, want the configured agent/7", ua)
			}
		})
	}
}

// The logger given to the client is the one its breakers report transitions to.
func TestClientOptions_LoggerGetsBreakerTransitions(t *testing.T) {
	t.Parallel()
	var logs logBuffer
	u := newUpstream(t, false, status(500, `{}`))
	c := newPinClient(t, rsync.ClientOptions{BaseURL: u.srv.URL, APIKey: pinKey, Retries: -1, BreakerFailures: 1, Logger: logs.logger()})
	if _, err := c.ListRuntimes(context.Background()); errKind(err) != rsync.KindServer {
		t.Fatalf("err %v", err)
	}
	got := logs.take()
	if !strings.Contains(got, "circuit breaker state changed") || !strings.Contains(got, "open") {
		t.Fatalf("log %q: want the breaker opening reported to the configured logger", got)
	}
}

// logBuffer is a log destination a test reads while the code under test writes to it.
type logBuffer struct {
	mu stdsync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

// take returns what was logged since the last take.
func (l *logBuffer) take() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	s := l.b.String()
	l.b.Reset()
	return s
}

func (l *logBuffer) logger() *slog.Logger { return slog.New(slog.NewTextHandler(l, nil)) }

// ca_file: a control plane whose certificate only that file vouches for is trusted with it,
// and refused without it.
func TestClientOptions_CAFile(t *testing.T) {
	t.Parallel()
	u := newUpstream(t, true, status(200, `[]`))
	ca := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: u.srv.Certificate().Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	with := newPinClient(t, rsync.ClientOptions{BaseURL: u.srv.URL, APIKey: pinKey, CAFile: ca, Retries: -1})
	if _, err := with.ListRuntimes(context.Background()); err != nil {
		t.Fatalf("with the CA file: %v", err)
	}
	without := newPinClient(t, rsync.ClientOptions{BaseURL: u.srv.URL, APIKey: pinKey, Retries: -1})
	if _, err := without.ListRuntimes(context.Background()); err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Fatalf("without the CA file: err %v, want a certificate error", err)
	}
}

// Redirects on the same host are followed, up to two in a row; a third is refused.
func TestClient_SameHostRedirectLimit(t *testing.T) {
	t.Parallel()
	for _, hops := range []int{1, 2, 3} {
		t.Run(fmt.Sprint(hops), func(t *testing.T) {
			t.Parallel()
			u := newUpstream(t, false, func(w http.ResponseWriter, r *http.Request) {
				var n int
				fmt.Sscanf(r.URL.Query().Get("hop"), "%d", &n)
				if n < hops {
					http.Redirect(w, r, fmt.Sprintf("/api/v1/runtimes?hop=%d", n+1), http.StatusTemporaryRedirect)
					return
				}
				status(200, `[{"id":"a"}]`)(w, r)
			})
			c := newPinClient(t, rsync.ClientOptions{BaseURL: u.srv.URL, APIKey: pinKey, Retries: -1})
			items, err := c.ListRuntimes(context.Background())
			if hops <= 2 && (err != nil || len(items) != 1) {
				t.Fatalf("%d same-host redirects: %d items, err %v; want them followed", hops, len(items), err)
			}
			if hops == 3 && (err == nil || !strings.Contains(err.Error(), "stopped after 3 redirects")) {
				t.Fatalf("3 redirects: err %v, want stopped after 3 redirects", err)
			}
		})
	}
}

// What /v1/sync and the log show for a failed call names the status and the body.
func TestError_NamesStatusAndBody(t *testing.T) {
	t.Parallel()
	u := newUpstream(t, false, status(500, `database down`))
	c := newPinClient(t, rsync.ClientOptions{BaseURL: u.srv.URL, APIKey: pinKey, Retries: -1})
	_, err := c.ListRuntimes(context.Background())
	want := `GET /api/v1/runtimes: HTTP 500: Internal Server Error (body: "database down")`
	if err == nil || err.Error() != want {
		t.Fatalf("error %q, want %q", err, want)
	}
	u.answer.Store(status(500, ``))
	_, err = c.ListRuntimes(context.Background())
	if want := `GET /api/v1/runtimes: HTTP 500: Internal Server Error`; err == nil || err.Error() != want {
		t.Fatalf("empty body: error %q, want %q", err, want)
	}
}

// validate pass-through: the body's content type reaches the control plane, its 4xx verdict
// comes back with the key scrubbed, and an answer over the cap is refused as too large.
func TestClient_ValidateUpstreamPassThrough(t *testing.T) {
	t.Parallel()
	t.Run("400ScrubbedAndReturned", func(t *testing.T) {
		t.Parallel()
		u := newUpstream(t, false, status(400, `{"detail":"bad request from key `+pinKey+`"}`))
		c := newPinClient(t, rsync.ClientOptions{BaseURL: u.srv.URL, APIKey: pinKey})
		code, body, err := c.ValidateUpstream(context.Background(), []byte(`{"runtime_type":"x"}`), "application/json")
		if err != nil || code != 400 {
			t.Fatalf("status %d err %v, want the 400 returned", code, err)
		}
		if strings.Contains(string(body), pinKey) || !strings.Contains(string(body), "[REDACTED]") {
			t.Errorf("body %s: the API key must be scrubbed from a 4xx answer", body)
		}
		if ct := u.lastHeader("Content-Type"); ct != "application/json" {
			t.Errorf("Content-Type sent %q, want the caller's application/json", ct)
		}
	})
	t.Run("200Verbatim", func(t *testing.T) {
		t.Parallel()
		answer := `{"valid":true,"errors":[],"note":"` + pinKey + `"}`
		u := newUpstream(t, false, status(200, answer))
		c := newPinClient(t, rsync.ClientOptions{BaseURL: u.srv.URL, APIKey: pinKey})
		code, body, err := c.ValidateUpstream(context.Background(), []byte(`{}`), "")
		if err != nil || code != 200 || string(body) != answer {
			t.Fatalf("status %d body %s err %v, want the 200 verbatim", code, body, err)
		}
		if ct := u.lastHeader("Content-Type"); ct != "" {
			t.Errorf("Content-Type sent %q with none given", ct)
		}
	})
	t.Run("CapExactAndOver", func(t *testing.T) {
		t.Parallel()
		exact := `{"valid":true,"pad":"` + strings.Repeat("x", 64-23) + `"}`
		if len(exact) != 64 {
			t.Fatalf("fixture is %d bytes", len(exact))
		}
		u := newUpstream(t, false, status(200, exact))
		c := newPinClient(t, rsync.ClientOptions{BaseURL: u.srv.URL, APIKey: pinKey, MaxResponseBytes: 64})
		if _, body, err := c.ValidateUpstream(context.Background(), []byte(`{}`), ""); err != nil || string(body) != exact {
			t.Fatalf("answer of exactly the cap: body %s err %v, want it accepted", body, err)
		}
		u.answer.Store(status(200, exact[:len(exact)-2]+`x"}`))
		if _, _, err := c.ValidateUpstream(context.Background(), []byte(`{}`), ""); errKind(err) != rsync.KindTooLarge {
			t.Fatalf("answer one byte over the cap: err %v, want too large", err)
		}
	})
}

// Error excerpts: at most 200 bytes, "…" only when cut; the API key scrubbed however short
// (4 bytes) or long (a 600-byte JWT) it is.
func TestClient_ErrorExcerptBounds(t *testing.T) {
	t.Parallel()
	body := func(err error) string {
		var ue *rsync.Error
		if !errors.As(err, &ue) {
			t.Fatalf("err %v, want an *rsync.Error", err)
		}
		return ue.Body
	}
	exact := strings.Repeat("e", 200)
	u := newUpstream(t, false, status(500, exact))
	c := newPinClient(t, rsync.ClientOptions{BaseURL: u.srv.URL, APIKey: pinKey, Retries: -1, BreakerFailures: 100})
	if _, err := c.ListRuntimes(context.Background()); body(err) != exact {
		t.Errorf("a 200-byte body is shown whole: %q", body(err))
	}
	u.answer.Store(status(500, exact+"f"))
	if _, err := c.ListRuntimes(context.Background()); body(err) != exact+"…" {
		t.Errorf("a 201-byte body is cut at 200 with …: %q", body(err))
	}
	for _, key := range []string{"k3y!", strings.Repeat("j", 600)} {
		u := newUpstream(t, false, status(500, "echo: "+key+" end"))
		c := newPinClient(t, rsync.ClientOptions{BaseURL: u.srv.URL, APIKey: key, Retries: -1})
		_, err := c.ListRuntimes(context.Background())
		if b := body(err); b != "echo: [REDACTED] end" {
			t.Errorf("key of %d bytes echoed: body %q, want it scrubbed", len(key), b)
		}
	}
}

// A Content-Length far beyond the cap is not trusted to size a buffer: the call fails as too
// large (or cut short), it does not allocate what the header claims.
func TestClient_ContentLengthBeyondCapNotAllocated(t *testing.T) {
	t.Parallel()
	u := newUpstream(t, false, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", fmt.Sprint(int64(1)<<40))
		w.WriteHeader(200)
		fmt.Fprint(w, `[{"id":"a"}]`)
	})
	c := newPinClient(t, rsync.ClientOptions{BaseURL: u.srv.URL, APIKey: pinKey, Retries: -1, MaxResponseBytes: 1 << 20})
	if _, err := c.ListRuntimes(context.Background()); err == nil {
		t.Fatal("a body cut 1 TiB short of its Content-Length was accepted")
	}
}

// A list answer of exactly MaxResponseBytes is accepted; one byte more is too large.
func TestClient_ListCapExact(t *testing.T) {
	t.Parallel()
	exact := `[{"id":"a","pad":"` + strings.Repeat("x", 100-21) + `"}]`
	if len(exact) != 100 {
		t.Fatalf("fixture is %d bytes", len(exact))
	}
	u := newUpstream(t, false, status(200, exact))
	c := newPinClient(t, rsync.ClientOptions{BaseURL: u.srv.URL, APIKey: pinKey, Retries: -1, MaxResponseBytes: 100})
	if items, err := c.ListRuntimes(context.Background()); err != nil || len(items) != 1 {
		t.Fatalf("answer of exactly the cap: %d items, err %v", len(items), err)
	}
	u.answer.Store(status(200, exact+" "))
	if _, err := c.ListRuntimes(context.Background()); errKind(err) != rsync.KindTooLarge {
		t.Fatalf("one byte over the cap: err %v, want too large", err)
	}
}

// Retry-After: capped at MaxRetryAfter (and said so only when the ask was larger); the header
// as sent is kept only when it asked for a wait.
func TestClient_RetryAfterCap(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		header string
		wait   time.Duration
		capped bool
		shown  string
	}{{"300", 5 * time.Minute, false, "300"}, {"301", 5 * time.Minute, true, "301"}, {"7", 7 * time.Second, false, "7"}, {"0", 0, false, ""}} {
		t.Run(tc.header, func(t *testing.T) {
			t.Parallel()
			u := newUpstream(t, false, func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Retry-After", tc.header)
				status(503, `{}`)(w, r)
			})
			c := newPinClient(t, rsync.ClientOptions{BaseURL: u.srv.URL, APIKey: pinKey, Retries: -1, MaxRetryAfter: 5 * time.Minute})
			_, err := c.ListRuntimes(context.Background())
			var ue *rsync.Error
			if !errors.As(err, &ue) || ue.RetryAfter != tc.wait || ue.RetryAfterCapped != tc.capped || ue.RetryAfterHeader != tc.shown {
				t.Fatalf("Retry-After %s: %+v, want wait %s capped %v shown %q", tc.header, ue, tc.wait, tc.capped, tc.shown)
			}
		})
	}
}
