package main

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"

	"github.com/domainflow/domainflow"
	"github.com/domainflow/domainflow/generate"
	"github.com/domainflow/domainflow/store"
)

// createDatabase makes a new, empty database from the admin URL and returns
// its URL and a function that drops it.
func createDatabase(ctx context.Context, adminURL string) (string, func() error, error) {
	admin, err := sql.Open("pgx", adminURL)
	if err != nil {
		return "", nil, fmt.Errorf("open PostgreSQL admin database: %w", err)
	}
	defer admin.Close()
	suffix := make([]byte, 6)
	rand.Read(suffix)
	name := "domainflow_bench_" + hex.EncodeToString(suffix)
	if _, err := admin.ExecContext(ctx, "CREATE DATABASE "+name); err != nil {
		return "", nil, fmt.Errorf("create database (is PostgreSQL running at %s?): %w", adminURL, err)
	}
	u, err := url.Parse(adminURL)
	if err != nil {
		return "", nil, err
	}
	u.Path = "/" + name
	logf("created database %s", name)
	drop := func() error {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		admin, err := sql.Open("pgx", adminURL)
		if err != nil {
			return err
		}
		defer admin.Close()
		if _, err := admin.ExecContext(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
			return fmt.Errorf("drop database %s: %w", name, err)
		}
		logf("dropped database %s", name)
		return nil
	}
	return u.String(), drop, nil
}

// fixture is what the scenarios need of the seeded data.
type fixture struct {
	userID   uuid.UUID
	token    string
	campaign *domainflow.Campaign
	// depth is the offset of the deep unfiltered page; filteredDepth that of
	// the deep page of the status=failed&phase=dns filter.
	depth, filteredDepth int64
}

// benchConfig is a campaign whose pattern holds 36^4 × 2 = 3,359,232 names.
func benchConfig(maxDomains int64) domainflow.CampaignConfig {
	cfg := domainflow.CampaignConfig{
		Generation: domainflow.GenerationConfig{
			PatternType: domainflow.PatternPrefix, ConstantString: "shop",
			CharacterSet: "abcdefghijklmnopqrstuvwxyz0123456789", VariableLength: 4,
			TLDs: []string{".com", ".net"}, MaxDomains: maxDomains,
		},
		DNS:      domainflow.DefaultDNSConfig(),
		HTTP:     domainflow.DefaultHTTPConfig(),
		Analysis: domainflow.DefaultAnalysisConfig(),
	}
	cfg.HTTP.Keywords = []string{"shop", "sale"}
	return cfg
}

func splitmix(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9
	x = (x ^ (x >> 27)) * 0x94d049bb133111eb
	return x ^ (x >> 31)
}

// makeDomain builds the row at idx as a campaign whose DNS and HTTP phases
// have run over most of it would have left it: 10% still pending, 60% failed
// DNS (HTTP skipped, no lead), 30% resolved and answered HTTP, half of those
// a lead. Which row gets which outcome is a hash of its index, so every page,
// shallow or deep, has the same mix.
func makeDomain(gen *generate.Generator, campaignID uuid.UUID, idx int64, now time.Time) domainflow.Domain {
	name, tld := gen.Name(idx)
	d := domainflow.Domain{CampaignID: campaignID, OffsetIndex: idx, Name: name, TLD: tld, GeneratedAt: now}
	h := splitmix(uint64(idx))
	kind, h := h%10, h/10
	if kind == 0 {
		return d // pending
	}
	checked := now.Add(time.Duration(h%3600) * time.Second)
	latency := float64(h%5000) / 100
	if kind <= 6 { // DNS failed
		d.State, d.DNSState, d.HTTPState, d.LeadState = domainflow.StateFailed, domainflow.StateFailed, domainflow.StateSkipped, domainflow.StateFailed
		if h%10 == 0 {
			d.DNSResult = &domainflow.DNSResult{Status: domainflow.CheckTimeout, Resolver: "127.0.0.1:53", LatencyMS: 2000, Attempts: 2, Error: "i/o timeout", CheckedAt: checked}
		} else {
			d.DNSResult = &domainflow.DNSResult{Status: domainflow.CheckError, Reason: "nxdomain", Resolver: "127.0.0.1:53", LatencyMS: latency, Attempts: 1, CheckedAt: checked}
		}
		return d
	}
	// DNS ok, HTTP ok.
	d.DNSState, d.HTTPState = domainflow.StateValidated, domainflow.StateValidated
	d.DNSResult = &domainflow.DNSResult{Status: domainflow.CheckOK, Addresses: []string{fmt.Sprintf("203.0.113.%d", h%250+1)},
		Resolver: "127.0.0.1:53", LatencyMS: latency, Attempts: 1, CheckedAt: checked}
	d.HTTPResult = &domainflow.HTTPResult{Status: domainflow.CheckOK, URL: "http://" + name + "/", StatusCode: 200,
		Title: "Welcome to " + name, ContentLength: int64(h%100_000 + 512), FinalURL: "http://" + name + "/",
		LatencyMS: 10 * latency, CheckedAt: checked.Add(time.Second)}
	if (h/7)%2 == 0 { // a lead
		d.State, d.LeadState, d.LeadScore = domainflow.StateValidated, domainflow.StateValidated, 70
		d.HTTPResult.KeywordsFound = []string{"shop", "sale"}
	} else {
		d.State, d.LeadState, d.LeadScore = domainflow.StateFailed, domainflow.StateFailed, 10
	}
	return d
}

func makeChunk(gen *generate.Generator, campaignID uuid.UUID, from, to int64, now time.Time, buf []domainflow.Domain) []domainflow.Domain {
	buf = buf[:0]
	for i := from; i < to; i++ {
		buf = append(buf, makeDomain(gen, campaignID, i, now))
	}
	return buf
}

func seed(ctx context.Context, db *store.DB, o options, rep *report) (*fixture, error) {
	u, err := db.EnsureUser(ctx, "bench")
	if err != nil {
		return nil, err
	}
	token, err := db.CreateToken(ctx, u.ID)
	if err != nil {
		return nil, err
	}
	cfg := benchConfig(o.domains)
	total, err := generate.Total(cfg.Generation)
	if err != nil {
		return nil, err
	}
	if total < o.domains {
		return nil, fmt.Errorf("the campaign's pattern holds only %d names", total)
	}
	gen, err := generate.New(cfg.Generation)
	if err != nil {
		return nil, err
	}
	c := &domainflow.Campaign{UserID: u.ID, Name: "bench", Description: "benchmark campaign",
		Status: domainflow.StatusRunning, CurrentPhase: domainflow.PhaseHTTP, Config: cfg, TotalDomains: total}
	if err := db.CreateCampaign(ctx, c); err != nil {
		return nil, err
	}
	rep.Space = gen.Space()
	now := time.Now().UTC().Truncate(time.Microsecond)
	n := o.domains

	// Baseline: COPY of the same first rows into a table with the same
	// columns and indexes, the database's own bulk-insert ceiling. Its chunks
	// alternate with InsertDomains' chunks (one first, then the other), so
	// both tables grow alike and both share the machine's noise.
	copyRows := min(o.copyRows, n)
	cp, err := newCopier(ctx, db)
	if err != nil {
		return nil, fmt.Errorf("COPY baseline: %w", err)
	}
	defer cp.close()

	logf("seeding %d domains through store.InsertDomains, %d per call (the first %d also COPYed, alternately, as the baseline)", n, o.chunk, copyRows)
	var (
		buf       = make([]domainflow.Domain, 0, o.chunk)
		spent     time.Duration
		firstAt   time.Duration // InsertDomains' time when copyRows rows were in
		copySpent time.Duration
	)
	insert := func(from, to int64) error {
		t0 := time.Now()
		got, _, err := db.InsertDomains(ctx, u.ID, c.ID, buf)
		spent += time.Since(t0)
		if err != nil {
			return fmt.Errorf("InsertDomains [%d,%d): %w", from, to, err)
		}
		if got != to-from {
			return fmt.Errorf("InsertDomains [%d,%d) inserted %d", from, to, got)
		}
		return nil
	}
	copyChunk := func() error {
		t0 := time.Now()
		err := cp.copy(ctx, buf)
		copySpent += time.Since(t0)
		if err != nil {
			return fmt.Errorf("COPY baseline: %w", err)
		}
		return nil
	}
	for i, from := 0, int64(0); from < n; i, from = i+1, from+int64(o.chunk) {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		to := min(from+int64(o.chunk), n)
		buf = makeChunk(gen, c.ID, from, to, now, buf)
		switch {
		case from >= copyRows:
			err = insert(from, to)
		case i%2 == 0:
			if err = insert(from, to); err == nil {
				err = copyChunk()
			}
		default:
			if err = copyChunk(); err == nil {
				err = insert(from, to)
			}
		}
		if err != nil {
			return nil, err
		}
		if firstAt == 0 && to >= copyRows {
			firstAt = spent
			rep.CopyRows, rep.CopyRate = to, float64(to)/copySpent.Seconds()
			logf("COPY baseline: %d rows at %.0f rows/s; InsertDomains %.0f domains/s over the same rows", to, rep.CopyRate, float64(to)/firstAt.Seconds())
			cp.close() // drops the scratch table
		}
		if to%100_000 == 0 || to == n {
			logf("  %d/%d (%.0f domains/s)", to, n, float64(to)/spent.Seconds())
		}
	}
	rep.SeedRate = float64(n) / spent.Seconds()
	rep.SeedFirstRate = float64(rep.CopyRows) / firstAt.Seconds()
	rep.SeedTime = spent

	t0 := time.Now()
	if _, err := db.SQL().ExecContext(ctx, "ANALYZE"); err != nil {
		return nil, err
	}
	// A checkpoint now keeps the seeding's writes from being flushed while
	// pages are measured (needs a superuser; skipped otherwise).
	if _, err := db.SQL().ExecContext(ctx, "CHECKPOINT"); err != nil {
		logf("CHECKPOINT skipped: %v", err)
	}
	logf("ANALYZE + CHECKPOINT took %s", time.Since(t0).Round(time.Millisecond))
	db.SQL().QueryRowContext(ctx, "SELECT pg_size_pretty(pg_total_relation_size('domains'))").Scan(&rep.TableSize)

	c, err = db.GetCampaign(ctx, u.ID, c.ID)
	if err != nil {
		return nil, err
	}
	if c.Counts.Generated != n {
		return nil, fmt.Errorf("campaign counts %d generated; want %d", c.Counts.Generated, n)
	}
	rep.Counts = c.Counts
	fx := &fixture{userID: u.ID, token: token, campaign: c, depth: n * 9 / 10, filteredDepth: n / 2}
	if fx.filteredDepth >= c.Counts.DNSFailed {
		fx.filteredDepth = c.Counts.DNSFailed * 5 / 6
	}
	return fx, nil
}

// copier COPYs rows into a scratch table shaped like domains (same columns,
// defaults and indexes, no foreign key), dropped by close. Building the Go
// values is outside its timing, as it is for InsertDomains; encoding the JSON
// results is inside, as there.
type copier struct {
	db   *sql.DB
	conn *sql.Conn
	// campaignID, when set, is the campaign_id of every row, as
	// InsertDomains takes it (the rows the engine builds leave it zero).
	campaignID uuid.UUID
}

func newCopier(ctx context.Context, db *store.DB) (*copier, error) {
	sqlDB := db.SQL()
	if _, err := sqlDB.ExecContext(ctx, "CREATE TABLE bench_copy (LIKE domains INCLUDING ALL)"); err != nil {
		return nil, err
	}
	conn, err := sqlDB.Conn(ctx)
	if err != nil {
		sqlDB.ExecContext(context.Background(), "DROP TABLE IF EXISTS bench_copy")
		return nil, err
	}
	return &copier{db: sqlDB, conn: conn}, nil
}

var copyColumns = []string{"campaign_id", "offset_index", "name", "tld", "generated_at", "state", "dns_state", "http_state",
	"lead_state", "lead_score", "dns_result", "http_result"}

func (c *copier) copy(ctx context.Context, buf []domainflow.Domain) error {
	return c.conn.Raw(func(dc any) error {
		pc, ok := dc.(*stdlib.Conn)
		if !ok {
			return errors.New("the store's driver is not pgx")
		}
		_, err := pc.Conn().CopyFrom(ctx, pgx.Identifier{"bench_copy"}, copyColumns, pgx.CopyFromSlice(len(buf), func(i int) ([]any, error) {
			d := &buf[i]
			campaignID := d.CampaignID
			if c.campaignID != uuid.Nil {
				campaignID = c.campaignID
			}
			dnsJSON, err := jsonOrNil(d.DNSResult)
			if err != nil {
				return nil, err
			}
			httpJSON, err := jsonOrNil(d.HTTPResult)
			if err != nil {
				return nil, err
			}
			return []any{campaignID, d.OffsetIndex, d.Name, d.TLD, d.GeneratedAt, int16(d.State), int16(d.DNSState),
				int16(d.HTTPState), int16(d.LeadState), int16(d.LeadScore), dnsJSON, httpJSON}, nil
		}))
		return err
	})
}

func (c *copier) close() {
	if c.conn == nil {
		return
	}
	c.conn.Close()
	c.conn = nil
	c.db.ExecContext(context.Background(), "DROP TABLE IF EXISTS bench_copy")
}

func jsonOrNil[T any](v *T) (any, error) {
	if v == nil {
		return nil, nil
	}
	b, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	return string(b), nil
}
