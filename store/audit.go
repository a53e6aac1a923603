package store

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/google/uuid"
	"gorm.io/gorm"

	"github.com/domainflow/domainflow"
)

// This file keeps the audit trail. Each audited write records its event in
// its own transaction, under the actor of its context
// (domainflow.WithActor): the event exists exactly when the change does. A
// write whose context carries no actor (the engine's own work) records
// nothing.
//
// Audited: token created and revoked (IssueToken, RevokeToken); campaign
// created, started, paused, resumed, cancelled and deleted (CreateCampaign,
// CreateCampaignWithin, Transition, TransitionWithin, DeleteCampaign); proxy
// created, updated and deleted. A new audited write calls db.audit in its
// transaction.

type auditRow struct {
	ID           int64 `gorm:"primaryKey"`
	At           time.Time
	UserID       uuid.UUID
	UserName     string
	Address      string
	Action       string
	ResourceType string
	ResourceID   string
	Detail       string
}

func (auditRow) TableName() string { return "audit_events" }

// auditPrune bounds how many expired events one write deletes: the trail
// is pruned as it grows, a hundred times faster than it grows, at a
// bounded cost to each write.
const auditPrune = 100

// audit records, in tx, an event of the actor of tx's context (nothing
// without one), and prunes a bounded number of expired events. The user's
// name is read in the same statement, so the event keeps the name the user
// had when it happened.
func (db *DB) audit(tx *gorm.DB, action, resourceType, resourceID string, detail map[string]any) error {
	actor, ok := domainflow.ActorFrom(tx.Statement.Context)
	if !ok {
		return nil
	}
	if detail == nil {
		detail = map[string]any{}
	}
	b, err := json.Marshal(detail)
	if err != nil {
		return err
	}
	now := db.now()
	value := "?"
	if db.dialect == Postgres {
		value = "CAST(CAST(? AS text) AS jsonb)"
	}
	res := tx.Exec(`INSERT INTO audit_events (at, user_id, user_name, address, action, resource_type, resource_id, detail)
		SELECT ?, id, name, ?, ?, ?, ?, `+value+` FROM users WHERE id = ?`,
		now, actor.Address, action, resourceType, resourceID, string(b), actor.UserID)
	if res.Error != nil {
		return res.Error
	}
	if res.RowsAffected != 1 {
		return fmt.Errorf("audit %s: no user %s", action, actor.UserID)
	}
	// Expired events, oldest first. On PostgreSQL, rows another write is
	// pruning at the same moment are left to it, so that two writes never
	// wait on each other here.
	q := "SELECT id FROM audit_events WHERE at < ? ORDER BY at LIMIT ?"
	if db.dialect == Postgres {
		q += " FOR UPDATE SKIP LOCKED"
	}
	return tx.Exec("DELETE FROM audit_events WHERE id IN ("+q+")", now.Add(-domainflow.AuditRetention), auditPrune).Error
}

// ListAudit returns a page of the audit events q selects, newest first.
func (db *DB) ListAudit(ctx context.Context, q domainflow.AuditQuery) (*domainflow.AuditPage, error) {
	tx := db.gorm.WithContext(ctx).Model(&auditRow{})
	if q.UserID != uuid.Nil {
		tx = tx.Where("user_id = ?", q.UserID)
	}
	if q.UserName != "" {
		tx = tx.Where("user_name = ?", q.UserName)
	}
	if !q.Since.IsZero() {
		tx = tx.Where("at >= ?", q.Since.UTC())
	}
	if q.Before > 0 {
		tx = tx.Where("id < ?", q.Before)
	}
	var rows []auditRow
	if err := tx.Order("id DESC").Limit(q.Limit + 1).Find(&rows).Error; err != nil {
		return nil, err
	}
	page := &domainflow.AuditPage{Items: make([]domainflow.AuditEvent, 0, min(len(rows), q.Limit))}
	if len(rows) > q.Limit {
		page.HasMore, rows = true, rows[:q.Limit]
	}
	for _, r := range rows {
		ev := domainflow.AuditEvent{ID: r.ID, At: r.At.UTC(), UserID: r.UserID, UserName: r.UserName, Address: r.Address,
			Action: r.Action, ResourceType: r.ResourceType, ResourceID: r.ResourceID}
		if err := json.Unmarshal([]byte(r.Detail), &ev.Detail); err != nil {
			return nil, fmt.Errorf("audit event %d: detail: %w", r.ID, err)
		}
		page.Items = append(page.Items, ev)
	}
	return page, nil
}
