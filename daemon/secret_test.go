package daemon

import (
	"bytes"
	"errors"
	"testing"
)

func TestSecretRoundTrip(t *testing.T) {
	s := mustSecret()
	got, err := ParseSecret(s.String() + "\n")
	if err != nil || got != s {
		t.Fatalf("ParseSecret: %v", err)
	}
	for _, bad := range []string{"", "bloom-secret-v1:", "bloom-secret-v1:AAAA", "secret"} {
		if _, err := ParseSecret(bad); !errors.Is(err, ErrBadSecret) {
			t.Errorf("ParseSecret(%q) = %v", bad, err)
		}
	}
}

func TestDerivationsAreStableAndDistinct(t *testing.T) {
	a, b := mustSecret(), mustSecret()
	if !bytes.Equal(a.GossipKey(), a.GossipKey()) || a.Token() != a.Token() || a.Fingerprint() != a.Fingerprint() {
		t.Fatal("derivations are not deterministic")
	}
	if bytes.Equal(a.GossipKey(), b.GossipKey()) || a.Token() == b.Token() || a.Fingerprint() == b.Fingerprint() {
		t.Fatal("two secrets derive the same keys")
	}
	i1, _ := NewIdentity(a, "n1")
	i2, _ := NewIdentity(a, "n2")
	if !bytes.Equal(i1.CA.Raw, i2.CA.Raw) {
		t.Fatal("two nodes derived different cluster CAs from one secret")
	}
}

func TestParseDevices(t *testing.T) {
	good := map[string]int{"cpu:4": 4, "npu:0-7": 8, "npu:0,2,4": 3, "npu:0-3,6": 5, "cpu:1;npu:0": 2}
	for s, n := range good {
		ds, err := ParseDevices(s)
		total := 0
		for _, d := range ds {
			total += len(d.Indices)
		}
		if err != nil || total != n {
			t.Errorf("ParseDevices(%q) = %v, %v", s, ds, err)
		}
	}
	for _, s := range []string{"", "cpu", "cpu:0", "gpu:1", "npu:3-1", "npu:0,0", "npu:x", "npu:0-999"} {
		if _, err := ParseDevices(s); err == nil {
			t.Errorf("ParseDevices(%q) accepted", s)
		}
	}
}
