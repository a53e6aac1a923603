package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/domainflow/domainflow/seal"
	"github.com/domainflow/domainflow/store"
)

// keyNeed is what a command needs of the secret key that seals the
// database's secrets (proxy passwords).
type keyNeed int

const (
	// keyIfAny: a key given, or kept beside a SQLite file, is checked and
	// used; without one the command runs, but cannot read or write a
	// secret (migrate, token create, audit).
	keyIfAny keyNeed = iota
	// keyToServe: a key is required. The SQLite default makes one beside
	// the database file the first time; PostgreSQL refuses to run.
	keyToServe
	// keyToRotate: a key is required, and never made.
	keyToRotate
)

// keySource says where the key in use came from.
type keySource struct {
	desc string
	// besideDB is the key file kept beside a SQLite database, when the key
	// came from there (rotation rewrites it).
	besideDB string
}

// errNoKey is the answer to running on PostgreSQL without a key.
const errNoKey = `no secret key: on PostgreSQL the service needs one to seal the proxies' passwords. ` +
	`Make one with "domainflow secrets new-key /etc/domainflow/secret.key" (or "openssl rand -base64 32" into a file only the service may read) ` +
	`and name it with --secret-key-file PATH or DOMAINFLOW_SECRET_KEY_FILE=PATH, or give it as DOMAINFLOW_SECRET_KEY=BASE64. ` +
	`Keep it apart from the database and its backups: whoever holds both can read the passwords`

// givenKey returns the key the flags or the environment name, or nil.
func (c *config) givenKey() (*seal.Key, keySource, error) {
	switch {
	case c.secretKey != "" && c.secretKeyFile != "":
		return nil, keySource{}, errors.New("give the secret key once: DOMAINFLOW_SECRET_KEY or --secret-key-file (DOMAINFLOW_SECRET_KEY_FILE), not both")
	case c.secretKey != "":
		k, err := seal.ParseKey(c.secretKey)
		if err != nil {
			return nil, keySource{}, fmt.Errorf("DOMAINFLOW_SECRET_KEY: %w", err)
		}
		return k, keySource{desc: "DOMAINFLOW_SECRET_KEY"}, nil
	case c.secretKeyFile != "":
		k, err := seal.ReadKeyFile(c.secretKeyFile)
		if err != nil {
			return nil, keySource{}, err
		}
		return k, keySource{desc: c.secretKeyFile}, nil
	}
	return nil, keySource{}, nil
}

// keyFileBeside returns the key file kept beside a SQLite database file:
// PATH.key for PATH.
func keyFileBeside(databaseURL string) (string, bool) {
	path, ok := store.SQLiteFile(databaseURL)
	if !ok {
		return "", false
	}
	if real, err := filepath.EvalSymlinks(path); err == nil {
		path = real // one key however the file is reached
	}
	return path + ".key", true
}

// useSecretKey finds the key the command runs with and gives it to the
// store, which checks it against the database's key check (sealing the
// secrets stored in plain text, the first time). It returns the key, nil
// when the command runs without one.
func useSecretKey(ctx context.Context, cfg *config, db *store.DB, log *slog.Logger, need keyNeed) (*seal.Key, keySource, error) {
	key, src, err := cfg.givenKey()
	if err != nil {
		return nil, src, err
	}
	if key == nil {
		key, src, err = defaultKey(ctx, cfg, db, log, need)
		if err != nil || key == nil {
			return nil, src, err
		}
	}
	n, err := db.UseSealer(ctx, key)
	if errors.Is(err, store.ErrWrongSecretKey) {
		return nil, src, fmt.Errorf("%w (the key given came from %s). Start with the key they were sealed under; "+
			"after \"domainflow secrets rotate\", that is the new key", err, src.desc)
	} else if err != nil {
		return nil, src, fmt.Errorf("check the secret key: %w", err)
	}
	if n > 0 {
		log.Info("sealed the secrets stored in plain text", "count", n, "key_id", key.ID())
	}
	return key, src, nil
}

// defaultKey is the key when none is given: the one kept beside a SQLite
// file (made there to serve, the first time), a key of the process's own
// for an in-memory database, and none on PostgreSQL.
func defaultKey(ctx context.Context, cfg *config, db *store.DB, log *slog.Logger, need keyNeed) (*seal.Key, keySource, error) {
	if db.Dialect() != store.SQLite {
		if need == keyIfAny {
			return nil, keySource{}, nil
		}
		return nil, keySource{}, errors.New(errNoKey)
	}
	path, ok := keyFileBeside(cfg.databaseURL)
	if !ok {
		// In memory: the secrets die with the process, and so may the key.
		if need == keyIfAny {
			return nil, keySource{}, nil
		}
		k, _, err := seal.Generate()
		return k, keySource{desc: "a key made for this in-memory database"}, err
	}
	src := keySource{desc: path, besideDB: path}
	k, err := seal.ReadKeyFile(path)
	switch {
	case err == nil:
		return k, src, nil
	case !errors.Is(err, fs.ErrNotExist):
		return nil, src, err
	case need == keyIfAny:
		return nil, src, nil
	}
	sealed, err := db.HasSealedSecrets(ctx)
	if err != nil {
		return nil, src, err
	}
	if sealed || need == keyToRotate {
		return nil, src, fmt.Errorf("no secret key: the database's secrets were sealed under a key, but its key file %s is missing. "+
			"Put the key back there, or name it with --secret-key-file PATH or DOMAINFLOW_SECRET_KEY", path)
	}
	k, err = seal.CreateKeyFile(path)
	if errors.Is(err, fs.ErrExist) { // another command made it just now
		k, err = seal.ReadKeyFile(path)
	} else if err == nil {
		log.Info("made the secret key that seals the database's secrets; keep it with the database (and its backups apart)", "file", path, "key_id", k.ID())
	}
	return k, src, err
}

// secrets runs "domainflow secrets new-key PATH" and "domainflow secrets
// rotate --new-key-file PATH".
func secrets(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprintln(stderr, usage)
		return errors.New(`unknown secrets command (want "secrets new-key PATH" or "secrets rotate --new-key-file PATH")`)
	}
	switch args[0] {
	case "new-key":
		if len(args) != 2 || args[1] == "" || args[1][0] == '-' {
			return errors.New("usage: domainflow secrets new-key PATH")
		}
		k, err := seal.CreateKeyFile(args[1])
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "Wrote a new secret key (id %s) to %s, readable by you alone.\n", k.ID(), args[1])
		return nil
	case "rotate":
		return rotate(ctx, args[1:], getenv, stdout, stderr)
	}
	fmt.Fprintln(stderr, usage)
	return fmt.Errorf("unknown secrets command %q", args[0])
}

// rotate re-seals every secret under a new key, in one transaction, while
// no instance runs (a running one would go on sealing under the old key).
func rotate(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	cfg := &config{}
	var newKeyFile string
	log, err := parse("secrets rotate", args, getenv, stderr, cfg, func(fs *flag.FlagSet) {
		fs.StringVar(&newKeyFile, "new-key-file", "", "file holding the key to seal every secret under from now on (make one with \"domainflow secrets new-key PATH\")")
	})
	if err != nil {
		return err
	}
	if newKeyFile == "" {
		return errors.New("--new-key-file PATH is required (make a key with \"domainflow secrets new-key PATH\")")
	}
	next, err := seal.ReadKeyFile(newKeyFile)
	if err != nil {
		return err
	}
	lock, err := store.LockInstance(cfg.databaseURL)
	if err != nil {
		return fmt.Errorf("%w (stop it before rotating the key)", err)
	}
	defer lock.Release()
	db, err := openStore(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer db.Close()
	live, err := db.LiveInstances(ctx, 10*time.Second)
	if err != nil {
		return err
	}
	if len(live) > 0 {
		return fmt.Errorf("instances are running on this database (%v): stop them before rotating the key, or they would go on sealing under the old one", live)
	}
	current, src, err := useSecretKey(ctx, cfg, db, log, keyToRotate)
	if err != nil {
		return err
	}
	if current.ID() == next.ID() {
		return fmt.Errorf("the new key (id %s) is the key in use", next.ID())
	}
	n, err := db.RotateSecrets(ctx, next)
	if err != nil {
		return fmt.Errorf("rotate the secret key (nothing was changed): %w", err)
	}
	fmt.Fprintf(stdout, "Re-sealed %d secrets under key %s (from %s); key %s opens nothing in the database any more.\n",
		n, next.ID(), newKeyFile, current.ID())
	if src.besideDB != "" {
		text, err := os.ReadFile(newKeyFile)
		if err == nil {
			err = seal.ReplaceKeyFile(src.besideDB, string(text))
		}
		if err != nil {
			return fmt.Errorf("the secrets are sealed under the new key, but its copy to %s failed: copy %s there before starting the service: %w",
				src.besideDB, newKeyFile, err)
		}
		fmt.Fprintf(stdout, "%s now holds the new key.\n", src.besideDB)
		return nil
	}
	fmt.Fprintf(stdout, "Start the service with the new key (--secret-key-file %s, or its text in DOMAINFLOW_SECRET_KEY).\n", newKeyFile)
	return nil
}
