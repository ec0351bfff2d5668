package collective

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"math/big"
	"strings"
	"sync"
	"testing"
	"time"
)

var (
	tlsOnce      sync.Once
	tlsIdentity  tls.Certificate
	tlsPool      *x509.CertPool
	tlsIdentity2 tls.Certificate // issued by another CA: must be refused
)

// testTLS makes a CA and a leaf for "bloom-collective" (mutual TLS: the leaf
// serves as client and server).
func testTLS(t testing.TB) *tls.Config {
	tlsOnce.Do(func() {
		var err error
		tlsIdentity, tlsPool, err = makeIdentity()
		if err == nil {
			tlsIdentity2, _, err = makeIdentity()
		}
		if err != nil {
			panic(err)
		}
	})
	return &tls.Config{Certificates: []tls.Certificate{tlsIdentity}, RootCAs: tlsPool}
}

func makeIdentity() (tls.Certificate, *x509.CertPool, error) {
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	now := time.Now()
	ca := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test cluster CA"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign}
	caDER, err := x509.CreateCertificate(rand.Reader, ca, ca, &caKey.PublicKey, caKey)
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	caCert, _ := x509.ParseCertificate(caDER)
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	leaf := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "rank"},
		DNSNames: []string{"bloom-collective"}, NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}}
	der, err := x509.CreateCertificate(rand.Reader, leaf, caCert, &key.PublicKey, caKey)
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	pool := x509.NewCertPool()
	pool.AddCert(caCert)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, pool, nil
}

// testConfig is a transport's config for tests: short timeouts, small
// pieces (so that pipelining is exercised on small buffers).
func testConfig(t testing.TB, transport string) Config {
	cfg := DefaultConfig()
	cfg.Transport = transport
	if transport == "shm-unfused" {
		cfg.Transport, cfg.noFuse = "shm", true
	}
	cfg.OpTimeout = 20 * time.Second
	cfg.ConnectTimeout = 10 * time.Second
	cfg.PeerTimeout = 3 * time.Second
	cfg.ChunkBytes = 256
	cfg.ShmRingBytes = 4096
	cfg.StreamsPerHop = 2
	cfg.StreamWindow = 1 << 20
	cfg.ShmDir = t.TempDir()
	switch cfg.Transport {
	case "mem":
		cfg.Mem = NewMemNetwork()
	case "quic", "hybrid":
		cfg.TLS = testTLS(t)
	}
	return cfg
}

// cluster makes n communicators over cfg's transport; hosts (optional)
// names each rank's node.
func cluster(t testing.TB, cfg Config, n int, hosts ...string) []*Comm {
	t.Helper()
	comms := make([]*Comm, n)
	errs := make([]error, n)
	ctx := context.Background()
	var wg sync.WaitGroup
	switch cfg.Transport {
	case "mem", "shm":
		id := NewCommID()
		for r := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				c := cfg
				if len(hosts) > 0 {
					c.Host = hosts[r]
				}
				comms[r], errs[r] = JoinLocal(ctx, c, id, r, n)
			}()
		}
	default:
		eps := make([]*Endpoint, n)
		for r := range eps {
			c := cfg
			if len(hosts) > 0 {
				c.Host = hosts[r]
			}
			ep, err := Listen(c)
			if err != nil {
				t.Fatal(err)
			}
			eps[r] = ep
		}
		info := eps[0].RootInfo()
		for r := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				comms[r], errs[r] = eps[r].Join(ctx, info, r, n)
			}()
		}
	}
	wg.Wait()
	allOK(t, "join", errs)
	t.Cleanup(func() { closeAll(comms) })
	return comms
}

// each runs f on every rank at once and returns the errors by rank.
func each(comms []*Comm, f func(c *Comm) error) []error {
	errs := make([]error, len(comms))
	var wg sync.WaitGroup
	for r, c := range comms {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[r] = f(c)
		}()
	}
	wg.Wait()
	return errs
}

func allOK(t testing.TB, what string, errs []error) {
	t.Helper()
	var msgs []string
	for r, err := range errs {
		if err != nil {
			msgs = append(msgs, fmt.Sprintf("rank %d: %v", r, err))
		}
	}
	if len(msgs) > 0 {
		t.Fatalf("%s:\n%s", what, strings.Join(msgs, "\n"))
	}
}

// closeAll closes every rank at once, as the ranks of a job end together.
func closeAll(comms []*Comm) {
	var wg sync.WaitGroup
	for _, c := range comms {
		if c != nil {
			wg.Add(1)
			go func() {
				defer wg.Done()
				c.Close()
			}()
		}
	}
	wg.Wait()
}
