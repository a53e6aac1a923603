package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"
	"gorm.io/gorm"

	"github.com/domainflow/domainflow"
)

// insertBatch is how many rows go in one INSERT: 11 parameters a row stays
// well under both PostgreSQL's and SQLite's limits on bound parameters.
const insertBatch = 1000

const domainColumns = "offset_index, name, tld, generated_at, state, dns_state, http_state, lead_state, lead_score, dns_result, http_result"

// selectColumns are what a page reads: the inserted columns and what
// analysis wrote.
const selectColumns = domainColumns + ", lead_result"

// InsertDomains adds rows to the user's campaign and returns how many were
// new, with the campaign as that write committed it (nil when none was). A
// row whose (campaign, offset_index) already exists is left as it is, so a
// resumed run can never duplicate. The campaign's tallies and version move in the same transaction
// as the rows. A campaign that was stopped takes nothing: ErrStopped.
func (db *DB) InsertDomains(ctx context.Context, userID, campaignID uuid.UUID, domains []domainflow.Domain) (int64, *domainflow.Campaign, error) {
	var inserted int64
	var c *domainflow.Campaign
	err := db.transaction(ctx, func(tx *gorm.DB) error {
		if err := db.lockWritable(tx, userID, campaignID); err != nil {
			return err
		}
		var delta domainflow.Counts
		size := insertBatch
		if db.dialect == Postgres {
			size = 10 * insertBatch // arrays: no limit on parameters to respect
		}
		for start := 0; start < len(domains); start += size {
			batch := domains[start:min(start+size, len(domains))]
			if err := db.insertDomainBatch(tx, campaignID, batch, &delta); err != nil {
				return err
			}
		}
		inserted = delta.Generated
		var err error
		c, err = applyCounts(tx, userID, campaignID, delta, inserted > 0)
		return err
	})
	if err != nil {
		return 0, nil, err
	}
	return inserted, c, nil
}

func (db *DB) insertDomainBatch(tx *gorm.DB, campaignID uuid.UUID, batch []domainflow.Domain, delta *domainflow.Counts) error {
	var rows *sql.Rows
	var err error
	if db.dialect == Postgres {
		rows, err = insertUnnest(tx, campaignID, batch)
	} else {
		rows, err = insertValues(tx, campaignID, batch)
	}
	if err != nil {
		return fmt.Errorf("insert domains: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var s domainflow.States
		if err := rows.Scan(&s.Overall, &s.DNS, &s.HTTP, &s.Lead); err != nil {
			return err
		}
		delta.Insert(s)
	}
	return rows.Err()
}

const insertReturning = " ON CONFLICT (campaign_id, offset_index) DO NOTHING RETURNING state, dns_state, http_state, lead_state"

// insertValues is a multi-row INSERT: SQLite's fastest way in.
func insertValues(tx *gorm.DB, campaignID uuid.UUID, batch []domainflow.Domain) (*sql.Rows, error) {
	var b strings.Builder
	b.WriteString("INSERT INTO domains (campaign_id, " + domainColumns + ") VALUES ")
	args := make([]any, 0, len(batch)*12)
	campaignKey := campaignID.String()
	for i := range batch {
		d := &batch[i]
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString("(?,?,?,?,?,?,?,?,?,?,?,?)")
		dnsJSON, err := resultJSON(d.DNSResult)
		if err != nil {
			return nil, err
		}
		httpJSON, err := resultJSON(d.HTTPResult)
		if err != nil {
			return nil, err
		}
		args = append(args, campaignKey, d.OffsetIndex, d.Name, d.TLD, d.GeneratedAt.UTC(),
			d.State, d.DNSState, d.HTTPState, d.LeadState, d.LeadScore, dnsJSON, httpJSON)
	}
	b.WriteString(insertReturning)
	return tx.Raw(b.String(), args...).Rows()
}

// insertUnnest sends each column as one PostgreSQL array: one statement of
// twelve parameters instead of twelve parameters a row, which is most of
// what separates a multi-row INSERT from COPY (and unlike COPY it can skip
// rows that exist).
func insertUnnest(tx *gorm.DB, campaignID uuid.UUID, batch []domainflow.Domain) (*sql.Rows, error) {
	n := len(batch)
	offsets, names, tlds := make([]int64, n), make([]string, n), make([]string, n)
	times := make([]time.Time, n)
	states, dnsStates, httpStates, leadStates, scores := make([]int16, n), make([]int16, n), make([]int16, n), make([]int16, n), make([]int16, n)
	dnsResults, httpResults := make([]*string, n), make([]*string, n)
	for i := range batch {
		d := &batch[i]
		offsets[i], names[i], tlds[i], times[i] = d.OffsetIndex, d.Name, d.TLD, d.GeneratedAt.UTC()
		states[i], dnsStates[i], httpStates[i], leadStates[i] = int16(d.State), int16(d.DNSState), int16(d.HTTPState), int16(d.LeadState)
		scores[i] = int16(d.LeadScore)
		for _, r := range []struct {
			v   any
			dst **string
		}{{d.DNSResult, &dnsResults[i]}, {d.HTTPResult, &httpResults[i]}} {
			j, err := resultJSON(r.v)
			if err != nil {
				return nil, err
			}
			if j != nil {
				js := j.(string)
				*r.dst = &js
			}
		}
	}
	// GORM would spread slice arguments into lists: the arrays go to the
	// transaction's database/sql handle as they are.
	conn, ok := tx.Statement.ConnPool.(interface {
		QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	})
	if !ok {
		return nil, fmt.Errorf("unexpected connection type %T", tx.Statement.ConnPool)
	}
	return conn.QueryContext(tx.Statement.Context, `INSERT INTO domains (campaign_id, `+domainColumns+`)
		SELECT $1::uuid, o, n, t, g, s, ds, hs, ls, sc, dr::jsonb, hr::jsonb
		FROM unnest($2::bigint[], $3::text[], $4::text[], $5::timestamptz[], $6::smallint[], $7::smallint[],
			$8::smallint[], $9::smallint[], $10::smallint[], $11::text[], $12::text[])
			AS u(o, n, t, g, s, ds, hs, ls, sc, dr, hr)`+insertReturning,
		campaignID.String(), offsets, names, tlds, times, states, dnsStates, httpStates, leadStates, scores, dnsResults, httpResults)
}

// lockWritable begins a write of the campaign's domain data: it checks that
// the campaign is the user's (ENOTFOUND) and still takes writes (ErrStopped),
// and on PostgreSQL locks its row until the transaction ends. So a pause or
// cancel either waits for the write and answers with it counted, or commits
// first and nothing is written after it: "paused" means no more changes.
// SQLite's write transactions are serial already (_txlock=immediate).
func (db *DB) lockWritable(tx *gorm.DB, userID, campaignID uuid.UUID) error {
	q := "SELECT status FROM campaigns WHERE id = ? AND user_id = ?"
	if db.dialect == Postgres {
		q += " FOR UPDATE"
	}
	var status []string
	if err := tx.Raw(q, campaignID, userID).Scan(&status).Error; err != nil {
		return err
	}
	switch {
	case len(status) == 0:
		return errCampaignNotFound
	case !domainflow.CampaignStatus(status[0]).Writable():
		return domainflow.ErrStopped
	}
	return nil
}

// applyCounts adds delta to the campaign's tallies and bumps its version
// when any row changed (a row may change without moving a tally: a name
// waiting for its next DNS pass), and returns the campaign as the
// transaction leaves it — what an event about this write may say — in the
// same statement. Nothing written (a repeated step) leaves the campaign, its
// version and with it every ETag as they were, and returns nil: there is
// nothing to announce. The caller proved ownership (lockWritable).
func applyCounts(tx *gorm.DB, userID, campaignID uuid.UUID, d domainflow.Counts, changed bool) (*domainflow.Campaign, error) {
	if !changed && d == (domainflow.Counts{}) {
		return nil, nil
	}
	var rows []campaignRow
	err := tx.Raw(`UPDATE campaigns SET
		domains_generated = domains_generated + ?, domains_validated = domains_validated + ?, domains_failed = domains_failed + ?,
		dns_ok = dns_ok + ?, dns_failed = dns_failed + ?,
		http_ok = http_ok + ?, http_failed = http_failed + ?, http_skipped = http_skipped + ?,
		lead_match = lead_match + ?, lead_no_match = lead_no_match + ?,
		dns_wildcard = dns_wildcard + ?, dns_unresolved = dns_unresolved + ?,
		version = version + 1, updated_at = ?
		WHERE id = ? AND user_id = ? RETURNING *`,
		d.Generated, d.Validated, d.Failed, d.DNSOK, d.DNSFailed, d.HTTPOK, d.HTTPFailed, d.HTTPSkipped,
		d.LeadMatch, d.LeadNoMatch, d.DNSWildcard, d.DNSUnresolved, tx.NowFunc(), campaignID, userID).Scan(&rows).Error
	if err != nil {
		return nil, err
	}
	if len(rows) == 0 {
		return nil, errCampaignNotFound
	}
	return rows[0].toDomain()
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
	case *domainflow.LeadResult:
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

// ListDomains reads the user's campaign and one page of its domains, in
// offset_index order, in one snapshot: the page carries the campaign as it
// was when its rows were read, so the campaign's version (the page's ETag)
// and tallies (its total) are those of the rows. A campaign that does not
// exist or is another user's is ENOTFOUND.
func (db *DB) ListDomains(ctx context.Context, userID, campaignID uuid.UUID, f domainflow.DomainFilter, p domainflow.PageRequest) (*domainflow.DomainPage, error) {
	pages, err := db.DomainPages(ctx, userID, []uuid.UUID{campaignID}, f, p)
	if err != nil {
		return nil, err
	}
	if len(pages) == 0 {
		return nil, errCampaignNotFound
	}
	return pages[0], nil
}

// DomainPages is ListDomains for several campaigns at once, all read in the
// same snapshot: a page for each of ids that is the user's campaign, in no
// particular order.
func (db *DB) DomainPages(ctx context.Context, userID uuid.UUID, ids []uuid.UUID, f domainflow.DomainFilter, p domainflow.PageRequest) ([]*domainflow.DomainPage, error) {
	var pages []*domainflow.DomainPage
	err := db.snapshot(ctx, func(tx *gorm.DB) error {
		var rows []campaignRow
		if err := tx.Where("user_id = ? AND id IN ?", userID, ids).Find(&rows).Error; err != nil {
			return err
		}
		pages = make([]*domainflow.DomainPage, 0, len(rows))
		for i := range rows {
			c, err := rows[i].toDomain()
			if err != nil {
				return err
			}
			page, err := listDomains(tx, userID, c, f, p)
			if err != nil {
				return err
			}
			pages = append(pages, page)
		}
		return nil
	})
	return pages, err
}

// listDomains reads a page of the campaign's domains in tx, the snapshot the
// campaign was read in. Totals come from the campaign's tallies instead of a
// count; only a search text makes it count rows.
func listDomains(tx *gorm.DB, userID uuid.UUID, c *domainflow.Campaign, f domainflow.DomainFilter, p domainflow.PageRequest) (*domainflow.DomainPage, error) {
	where, args := domainWhere(userID, c.ID, f)
	page := &domainflow.DomainPage{Campaign: c, Items: make([]domainflow.Domain, 0, p.Limit), Total: c.Counts.Matching(f)}
	if f.Q != "" {
		if err := tx.Raw("SELECT count(*) FROM domains WHERE "+where, args...).Scan(&page.Total).Error; err != nil {
			return nil, fmt.Errorf("count domains: %w", err)
		}
	}

	query := "SELECT " + selectColumns + " FROM domains WHERE " + where
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
	rows, err := tx.Raw(query, args...).Rows()
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
	if phase, state, ok := f.StateWanted(); ok {
		where += " AND " + stateColumn[phase] + " = ?"
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
	var dnsJSON, httpJSON, leadJSON []byte
	if err := rows.Scan(&d.OffsetIndex, &d.Name, &d.TLD, &d.GeneratedAt, &d.State, &d.DNSState,
		&d.HTTPState, &d.LeadState, &d.LeadScore, &dnsJSON, &httpJSON, &leadJSON); err != nil {
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
	if d.LeadResult, err = decodeResult[domainflow.LeadResult](leadJSON); err != nil {
		return d, fmt.Errorf("domain %d: lead_result: %w", d.OffsetIndex, err)
	}
	return d, nil
}
