package collective

import (
	"bytes"
	"context"
	"crypto/tls"
	"strings"
	"testing"
	"time"

	"bloom/internal/testutil"
)

func TestRootInfo(t *testing.T) {
	r := rootInfo{comm: NewCommID(), root: NewCommID(), transport: "quic", addr: "127.0.0.1:4242"}
	got, err := decodeRootInfo(r.encode())
	if err != nil || got != r {
		t.Fatalf("round trip: %+v %v", got, err)
	}
	blob := r.encode()
	for name, bad := range map[string]RootInfo{
		"empty": nil, "magic": append([]byte("XXXXXXXX"), blob[8:]...), "truncated": blob[:len(blob)-3],
		"trailing": append(bytes.Clone(blob), 0),
	} {
		if _, err := decodeRootInfo(bad); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	// A quic blob given to a shm endpoint is refused with a clear message.
	ep, err := Listen(testConfig(t, "shm"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ep.Join(context.Background(), blob, 0, 2); err == nil || !strings.Contains(err.Error(), "transport") {
		t.Errorf("join with another transport's root info: %v", err)
	}
	cfg := testConfig(t, "quic")
	cfg.TLS = nil
	if _, err := Listen(cfg); err == nil || !strings.Contains(err.Error(), "TLS") {
		t.Errorf("quic without TLS: %v", err)
	}
}

func FuzzRootInfo(f *testing.F) {
	f.Add([]byte(rootInfo{transport: "quic", addr: "127.0.0.1:1"}.encode()))
	f.Fuzz(func(t *testing.T, b []byte) {
		if r, err := decodeRootInfo(b); err == nil && !bytes.Equal(r.encode(), b) {
			t.Errorf("decode/encode changed %x", b)
		}
	})
}

// TestQuicRefusesStrangers: a rank whose certificate another CA issued
// cannot join (mutual TLS).
func TestQuicRefusesStrangers(t *testing.T) {
	testutil.CheckLeaks(t, 10*time.Second)
	good := testConfig(t, "quic")
	good.ConnectTimeout = 2 * time.Second
	bad := good
	bad.TLS = good.TLS.Clone()
	bad.TLS.Certificates = []tls.Certificate{tlsIdentity2}
	eps := make([]*Endpoint, 2)
	for i, c := range []Config{good, bad} {
		ep, err := Listen(c)
		if err != nil {
			t.Fatal(err)
		}
		eps[i] = ep
	}
	info := eps[0].RootInfo()
	errs := make([]error, 2)
	done := make(chan struct{})
	go func() {
		_, errs[0] = eps[0].Join(context.Background(), info, 0, 2)
		close(done)
	}()
	_, errs[1] = eps[1].Join(context.Background(), info, 1, 2)
	<-done
	if errs[0] == nil || errs[1] == nil {
		t.Fatalf("a stranger joined: %v / %v", errs[0], errs[1])
	}
}
