package store

import (
	"context"
	"embed"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strconv"
	"strings"

	"gorm.io/gorm"
)

//go:embed migrations
var migrations embed.FS

// migrationLock is the PostgreSQL advisory lock key that keeps two instances
// starting together from migrating at once.
const migrationLock = 7_362_011

// Migrate applies the migrations not yet applied, each in its own
// transaction, and records them in schema_migrations. It is safe to run from
// several instances at once.
func (db *DB) Migrate(ctx context.Context) error {
	files, err := fs.ReadDir(migrations, path.Join("migrations", db.dialect))
	if err != nil {
		return err
	}
	sort.Slice(files, func(i, j int) bool { return files[i].Name() < files[j].Name() })

	return db.gorm.WithContext(ctx).Connection(func(conn *gorm.DB) error {
		if db.dialect == Postgres {
			if err := conn.Exec("SELECT pg_advisory_lock(?)", migrationLock).Error; err != nil {
				return fmt.Errorf("take migration lock: %w", err)
			}
			defer conn.Exec("SELECT pg_advisory_unlock(?)", migrationLock)
		}
		if err := conn.Exec(`CREATE TABLE IF NOT EXISTS schema_migrations (
			version integer PRIMARY KEY, name text NOT NULL)`).Error; err != nil {
			return fmt.Errorf("create schema_migrations: %w", err)
		}
		var applied []int
		if err := conn.Raw("SELECT version FROM schema_migrations").Scan(&applied).Error; err != nil {
			return err
		}
		done := map[int]bool{}
		for _, v := range applied {
			done[v] = true
		}
		for _, f := range files {
			version, err := strconv.Atoi(strings.SplitN(f.Name(), "_", 2)[0])
			if err != nil {
				return fmt.Errorf("migration %s: name must start with a number", f.Name())
			}
			if done[version] {
				continue
			}
			body, err := migrations.ReadFile(path.Join("migrations", db.dialect, f.Name()))
			if err != nil {
				return err
			}
			err = conn.Transaction(func(tx *gorm.DB) error {
				if err := tx.Exec(string(body)).Error; err != nil {
					return err
				}
				return tx.Exec("INSERT INTO schema_migrations (version, name) VALUES (?, ?)", version, f.Name()).Error
			})
			if err != nil {
				return fmt.Errorf("migration %s: %w", f.Name(), err)
			}
		}
		return nil
	})
}
