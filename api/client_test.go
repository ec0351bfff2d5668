package api

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// selfSigned is a certificate for 127.0.0.1 from a CA of its own.
func selfSigned(t *testing.T) tls.Certificate {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "other"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

// listenDead is an address nothing listens on (a port the kernel gave and
// took back).
func listenDead(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

func tlsFor(srv *httptest.Server) *tls.Config {
	pool := x509.NewCertPool()
	pool.AddCert(srv.Certificate())
	return &tls.Config{RootCAs: pool}
}

// TestClientFailover: with several addresses the client goes on to the
// next while one cannot be reached, and keeps the one that answered.
func TestClientFailover(t *testing.T) {
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte(`{"node":"n2","members":[]}`))
	}))
	defer srv.Close()
	dead := listenDead(t)
	c, err := NewClient(dead+", "+strings.TrimPrefix(srv.URL, "https://"), tlsFor(srv), "")
	if err != nil {
		t.Fatal(err)
	}
	m, err := c.Members(context.Background())
	if err != nil || m.Node != "n2" {
		t.Fatalf("members through the second address: %+v, %v", m, err)
	}
	if c.cur.Load() != 1 {
		t.Errorf("the client did not keep the node that answered")
	}
	c, _ = NewClient(dead, tlsFor(srv), "")
	_, err = c.Members(context.Background())
	if err == nil || !strings.Contains(err.Error(), "cannot be reached: is bloomd running there? --addr takes several") {
		t.Fatalf("one dead address: %v", err)
	}
}

// TestClientExplains: a certificate from another cluster, and a port that
// does not speak TLS (the gossip port), say what to check rather than
// only the TLS library's words.
func TestClientExplains(t *testing.T) {
	other := httptest.NewUnstartedServer(http.NotFoundHandler())
	other.TLS = &tls.Config{Certificates: []tls.Certificate{selfSigned(t)}} // another cluster's CA
	other.StartTLS()
	defer other.Close()
	mine := httptest.NewTLSServer(http.NotFoundHandler())
	defer mine.Close()
	c, _ := NewClient(strings.TrimPrefix(other.URL, "https://"), tlsFor(mine), "")
	_, err := c.Members(context.Background())
	if err == nil || !strings.Contains(err.Error(), "wrong cluster secret or token?") {
		t.Fatalf("another cluster's node: %v", err)
	}
	// A TCP port that answers with bytes that are not TLS, as memberlist's
	// stream port does.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() { // ends when the listener closes
		for {
			conn, err := l.Accept()
			if err != nil {
				return
			}
			conn.Write([]byte{0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08})
			conn.Close()
		}
	}()
	c, _ = NewClient(l.Addr().String(), tlsFor(mine), "")
	_, err = c.Members(context.Background())
	if err == nil || !strings.Contains(err.Error(), "is it the gossip port") {
		t.Fatalf("a port that is not TLS: %v", err)
	}
}
