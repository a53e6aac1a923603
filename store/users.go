package store

import (
	"context"
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

// UserByName returns the user with this name, or ENOTFOUND.
func (db *DB) UserByName(ctx context.Context, name string) (*domainflow.User, error) {
	var found userRow
	err := db.gorm.WithContext(ctx).Where("name = ?", strings.TrimSpace(name)).Take(&found).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return nil, domainflow.Errorf(domainflow.ENOTFOUND, "There is no user named %q.", strings.TrimSpace(name))
	} else if err != nil {
		return nil, err
	}
	return &domainflow.User{ID: found.ID, Name: found.Name, CreatedAt: found.CreatedAt.UTC()}, nil
}
