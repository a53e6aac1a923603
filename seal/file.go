package seal

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"
)

// ReadKeyFile reads the key in a file (its base64 text, as CreateKeyFile
// writes it). A file other users may read or write is refused: the key
// opens every secret of the database. A missing file is an error
// satisfying errors.Is(err, fs.ErrNotExist).
func ReadKeyFile(path string) (*Key, error) {
	// One open file for the check and the read: the file judged is the
	// file read.
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("read the secret key file: %w", err)
	}
	defer f.Close()
	b, err := io.ReadAll(f)
	if err != nil {
		return nil, fmt.Errorf("read the secret key file: %w", err)
	}
	if runtime.GOOS != "windows" {
		fi, err := f.Stat()
		if err != nil {
			return nil, err
		}
		if mode := fi.Mode().Perm(); mode&0o007 != 0 {
			return nil, fmt.Errorf("the secret key file %s may be read or written by any user (mode %04o): make it the service's alone, e.g. chmod 600 %s", path, mode, path)
		}
	}
	k, err := ParseKey(string(b))
	if err != nil {
		return nil, fmt.Errorf("secret key file %s: %w", path, err)
	}
	return k, nil
}

// CreateKeyFile makes a new random key and writes it to path, readable by
// its owner alone (mode 0600). It never replaces a file: if path exists it
// fails with an error satisfying errors.Is(err, fs.ErrExist), even when
// another process creates it at the same moment (the file appears whole,
// by a hard link from a temporary file beside it).
func CreateKeyFile(path string) (*Key, error) {
	k, text, err := Generate()
	if err != nil {
		return nil, err
	}
	if err := writeFile(path, text, false); err != nil {
		return nil, err
	}
	return k, nil
}

// ReplaceKeyFile writes a key's text to path, replacing what is there
// atomically (a rename), readable by its owner alone.
func ReplaceKeyFile(path, text string) error {
	if _, err := ParseKey(text); err != nil {
		return err
	}
	return writeFile(path, strings.TrimSpace(text), true)
}

func writeFile(path, text string, replace bool) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return fmt.Errorf("write the secret key file: %w", err)
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return err
	}
	if _, err := tmp.WriteString(text + "\n"); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if replace {
		return os.Rename(tmp.Name(), path)
	}
	if err := os.Link(tmp.Name(), path); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return fmt.Errorf("secret key file %s: %w", path, fs.ErrExist)
		}
		return fmt.Errorf("write the secret key file: %w", err)
	}
	return nil
}
