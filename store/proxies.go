package store

import (
	"context"
	"errors"
	"time"

	"github.com/google/uuid"
	"gorm.io/gorm"

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

func (r *proxyRow) toDomain() *domainflow.Proxy {
	return &domainflow.Proxy{
		ID: r.ID, UserID: r.UserID, Name: r.Name, Protocol: r.Protocol, Host: r.Host, Port: r.Port,
		Username: r.Username, Password: r.Password, Enabled: r.Enabled, Health: r.Health,
		LatencyMS: r.LatencyMS, LastCheckedAt: utcPtr(r.LastCheckedAt), LastError: r.LastError,
		CreatedAt: r.CreatedAt.UTC(), UpdatedAt: r.UpdatedAt.UTC(),
	}
}

func proxyRowOf(p *domainflow.Proxy) proxyRow {
	return proxyRow{
		ID: p.ID, UserID: p.UserID, Name: p.Name, Protocol: p.Protocol, Host: p.Host, Port: p.Port,
		Username: p.Username, Password: p.Password, Enabled: p.Enabled, Health: p.Health,
		LatencyMS: p.LatencyMS, LastCheckedAt: p.LastCheckedAt, LastError: p.LastError,
		CreatedAt: p.CreatedAt, UpdatedAt: p.UpdatedAt,
	}
}

var errProxyNotFound = &domainflow.Error{Code: domainflow.ENOTFOUND, Message: "No such proxy."}

// CreateProxy stores a new proxy for p.UserID and fills in its id and times.
func (db *DB) CreateProxy(ctx context.Context, p *domainflow.Proxy) error {
	row := db.newProxyRow(p)
	return db.gorm.WithContext(ctx).Create(&row).Error
}

// newProxyRow fills in a new proxy's id, times and health and returns its
// row.
func (db *DB) newProxyRow(p *domainflow.Proxy) proxyRow {
	now := db.now()
	p.ID, p.CreatedAt, p.UpdatedAt = uuid.New(), now, now
	if p.Health == "" {
		p.Health = domainflow.HealthUnknown
	}
	return proxyRowOf(p)
}

// GetProxy returns the user's proxy, or ENOTFOUND.
func (db *DB) GetProxy(ctx context.Context, userID, id uuid.UUID) (*domainflow.Proxy, error) {
	var row proxyRow
	err := db.gorm.WithContext(ctx).Where("id = ? AND user_id = ?", id, userID).Take(&row).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return nil, errProxyNotFound
	} else if err != nil {
		return nil, err
	}
	return row.toDomain(), nil
}

// ListProxies returns every proxy of the user, oldest first.
func (db *DB) ListProxies(ctx context.Context, userID uuid.UUID) ([]*domainflow.Proxy, error) {
	var rows []proxyRow
	if err := db.gorm.WithContext(ctx).Where("user_id = ?", userID).Order("created_at, id").Find(&rows).Error; err != nil {
		return nil, err
	}
	out := make([]*domainflow.Proxy, len(rows))
	for i := range rows {
		out[i] = rows[i].toDomain()
	}
	return out, nil
}

// UpdateProxy saves every field of the user's proxy p (read with GetProxy and
// changed by the caller) and bumps its update time.
func (db *DB) UpdateProxy(ctx context.Context, p *domainflow.Proxy) error {
	p.UpdatedAt = db.now()
	row := proxyRowOf(p)
	res := db.gorm.WithContext(ctx).Model(&proxyRow{}).Where("id = ? AND user_id = ?", p.ID, p.UserID).
		Select("name", "protocol", "host", "port", "username", "password", "enabled", "health",
			"latency_ms", "last_checked_at", "last_error", "updated_at").
		Updates(&row)
	if res.Error != nil {
		return res.Error
	}
	if res.RowsAffected == 0 {
		return errProxyNotFound
	}
	return nil
}

// SetProxyHealth records the health a check of p found (p.Health,
// LatencyMS, LastCheckedAt, LastError) and writes nothing else, so an edit
// made while the check ran stays. It writes only while the proxy is still
// what was checked — same protocol, host, port and credentials — and
// reports whether it wrote: the health of a proxy moved (or deleted) during
// its check is not the health found.
func (db *DB) SetProxyHealth(ctx context.Context, p *domainflow.Proxy) (bool, error) {
	row := proxyRow{Health: p.Health, LatencyMS: p.LatencyMS, LastCheckedAt: p.LastCheckedAt, LastError: p.LastError, UpdatedAt: db.now()}
	res := db.gorm.WithContext(ctx).Model(&proxyRow{}).
		Where("id = ? AND user_id = ? AND protocol = ? AND host = ? AND port = ? AND username = ? AND password = ?",
			p.ID, p.UserID, p.Protocol, p.Host, p.Port, p.Username, p.Password).
		Select("health", "latency_ms", "last_checked_at", "last_error", "updated_at").
		Updates(&row)
	if res.Error != nil {
		return false, res.Error
	}
	if res.RowsAffected > 0 {
		p.UpdatedAt = row.UpdatedAt
	}
	return res.RowsAffected > 0, nil
}

// DeleteProxy deletes the user's proxy.
func (db *DB) DeleteProxy(ctx context.Context, userID, id uuid.UUID) error {
	res := db.gorm.WithContext(ctx).Where("id = ? AND user_id = ?", id, userID).Delete(&proxyRow{})
	if res.Error != nil {
		return res.Error
	}
	if res.RowsAffected == 0 {
		return errProxyNotFound
	}
	return nil
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
	out := make([]*domainflow.Proxy, len(rows))
	for i := range rows {
		out[i] = rows[i].toDomain()
	}
	return out, nil
}
