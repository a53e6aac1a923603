package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"gorm.io/gorm"

	"github.com/domainflow/domainflow"
)

type campaignRow struct {
	ID           uuid.UUID `gorm:"primaryKey"`
	UserID       uuid.UUID
	Name         string
	Description  string
	Status       string
	CurrentPhase string
	Config       string
	TotalDomains int64
	Error        string
	Version      int64

	DomainsGenerated int64
	DomainsValidated int64
	DomainsFailed    int64
	DNSOK            int64 `gorm:"column:dns_ok"`
	DNSFailed        int64 `gorm:"column:dns_failed"`
	HTTPOK           int64 `gorm:"column:http_ok"`
	HTTPFailed       int64 `gorm:"column:http_failed"`
	HTTPSkipped      int64 `gorm:"column:http_skipped"`
	LeadMatch        int64
	LeadNoMatch      int64
	DNSWildcard      int64 `gorm:"column:dns_wildcard"`
	DNSUnresolved    int64 `gorm:"column:dns_unresolved"`

	Wildcards *string // JSON; NULL until looked for
	Resolvers *string // JSON
	Warnings  *string // JSON

	CreatedAt    time.Time
	UpdatedAt    time.Time
	StartedAt    *time.Time
	CompletedAt  *time.Time
	StalledSince *time.Time
}

func (campaignRow) TableName() string { return "campaigns" }

func (r *campaignRow) toDomain() (*domainflow.Campaign, error) {
	c := &domainflow.Campaign{
		ID: r.ID, UserID: r.UserID, Name: r.Name, Description: r.Description,
		Status: domainflow.CampaignStatus(r.Status), CurrentPhase: domainflow.Phase(r.CurrentPhase),
		TotalDomains: r.TotalDomains, Error: r.Error, Version: r.Version,
		CreatedAt: r.CreatedAt.UTC(), UpdatedAt: r.UpdatedAt.UTC(),
		StartedAt: utcPtr(r.StartedAt), CompletedAt: utcPtr(r.CompletedAt), StalledSince: utcPtr(r.StalledSince),
		Counts: domainflow.Counts{
			Generated: r.DomainsGenerated, Validated: r.DomainsValidated, Failed: r.DomainsFailed,
			DNSOK: r.DNSOK, DNSFailed: r.DNSFailed,
			HTTPOK: r.HTTPOK, HTTPFailed: r.HTTPFailed, HTTPSkipped: r.HTTPSkipped,
			LeadMatch: r.LeadMatch, LeadNoMatch: r.LeadNoMatch,
			DNSWildcard: r.DNSWildcard, DNSUnresolved: r.DNSUnresolved,
		},
	}
	if err := json.Unmarshal([]byte(r.Config), &c.Config); err != nil {
		return nil, fmt.Errorf("campaign %s: config: %w", r.ID, err)
	}
	for _, f := range []struct {
		name string
		raw  *string
		dst  any
	}{{"wildcards", r.Wildcards, &c.Wildcards}, {"resolvers", r.Resolvers, &c.Resolvers}, {"warnings", r.Warnings, &c.Warnings}} {
		if f.raw == nil {
			continue
		}
		if err := json.Unmarshal([]byte(*f.raw), f.dst); err != nil {
			return nil, fmt.Errorf("campaign %s: %s: %w", r.ID, f.name, err)
		}
	}
	if r.Wildcards != nil && c.Wildcards == nil {
		c.Wildcards = []domainflow.WildcardZone{} // looked for, none found
	}
	c.Config.Normalize()
	return c, nil
}

func utcPtr(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	u := t.UTC()
	return &u
}

var errCampaignNotFound = &domainflow.Error{Code: domainflow.ENOTFOUND, Message: "No such campaign."}

// CreateCampaign stores a new campaign for c.UserID and fills in its id,
// version and timestamps; it is audited under the actor of ctx.
func (db *DB) CreateCampaign(ctx context.Context, c *domainflow.Campaign) error {
	row, err := db.newCampaignRow(c)
	if err != nil {
		return err
	}
	return db.transaction(ctx, func(tx *gorm.DB) error { return db.insertCampaign(tx, &row, c) })
}

// insertCampaign stores a new campaign's row and its audit event in tx.
func (db *DB) insertCampaign(tx *gorm.DB, row *campaignRow, c *domainflow.Campaign) error {
	if err := tx.Create(row).Error; err != nil {
		return err
	}
	return db.audit(tx, domainflow.AuditCampaignCreated, domainflow.ResourceCampaign, c.ID.String(),
		map[string]any{"name": c.Name, "total_domains": c.TotalDomains})
}

// newCampaignRow fills in a new campaign's id, version and timestamps and
// returns its row.
func (db *DB) newCampaignRow(c *domainflow.Campaign) (campaignRow, error) {
	cfg, err := json.Marshal(c.Config)
	if err != nil {
		return campaignRow{}, err
	}
	now := db.now()
	c.ID, c.Version, c.CreatedAt, c.UpdatedAt = uuid.New(), 1, now, now
	return campaignRow{
		ID: c.ID, UserID: c.UserID, Name: c.Name, Description: c.Description,
		Status: string(c.Status), CurrentPhase: string(c.CurrentPhase), Config: string(cfg),
		TotalDomains: c.TotalDomains, Version: 1, CreatedAt: now, UpdatedAt: now,
	}, nil
}

// GetCampaign returns the user's campaign, or ENOTFOUND if it does not exist
// or belongs to someone else.
func (db *DB) GetCampaign(ctx context.Context, userID, id uuid.UUID) (*domainflow.Campaign, error) {
	return getCampaign(db.gorm.WithContext(ctx), userID, id)
}

func getCampaign(tx *gorm.DB, userID, id uuid.UUID) (*domainflow.Campaign, error) {
	var row campaignRow
	err := tx.Where("id = ? AND user_id = ?", id, userID).Take(&row).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return nil, errCampaignNotFound
	} else if err != nil {
		return nil, err
	}
	return row.toDomain()
}

// CampaignVersion returns the version of the user's campaign, or ENOTFOUND:
// all a conditional GET of its pages needs to answer 304.
func (db *DB) CampaignVersion(ctx context.Context, userID, id uuid.UUID) (int64, error) {
	var versions []int64
	err := db.gorm.WithContext(ctx).Model(&campaignRow{}).Where("id = ? AND user_id = ?", id, userID).Pluck("version", &versions).Error
	if err != nil {
		return 0, err
	}
	if len(versions) == 0 {
		return 0, errCampaignNotFound
	}
	return versions[0], nil
}

// ListCampaigns reads a page of the user's campaigns, newest first, with how
// many there are in all and the list's state (CampaignListState), in one
// snapshot. An empty status lists every status.
func (db *DB) ListCampaigns(ctx context.Context, userID uuid.UUID, status string, limit int, offset int64) (*domainflow.CampaignPage, error) {
	page := &domainflow.CampaignPage{}
	err := db.snapshot(ctx, func(tx *gorm.DB) error {
		var err error
		if page.Total, page.State, err = listState(tx, userID, status); err != nil {
			return err
		}
		var rows []campaignRow
		if err := campaignsOf(tx, userID, status).Order("created_at DESC, id DESC").Limit(limit).Offset(int(offset)).Find(&rows).Error; err != nil {
			return err
		}
		page.Items, err = toCampaigns(rows)
		return err
	})
	if err != nil {
		return nil, err
	}
	return page, nil
}

func toCampaigns(rows []campaignRow) ([]*domainflow.Campaign, error) {
	out := make([]*domainflow.Campaign, 0, len(rows))
	for i := range rows {
		c, err := rows[i].toDomain()
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, nil
}

// DeleteCampaign deletes the user's campaign and, by cascade, its domains;
// it is audited under the actor of ctx.
func (db *DB) DeleteCampaign(ctx context.Context, userID, id uuid.UUID) error {
	return db.transaction(ctx, func(tx *gorm.DB) error {
		var names []string
		if err := tx.Model(&campaignRow{}).Where("id = ? AND user_id = ?", id, userID).Pluck("name", &names).Error; err != nil {
			return err
		}
		res := tx.Where("id = ? AND user_id = ?", id, userID).Delete(&campaignRow{})
		if res.Error != nil {
			return res.Error
		}
		if res.RowsAffected == 0 || len(names) == 0 {
			return errCampaignNotFound
		}
		return db.audit(tx, domainflow.AuditCampaignDeleted, domainflow.ResourceCampaign, id.String(), map[string]any{"name": names[0]})
	})
}

// ActiveCampaigns returns the user's queued and running campaigns, for the
// state a new WebSocket connection receives first.
func (db *DB) ActiveCampaigns(ctx context.Context, userID uuid.UUID) ([]*domainflow.Campaign, error) {
	var rows []campaignRow
	err := db.gorm.WithContext(ctx).Where("user_id = ? AND status IN ?", userID,
		[]string{string(domainflow.StatusQueued), string(domainflow.StatusRunning)}).Order("created_at, id").Find(&rows).Error
	if err != nil {
		return nil, err
	}
	return toCampaigns(rows)
}

// CampaignListState is what changes whenever the user's list of campaigns
// (with a status filter, or all) changes: how many there are, the sum of
// their versions (any change to one moves it) and the latest update (a
// delete and a create that leave the count and sum alone still move it).
// ETags of the list are made of it, at the cost of one indexed aggregate.
func (db *DB) CampaignListState(ctx context.Context, userID uuid.UUID, status string) (string, error) {
	_, state, err := listState(db.gorm.WithContext(ctx), userID, status)
	return state, err
}

// campaignsOf selects the user's campaigns of a status ("" for all).
func campaignsOf(tx *gorm.DB, userID uuid.UUID, status string) *gorm.DB {
	q := tx.Model(&campaignRow{}).Where("user_id = ?", userID)
	if status != "" {
		q = q.Where("status = ?", status)
	}
	return q
}

// listState returns how many campaigns the list has and its state.
func listState(tx *gorm.DB, userID uuid.UUID, status string) (int64, string, error) {
	var st struct {
		N       int64
		Sum     int64
		Updated *string // as text: SQLite gives an aggregate of times no type
	}
	if err := campaignsOf(tx, userID, status).Select("count(*) AS n, COALESCE(sum(version), 0) AS sum, max(updated_at) AS updated").Scan(&st).Error; err != nil {
		return 0, "", err
	}
	updated := ""
	if st.Updated != nil {
		updated = *st.Updated
	}
	return st.N, fmt.Sprintf("%d.%d.%s", st.N, st.Sum, updated), nil
}
