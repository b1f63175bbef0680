package pubsub

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"time"
)

// Cert is a self-signed certificate the emulator generates at start, so
// real Pub/Sub clients, which always speak TLS, can reach it. It is its
// own CA: a client trusts it by loading CAFile (ClientConfig for Go,
// NODE_EXTRA_CA_CERTS for node clients on the default roots; the
// salesforce-pubsub-api-client package pins Salesforce's roots and is run
// with its rejectUnauthorizedSsl: false instead).
type Cert struct {
	// CAFile is the PEM of the certificate, for clients to trust.
	CAFile string
	pair   tls.Certificate
	pool   *x509.CertPool
}

// NewCert generates an ECDSA P-256 certificate for 127.0.0.1, ::1 and
// localhost, valid for a week, and writes its PEM to dir/pubsub-ca.pem.
func NewCert(dir string) (*Cert, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 128))
	if err != nil {
		return nil, err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{Organization: []string{"billsync emulator"}, CommonName: "Salesforce Pub/Sub API emulator"},
		NotBefore:    now.Add(-time.Hour), // tolerate a client clock slightly behind
		NotAfter:     now.Add(7 * 24 * time.Hour),
		// Self-signed and a CA, so the one PEM is both what the server
		// presents and what a client adds to its roots.
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		DNSNames:              []string{"localhost"},
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, fmt.Errorf("pubsub emulator certificate: %w", err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	file := filepath.Join(dir, "pubsub-ca.pem")
	if err := os.WriteFile(file, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		return nil, fmt.Errorf("pubsub emulator certificate: %w", err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(leaf)
	return &Cert{CAFile: file, pair: tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, pool: pool}, nil
}

// ServerConfig is the server side: the certificate, and h2 offered by
// ALPN, which gRPC clients (grpc-go, grpc-js) require.
func (c *Cert) ServerConfig() *tls.Config {
	return &tls.Config{Certificates: []tls.Certificate{c.pair}, NextProtos: []string{"h2"}, MinVersion: tls.VersionTLS12}
}

// ClientConfig trusts the certificate and nothing else.
func (c *Cert) ClientConfig() *tls.Config {
	return &tls.Config{RootCAs: c.pool, MinVersion: tls.VersionTLS12}
}

// ServeTLS serves gRPC over TLS on l with c until Stop. The same Server
// may serve plaintext on another listener at the same time: TLS ends at
// the listener, so both share the org's streams and flow counters.
func (s *Server) ServeTLS(l net.Listener, c *Cert) error {
	return s.grpc.Serve(tls.NewListener(l, c.ServerConfig()))
}
