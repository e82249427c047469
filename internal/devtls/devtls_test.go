package devtls

import (
	"bytes"
	"crypto/tls"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
)

// A client trusting only the authority completes a TLS handshake with a
// server using a certificate issued for 127.0.0.1.
func TestServerCertificateVerifiesOverTLS(t *testing.T) {
	dir := t.TempDir()
	ca, err := LoadOrCreateCA(filepath.Join(dir, "ca"))
	if err != nil {
		t.Fatal(err)
	}
	certPath, keyPath := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err = ca.EnsureServerCert(certPath, keyPath, "127.0.0.1"); err != nil {
		t.Fatal(err)
	}
	pair, err := tls.LoadX509KeyPair(certPath, keyPath)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{pair}}
	srv.StartTLS()
	defer srv.Close()

	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: ca.Pool()}}}
	res, err := client.Get(srv.URL)
	if err != nil {
		t.Fatalf("handshake with a certificate from the authority: %v", err)
	}
	res.Body.Close() // nolint: errcheck

	untrusting := &http.Client{Transport: &http.Transport{}}
	if res, err = untrusting.Get(srv.URL); err == nil {
		res.Body.Close() // nolint: errcheck
		t.Fatal("a client without the authority accepted the certificate")
	}
}

// The certificate path handed to processes as SSL_CERT_FILE must not depend
// on their working directory.
func TestCertPathIsAbsolute(t *testing.T) {
	t.Chdir(t.TempDir())
	ca, err := LoadOrCreateCA("ca")
	if err != nil {
		t.Fatal(err)
	}
	if !filepath.IsAbs(ca.CertPath) {
		t.Fatalf("CertPath %q is relative", ca.CertPath)
	}
}

func TestFilesAreReused(t *testing.T) {
	dir := t.TempDir()
	ca, err := LoadOrCreateCA(dir)
	if err != nil {
		t.Fatal(err)
	}
	again, err := LoadOrCreateCA(dir)
	if err != nil {
		t.Fatal(err)
	}
	if !again.cert.Equal(ca.cert) {
		t.Fatal("the authority was replaced")
	}

	certPath, keyPath := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err = ca.EnsureServerCert(certPath, keyPath, "127.0.0.1"); err != nil {
		t.Fatal(err)
	}
	first := read(t, certPath)
	if err = again.EnsureServerCert(certPath, keyPath, "127.0.0.1"); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(read(t, certPath), first) {
		t.Fatal("a valid certificate was replaced")
	}
	if err = ca.EnsureServerCert(certPath, keyPath, "localhost"); err != nil {
		t.Fatal(err)
	}
	if bytes.Equal(read(t, certPath), first) {
		t.Fatal("a certificate for another host was kept")
	}
}

func TestMismatchedAuthorityKeyIsAnError(t *testing.T) {
	a, b := t.TempDir(), t.TempDir()
	if _, err := LoadOrCreateCA(a); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadOrCreateCA(b); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(a, CAKeyFile), read(t, filepath.Join(b, CAKeyFile)), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadOrCreateCA(a); err == nil {
		t.Fatal("an authority with another authority's key loaded")
	}
}

func read(t *testing.T, path string) []byte {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return data
}
