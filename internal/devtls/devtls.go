// Package devtls makes a small certificate authority and the server
// certificates it signs, so that homeservers running on loopback can federate
// over TLS with certificate validation switched on.
//
// A process trusts the authority when it runs with SSL_CERT_FILE pointing at
// the authority's certificate (Go's crypto/x509 reads that variable on Linux).
package devtls

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"syscall"
	"time"

	"github.com/matrix-org/dendrite/msc4244/internal/atomicfile"
)

// File names inside an authority's folder.
const (
	CACertFile = "ca.pem"
	CAKeyFile  = "ca-key.pem"
)

const validity = 10 * 365 * 24 * time.Hour

// CA is a certificate authority kept as two PEM files in one folder.
type CA struct {
	// CertPath is the absolute path of the authority's certificate: the
	// file to give a process as SSL_CERT_FILE.
	CertPath string
	cert     *x509.Certificate
	key      crypto.Signer
}

// LoadOrCreateCA loads the authority kept in dir, creating the folder and
// the authority first when they do not exist. Processes starting at the same
// time agree on one authority: creation holds a lock file in dir.
func LoadOrCreateCA(dir string) (*CA, error) {
	dir, err := filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	if err = os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	lock, err := os.OpenFile(filepath.Join(dir, ".lock"), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, err
	}
	defer lock.Close() // nolint: errcheck (closing releases the lock)
	if err = syscall.Flock(int(lock.Fd()), syscall.LOCK_EX); err != nil {
		return nil, err
	}
	certPath := filepath.Join(dir, CACertFile)
	keyPath := filepath.Join(dir, CAKeyFile)
	ca, err := loadCA(certPath, keyPath)
	if err == nil || !errors.Is(err, os.ErrNotExist) {
		return ca, err
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	tmpl, err := template(pkix.Name{CommonName: "MSC4244 development CA"})
	if err != nil {
		return nil, err
	}
	tmpl.IsCA = true
	tmpl.BasicConstraintsValid = true
	tmpl.KeyUsage = x509.KeyUsageCertSign | x509.KeyUsageCRLSign
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return nil, err
	}
	if err = writeKeyPair(certPath, keyPath, der, key); err != nil {
		return nil, err
	}
	return loadCA(certPath, keyPath)
}

// EnsureServerCert writes a certificate for host (an IP address or a DNS
// name) signed by the authority, with its private key, unless a certificate
// at certPath already verifies for host against this authority.
func (ca *CA) EnsureServerCert(certPath, keyPath, host string) error {
	if ca.verifies(certPath, keyPath, host) {
		return nil
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	tmpl, err := template(pkix.Name{CommonName: host})
	if err != nil {
		return err
	}
	tmpl.KeyUsage = x509.KeyUsageDigitalSignature
	tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
	if ip := net.ParseIP(host); ip != nil {
		tmpl.IPAddresses = []net.IP{ip}
	} else {
		tmpl.DNSNames = []string{host}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, key.Public(), ca.key)
	if err != nil {
		return err
	}
	return writeKeyPair(certPath, keyPath, der, key)
}

// Pool returns a certificate pool holding only this authority.
func (ca *CA) Pool() *x509.CertPool {
	pool := x509.NewCertPool()
	pool.AddCert(ca.cert)
	return pool
}

func (ca *CA) verifies(certPath, keyPath, host string) bool {
	cert, err := readCert(certPath)
	if err != nil {
		return false
	}
	if _, err = os.Stat(keyPath); err != nil {
		return false
	}
	_, err = cert.Verify(x509.VerifyOptions{DNSName: host, Roots: ca.Pool()})
	return err == nil
}

func loadCA(certPath, keyPath string) (*CA, error) {
	cert, err := readCert(certPath)
	if err != nil {
		return nil, err
	}
	keyPEM, err := os.ReadFile(keyPath)
	if err != nil {
		return nil, err
	}
	block, _ := pem.Decode(keyPEM)
	if block == nil {
		return nil, fmt.Errorf("%s: no PEM data", keyPath)
	}
	parsed, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", keyPath, err)
	}
	key, ok := parsed.(crypto.Signer)
	public, comparable := cert.PublicKey.(interface{ Equal(crypto.PublicKey) bool })
	if !ok || !comparable || !public.Equal(key.Public()) {
		return nil, fmt.Errorf("%s does not hold the key of %s", keyPath, certPath)
	}
	return &CA{CertPath: certPath, cert: cert, key: key}, nil
}

func readCert(path string) (*x509.Certificate, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	block, _ := pem.Decode(data)
	if block == nil || block.Type != "CERTIFICATE" {
		return nil, fmt.Errorf("%s: no certificate PEM data", path)
	}
	return x509.ParseCertificate(block.Bytes)
}

func template(subject pkix.Name) (*x509.Certificate, error) {
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, err
	}
	now := time.Now()
	return &x509.Certificate{
		SerialNumber: serial,
		Subject:      subject,
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(validity),
	}, nil
}

// writeKeyPair writes the key before the certificate, each through a
// temporary file and a rename, so a reader never sees a certificate whose key
// is missing or half written.
func writeKeyPair(certPath, keyPath string, certDER []byte, key crypto.Signer) error {
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return err
	}
	if err = atomicfile.Write(keyPath, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		return err
	}
	return atomicfile.Write(certPath, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: certDER}), 0o644)
}
