package main

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/domainflow/domainflow"
	"github.com/domainflow/domainflow/generate"
	"github.com/domainflow/domainflow/store"
)

// engineGenerateBatch is engine/step.go's generateBatch (unexported there):
// how many names one generation batch writes.
const engineGenerateBatch = 10_000

// engineRows builds the rows of [from, to) exactly as engine/step.go's
// (*run).generate does. That method is unexported, so its loop is
// replicated here; the store call that follows it is the engine's own,
// store.InsertDomains. Keep the two in step.
func engineRows(gen *generate.Generator, from, to int64) []domainflow.Domain {
	now := time.Now().UTC()
	rows := make([]domainflow.Domain, 0, to-from)
	for i := from; i < to; i++ {
		name, tld := gen.Name(i)
		rows = append(rows, domainflow.Domain{OffsetIndex: i, Name: name, TLD: tld, GeneratedAt: now})
	}
	return rows
}

// genResult is the generation section's figures on one database.
type genResult struct {
	DB       string
	Baseline string // what the ceiling is, in a few words
	Rows     int64
	Chunks   int

	GenTime, InsertTime, CeilingTime time.Duration // totals over all chunks
	// Per chunk of 10,000 rows: the engine path (generation + InsertDomains)
	// and the ceiling, in the order they ran.
	EngineChunk, CeilingChunk []time.Duration

	TableSize, CeilingSize string // PostgreSQL only
}

func (g *genResult) engineRate() float64 {
	return float64(g.Rows) / (g.GenTime + g.InsertTime).Seconds()
}
func (g *genResult) insertRate() float64  { return float64(g.Rows) / g.InsertTime.Seconds() }
func (g *genResult) genRate() float64     { return float64(g.Rows) / g.GenTime.Seconds() }
func (g *genResult) ceilingRate() float64 { return float64(g.Rows) / g.CeilingTime.Seconds() }
func (g *genResult) ratio() float64       { return g.engineRate() / g.ceilingRate() }

// goalGeneration is the generation section's goal.
const goalGeneration = "generation + persistence at ≥ 50% of the database's own bulk-insert rate"

// bulk is a database's own bulk insert of the same rows into a scratch
// table with the same columns and indexes.
type bulk interface {
	insert(ctx context.Context, campaignID uuid.UUID, rows []domainflow.Domain) error
	close()
}

func runGeneration(ctx context.Context, o options, rep *report) error {
	var errs []error
	for _, dialect := range []string{store.Postgres, store.SQLite} {
		res, err := generationOn(ctx, o, dialect)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", dialectName(dialect), err))
			continue
		}
		rep.Generation = append(rep.Generation, res)
	}
	return errors.Join(errs...)
}

func generationOn(ctx context.Context, o options, dialect string) (_ *genResult, err error) {
	t, err := openTarget(ctx, o, dialect, false)
	if err != nil {
		return nil, err
	}
	defer func() {
		if cerr := t.close(); cerr != nil && err == nil {
			err = cerr
		}
	}()
	n := o.genDomains
	c, err := t.draftCampaign(ctx, "generation", benchConfig(n))
	if err != nil {
		return nil, err
	}
	res := &genResult{DB: dialectName(dialect), Rows: n}
	var ceiling bulk
	if dialect == store.SQLite {
		res.Baseline = "plain multi-row INSERT (1,000 rows a statement, prepared, 10,000 a transaction; no ON CONFLICT, no RETURNING)"
		ceiling, err = newSQLiteBulk(ctx, t.db.SQL())
	} else {
		res.Baseline = "pgx COPY (10,000 rows a COPY)"
		var cp *copier
		cp, err = newCopier(ctx, t.db)
		ceiling = pgBulk{cp}
	}
	if err != nil {
		return nil, fmt.Errorf("ceiling table: %w", err)
	}
	defer ceiling.close()

	logf("generation on %s: %d names through the engine's path (generate + store.InsertDomains, %d a call), interleaved with the ceiling: %s",
		res.DB, n, engineGenerateBatch, res.Baseline)
	err = profiled(o, "generation-"+dialect, func() error {
		gen, err := generate.New(c.Config.Generation)
		if err != nil {
			return err
		}
		for i, from := 0, int64(0); from < n; i, from = i+1, from+engineGenerateBatch {
			if err := ctx.Err(); err != nil {
				return err
			}
			to := min(from+engineGenerateBatch, n)
			t0 := time.Now()
			rows := engineRows(gen, from, to)
			dGen := time.Since(t0)
			var dIns, dCeil time.Duration
			insert := func() error {
				t0 := time.Now()
				got, _, err := t.db.InsertDomains(ctx, t.user.ID, c.ID, rows)
				dIns = time.Since(t0)
				if err != nil {
					return fmt.Errorf("InsertDomains [%d,%d): %w", from, to, err)
				}
				if got != to-from {
					return fmt.Errorf("InsertDomains [%d,%d) inserted %d", from, to, got)
				}
				return nil
			}
			bulkInsert := func() error {
				t0 := time.Now()
				err := ceiling.insert(ctx, c.ID, rows)
				dCeil = time.Since(t0)
				if err != nil {
					return fmt.Errorf("ceiling [%d,%d): %w", from, to, err)
				}
				return nil
			}
			// Either one first, in turn: both tables grow alike and
			// neither always runs on the other's warm caches.
			first, second := insert, bulkInsert
			if i%2 == 1 {
				first, second = bulkInsert, insert
			}
			if err := first(); err != nil {
				return err
			}
			if err := second(); err != nil {
				return err
			}
			res.GenTime += dGen
			res.InsertTime += dIns
			res.CeilingTime += dCeil
			res.EngineChunk = append(res.EngineChunk, dGen+dIns)
			res.CeilingChunk = append(res.CeilingChunk, dCeil)
			res.Chunks++
			if to%100_000 == 0 || to == n {
				logf("  %d/%d: engine path %.0f domains/s, ceiling %.0f rows/s", to, n,
					float64(to)/(res.GenTime+res.InsertTime).Seconds(), float64(to)/res.CeilingTime.Seconds())
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	got, err := t.db.GetCampaign(ctx, t.user.ID, c.ID)
	if err != nil {
		return nil, err
	}
	if got.Counts.Generated != n {
		return nil, fmt.Errorf("campaign counts %d generated; want %d", got.Counts.Generated, n)
	}
	if dialect == store.Postgres {
		t.db.SQL().QueryRowContext(ctx, "SELECT pg_size_pretty(pg_total_relation_size('domains')), pg_size_pretty(pg_total_relation_size('bench_copy'))").
			Scan(&res.TableSize, &res.CeilingSize)
	}
	logf("generation on %s: engine path %.0f domains/s (InsertDomains alone %.0f/s, generating the rows alone %.0f/s); ceiling %.0f rows/s; %.2f×",
		res.DB, res.engineRate(), res.insertRate(), res.genRate(), res.ceilingRate(), res.ratio())
	return res, nil
}

// pgBulk is PostgreSQL's ceiling: COPY into a table LIKE domains INCLUDING
// ALL (see copier).
type pgBulk struct{ cp *copier }

func (b pgBulk) insert(ctx context.Context, campaignID uuid.UUID, rows []domainflow.Domain) error {
	b.cp.campaignID = campaignID
	return b.cp.copy(ctx, rows)
}

func (b pgBulk) close() { b.cp.close() }

// sqliteBulk is SQLite's ceiling: plain multi-row INSERTs, prepared once,
// into a copy of the domains table made from its own DDL (same columns,
// same WITHOUT ROWID primary key, same indexes; no foreign key, as
// PostgreSQL's LIKE has none), one transaction per chunk as InsertDomains.
type sqliteBulk struct {
	db    *sql.DB
	stmts map[int]*sql.Stmt
}

var (
	sqliteFK      = regexp.MustCompile(`(?i)\s+REFERENCES\s+\w+\s*\([^)]*\)(\s+ON\s+DELETE\s+CASCADE)?`)
	sqliteIndexOn = regexp.MustCompile(`(?i)^CREATE\s+(UNIQUE\s+)?INDEX\s+(\w+)\s+ON\s+domains\s*\(`)
)

func newSQLiteBulk(ctx context.Context, db *sql.DB) (*sqliteBulk, error) {
	rows, err := db.QueryContext(ctx, "SELECT type, sql FROM sqlite_master WHERE tbl_name = 'domains' AND sql IS NOT NULL ORDER BY type DESC")
	if err != nil {
		return nil, err
	}
	var ddl []string
	var indexes int
	for rows.Next() {
		var typ, s string
		if err := rows.Scan(&typ, &s); err != nil {
			rows.Close()
			return nil, err
		}
		switch typ {
		case "table":
			if !strings.HasPrefix(s, "CREATE TABLE domains") {
				rows.Close()
				return nil, fmt.Errorf("unexpected DDL of domains: %.80s", s)
			}
			ddl = append(ddl, sqliteFK.ReplaceAllString(strings.Replace(s, "CREATE TABLE domains", "CREATE TABLE bench_copy", 1), ""))
		case "index":
			if !sqliteIndexOn.MatchString(s) {
				rows.Close()
				return nil, fmt.Errorf("unexpected index DDL: %s", s)
			}
			ddl = append(ddl, sqliteIndexOn.ReplaceAllString(s, "CREATE ${1}INDEX bench_copy_$2 ON bench_copy ("))
			indexes++
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	if len(ddl) == 0 || !strings.HasPrefix(ddl[0], "CREATE TABLE") || indexes == 0 {
		return nil, fmt.Errorf("could not copy the DDL of domains (%d statements, %d indexes)", len(ddl), indexes)
	}
	for _, s := range ddl {
		if _, err := db.ExecContext(ctx, s); err != nil {
			db.ExecContext(context.Background(), "DROP TABLE IF EXISTS bench_copy")
			return nil, fmt.Errorf("%s: %w", s, err)
		}
	}
	return &sqliteBulk{db: db, stmts: map[int]*sql.Stmt{}}, nil
}

// sqliteInsertRows is the rows of one INSERT: InsertDomains' insertBatch.
const sqliteInsertRows = 1000

func (b *sqliteBulk) stmt(ctx context.Context, n int) (*sql.Stmt, error) {
	if s, ok := b.stmts[n]; ok {
		return s, nil
	}
	var q strings.Builder
	q.WriteString("INSERT INTO bench_copy (campaign_id, " + benchDomainColumns + ") VALUES ")
	for i := range n {
		if i > 0 {
			q.WriteByte(',')
		}
		q.WriteString("(?,?,?,?,?,?,?,?,?,?,?,?)")
	}
	s, err := b.db.PrepareContext(ctx, q.String())
	if err != nil {
		return nil, err
	}
	b.stmts[n] = s
	return s, nil
}

// benchDomainColumns is store's domainColumns (unexported there).
const benchDomainColumns = "offset_index, name, tld, generated_at, state, dns_state, http_state, lead_state, lead_score, dns_result, http_result"

func (b *sqliteBulk) insert(ctx context.Context, campaignID uuid.UUID, rows []domainflow.Domain) error {
	tx, err := b.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	args := make([]any, 0, sqliteInsertRows*12)
	for start := 0; start < len(rows); start += sqliteInsertRows {
		batch := rows[start:min(start+sqliteInsertRows, len(rows))]
		s, err := b.stmt(ctx, len(batch))
		if err != nil {
			return err
		}
		args = args[:0]
		for i := range batch {
			d := &batch[i]
			dnsJSON, err := jsonOrNil(d.DNSResult)
			if err != nil {
				return err
			}
			httpJSON, err := jsonOrNil(d.HTTPResult)
			if err != nil {
				return err
			}
			args = append(args, campaignID, d.OffsetIndex, d.Name, d.TLD, d.GeneratedAt.UTC(),
				d.State, d.DNSState, d.HTTPState, d.LeadState, d.LeadScore, dnsJSON, httpJSON)
		}
		if _, err := tx.StmtContext(ctx, s).ExecContext(ctx, args...); err != nil {
			return err
		}
	}
	return tx.Commit()
}

func (b *sqliteBulk) close() {
	for _, s := range b.stmts {
		s.Close()
	}
	b.stmts = nil
	b.db.ExecContext(context.Background(), "DROP TABLE IF EXISTS bench_copy")
}
