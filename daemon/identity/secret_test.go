package identity

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
	i1, _ := New(a, "n1")
	i2, _ := New(a, "n2")
	if !bytes.Equal(i1.CA.Raw, i2.CA.Raw) {
		t.Fatal("two nodes derived different cluster CAs from one secret")
	}
}

func mustSecret() Secret {
	s, err := GenerateSecret()
	if err != nil {
		panic(err)
	}
	return s
}
