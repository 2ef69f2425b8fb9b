package sync_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"math/big"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	stdsync "sync"
	"testing"
	"time"

	rsync "github.com/runtimesd/runtimesd/sync"
)

// ca_file adds to the system's CAs, it does not replace them: a control plane certified by a
// CA of the system store stays trusted when ca_file names another one (a private relay CA,
// say). The system store is read once per process, so the check runs in a child process whose
// SSL_CERT_FILE holds the test server's certificate.
func TestClientOptions_CAFileAddsToSystemCAs(t *testing.T) {
	if url := os.Getenv("RUNTIMESD_TEST_SYSTEM_CA_URL"); url != "" {
		c := newPinClient(t, rsync.ClientOptions{BaseURL: url, APIKey: pinKey, CAFile: os.Getenv("RUNTIMESD_TEST_EXTRA_CA"), Retries: -1})
		if _, err := c.ListRuntimes(context.Background()); err != nil {
			t.Fatalf("a control plane certified by a system CA, with ca_file naming another CA: %v", err)
		}
		return
	}
	t.Parallel()
	u := newUpstream(t, true, status(200, `[]`))
	dir := t.TempDir()
	system := filepath.Join(dir, "system.pem")
	if err := os.WriteFile(system, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: u.srv.Certificate().Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	extra := filepath.Join(dir, "extra.pem")
	if err := os.WriteFile(extra, selfSignedCA(t), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestClientOptions_CAFileAddsToSystemCAs$", "-test.count=1")
	cmd.Env = append(os.Environ(), "SSL_CERT_FILE="+system, "SSL_CERT_DIR="+dir,
		"RUNTIMESD_TEST_SYSTEM_CA_URL="+u.srv.URL, "RUNTIMESD_TEST_EXTRA_CA="+extra)
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "PASS") {
		t.Fatalf("child: %v\n%s", err, out)
	}
	if u.calls.Load() != 1 {
		t.Fatalf("the child made %d calls, want 1", u.calls.Load())
	}
}

// selfSignedCA is the PEM of a fresh CA certificate that vouches for nothing the tests serve.
func selfSignedCA(t *testing.T) []byte {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "runtimesd test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IsCA: true,
		BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

// Retries are never back to back: even with a retry base of a nanosecond each waits at least a
// millisecond, so a control plane failing fast is not hit with a burst.
func TestClient_RetriesNeverBackToBack(t *testing.T) {
	t.Parallel()
	var mu stdsync.Mutex
	var at []time.Time
	u := newUpstream(t, false, func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		at = append(at, time.Now())
		mu.Unlock()
		w.WriteHeader(http.StatusBadGateway)
	})
	c := newPinClient(t, rsync.ClientOptions{BaseURL: u.srv.URL, APIKey: pinKey, Retries: 3, RetryBase: time.Nanosecond, RetryMax: time.Nanosecond})
	if _, err := c.ListRuntimes(context.Background()); errKind(err) != rsync.KindServer {
		t.Fatalf("err %v", err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(at) != 4 {
		t.Fatalf("%d calls, want 4 (3 retries)", len(at))
	}
	for i := 1; i < len(at); i++ {
		if gap := at[i].Sub(at[i-1]); gap < time.Millisecond {
			t.Fatalf("retry %d came %s after the call before it, want at least 1ms", i, gap)
		}
	}
}

// A list answered with an ETag is revalidated: the next call sends If-None-Match, and the
// control plane's 304 gives the body kept from the 200. An answer without an ETag is fetched
// whole again.
func TestClient_ETagRevalidation(t *testing.T) {
	t.Parallel()
	const body = `[{"id":"a","name":"A","status":"available"}]`
	var mu stdsync.Mutex
	var conditional []string
	etag := `"v1"`
	u := newUpstream(t, false, func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		conditional = append(conditional, r.Header.Get("If-None-Match"))
		if etag != "" {
			w.Header().Set("ETag", etag)
			if r.Header.Get("If-None-Match") == etag {
				w.WriteHeader(http.StatusNotModified)
				return
			}
		}
		_, _ = w.Write([]byte(body))
	})
	c := newPinClient(t, rsync.ClientOptions{BaseURL: u.srv.URL, APIKey: pinKey, Retries: -1})
	for i := range 2 {
		items, err := c.ListRuntimes(context.Background())
		if err != nil || len(items) != 1 || !strings.Contains(string(items[0]), `"id":"a"`) {
			t.Fatalf("call %d: %q %v", i+1, items, err)
		}
	}
	mu.Lock()
	if strings.Join(conditional, "|") != `|"v1"` {
		t.Fatalf("If-None-Match sent: %q, want none then \"v1\"", conditional)
	}
	conditional, etag = nil, ""
	mu.Unlock()
	c2 := newPinClient(t, rsync.ClientOptions{BaseURL: u.srv.URL, APIKey: pinKey, Retries: -1})
	for range 2 {
		if _, err := c2.ListRuntimes(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if strings.Join(conditional, "|") != "|" {
		t.Fatalf("without an ETag, If-None-Match sent: %q, want none", conditional)
	}
}

// A body cut short (the connection closed before Content-Length bytes) is a bad answer that
// says how much arrived; a body that stalls until the call's timeout is a timeout.
func TestClient_BodyCutShortOrStalled(t *testing.T) {
	t.Parallel()
	t.Run("CutShort", func(t *testing.T) {
		t.Parallel()
		u := newUpstream(t, false, func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Length", "1000")
			_, _ = w.Write([]byte(`[{"id":"a"}`))
		})
		c := newPinClient(t, rsync.ClientOptions{BaseURL: u.srv.URL, APIKey: pinKey, Retries: -1})
		_, err := c.ListRuntimes(context.Background())
		if errKind(err) != rsync.KindBadResponse || !strings.Contains(err.Error(), "body cut short after 11 bytes") || !strings.Contains(err.Error(), "HTTP 200") {
			t.Fatalf("err %v (%s), want a bad response cut short after 11 bytes", err, errKind(err))
		}
	})
	t.Run("Stalled", func(t *testing.T) {
		t.Parallel()
		u := newUpstream(t, false, func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Length", "1000")
			_, _ = w.Write([]byte(`[{"id":"a"}`))
			w.(http.Flusher).Flush()
			<-r.Context().Done()
		})
		c := newPinClient(t, rsync.ClientOptions{BaseURL: u.srv.URL, APIKey: pinKey, Retries: -1, Timeout: 200 * time.Millisecond})
		_, err := c.ListRuntimes(context.Background())
		if errKind(err) != rsync.KindTimeout || strings.Contains(err.Error(), "cut short") {
			t.Fatalf("err %v (%s), want a timeout", err, errKind(err))
		}
	})
}

// Retry-After as a hostile or odd control plane sends it: more digits than any duration holds
// is the cap (said so), an HTTP date asks for the time until then, a date past or a word asks
// for nothing.
func TestClient_RetryAfterForms(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, header string
		min, max     time.Duration
		capped       bool
	}{
		{"ManyDigits", "99999999999999999999999", 5 * time.Minute, 5 * time.Minute, true},
		{"DateAhead", "+2m", 2*time.Minute - 5*time.Second, 2 * time.Minute, false}, // the date is written when sent
		{"DatePast", "-1h", 0, 0, false},
		{"Word", "soon", 0, 0, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			u := newUpstream(t, false, func(w http.ResponseWriter, r *http.Request) {
				v := tc.header
				if d, err := time.ParseDuration(v); err == nil && (v[0] == '+' || v[0] == '-') {
					v = time.Now().Add(d).UTC().Format(http.TimeFormat)
				}
				w.Header().Set("Retry-After", v)
				status(429, `{}`)(w, r)
			})
			c := newPinClient(t, rsync.ClientOptions{BaseURL: u.srv.URL, APIKey: pinKey, Retries: -1, MaxRetryAfter: 5 * time.Minute})
			_, err := c.ListRuntimes(context.Background())
			var ue *rsync.Error
			if !errors.As(err, &ue) {
				t.Fatalf("err %v", err)
			}
			if ue.Kind != rsync.KindRateLimited || ue.RetryAfter < tc.min || ue.RetryAfter > tc.max || ue.RetryAfterCapped != tc.capped {
				t.Fatalf("Retry-After %q: %v: wait %s capped %v, want a wait in [%s, %s], capped %v", tc.header, err, ue.RetryAfter, ue.RetryAfterCapped, tc.min, tc.max, tc.capped)
			}
		})
	}
}
