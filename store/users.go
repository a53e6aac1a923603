package store

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"strings"
	"time"

	"github.com/google/uuid"
	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"github.com/domainflow/domainflow"
)

type userRow struct {
	ID        uuid.UUID `gorm:"primaryKey"`
	Name      string
	CreatedAt time.Time
}

func (userRow) TableName() string { return "users" }

type tokenRow struct {
	ID        uuid.UUID `gorm:"primaryKey"`
	UserID    uuid.UUID
	TokenHash string
	CreatedAt time.Time
}

func (tokenRow) TableName() string { return "api_tokens" }

// tokenPrefix marks DomainFlow tokens so that secret scanners can spot them.
const tokenPrefix = "dft_"

// EnsureUser returns the user with this name, creating it if new.
func (db *DB) EnsureUser(ctx context.Context, name string) (*domainflow.User, error) {
	name = strings.TrimSpace(name)
	if name == "" {
		return nil, domainflow.Invalid("A user name is required.", domainflow.FieldError{Parameter: "user", Detail: "must not be empty"})
	}
	row := userRow{ID: uuid.New(), Name: name, CreatedAt: db.now()}
	err := db.gorm.WithContext(ctx).Clauses(clause.OnConflict{Columns: []clause.Column{{Name: "name"}}, DoNothing: true}).Create(&row).Error
	if err != nil {
		return nil, err
	}
	var found userRow // the row that won, when the name already existed
	if err := db.gorm.WithContext(ctx).Where("name = ?", name).Take(&found).Error; err != nil {
		return nil, err
	}
	return &domainflow.User{ID: found.ID, Name: found.Name, CreatedAt: found.CreatedAt.UTC()}, nil
}

// GetUser returns the user with this id, or ENOTFOUND.
func (db *DB) GetUser(ctx context.Context, id uuid.UUID) (*domainflow.User, error) {
	var row userRow
	err := db.gorm.WithContext(ctx).Where("id = ?", id).Take(&row).Error
	switch {
	case errors.Is(err, gorm.ErrRecordNotFound):
		return nil, domainflow.Errorf(domainflow.ENOTFOUND, "No such user.")
	case err != nil:
		return nil, err
	}
	return &domainflow.User{ID: row.ID, Name: row.Name, CreatedAt: row.CreatedAt.UTC()}, nil
}

// CreateToken makes a new API token for the user and returns it. Only its
// SHA-256 is stored: the token itself cannot be recovered later. It is
// audited (token.created, the token's row id) under the actor of ctx.
func (db *DB) CreateToken(ctx context.Context, userID uuid.UUID) (string, error) {
	secret := make([]byte, 32)
	if _, err := rand.Read(secret); err != nil {
		return "", err
	}
	token := tokenPrefix + base64.RawURLEncoding.EncodeToString(secret)
	row := tokenRow{ID: uuid.New(), UserID: userID, TokenHash: hashToken(token), CreatedAt: db.now()}
	err := db.transaction(ctx, func(tx *gorm.DB) error {
		if err := tx.Create(&row).Error; err != nil {
			return err
		}
		return db.audit(tx, domainflow.AuditTokenCreated, domainflow.ResourceToken, row.ID.String(), nil)
	})
	if err != nil {
		return "", err
	}
	return token, nil
}

// Authenticate returns the id of the user a token belongs to, or an
// EUNAUTHORIZED error.
func (db *DB) Authenticate(ctx context.Context, token string) (uuid.UUID, error) {
	if !strings.HasPrefix(token, tokenPrefix) || len(token) > 200 {
		return uuid.Nil, domainflow.Errorf(domainflow.EUNAUTHORIZED, "The token is not valid.")
	}
	var row tokenRow
	err := db.gorm.WithContext(ctx).Select("user_id").Where("token_hash = ?", hashToken(token)).Take(&row).Error
	switch {
	case errors.Is(err, gorm.ErrRecordNotFound):
		return uuid.Nil, domainflow.Errorf(domainflow.EUNAUTHORIZED, "The token is not valid.")
	case err != nil:
		return uuid.Nil, err
	}
	return row.UserID, nil
}

func hashToken(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}
