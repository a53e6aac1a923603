package store

import (
	"context"
	"time"

	"github.com/google/uuid"

	"github.com/domainflow/domainflow"
)

// This file keeps the instances of the service and their heartbeats, and
// the campaigns left stalled by an instance that died.

// dbMillis is the database's clock in milliseconds since the epoch: every
// instance judges heartbeats by the same clock, whatever its host's says.
var dbMillis = map[string]string{
	Postgres: "CAST(EXTRACT(EPOCH FROM clock_timestamp()) * 1000 AS BIGINT)",
	SQLite:   "CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER)",
}

// Heartbeat records that the instance is alive and returns the database's
// clock (milliseconds) as it recorded it.
func (db *DB) Heartbeat(ctx context.Context, instanceID string) (int64, error) {
	now := dbMillis[db.dialect]
	var at int64
	err := db.gorm.WithContext(ctx).Raw(`INSERT INTO instances (id, started_at, heartbeat_at) VALUES (?, `+now+`, `+now+`)
		ON CONFLICT (id) DO UPDATE SET heartbeat_at = excluded.heartbeat_at RETURNING heartbeat_at`, instanceID).Scan(&at).Error
	return at, err
}

// SilentInstances returns the instances whose last heartbeat is older than
// silence, by the database's clock.
func (db *DB) SilentInstances(ctx context.Context, silence time.Duration) ([]string, error) {
	var ids []string
	err := db.gorm.WithContext(ctx).Raw("SELECT id FROM instances WHERE heartbeat_at < "+dbMillis[db.dialect]+" - ?",
		silence.Milliseconds()).Scan(&ids).Error
	return ids, err
}

// LiveInstances returns the instances that heartbeat within the last
// `within`, by the database's clock.
func (db *DB) LiveInstances(ctx context.Context, within time.Duration) ([]string, error) {
	var ids []string
	err := db.gorm.WithContext(ctx).Raw("SELECT id FROM instances WHERE heartbeat_at >= "+dbMillis[db.dialect]+" - ? ORDER BY id",
		within.Milliseconds()).Scan(&ids).Error
	return ids, err
}

// ForgetInstance removes an instance that stopped or was found dead.
func (db *DB) ForgetInstance(ctx context.Context, instanceID string) error {
	return db.gorm.WithContext(ctx).Exec("DELETE FROM instances WHERE id = ?", instanceID).Error
}

// SetStalled marks the user's campaign stalled (its instance died) or no
// longer stalled (an instance took it over) and returns it when that
// changed it; a campaign already so, or no longer queued or running, is left
// as it is (nil). The mark moves the version: clients see it like any change.
func (db *DB) SetStalled(ctx context.Context, userID, id uuid.UUID, stalled bool) (*domainflow.Campaign, error) {
	now := db.now()
	var since *time.Time
	cond := "stalled_since IS NOT NULL"
	if stalled {
		since, cond = &now, "stalled_since IS NULL"
	}
	// One statement: the campaign returned is the one it marked.
	var rows []campaignRow
	err := db.gorm.WithContext(ctx).Raw("UPDATE campaigns SET stalled_since = ?, version = version + 1, updated_at = ? "+
		"WHERE id = ? AND user_id = ? AND status IN ? AND "+cond+" RETURNING *", since, now, id, userID,
		[]string{string(domainflow.StatusQueued), string(domainflow.StatusRunning)}).Scan(&rows).Error
	if err != nil || len(rows) == 0 {
		return nil, err
	}
	return rows[0].toDomain()
}
