package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	"github.com/google/uuid"
	"gorm.io/gorm"

	"github.com/domainflow/domainflow"
)

// Transition moves the user's campaign to status `to` if its status is one of
// `from`, and returns the campaign as it now is. A campaign in another status
// is an ECONFLICT naming the action; a missing one ENOTFOUND. A move is
// audited under the actor of ctx.
func (db *DB) Transition(ctx context.Context, userID, id uuid.UUID, action domainflow.Action) (*domainflow.Campaign, error) {
	var c *domainflow.Campaign
	err := db.transaction(ctx, func(tx *gorm.DB) error {
		var err error
		c, err = db.transition(tx, userID, id, action)
		return err
	})
	return c, err
}

// transition is Transition in the transaction tx (the move and its audit
// event commit together).
func (db *DB) transition(tx *gorm.DB, userID, id uuid.UUID, action domainflow.Action) (*domainflow.Campaign, error) {
	from, to := domainflow.Transition(action)
	now := db.now()
	// A campaign that stops waiting for an instance is no longer stalled.
	updates := map[string]any{"status": string(to), "version": gorm.Expr("version + 1"), "updated_at": now, "stalled_since": nil}
	if to == domainflow.StatusCancelled {
		updates["completed_at"] = now
	}
	res := tx.Model(&campaignRow{}).
		Where("id = ? AND user_id = ? AND status IN ?", id, userID, statusStrings(from)).Updates(updates)
	if res.Error != nil {
		return nil, res.Error
	}
	moved := res.RowsAffected > 0
	if moved {
		if err := db.audit(tx, domainflow.AuditAction(action), domainflow.ResourceCampaign, id.String(), map[string]any{"status": string(to)}); err != nil {
			return nil, err
		}
	}
	c, err := getCampaign(tx, userID, id)
	if err != nil {
		return nil, err
	}
	if !moved {
		return nil, domainflow.IllegalTransition(action, c.Status)
	}
	return c, nil
}

func statusStrings(s []domainflow.CampaignStatus) []string {
	out := make([]string, len(s))
	for i, v := range s {
		out[i] = string(v)
	}
	return out
}

// Advance records the engine's move of a campaign, only while the campaign
// is in one of `from` (so a pause or cancel made meanwhile wins). It reports
// whether the campaign moved.
func (db *DB) Advance(ctx context.Context, userID, id uuid.UUID, from []domainflow.CampaignStatus, p domainflow.CampaignMove) (bool, error) {
	now := db.now()
	updates := map[string]any{"version": gorm.Expr("version + 1"), "updated_at": now}
	if p.Status != "" {
		updates["status"] = string(p.Status)
		updates["stalled_since"] = nil
		if p.Status == domainflow.StatusRunning {
			updates["started_at"] = gorm.Expr("COALESCE(started_at, ?)", now)
		}
		if p.Status.Ended() {
			updates["completed_at"] = now
		}
	}
	if p.CurrentPhase != "" {
		updates["current_phase"] = string(p.CurrentPhase)
	}
	if p.Error != "" {
		updates["error"] = p.Error
	}
	if p.Warnings != nil {
		b, err := json.Marshal(p.Warnings)
		if err != nil {
			return false, err
		}
		updates["warnings"] = string(b)
	}
	res := db.gorm.WithContext(ctx).Model(&campaignRow{}).
		Where("id = ? AND user_id = ? AND status IN ?", id, userID, statusStrings(from)).Updates(updates)
	return res.RowsAffected > 0, res.Error
}

// SetWildcards records the zones found to answer every name (an empty list:
// looked for, none found) and the resolvers as found before the DNS phase.
// It bumps the campaign's version: the campaign changed.
func (db *DB) SetWildcards(ctx context.Context, userID, id uuid.UUID, zones []domainflow.WildcardZone, resolvers []domainflow.ResolverStats) error {
	if zones == nil {
		zones = []domainflow.WildcardZone{}
	}
	wz, err := json.Marshal(zones)
	if err != nil {
		return err
	}
	rs, err := json.Marshal(resolvers)
	if err != nil {
		return err
	}
	res := db.gorm.WithContext(ctx).Model(&campaignRow{}).
		Where("id = ? AND user_id = ? AND status IN ?", id, userID, statusStrings(domainflow.WritableStatuses)).
		Updates(map[string]any{"wildcards": string(wz), "resolvers": string(rs), "version": gorm.Expr("version + 1"), "updated_at": db.now()})
	if res.Error != nil {
		return res.Error
	}
	if res.RowsAffected == 0 {
		if _, err := db.GetCampaign(ctx, userID, id); err != nil {
			return err
		}
		return domainflow.ErrStopped
	}
	return nil
}

// SaveResolvers records the figures of the campaign's resolvers. They are
// not domain data: the campaign's version (its ETags) stays.
func (db *DB) SaveResolvers(ctx context.Context, userID, id uuid.UUID, resolvers []domainflow.ResolverStats) error {
	rs, err := json.Marshal(resolvers)
	if err != nil {
		return err
	}
	res := db.gorm.WithContext(ctx).Model(&campaignRow{}).Where("id = ? AND user_id = ?", id, userID).
		UpdateColumn("resolvers", string(rs))
	if res.Error != nil {
		return res.Error
	}
	if res.RowsAffected == 0 {
		return errCampaignNotFound
	}
	return nil
}

// stateColumn is the column of each state: the overall one under "".
var stateColumn = map[domainflow.Phase]string{
	"":                       "state",
	domainflow.PhaseDNS:      "dns_state",
	domainflow.PhaseHTTP:     "http_state",
	domainflow.PhaseAnalysis: "lead_state",
}

// stateIs is the SQL condition that a row's state in phase ("" overall) is
// one of states.
func stateIs(phase domainflow.Phase, states ...domainflow.State) string {
	if len(states) == 1 {
		return fmt.Sprintf("%s = %d", stateColumn[phase], states[0])
	}
	in := make([]string, len(states))
	for i, st := range states {
		in[i] = strconv.Itoa(int(st))
	}
	return fmt.Sprintf("%s IN (%s)", stateColumn[phase], strings.Join(in, ", "))
}

// pendingWhere selects the rows a phase still has to process: the SQL of
// domainflow.States.PendingIn.
var pendingWhere = map[domainflow.Phase]string{
	domainflow.PhaseDNS:      stateIs(domainflow.PhaseDNS, domainflow.StatePending),
	domainflow.PhaseHTTP:     stateIs(domainflow.PhaseHTTP, domainflow.StatePending) + " AND " + stateIs(domainflow.PhaseDNS, domainflow.StateValidated),
	domainflow.PhaseAnalysis: stateIs(domainflow.PhaseAnalysis, domainflow.StatePending) + " AND " + stateIs(domainflow.PhaseHTTP, domainflow.StateValidated, domainflow.StateFailed),
}

// PendingWork returns up to limit domains of the user's campaign that the
// phase has not processed, in offset_index order, after offset_index `after`
// (-1 for the start). A caller going through a phase passes the last index
// it got, so no query walks again over the rows already done.
func (db *DB) PendingWork(ctx context.Context, userID, campaignID uuid.UUID, phase domainflow.Phase, after int64, limit int) ([]domainflow.PendingDomain, error) {
	where, ok := pendingWhere[phase]
	if !ok {
		return nil, fmt.Errorf("no pending work in phase %q", phase)
	}
	rows, err := db.gorm.WithContext(ctx).Raw(
		"SELECT offset_index, name, state, dns_state, http_state, lead_state, dns_result, http_result FROM domains WHERE campaign_id = (SELECT id FROM campaigns WHERE id = ? AND user_id = ?) AND "+
			where+" AND offset_index > ? ORDER BY offset_index LIMIT ?", campaignID, userID, after, limit).Rows()
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []domainflow.PendingDomain
	for rows.Next() {
		var w domainflow.PendingDomain
		var dnsJSON, httpJSON []byte
		st := &w.States
		if err := rows.Scan(&w.OffsetIndex, &w.Name, &st.Overall, &st.DNS, &st.HTTP, &st.Lead, &dnsJSON, &httpJSON); err != nil {
			return nil, err
		}
		if w.DNSResult, err = decodeResult[domainflow.DNSResult](dnsJSON); err != nil {
			return nil, err
		}
		if w.HTTPResult, err = decodeResult[domainflow.HTTPResult](httpJSON); err != nil {
			return nil, err
		}
		out = append(out, w)
	}
	return out, rows.Err()
}

// pendingState is StatePending as SQL: the guard of every result write.
var pendingState = strconv.Itoa(int(domainflow.StatePending))

// phaseColumn is the result column each phase writes, and the state column
// whose pending value guards the write.
var phaseColumn = map[domainflow.Phase]struct{ result, guard string }{
	domainflow.PhaseDNS:      {"dns_result", stateColumn[domainflow.PhaseDNS]},
	domainflow.PhaseHTTP:     {"http_result", stateColumn[domainflow.PhaseHTTP]},
	domainflow.PhaseAnalysis: {"lead_result", stateColumn[domainflow.PhaseAnalysis]},
}

// recordBatch keeps each UPDATE under both databases' limits on bound
// parameters (8 a row).
const recordBatch = 500

// Record writes a phase's outcomes for the user's campaign. Only rows the
// phase has not processed yet are written, so a step that runs twice (a
// rescued job) can never count a domain twice; the campaign's tallies move by
// exactly the rows written, in the same transaction. It returns how many
// rows were written and the campaign as that write committed it (nil when
// none was). A campaign that was stopped takes nothing: ErrStopped.
func (db *DB) Record(ctx context.Context, userID, campaignID uuid.UUID, phase domainflow.Phase, outs []domainflow.DomainOutcome) (int64, *domainflow.Campaign, error) {
	cols, ok := phaseColumn[phase]
	if !ok {
		return 0, nil, fmt.Errorf("cannot record phase %q", phase)
	}
	var written int64
	var c *domainflow.Campaign
	err := db.transaction(ctx, func(tx *gorm.DB) error {
		if err := db.lockWritable(tx, userID, campaignID); err != nil {
			return err
		}
		var delta domainflow.Counts
		for start := 0; start < len(outs); start += recordBatch {
			batch := outs[start:min(start+recordBatch, len(outs))]
			n, err := db.recordBatch(tx, campaignID, phase, cols.result, cols.guard, batch, &delta)
			if err != nil {
				return err
			}
			written += n
		}
		var err error
		c, err = applyCounts(tx, userID, campaignID, delta, written > 0)
		return err
	})
	if err != nil {
		return 0, nil, err
	}
	return written, c, nil
}

func (db *DB) recordBatch(tx *gorm.DB, campaignID uuid.UUID, phase domainflow.Phase, resultCol, guard string, batch []domainflow.DomainOutcome, delta *domainflow.Counts) (int64, error) {
	if db.dialect == SQLite {
		return recordRows(tx, campaignID, phase, resultCol, guard, batch, delta)
	}
	var b strings.Builder
	b.WriteString("WITH v (offset_index, state, dns_state, http_state, lead_state, lead_score, result) AS (VALUES ")
	args := make([]any, 0, len(batch)*7+1)
	row := "(" + db.cast("bigint") + "," + db.cast("smallint") + "," + db.cast("smallint") + "," + db.cast("smallint") + "," +
		db.cast("smallint") + "," + db.cast("smallint") + "," + db.cast("jsonb") + ")"
	for i, o := range batch {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(row)
		res, err := resultJSON(o.Result)
		if err != nil {
			return 0, err
		}
		args = append(args, o.OffsetIndex, o.To.Overall, o.To.DNS, o.To.HTTP, o.To.Lead, o.LeadScore, res)
	}
	b.WriteString(") UPDATE domains SET state = v.state, dns_state = v.dns_state, http_state = v.http_state, lead_state = v.lead_state, lead_score = v.lead_score, " +
		resultCol + " = v.result")
	// The offset range keeps the join to the batch's own rows whatever the
	// planner believes about the table: without it, stale statistics make
	// PostgreSQL hash every pending row, so each batch cost grew with the
	// campaign.
	lo, hi := batch[0].OffsetIndex, batch[0].OffsetIndex
	for _, o := range batch {
		lo, hi = min(lo, o.OffsetIndex), max(hi, o.OffsetIndex)
	}
	b.WriteString(" FROM v WHERE domains.campaign_id = ? AND domains.offset_index BETWEEN ? AND ?" +
		" AND domains.offset_index = v.offset_index AND domains." + guard + " = " + pendingState)
	b.WriteString(" RETURNING domains.offset_index")
	args = append(args, campaignID.String(), lo, hi)

	rows, err := tx.Raw(b.String(), args...).Rows()
	if err != nil {
		return 0, fmt.Errorf("record %s results: %w", phase, err)
	}
	defer rows.Close()
	byIndex := make(map[int64]*domainflow.DomainOutcome, len(batch))
	for i := range batch {
		byIndex[batch[i].OffsetIndex] = &batch[i]
	}
	var n int64
	for rows.Next() {
		var idx int64
		if err := rows.Scan(&idx); err != nil {
			return 0, err
		}
		if o := byIndex[idx]; o != nil {
			delta.Record(*o)
			n++
		}
	}
	return n, rows.Err()
}

// cast is a typed placeholder: PostgreSQL needs the types of VALUES columns,
// SQLite takes them as they come.
func (db *DB) cast(typ string) string {
	if db.dialect == Postgres {
		return "CAST(? AS " + typ + ")"
	}
	return "?"
}

func decodeResult[T any](raw []byte) (*T, error) {
	if len(raw) == 0 {
		return nil, nil
	}
	v := new(T)
	if err := json.Unmarshal(raw, v); err != nil {
		return nil, err
	}
	return v, nil
}

// RunnableCampaigns returns the ids and owners of campaigns that are queued
// or running, for an engine that starts up to make sure each has a job.
func (db *DB) RunnableCampaigns(ctx context.Context) ([]domainflow.Campaign, error) {
	var rows []campaignRow
	err := db.gorm.WithContext(ctx).Select("id", "user_id", "status").
		Where("status IN ?", []string{string(domainflow.StatusQueued), string(domainflow.StatusRunning)}).Find(&rows).Error
	out := make([]domainflow.Campaign, len(rows))
	for i, r := range rows {
		out[i] = domainflow.Campaign{ID: r.ID, UserID: r.UserID, Status: domainflow.CampaignStatus(r.Status)}
	}
	return out, err
}

// recordRows writes outcomes one prepared UPDATE a row: in-process SQLite
// runs that several times faster than one UPDATE … FROM a list of values,
// which it plans as a scan of the values for every row of the range.
func recordRows(tx *gorm.DB, campaignID uuid.UUID, phase domainflow.Phase, resultCol, guard string, batch []domainflow.DomainOutcome, delta *domainflow.Counts) (int64, error) {
	conn, ok := tx.Statement.ConnPool.(interface {
		PrepareContext(ctx context.Context, query string) (*sql.Stmt, error)
	})
	if !ok {
		return 0, fmt.Errorf("unexpected connection type %T", tx.Statement.ConnPool)
	}
	set := "state = ?, dns_state = ?, http_state = ?, lead_state = ?, lead_score = ?, " + resultCol + " = ?"
	stmt, err := conn.PrepareContext(tx.Statement.Context,
		"UPDATE domains SET "+set+" WHERE campaign_id = ? AND offset_index = ? AND "+guard+" = "+pendingState)
	if err != nil {
		return 0, fmt.Errorf("record %s results: %w", phase, err)
	}
	defer stmt.Close()
	campaignKey := campaignID.String()
	var n int64
	for i := range batch {
		o := &batch[i]
		result, err := resultJSON(o.Result)
		if err != nil {
			return 0, err
		}
		res, err := stmt.ExecContext(tx.Statement.Context, o.To.Overall, o.To.DNS, o.To.HTTP, o.To.Lead, o.LeadScore, result, campaignKey, o.OffsetIndex)
		if err != nil {
			return 0, fmt.Errorf("record %s results: %w", phase, err)
		}
		if written, _ := res.RowsAffected(); written == 1 {
			delta.Record(*o)
			n++
		}
	}
	return n, nil
}
