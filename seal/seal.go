// Package seal encrypts the secrets DomainFlow keeps at rest (proxy
// passwords) with AES-256-GCM under a key the operator holds.
//
// A sealed value is text: "df1:" (the format), the key's id (eight hex
// digits that name the key without revealing it), ":" and the base64url of
// a random 12-byte nonce followed by the ciphertext and its tag. The prefix
// up to the last colon is authenticated with the ciphertext, so a value
// cannot be relabelled as another key's. The key id is what lets a
// database say which key its values need, and a rotation re-seal them
// under a new one.
package seal

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
)

// KeySize is the length of a key in bytes (AES-256).
const KeySize = 32

// format starts every sealed value.
const format = "df1:"

// ErrWrongKey is in the chain of the error Open returns for a value
// sealed under another key.
var ErrWrongKey = errors.New("sealed under another key")

// Key seals and opens values; it is safe for concurrent use.
type Key struct {
	id   string
	aead cipher.AEAD
}

// NewKey returns the key of 32 raw bytes.
func NewKey(raw []byte) (*Key, error) {
	if len(raw) != KeySize {
		return nil, fmt.Errorf("a secret key is %d bytes, not %d", KeySize, len(raw))
	}
	block, err := aes.NewCipher(raw)
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	mac := hmac.New(sha256.New, raw)
	mac.Write([]byte("domainflow secret key id"))
	return &Key{id: hex.EncodeToString(mac.Sum(nil)[:4]), aead: aead}, nil
}

// ParseKey returns the key written as base64 (standard or URL alphabet,
// padded or not) of 32 bytes; surrounding white space is ignored.
func ParseKey(text string) (*Key, error) {
	text = strings.TrimSpace(text)
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if raw, err := enc.DecodeString(text); err == nil {
			if len(raw) != KeySize {
				return nil, fmt.Errorf("the secret key is base64 of %d bytes; it must be of %d (make one with: openssl rand -base64 32)", len(raw), KeySize)
			}
			return NewKey(raw)
		}
	}
	return nil, errors.New("the secret key is not base64 (make one with: openssl rand -base64 32)")
}

// Generate returns a new random key and its text form (base64), which
// ParseKey reads.
func Generate() (*Key, string, error) {
	raw := make([]byte, KeySize)
	if _, err := rand.Read(raw); err != nil {
		return nil, "", err
	}
	k, err := NewKey(raw)
	if err != nil {
		return nil, "", err
	}
	return k, base64.StdEncoding.EncodeToString(raw), nil
}

// ID names the key: eight hex digits derived from it one way.
func (k *Key) ID() string { return k.id }

// Seal encrypts plaintext under the key.
func (k *Key) Seal(plaintext string) (string, error) {
	nonce := make([]byte, k.aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return "", err
	}
	prefix := format + k.id + ":"
	out := k.aead.Seal(nonce, nonce, []byte(plaintext), []byte(prefix))
	return prefix + base64.RawURLEncoding.EncodeToString(out), nil
}

// Open decrypts a value Seal returned. A value sealed under another key is
// an error wrapping ErrWrongKey that names both keys' ids; a value that is
// not sealed, or was altered, is an error too.
func (k *Key) Open(sealed string) (string, error) {
	id, body, ok := Split(sealed)
	if !ok {
		return "", errors.New("not a sealed value")
	}
	if id != k.id {
		return "", fmt.Errorf("%w: needs key %s, not key %s", ErrWrongKey, id, k.id)
	}
	raw, err := base64.RawURLEncoding.DecodeString(body)
	if err != nil || len(raw) < k.aead.NonceSize()+k.aead.Overhead() {
		return "", fmt.Errorf("a value sealed under key %s is damaged", id)
	}
	n := k.aead.NonceSize()
	plain, err := k.aead.Open(nil, raw[:n], raw[n:], []byte(format+id+":"))
	if err != nil {
		return "", fmt.Errorf("a value sealed under key %s does not open with it: it was altered", id)
	}
	return string(plain), nil
}

// Split returns the id of the key a sealed value needs and its body, and
// reports whether the value has the form of a sealed one.
func Split(sealed string) (keyID, body string, ok bool) {
	rest, ok := strings.CutPrefix(sealed, format)
	if !ok {
		return "", "", false
	}
	keyID, body, ok = strings.Cut(rest, ":")
	if !ok || len(keyID) != 8 || body == "" {
		return "", "", false
	}
	return keyID, body, true
}
