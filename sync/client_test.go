package sync_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
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
