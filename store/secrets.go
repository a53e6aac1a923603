package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"
)

// This file keeps secrets sealed at rest: every column of secretColumns
// holds a value sealed by the DB's Sealer (or "" for none), which the store
// opens as it reads a row and seals as it writes one. Nothing outside the
// store sees a sealed value.

// Sealer encrypts the secrets the store writes and decrypts those it reads
// (package seal's Key is one).
type Sealer interface {
	Seal(plaintext string) (string, error)
	Open(sealed string) (string, error)
}

// secretColumns are the columns that hold sealed secrets, each in a table
// keyed by id. A new secret column is one more entry: the first sealing and
// a rotation cover it.
var secretColumns = []struct{ table, column string }{
	{"proxies", "password"},
}

// keyCheck is the text sealed in secret_key_check: a key that opens it is
// the key the database's secrets were sealed under.
const keyCheck = "DomainFlow secret key check"

// ErrNoSecretKey is in the chain of the error of reading or writing a
// secret without a Sealer (see UseSealer).
var ErrNoSecretKey = errors.New("no secret key was given, so secrets can be neither sealed nor opened")

// ErrWrongSecretKey is in the chain of UseSealer's error when the key does
// not open the database's key check.
var ErrWrongSecretKey = errors.New("the secret key does not open this database's secrets")

type keyCheckRow struct {
	ID        int `gorm:"primaryKey"`
	Sealed    string
	UpdatedAt time.Time
}

func (keyCheckRow) TableName() string { return "secret_key_check" }

// HasSealedSecrets reports whether secrets were ever sealed in the
// database: whether it holds a key check.
func (db *DB) HasSealedSecrets(ctx context.Context) (bool, error) {
	var n int64
	err := db.gorm.WithContext(ctx).Raw("SELECT count(*) FROM secret_key_check").Scan(&n).Error
	return n > 0, err
}

// UseSealer makes s the store's Sealer, after checking that it opens the
// database's key check. A database without one (secrets were never sealed)
// gets one sealed by s, and every secret stored in plain text until then is
// sealed in the same transaction; it returns how many. On PostgreSQL,
// instances starting together agree: the first to write the key check seals
// the secrets, the others wait for it and then check their key.
//
// Call it once, before the store is used.
func (db *DB) UseSealer(ctx context.Context, s Sealer) (sealed int, err error) {
	check, err := s.Seal(keyCheck)
	if err != nil {
		return 0, err
	}
	err = db.transaction(ctx, func(tx *gorm.DB) error {
		res := tx.Clauses(clause.OnConflict{DoNothing: true}).Create(&keyCheckRow{ID: 1, Sealed: check, UpdatedAt: db.now()})
		if res.Error != nil {
			return res.Error
		}
		if res.RowsAffected == 1 {
			// The first key: whatever secrets there are were written in
			// plain text.
			sealed, err = reseal(tx, func(plain string) (string, error) { return plain, nil }, s)
			return err
		}
		var row keyCheckRow
		if err := tx.Take(&row, 1).Error; err != nil {
			return err
		}
		if text, err := s.Open(row.Sealed); err != nil || text != keyCheck {
			if err == nil {
				err = errors.New("the key check holds another text")
			}
			return fmt.Errorf("%w: %w", ErrWrongSecretKey, err)
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	db.sealer = s
	return sealed, nil
}

// RotateSecrets re-seals every secret, and the key check, under next in
// one transaction, and uses next from then on; it returns how many secrets
// it re-sealed. The store's Sealer (UseSealer) must open them. Afterwards
// the old key opens nothing in the database.
func (db *DB) RotateSecrets(ctx context.Context, next Sealer) (int, error) {
	if db.sealer == nil {
		return 0, ErrNoSecretKey
	}
	check, err := next.Seal(keyCheck)
	if err != nil {
		return 0, err
	}
	var n int
	err = db.transaction(ctx, func(tx *gorm.DB) error {
		res := tx.Model(&keyCheckRow{}).Where("id = 1").Updates(map[string]any{"sealed": check, "updated_at": db.now()})
		if res.Error != nil {
			return res.Error
		}
		if res.RowsAffected != 1 {
			return errors.New("the database has no key check to rotate")
		}
		n, err = reseal(tx, db.sealer.Open, next)
		return err
	})
	if err != nil {
		return 0, err
	}
	db.sealer = next
	return n, nil
}

// reseal rewrites every non-empty secret as to.Seal(from(value)) and
// returns how many it rewrote.
func reseal(tx *gorm.DB, from func(string) (string, error), to Sealer) (int, error) {
	n := 0
	for _, c := range secretColumns {
		var rows []struct {
			ID    string
			Value string
		}
		q := fmt.Sprintf("SELECT id, %s AS value FROM %s WHERE %s <> ''", c.column, c.table, c.column)
		if err := tx.Raw(q).Scan(&rows).Error; err != nil {
			return n, err
		}
		for _, r := range rows {
			plain, err := from(r.Value)
			if err != nil {
				return n, fmt.Errorf("%s.%s of %s: %w", c.table, c.column, r.ID, err)
			}
			v, err := to.Seal(plain)
			if err != nil {
				return n, err
			}
			if err := tx.Exec(fmt.Sprintf("UPDATE %s SET %s = ? WHERE id = ?", c.table, c.column), v, r.ID).Error; err != nil {
				return n, err
			}
			n++
		}
	}
	return n, nil
}

// sealSecret returns the value to store for a secret: "" for none, else
// the secret sealed.
func (db *DB) sealSecret(plain string) (string, error) {
	if plain == "" {
		return "", nil
	}
	if db.sealer == nil {
		return "", ErrNoSecretKey
	}
	return db.sealer.Seal(plain)
}

// openSecret returns the secret a stored value holds.
func (db *DB) openSecret(stored string) (string, error) {
	if stored == "" {
		return "", nil
	}
	if db.sealer == nil {
		return "", ErrNoSecretKey
	}
	return db.sealer.Open(stored)
}
