package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/google/uuid"
	"gorm.io/gorm"

	"github.com/domainflow/domainflow"
)

// insertBatch is how many rows go in one INSERT: 11 parameters a row stays
// well under both PostgreSQL's and SQLite's limits on bound parameters.
const insertBatch = 1000

const domainColumns = "offset_index, name, tld, generated_at, state, dns_state, http_state, lead_state, lead_score, dns_result, http_result"

// InsertDomains adds rows to the user's campaign and returns how many were
// new. A row whose (campaign, offset_index) already exists is left as it is,
// so a resumed run can never duplicate. The campaign's tallies and version
// move in the same transaction as the rows.
func (db *DB) InsertDomains(ctx context.Context, userID, campaignID uuid.UUID, domains []domainflow.Domain) (int64, error) {
	var inserted int64
	err := db.gorm.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		var delta domainflow.Counts
		for start := 0; start < len(domains); start += insertBatch {
			batch := domains[min(start, len(domains)):min(start+insertBatch, len(domains))]
			if err := insertDomainBatch(tx, campaignID, batch, &delta); err != nil {
				return err
			}
		}
		inserted = delta.Generated
		return applyCounts(tx, userID, campaignID, delta)
	})
	return inserted, err
}

func insertDomainBatch(tx *gorm.DB, campaignID uuid.UUID, batch []domainflow.Domain, delta *domainflow.Counts) error {
	var b strings.Builder
	b.WriteString("INSERT INTO domains (campaign_id, " + domainColumns + ") VALUES ")
	args := make([]any, 0, len(batch)*12)
	// As text: pgx would try (and fail) a binary uuid encoding of a
	// uuid.UUID for every row before falling back to text.
	campaignKey := campaignID.String()
	for i := range batch {
		d := &batch[i]
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString("(?,?,?,?,?,?,?,?,?,?,?,?)")
		dnsJSON, err := resultJSON(d.DNSResult)
		if err != nil {
			return err
		}
		httpJSON, err := resultJSON(d.HTTPResult)
		if err != nil {
			return err
		}
		args = append(args, campaignKey, d.OffsetIndex, d.Name, d.TLD, d.GeneratedAt.UTC(),
			d.State, d.DNSState, d.HTTPState, d.LeadState, d.LeadScore, dnsJSON, httpJSON)
	}
	b.WriteString(" ON CONFLICT (campaign_id, offset_index) DO NOTHING RETURNING state, dns_state, http_state, lead_state")
	rows, err := tx.Raw(b.String(), args...).Rows()
	if err != nil {
		return fmt.Errorf("insert domains: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var s, dns, http, lead domainflow.State
		if err := rows.Scan(&s, &dns, &http, &lead); err != nil {
			return err
		}
		tally(delta, s, dns, http, lead)
	}
	return rows.Err()
}

// tally adds one row's states to the campaign tallies.
func tally(c *domainflow.Counts, s, dns, http, lead domainflow.State) {
	c.Generated++
	switch s {
	case domainflow.StateValidated:
		c.Validated++
	case domainflow.StateFailed:
		c.Failed++
	}
	switch dns {
	case domainflow.StateValidated:
		c.DNSOK++
	case domainflow.StateFailed:
		c.DNSFailed++
	}
	switch http {
	case domainflow.StateValidated:
		c.HTTPOK++
	case domainflow.StateFailed:
		c.HTTPFailed++
	case domainflow.StateSkipped:
		c.HTTPSkipped++
	}
	switch lead {
	case domainflow.StateValidated:
		c.LeadMatch++
	case domainflow.StateFailed:
		c.LeadNoMatch++
	}
}

// applyCounts adds delta to the campaign's tallies and bumps its version; it
// fails with ENOTFOUND (rolling the transaction back) if the campaign is not
// the user's.
func applyCounts(tx *gorm.DB, userID, campaignID uuid.UUID, d domainflow.Counts) error {
	res := tx.Exec(`UPDATE campaigns SET
		domains_generated = domains_generated + ?, domains_validated = domains_validated + ?, domains_failed = domains_failed + ?,
		dns_ok = dns_ok + ?, dns_failed = dns_failed + ?,
		http_ok = http_ok + ?, http_failed = http_failed + ?, http_skipped = http_skipped + ?,
		lead_match = lead_match + ?, lead_no_match = lead_no_match + ?,
		version = version + 1, updated_at = ?
		WHERE id = ? AND user_id = ?`,
		d.Generated, d.Validated, d.Failed, d.DNSOK, d.DNSFailed, d.HTTPOK, d.HTTPFailed, d.HTTPSkipped,
		d.LeadMatch, d.LeadNoMatch, tx.NowFunc(), campaignID, userID)
	if res.Error != nil {
		return res.Error
	}
	if res.RowsAffected == 0 {
		return errCampaignNotFound
	}
	return nil
}

func resultJSON(v any) (any, error) {
	switch r := v.(type) {
	case nil:
		return nil, nil
	case *domainflow.DNSResult:
		if r == nil {
			return nil, nil
		}
	case *domainflow.HTTPResult:
		if r == nil {
			return nil, nil
		}
	}
	b, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	return string(b), nil
}

// ListDomains returns one page of the user's campaign's domains in
// offset_index order. The caller passes the campaign (already read for the
// same user) so that totals come from its tallies instead of a count; only a
// search text makes the store count rows.
func (db *DB) ListDomains(ctx context.Context, userID uuid.UUID, c *domainflow.Campaign, f domainflow.DomainFilter, p domainflow.PageRequest) (*domainflow.DomainPage, error) {
	where, args := domainWhere(userID, c.ID, f)
	page := &domainflow.DomainPage{Items: make([]domainflow.Domain, 0, p.Limit), Total: c.Counts.Matching(f)}
	if f.Q != "" {
		if err := db.gorm.WithContext(ctx).Raw("SELECT count(*) FROM domains WHERE "+where, args...).Scan(&page.Total).Error; err != nil {
			return nil, fmt.Errorf("count domains: %w", err)
		}
	}

	query := "SELECT " + domainColumns + " FROM domains WHERE " + where
	args = args[:len(args):len(args)] // appends below must not share the count's array
	if p.After >= 0 {
		query += " AND offset_index > ?"
		args = append(args, p.After)
	}
	query += " ORDER BY offset_index LIMIT ?"
	args = append(args, p.Limit+1)
	if p.After < 0 && p.Offset > 0 {
		query += " OFFSET ?"
		args = append(args, p.Offset)
	}
	rows, err := db.gorm.WithContext(ctx).Raw(query, args...).Rows()
	if err != nil {
		return nil, fmt.Errorf("list domains: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		d, err := scanDomain(rows)
		if err != nil {
			return nil, err
		}
		d.CampaignID = c.ID
		page.Items = append(page.Items, d)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	if len(page.Items) > p.Limit {
		page.Items, page.HasMore = page.Items[:p.Limit], true
	}
	return page, nil
}

// domainWhere builds the filter of a campaign's domains. The campaign id is
// taken from a subquery on the owner, so another user's campaign yields no
// rows whatever the caller did before.
func domainWhere(userID, campaignID uuid.UUID, f domainflow.DomainFilter) (string, []any) {
	where := "campaign_id = (SELECT id FROM campaigns WHERE id = ? AND user_id = ?)"
	args := []any{campaignID, userID}
	if column, state, ok := f.StateWanted(); ok {
		where += " AND " + column + " = ?"
		args = append(args, state)
	}
	if f.Q != "" {
		where += ` AND name LIKE ? ESCAPE '\'`
		args = append(args, "%"+likeEscaper.Replace(strings.ToLower(f.Q))+"%")
	}
	return where, args
}

var likeEscaper = strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`)

func scanDomain(rows *sql.Rows) (domainflow.Domain, error) {
	var d domainflow.Domain
	var dnsJSON, httpJSON []byte
	if err := rows.Scan(&d.OffsetIndex, &d.Name, &d.TLD, &d.GeneratedAt, &d.State, &d.DNSState,
		&d.HTTPState, &d.LeadState, &d.LeadScore, &dnsJSON, &httpJSON); err != nil {
		return d, err
	}
	d.GeneratedAt = d.GeneratedAt.UTC()
	var err error
	if d.DNSResult, err = decodeResult[domainflow.DNSResult](dnsJSON); err != nil {
		return d, fmt.Errorf("domain %d: dns_result: %w", d.OffsetIndex, err)
	}
	if d.HTTPResult, err = decodeResult[domainflow.HTTPResult](httpJSON); err != nil {
		return d, fmt.Errorf("domain %d: http_result: %w", d.OffsetIndex, err)
	}
	return d, nil
}
