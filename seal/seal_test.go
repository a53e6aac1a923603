package seal_test

import (
	"encoding/base64"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/domainflow/domainflow/seal"
)

func newKey(t *testing.T) *seal.Key {
	t.Helper()
	k, _, err := seal.Generate()
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func TestSealOpen(t *testing.T) {
	k := newKey(t)
	for _, plain := range []string{"", "p", "pässwörd with spaces", strings.Repeat("x", 255)} {
		a, err := k.Seal(plain)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := k.Seal(plain)
		if a == b {
			t.Errorf("sealing %q twice gave the same text: the nonce is not random", plain)
		}
		if len(plain) >= 8 && strings.Contains(a, plain) { // a short one may turn up in base64 by chance
			t.Errorf("sealed %q holds the plaintext: %s", plain, a)
		}
		if id, _, ok := seal.Split(a); !ok || id != k.ID() {
			t.Errorf("Split(%s) = %s, %v; want key id %s", a, id, ok, k.ID())
		}
		got, err := k.Open(a)
		if err != nil || got != plain {
			t.Errorf("Open(Seal(%q)) = %q, %v", plain, got, err)
		}
	}
}

func TestOpenRefuses(t *testing.T) {
	k, other := newKey(t), newKey(t)
	sealed, _ := k.Seal("secret")
	id, body, _ := seal.Split(sealed)
	raw, _ := base64.RawURLEncoding.DecodeString(body)
	raw[len(raw)-1] ^= 1
	flipped := "df1:" + id + ":" + base64.RawURLEncoding.EncodeToString(raw)
	relabelled := "df1:" + other.ID() + ":" + body

	if _, err := other.Open(sealed); !errors.Is(err, seal.ErrWrongKey) || !strings.Contains(err.Error(), k.ID()) || !strings.Contains(err.Error(), other.ID()) {
		t.Errorf("Open under another key: %v; want ErrWrongKey naming both ids", err)
	}
	for name, v := range map[string]string{
		"plain text": "secret", "altered": flipped, "relabelled to another key": relabelled,
		"truncated": sealed[:len(sealed)-10], "empty body": "df1:" + id + ":",
	} {
		opener := k
		if name == "relabelled to another key" {
			opener = other
		}
		if got, err := opener.Open(v); err == nil {
			t.Errorf("Open(%s) = %q, nil; want an error", name, got)
		}
	}
}

func TestParseKey(t *testing.T) {
	raw := make([]byte, 32)
	for i := range raw {
		raw[i] = byte(i * 7)
	}
	want, _ := seal.NewKey(raw)
	for _, text := range []string{
		base64.StdEncoding.EncodeToString(raw) + "\n", base64.RawStdEncoding.EncodeToString(raw),
		base64.URLEncoding.EncodeToString(raw), "  " + base64.RawURLEncoding.EncodeToString(raw),
	} {
		k, err := seal.ParseKey(text)
		if err != nil || k.ID() != want.ID() {
			t.Errorf("ParseKey(%q) = %v, %v; want id %s", text, k, err, want.ID())
		}
	}
	for _, text := range []string{"", "not base64!", base64.StdEncoding.EncodeToString(raw[:16])} {
		if _, err := seal.ParseKey(text); err == nil {
			t.Errorf("ParseKey(%q) = nil error", text)
		}
	}
}

func TestKeyFiles(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "domainflow.db.key")
	k, err := seal.CreateKeyFile(path)
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("key file mode %v, %v; want 0600", fi.Mode(), err)
	}
	if _, err := seal.CreateKeyFile(path); !errors.Is(err, fs.ErrExist) {
		t.Errorf("CreateKeyFile over an existing file: %v; want ErrExist", err)
	}
	got, err := seal.ReadKeyFile(path)
	if err != nil || got.ID() != k.ID() {
		t.Fatalf("ReadKeyFile = %v, %v; want id %s", got, err, k.ID())
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		t.Errorf("the directory holds %d files; want the key file alone (no temporary file left)", len(entries))
	}

	os.Chmod(path, 0o644)
	if _, err := seal.ReadKeyFile(path); err == nil || !strings.Contains(err.Error(), "chmod 600") {
		t.Errorf("ReadKeyFile of a file anyone may read: %v; want a refusal saying chmod 600", err)
	}
	os.Chmod(path, 0o640)
	if _, err := seal.ReadKeyFile(path); err != nil {
		t.Errorf("ReadKeyFile of a file its group may read: %v", err)
	}

	_, text, _ := seal.Generate()
	if err := seal.ReplaceKeyFile(path, text); err != nil {
		t.Fatal(err)
	}
	want, _ := seal.ParseKey(text)
	if got, err := seal.ReadKeyFile(path); err != nil || got.ID() != want.ID() {
		t.Errorf("after ReplaceKeyFile: %v, %v; want id %s", got, err, want.ID())
	}
	if _, err := seal.ReadKeyFile(filepath.Join(dir, "missing")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("ReadKeyFile of a missing file: %v; want ErrNotExist", err)
	}
}
