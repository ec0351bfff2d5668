package identity

import (
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"strings"
)

// secretPrefix starts a secret file; the digit is the format version.
const secretPrefix = "bloom-secret-v1:"

// ErrBadSecret is returned for a secret file that cannot be read as one.
var ErrBadSecret = errors.New("identity: bad cluster secret")

// Secret is the cluster secret: 32 random bytes made once by `bloomd keygen`
// and copied to every node. Everything that keeps outsiders out is derived
// from it with HKDF-SHA256: the gossip key, the cluster CA, the API token.
type Secret [32]byte

// GenerateSecret makes a new random secret.
func GenerateSecret() (Secret, error) {
	var s Secret
	if _, err := rand.Read(s[:]); err != nil {
		return s, fmt.Errorf("identity: generate secret: %w", err)
	}
	return s, nil
}

// String is the secret file's content (without the newline).
func (s Secret) String() string {
	return secretPrefix + base64.RawURLEncoding.EncodeToString(s[:])
}

// ParseSecret reads what String wrote; surrounding space is ignored.
func ParseSecret(text string) (Secret, error) {
	var s Secret
	body, ok := strings.CutPrefix(strings.TrimSpace(text), secretPrefix)
	if !ok {
		return s, fmt.Errorf("%w: it does not start with %q (make one with `bloomd keygen`)", ErrBadSecret, secretPrefix)
	}
	b, err := base64.RawURLEncoding.DecodeString(body)
	if err != nil || len(b) != len(s) {
		return s, fmt.Errorf("%w: want %d base64url bytes after %q", ErrBadSecret, len(s), secretPrefix)
	}
	copy(s[:], b)
	return s, nil
}

// LoadSecret reads a secret file. One that others may read or write is
// refused: the secret is the cluster (its CA key, its gossip key, its
// token).
func LoadSecret(path string) (Secret, error) {
	if fi, err := os.Stat(path); err == nil && fi.Mode().Perm()&0o077 != 0 {
		return Secret{}, fmt.Errorf("identity: secret file %s has mode %04o: others may read or change it; chmod 600 %s", path, fi.Mode().Perm(), path)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return Secret{}, fmt.Errorf("identity: read secret file: %w", err)
	}
	s, err := ParseSecret(string(b))
	if err != nil {
		return s, fmt.Errorf("%s: %w", path, err)
	}
	return s, nil
}

// derive returns n bytes for one purpose; each purpose has its own label.
func (s Secret) derive(label string, n int) []byte {
	b, err := hkdf.Key(sha256.New, s[:], []byte("bloom"), label, n)
	if err != nil {
		panic(err) // only for n > 255·32, a programmer error
	}
	return b
}

// GossipKey is the AES-256 key memberlist encrypts gossip with.
func (s Secret) GossipKey() []byte { return s.derive("bloom gossip key v1", 32) }

// Fingerprint names the secret without revealing it; the data dir records it.
func (s Secret) Fingerprint() string {
	return hex.EncodeToString(s.derive("bloom secret fingerprint v1", 8))
}

// Token is the bearer token bloomctl may present instead of a client
// certificate: "bloomtok1." + base64url(CA pin (16 bytes) ‖ HMAC-SHA256).
// The pin lets a client holding only the token check the server's certificate.
func (s Secret) Token() string {
	mac := hmac.New(sha256.New, s.derive("bloom api token key v1", 32))
	mac.Write([]byte("bloomctl api access"))
	pin := caPin(s.caKey().Public())
	return tokenPrefix + base64.RawURLEncoding.EncodeToString(append(pin, mac.Sum(nil)...))
}

const tokenPrefix = "bloomtok1."

// parseToken returns the CA pin a token carries.
func parseToken(tok string) (pin []byte, err error) {
	body, ok := strings.CutPrefix(strings.TrimSpace(tok), tokenPrefix)
	b, err2 := base64.RawURLEncoding.DecodeString(body)
	if !ok || err2 != nil || len(b) != 16+32 {
		return nil, fmt.Errorf("identity: bad token: want %q followed by 64 base64url characters (print one with `bloomd keygen --token`)", tokenPrefix)
	}
	return b[:16], nil
}

// TokenEqual reports, in constant time, whether the bearer token a is the
// cluster's token b (an empty b matches nothing).
func TokenEqual(a, b string) bool {
	return b != "" && hmac.Equal([]byte(strings.TrimSpace(a)), []byte(b))
}
