package identity

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"math/big"

	"time"
)

// clusterServerName is in every node certificate; clients verify it instead
// of an IP, so nodes may move between addresses.
const clusterServerName = "bloom-cluster"

// ALPN protocols on the API port: Raft and HTTPS share one TLS listener.
const (
	ALPNRaft = "bloom-raft/1"
	ALPNHTTP = "http/1.1"
)

// caKey is the cluster CA's key, the same on every node holding the secret.
func (s Secret) caKey() ed25519.PrivateKey {
	return ed25519.NewKeyFromSeed(s.derive("bloom cluster ca v1", ed25519.SeedSize))
}

func caPin(pub any) []byte {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		panic(err) // an ed25519 key always marshals
	}
	sum := sha256.Sum256(der)
	return sum[:16]
}

// Identity is a node's (or bloomctl's) TLS identity: the cluster CA, derived
// deterministically from the secret, and a leaf certificate it signed for
// this process. Anyone with the secret can issue one; nobody else can.
type Identity struct {
	CA   *x509.Certificate
	Pool *x509.CertPool
	Cert tls.Certificate // leaf, then the CA
}

// New issues a fresh certificate named name (a node name, or
// "bloomctl") under the cluster CA, valid for one year.
func New(s Secret, name string) (*Identity, error) {
	caKey := s.caKey()
	// Fixed serial, validity and signature scheme: every node derives the
	// same CA certificate bytes.
	caTmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "bloom cluster CA " + s.Fingerprint()},
		NotBefore:             time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC),
		NotAfter:              time.Date(2124, 1, 1, 0, 0, 0, 0, time.UTC),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(nil, caTmpl, caTmpl, caKey.Public(), caKey)
	if err != nil {
		return nil, fmt.Errorf("identity: make cluster CA: %w", err)
	}
	ca, err := x509.ParseCertificate(caDER)
	if err != nil {
		return nil, fmt.Errorf("identity: parse cluster CA: %w", err)
	}
	// The node's key is ECDSA P-256, which browsers (the dashboard) and
	// every TLS stack speak; the CA stays Ed25519, derived from the secret.
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("identity: node key: %w", err)
	}
	pub := &key.PublicKey
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 120))
	if err != nil {
		return nil, fmt.Errorf("identity: serial: %w", err)
	}
	now := time.Now()
	leafTmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: name},
		DNSNames:     []string{clusterServerName},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(365 * 24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
	}
	leafDER, err := x509.CreateCertificate(rand.Reader, leafTmpl, ca, pub, caKey)
	if err != nil {
		return nil, fmt.Errorf("identity: issue certificate for %s: %w", name, err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(ca)
	return &Identity{CA: ca, Pool: pool, Cert: tls.Certificate{Certificate: [][]byte{leafDER, caDER}, PrivateKey: key}}, nil
}

// ServerTLS serves the API port: client certificates are verified when
// given (Raft requires one; HTTP accepts one or a bearer token).
func (id *Identity) ServerTLS() *tls.Config {
	return &tls.Config{
		MinVersion:   tls.VersionTLS13,
		Certificates: []tls.Certificate{id.Cert},
		ClientAuth:   tls.VerifyClientCertIfGiven,
		ClientCAs:    id.Pool,
		NextProtos:   []string{ALPNRaft, ALPNHTTP},
	}
}

// ClientTLS dials another node (or, for bloomctl, any node) with this
// identity, speaking the given ALPN protocol.
func (id *Identity) ClientTLS(alpn string) *tls.Config {
	return &tls.Config{
		MinVersion:   tls.VersionTLS13,
		Certificates: []tls.Certificate{id.Cert},
		RootCAs:      id.Pool,
		ServerName:   clusterServerName,
		NextProtos:   []string{alpn},
	}
}

// TokenClientTLS is the TLS configuration for a client that holds only a
// token: no client certificate, and the server must present a certificate
// issued by the CA whose key the token pins.
func TokenClientTLS(token string) (*tls.Config, error) {
	pin, err := parseToken(token)
	if err != nil {
		return nil, err
	}
	return &tls.Config{
		MinVersion:         tls.VersionTLS13,
		NextProtos:         []string{ALPNHTTP},
		InsecureSkipVerify: true, // replaced by verifyPinned: the chain is checked against the pinned CA
		VerifyPeerCertificate: func(raw [][]byte, _ [][]*x509.Certificate) error {
			return verifyPinned(raw, pin)
		},
	}, nil
}

var errPin = errors.New("identity: the server's certificate is not from the cluster the token belongs to")

func verifyPinned(raw [][]byte, pin []byte) error {
	if len(raw) < 2 {
		return errPin
	}
	certs := make([]*x509.Certificate, len(raw))
	for i, r := range raw {
		c, err := x509.ParseCertificate(r)
		if err != nil {
			return fmt.Errorf("identity: server certificate: %w", err)
		}
		certs[i] = c
	}
	pool := x509.NewCertPool()
	for _, c := range certs[1:] {
		if c.IsCA && bytes.Equal(caPin(c.PublicKey), pin) {
			pool.AddCert(c)
		}
	}
	_, err := certs[0].Verify(x509.VerifyOptions{Roots: pool, DNSName: clusterServerName})
	if err != nil {
		return fmt.Errorf("%w: %v", errPin, err)
	}
	return nil
}

// APIClientTLS is ClientTLS for the HTTPS API, what bloomctl dials with.
func (id *Identity) APIClientTLS() *tls.Config { return id.ClientTLS(ALPNHTTP) }
