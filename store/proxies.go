package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"github.com/domainflow/domainflow"
)

type proxyRow struct {
	ID            uuid.UUID `gorm:"primaryKey"`
	UserID        uuid.UUID
	Name          string
	Protocol      string
	Host          string
	Port          int
	Username      string
	Password      string
	Enabled       bool
	Health        string
	LatencyMS     *float64 `gorm:"column:latency_ms"`
	LastCheckedAt *time.Time
	LastError     string
	CreatedAt     time.Time
	UpdatedAt     time.Time
}

func (proxyRow) TableName() string { return "proxies" }

// toProxy returns the proxy the row holds, its password opened.
func (db *DB) toProxy(r *proxyRow) (*domainflow.Proxy, error) {
	password, err := db.openSecret(r.Password)
	if err != nil {
		return nil, fmt.Errorf("proxy %s: password: %w", r.ID, err)
	}
	return &domainflow.Proxy{
		ID: r.ID, UserID: r.UserID, Name: r.Name, Protocol: r.Protocol, Host: r.Host, Port: r.Port,
		Username: r.Username, Password: password, Enabled: r.Enabled, Health: r.Health,
		LatencyMS: r.LatencyMS, LastCheckedAt: utcPtr(r.LastCheckedAt), LastError: r.LastError,
		CreatedAt: r.CreatedAt.UTC(), UpdatedAt: r.UpdatedAt.UTC(),
	}, nil
}

func (db *DB) toProxies(rows []proxyRow) ([]*domainflow.Proxy, error) {
	out := make([]*domainflow.Proxy, len(rows))
	for i := range rows {
		p, err := db.toProxy(&rows[i])
		if err != nil {
			return nil, err
		}
		out[i] = p
	}
	return out, nil
}

// proxyRowOf returns the row that stores p, its password sealed.
func (db *DB) proxyRowOf(p *domainflow.Proxy) (proxyRow, error) {
	password, err := db.sealSecret(p.Password)
	if err != nil {
		return proxyRow{}, fmt.Errorf("proxy password: %w", err)
	}
	return proxyRow{
		ID: p.ID, UserID: p.UserID, Name: p.Name, Protocol: p.Protocol, Host: p.Host, Port: p.Port,
		Username: p.Username, Password: password, Enabled: p.Enabled, Health: p.Health,
		LatencyMS: p.LatencyMS, LastCheckedAt: p.LastCheckedAt, LastError: p.LastError,
		CreatedAt: p.CreatedAt, UpdatedAt: p.UpdatedAt,
	}, nil
}

var errProxyNotFound = &domainflow.Error{Code: domainflow.ENOTFOUND, Message: "No such proxy."}

// CreateProxy stores a new proxy for p.UserID and fills in its id and
// times; it is audited under the actor of ctx.
func (db *DB) CreateProxy(ctx context.Context, p *domainflow.Proxy) error {
	row, err := db.newProxyRow(p)
	if err != nil {
		return err
	}
	return db.transaction(ctx, func(tx *gorm.DB) error { return db.insertProxy(tx, &row, p) })
}

// insertProxy stores a new proxy's row and its audit event in tx.
func (db *DB) insertProxy(tx *gorm.DB, row *proxyRow, p *domainflow.Proxy) error {
	if err := tx.Create(row).Error; err != nil {
		return err
	}
	return db.audit(tx, domainflow.AuditProxyCreated, domainflow.ResourceProxy, p.ID.String(),
		map[string]any{"name": p.Name, "protocol": p.Protocol, "host": p.Host, "port": p.Port})
}

// newProxyRow fills in a new proxy's id, times and health and returns its
// row.
func (db *DB) newProxyRow(p *domainflow.Proxy) (proxyRow, error) {
	now := db.now()
	p.ID, p.CreatedAt, p.UpdatedAt = uuid.New(), now, now
	if p.Health == "" {
		p.Health = domainflow.HealthUnknown
	}
	return db.proxyRowOf(p)
}

// GetProxy returns the user's proxy, or ENOTFOUND.
func (db *DB) GetProxy(ctx context.Context, userID, id uuid.UUID) (*domainflow.Proxy, error) {
	return db.getProxy(db.gorm.WithContext(ctx), userID, id, false)
}

// getProxy reads the user's proxy in tx; with lock, on PostgreSQL, its row
// stays locked until tx ends (SQLite's write transactions are serial).
func (db *DB) getProxy(tx *gorm.DB, userID, id uuid.UUID, lock bool) (*domainflow.Proxy, error) {
	if lock && db.dialect == Postgres {
		tx = tx.Clauses(clause.Locking{Strength: "UPDATE"})
	}
	var row proxyRow
	err := tx.Where("id = ? AND user_id = ?", id, userID).Take(&row).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return nil, errProxyNotFound
	} else if err != nil {
		return nil, err
	}
	return db.toProxy(&row)
}

// ListProxies returns every proxy of the user, oldest first.
func (db *DB) ListProxies(ctx context.Context, userID uuid.UUID) ([]*domainflow.Proxy, error) {
	var rows []proxyRow
	if err := db.gorm.WithContext(ctx).Where("user_id = ?", userID).Order("created_at, id").Find(&rows).Error; err != nil {
		return nil, err
	}
	return db.toProxies(rows)
}

// UpdateProxy saves every field of the user's proxy p (read with GetProxy and
// changed by the caller) and bumps its update time. It is audited under the
// actor of ctx, with the names of the settings that changed (never their
// values: one may be the password).
func (db *DB) UpdateProxy(ctx context.Context, p *domainflow.Proxy) error {
	p.UpdatedAt = db.now()
	row, err := db.proxyRowOf(p)
	if err != nil {
		return err
	}
	return db.transaction(ctx, func(tx *gorm.DB) error {
		old, err := db.getProxy(tx, p.UserID, p.ID, true)
		if err != nil {
			return err
		}
		// The user's settings only: the health is the checks', and a check
		// that wrote it since the caller read the proxy must not be undone.
		// A proxy moved (protocol, host or port) forgets it: it has not been
		// checked where it now is.
		cols := []string{"name", "protocol", "host", "port", "username", "password", "enabled", "updated_at"}
		if old.Protocol != p.Protocol || old.Host != p.Host || old.Port != p.Port {
			p.Health, p.LatencyMS, p.LastCheckedAt, p.LastError = domainflow.HealthUnknown, nil, nil, ""
			row.Health, row.LatencyMS, row.LastCheckedAt, row.LastError = p.Health, nil, nil, ""
			cols = append(cols, "health", "latency_ms", "last_checked_at", "last_error")
		} else {
			p.Health, p.LatencyMS, p.LastCheckedAt, p.LastError = old.Health, old.LatencyMS, old.LastCheckedAt, old.LastError
		}
		if err := tx.Model(&proxyRow{}).Where("id = ? AND user_id = ?", p.ID, p.UserID).Select(cols).Updates(&row).Error; err != nil {
			return err
		}
		return db.audit(tx, domainflow.AuditProxyUpdated, domainflow.ResourceProxy, p.ID.String(),
			map[string]any{"fields": changedSettings(old, p)})
	})
}

// changedSettings names the settings of a proxy that differ between a and
// b (its health aside: that is the checks', not the user's).
func changedSettings(a, b *domainflow.Proxy) []string {
	changed := []string{}
	for _, f := range []struct {
		name string
		same bool
	}{
		{"name", a.Name == b.Name}, {"protocol", a.Protocol == b.Protocol}, {"host", a.Host == b.Host},
		{"port", a.Port == b.Port}, {"username", a.Username == b.Username}, {"password", a.Password == b.Password},
		{"enabled", a.Enabled == b.Enabled},
	} {
		if !f.same {
			changed = append(changed, f.name)
		}
	}
	return changed
}

// SetProxyHealth records the health a check of p found (p.Health,
// LatencyMS, LastCheckedAt, LastError) and writes nothing else, so an edit
// made while the check ran stays. It writes only while the proxy is still
// what was checked — same protocol, host, port and credentials — and
// reports whether it wrote: the health of a proxy moved (or deleted) during
// its check is not the health found. (The password is compared opened, in
// the transaction that writes: sealing the same password twice gives two
// different texts.)
func (db *DB) SetProxyHealth(ctx context.Context, p *domainflow.Proxy) (bool, error) {
	row := proxyRow{Health: p.Health, LatencyMS: p.LatencyMS, LastCheckedAt: p.LastCheckedAt, LastError: p.LastError, UpdatedAt: db.now()}
	wrote := false
	err := db.transaction(ctx, func(tx *gorm.DB) error {
		now, err := db.getProxy(tx, p.UserID, p.ID, true)
		if domainflow.ErrorCode(err) == domainflow.ENOTFOUND {
			return nil
		} else if err != nil {
			return err
		}
		if now.Protocol != p.Protocol || now.Host != p.Host || now.Port != p.Port || now.Username != p.Username || now.Password != p.Password {
			return nil
		}
		res := tx.Model(&proxyRow{}).Where("id = ? AND user_id = ?", p.ID, p.UserID).
			Select("health", "latency_ms", "last_checked_at", "last_error", "updated_at").
			Updates(&row)
		wrote = res.RowsAffected > 0
		return res.Error
	})
	if err != nil {
		return false, err
	}
	if wrote {
		p.UpdatedAt = row.UpdatedAt
	}
	return wrote, nil
}

// DeleteProxy deletes the user's proxy; it is audited under the actor of
// ctx.
func (db *DB) DeleteProxy(ctx context.Context, userID, id uuid.UUID) error {
	return db.transaction(ctx, func(tx *gorm.DB) error {
		var names []string
		if err := tx.Model(&proxyRow{}).Where("id = ? AND user_id = ?", id, userID).Pluck("name", &names).Error; err != nil {
			return err
		}
		res := tx.Where("id = ? AND user_id = ?", id, userID).Delete(&proxyRow{})
		if res.Error != nil {
			return res.Error
		}
		if res.RowsAffected == 0 || len(names) == 0 {
			return errProxyNotFound
		}
		return db.audit(tx, domainflow.AuditProxyDeleted, domainflow.ResourceProxy, id.String(), map[string]any{"name": names[0]})
	})
}

// MissingProxies returns those of ids that are not proxies of the user.
func (db *DB) MissingProxies(ctx context.Context, userID uuid.UUID, ids []uuid.UUID) ([]uuid.UUID, error) {
	if len(ids) == 0 {
		return nil, nil
	}
	var found []uuid.UUID
	if err := db.gorm.WithContext(ctx).Model(&proxyRow{}).Where("user_id = ? AND id IN ?", userID, ids).Pluck("id", &found).Error; err != nil {
		return nil, err
	}
	have := make(map[uuid.UUID]bool, len(found))
	for _, id := range found {
		have[id] = true
	}
	var missing []uuid.UUID
	for _, id := range ids {
		if !have[id] {
			missing = append(missing, id)
		}
	}
	return missing, nil
}

// EnabledProxies returns every enabled proxy of every user, for the
// background health check (which writes each back scoped to its owner).
func (db *DB) EnabledProxies(ctx context.Context) ([]*domainflow.Proxy, error) {
	var rows []proxyRow
	if err := db.gorm.WithContext(ctx).Where("enabled = ?", true).Order("id").Find(&rows).Error; err != nil {
		return nil, err
	}
	return db.toProxies(rows)
}
