package main

import (
	"bytes"
	"context"
	"database/sql"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/domainflow/domainflow"
	"github.com/domainflow/domainflow/store"
)

type report struct {
	Date          time.Time
	NProc         int
	GOMAXPROCS    int
	GoVersion     string
	OS            string
	PGVersion     string
	SharedBuffers string

	Domains   int64
	Space     int64
	Counts    domainflow.Counts
	TableSize string

	CopyRows      int64
	CopyRate      float64
	SeedRate      float64
	SeedFirstRate float64
	SeedTime      time.Duration

	Iters            int
	MinTime, MaxTime time.Duration
	Warmup           int

	Results []*result

	ExplainOf      string
	Explain        string
	ExplainGeneric string

	Modules      []string
	Paging       bool // the paging section ran (and filled the fields above)
	Generation   []*genResult
	DNS          *dnsReport
	Lossy        *lossyReport
	Memory       *memReport
	WS           *wsReport
	Polling      *pollReport
	Bodies       *bodiesReport
	Takeover     *takeoverReport
	Hints        *hintsReport
	SectionTimes []sectionTime
	Failures     []sectionFailure

	Elapsed time.Duration
}

type sectionTime struct {
	Name string
	Time time.Duration
}

type sectionFailure struct {
	Name, Err string
}

// The goals the numbers are held to.
const (
	goalCursor   = "cursor page at any depth within 2× of the first page"
	goalOverhead = "the API's overhead over the raw query under 1 ms"
)

func (r *report) find(prefix, filter string) *result {
	for _, res := range r.Results {
		if strings.HasPrefix(res.Name, prefix) && strings.HasSuffix(res.Name, "("+filter+")") {
			return res
		}
	}
	return nil
}

func verdict(ok bool) string {
	if ok {
		return "**holds**"
	}
	return "**does not hold**"
}

// pagingGoals returns the paging section's two goals' lines (markdown).
func (r *report) pagingGoals() []string {
	var lines []string
	cursorOK, cursorDetail := true, []string{}
	for _, f := range []string{"all", "status=failed&phase=dns"} {
		first, cur := r.find("first page", f), r.find("cursor at", f)
		if first == nil || cur == nil {
			continue
		}
		x := float64(cur.apiP50()) / float64(first.apiP50())
		cursorOK = cursorOK && x <= 2
		cursorDetail = append(cursorDetail, fmt.Sprintf("%s: %s (API p50) against the first page's %s = %.2f×",
			cur.Name, ms(cur.apiP50()), ms(first.apiP50()), x))
	}
	lines = append(lines, fmt.Sprintf("- %s: %s in this run — %s.", goalCursor, verdict(cursorOK), strings.Join(cursorDetail, "; ")))

	// The overhead goal is judged on median API − median SQL. Each scenario is under (its whole interval below 1 ms), over (its
	// whole interval at or above), or unsettled: a deep OFFSET page's noise
	// is far larger than 1 ms.
	var under, over, unsure []string
	var worstUnder *result
	for _, res := range r.Results {
		d := fmt.Sprintf("%s: %s (95%% interval %s … %s over %d pairs; paired Δ p50 %s)", res.Name, ms(res.overhead()),
			num(res.lo), num(res.hi), res.N, ms(res.pairedP50()))
		switch {
		case res.hi < time.Millisecond && res.overhead() < time.Millisecond:
			under = append(under, res.Name)
			if worstUnder == nil || res.overhead() > worstUnder.overhead() {
				worstUnder = res
			}
		case res.lo >= time.Millisecond || (res.N < 2 && res.overhead() >= time.Millisecond):
			over = append(over, d)
		default:
			unsure = append(unsure, d)
		}
	}
	var v, detail string
	switch {
	case len(over) > 0:
		v = verdict(false)
		detail = "over 1 ms: " + strings.Join(over, "; ")
	case len(unsure) > 0:
		v = fmt.Sprintf("**holds** for the %d of %d scenarios it can resolve", len(under), len(r.Results))
		detail = "too noisy to settle: " + strings.Join(unsure, "; ")
	default:
		v = verdict(true)
	}
	if worstUnder != nil {
		if detail != "" {
			detail += "; "
		}
		detail += fmt.Sprintf("largest resolved overhead: %s, %s, of which the token and campaign lookups alone take %s as raw SQL",
			worstUnder.Name, ms(worstUnder.overhead()), ms(worstUnder.lookupP50()))
	}
	lines = append(lines, fmt.Sprintf("- %s: %s in this run — %s.", goalOverhead, v, detail))
	return lines
}

func (r *report) table(w io.Writer) {
	fmt.Fprintln(w, "| Scenario | n | API p50 | API p99 | SQL p50 | SQL p99 | Overhead p50 | (95% interval) | API/SQL | Paired Δ p50 | Lookups p50 |")
	fmt.Fprintln(w, "|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|")
	for _, res := range r.Results {
		fmt.Fprintf(w, "| %s | %d | %s | %s | %s | %s | %s | %s … %s | %.2f× | %s | %s |\n", res.Name, res.N,
			ms(res.apiP50()), ms(res.apiP99()), ms(res.sqlP50()), ms(res.sqlP99()), ms(res.overhead()), num(res.lo), num(res.hi), res.ratio(),
			ms(res.pairedP50()), ms(res.lookupP50()))
	}
}

func (r *report) seeding(w io.Writer) {
	fmt.Fprintln(w, "| Seeding | Rows | Rate |")
	fmt.Fprintln(w, "|---|--:|--:|")
	fmt.Fprintf(w, "| store.InsertDomains, whole campaign | %s | %s domains/s |\n", thousands(r.Domains), rate(r.SeedRate))
	fmt.Fprintf(w, "| store.InsertDomains, its first %s rows | %s | %s domains/s |\n", thousands(r.CopyRows), thousands(r.CopyRows), rate(r.SeedFirstRate))
	fmt.Fprintf(w, "| baseline: COPY of the same first %s rows into a table with the same indexes, chunks alternating with InsertDomains' | %s | %s rows/s |\n", thousands(r.CopyRows), thousands(r.CopyRows), rate(r.CopyRate))
	fmt.Fprintf(w, "\nInsertDomains runs at %.2f× the COPY rate over the same first %s rows (%.2f× over the whole campaign); seeding took %s.\n",
		r.SeedFirstRate/r.CopyRate, thousands(r.CopyRows), r.SeedRate/r.CopyRate, r.SeedTime.Round(time.Millisecond))
}

func (r *report) print(w io.Writer) {
	fmt.Fprintf(w, "\nDomainFlow benchmark, %s — nproc %d, %s, PostgreSQL %s; run time %s\n", r.Date.Format(time.RFC3339), r.NProc, r.GoVersion,
		r.PGVersion, r.Elapsed.Round(time.Second))
	if r.Paging {
		fmt.Fprintf(w, "\n== paging: %s domains (domains table %s)\n\n", thousands(r.Domains), r.TableSize)
		r.seeding(w)
		fmt.Fprintln(w)
		r.table(w)
		fmt.Fprintln(w, "\nOverhead = API p50 − SQL p50 (Paired Δ: median of per-pair API − SQL); it includes the token lookup and the campaign lookup the API runs before the domain query (Lookups p50: those two queries alone, as raw SQL).")
		if r.Explain != "" {
			fmt.Fprintf(w, "\nEXPLAIN (ANALYZE, BUFFERS) of the slowest query, %s:\n%s\n", r.ExplainOf, r.Explain)
		}
		if r.ExplainGeneric != "" {
			fmt.Fprintf(w, "\nThe same as a prepared statement with a generic plan:\n%s\n", r.ExplainGeneric)
		}
	}
	if len(r.Generation) > 0 {
		fmt.Fprintln(w, "\n== generation + persistence")
		fmt.Fprintln(w)
		r.generationTable(w)
	}
	if r.DNS != nil {
		fmt.Fprintln(w, "\n== DNS validation")
		fmt.Fprintln(w)
		r.dnsTables(w)
	}
	if r.Lossy != nil {
		fmt.Fprintln(w, "\n== DNS over a lossy link")
		fmt.Fprintln(w)
		r.lossyTable(w)
	}
	if r.Memory != nil {
		fmt.Fprintln(w, "\n== memory of a campaign run by the engine (child process)")
		fmt.Fprintln(w)
		r.memoryTables(w)
	}
	if r.WS != nil {
		fmt.Fprintln(w, "\n== WebSocket hub")
		fmt.Fprintln(w)
		r.wsTables(w)
	}
	if r.Polling != nil {
		fmt.Fprintln(w, "\n== polling: 304 against 200")
		fmt.Fprintln(w)
		r.pollingTable(w)
	}
	if r.Bodies != nil {
		fmt.Fprintln(w, "\n== memory of HTTP checks: gzip bombs (child process)")
		fmt.Fprintln(w)
		r.bodiesTable(w)
	}
	if r.Takeover != nil {
		fmt.Fprintln(w, "\n== takeover after kill -9 (the real binary)")
		fmt.Fprintln(w)
		r.takeoverTable(w)
		fmt.Fprintln(w)
		r.takeoverRounds(w)
	}
	if r.Hints != nil {
		fmt.Fprintln(w, "\n== WebSocket hints: write → domains_changed")
		fmt.Fprintln(w)
		r.hintsTable(w)
	}
	fmt.Fprintln(w, "\nGoals:")
	for _, l := range r.allGoals() {
		fmt.Fprintln(w, l)
	}
	for _, f := range r.Failures {
		fmt.Fprintf(w, "section %s FAILED: %s\n", f.Name, f.Err)
	}
}

// thousands formats n with comma separators.
func thousands(n int64) string {
	s := strconv.FormatInt(n, 10)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}

// num is a duration in milliseconds without the unit.
func num(d time.Duration) string { return strings.TrimSuffix(ms(d), " ms") }

func rate(x float64) string { return thousands(int64(x + 0.5)) }

func (r *report) writeMarkdown(path string) error {
	var w bytes.Buffer
	fmt.Fprintln(&w, "# DomainFlow benchmarks")
	fmt.Fprintln(&w)
	fmt.Fprintln(&w, "Written by `make bench` (`go run ./bench -out docs/benchmarks.md`; `-sections paging,generation,dns,lossy,memory,websocket,polling,bodies,takeover,hints` picks sections). "+
		"Every figure stands next to a baseline or ceiling measured in the same run, on the same noisy machine: "+
		"API pages next to the SQL they run, generation + persistence next to the database's own bulk insert, "+
		"DNS validation through the engine next to the DNS server's own capacity and next to the resolver alone, "+
		"DNS results over a lossy link next to adnshost and gobuster resolving the same names, "+
		"a campaign's takeover after `kill -9` next to a fresh campaign's start, WebSocket hints next to the hub's coalescing interval.")
	fmt.Fprintln(&w)
	fmt.Fprintln(&w, "## Run")
	fmt.Fprintln(&w)
	fmt.Fprintf(&w, "- Date: %s\n", r.Date.Format("2006-01-02 15:04:05 MST"))
	fmt.Fprintf(&w, "- Machine: `nproc` %d (GOMAXPROCS %d), %s; the bench, its servers, the engine and the databases share it\n", r.NProc, r.GOMAXPROCS, r.OS)
	fmt.Fprintf(&w, "- Go: %s\n", r.GoVersion)
	fmt.Fprintf(&w, "- PostgreSQL: %s (shared_buffers %s), on loopback\n", r.PGVersion, r.SharedBuffers)
	if len(r.Modules) > 0 {
		fmt.Fprintf(&w, "- Modules: %s\n", strings.Join(r.Modules, ", "))
	}
	fmt.Fprintf(&w, "- Command: `go run ./bench %s`\n", strings.Join(os.Args[1:], " "))
	var parts []string
	for _, st := range r.SectionTimes {
		parts = append(parts, fmt.Sprintf("%s %s", st.Name, st.Time.Round(time.Second)))
	}
	fmt.Fprintf(&w, "- Run time: %s (%s)\n", r.Elapsed.Round(time.Second), strings.Join(parts, ", "))
	fmt.Fprintln(&w)
	fmt.Fprintln(&w, "## Goals in this run")
	fmt.Fprintln(&w)
	for _, l := range r.allGoals() {
		fmt.Fprintln(&w, l)
	}
	for _, f := range r.Failures {
		fmt.Fprintf(&w, "- Section **%s failed**: `%s`\n", f.Name, f.Err)
	}
	fmt.Fprintln(&w)
	if r.Paging {
		r.pagingMarkdown(&w)
	}
	if len(r.Generation) > 0 {
		r.generationMarkdown(&w)
	}
	if r.DNS != nil {
		r.dnsMarkdown(&w)
	}
	if r.Lossy != nil {
		r.lossyMarkdown(&w)
	}
	if r.Memory != nil {
		r.memoryMarkdown(&w)
	}
	if r.WS != nil {
		r.wsMarkdown(&w)
	}
	if r.Polling != nil {
		r.pollingMarkdown(&w)
	}
	if r.Bodies != nil {
		r.bodiesMarkdown(&w)
	}
	if r.Takeover != nil {
		r.takeoverMarkdown(&w)
	}
	if r.Hints != nil {
		r.hintsMarkdown(&w)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	return os.WriteFile(path, w.Bytes(), 0o644)
}

// allGoals is every goal of the sections that ran, with its verdict.
func (r *report) allGoals() []string {
	var lines []string
	if r.Paging && len(r.Results) > 0 {
		lines = append(lines, r.pagingGoals()...)
	}
	lines = append(lines, r.generationGoals()...)
	lines = append(lines, r.dnsGoals()...)
	lines = append(lines, r.lossyGoals()...)
	lines = append(lines, r.memoryGoals()...)
	lines = append(lines, r.wsGoals()...)
	lines = append(lines, r.pollingGoals()...)
	lines = append(lines, r.bodiesGoals()...)
	lines = append(lines, r.takeoverGoals()...)
	lines = append(lines, r.hintsGoals()...)
	return lines
}

func (r *report) pagingMarkdown(w io.Writer) {
	c := r.Counts
	fmt.Fprintln(w, "## Paging: the domain list API against the SQL it runs")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "### Data")
	fmt.Fprintln(w)
	fmt.Fprintf(w, "One campaign of %s domains (pattern space %s), `domains` table %s with its indexes, after ANALYZE.\n", thousands(r.Domains), thousands(r.Space), r.TableSize)
	fmt.Fprintf(w, "10%% pending, 60%% failed DNS (HTTP skipped, no lead), 30%% passed DNS and HTTP, half of those leads; outcomes hashed from the index, so every page has the same mix. "+
		"Tallies: DNS failed %s, DNS ok %s, HTTP ok %s, leads %s, pending %s.\n", thousands(c.DNSFailed), thousands(c.DNSOK), thousands(c.HTTPOK), thousands(c.LeadMatch), thousands(c.Generated-c.DNSOK-c.DNSFailed))
	fmt.Fprintln(w)
	fmt.Fprintln(w, "### Seeding")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Through `store.InsertDomains` in calls of 10,000 (one transaction each, INSERTs of 1,000 rows with ON CONFLICT DO NOTHING and the tally update); "+
		"the baseline is pgx `COPY` of the same rows into a table made `LIKE domains INCLUDING ALL` (same indexes, no foreign key), "+
		"chunk by chunk alternating with InsertDomains' chunks (either one first, in turn) so that both tables grow alike and share the noise; "+
		"Go values built outside the timing in both. One pass.")
	fmt.Fprintln(w)
	r.seeding(w)
	fmt.Fprintln(w)
	fmt.Fprintln(w, "### Domain list: API against the SQL it runs")
	fmt.Fprintln(w)
	fmt.Fprintf(w, "Each scenario: one GET through the real handler (`server.New` on a loopback TCP listener, keep-alive client, body read in full) "+
		"and the same domain query run straight on the store's `*sql.DB` (the statement and arguments captured from the store, every column of every row scanned), "+
		"alternately (API then SQL, then SQL then API, …) so both share the noise; %d warm-up pairs, then at least %d pairs and %s, at most %s. "+
		"Times in milliseconds; p99 is nearest-rank (with fewer than 100 pairs it is the slowest).\n", r.Warmup, r.Iters, r.MinTime, r.MaxTime)
	fmt.Fprintln(w)
	r.table(w)
	fmt.Fprintln(w)
	fmt.Fprintln(w, "- Overhead = API p50 − SQL p50 (what the goal is judged on); API/SQL = API p50 ÷ SQL p50; "+
		"*Paired Δ p50* = the median of each pair's API − SQL, less swayed by noise that hits both halves of a pair; "+
		"the interval is a 95% bootstrap interval of the overhead (pairs resampled 2,000 times).")
	fmt.Fprintln(w, "- The overhead includes authentication and the campaign lookup: before the domain query the API looks up the token and then the campaign by (id, user); "+
		"the SQL baseline is the domain query alone. *Lookups p50* is those two queries alone, run as raw SQL in the same iterations; "+
		"the rest of the overhead is HTTP, routing, OpenAPI validation, decoding the JSON result columns and encoding the page.")
	fmt.Fprintln(w, "- The status summary's SQL is the campaign row by (id, user), the only query that endpoint runs after authentication.")
	fmt.Fprintln(w, "- Cursors are the `next_cursor` the API gave for `limit=1` at the offset just before the same depth, so the cursor page and the offset page return the same rows.")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "### Queries")
	fmt.Fprintln(w)
	for _, res := range r.Results {
		fmt.Fprintf(w, "- %s: `GET %s`\n  ```sql\n  %s\n  ```\n  arguments: `%s`\n", res.Name, res.Path, res.SQL.SQL, formatArgs(res.SQL.Args))
	}
	if r.Explain != "" {
		fmt.Fprintln(w)
		fmt.Fprintf(w, "### Plan of the slowest query: %s\n\n", r.ExplainOf)
		fmt.Fprintln(w, "`EXPLAIN (ANALYZE, BUFFERS)` with the arguments inlined (a custom plan):")
		fmt.Fprintf(w, "\n```\n%s\n```\n", r.Explain)
		if r.ExplainGeneric != "" {
			fmt.Fprintln(w, "\nThe same as a prepared statement with `plan_cache_mode = force_generic_plan` (what a cached statement may switch to after five runs):")
			fmt.Fprintf(w, "\n```\n%s\n```\n", r.ExplainGeneric)
		}
	}
}

func formatArgs(args []any) string {
	parts := make([]string, len(args))
	for i, a := range args {
		parts[i] = fmt.Sprintf("$%d=%s", i+1, literal(a))
	}
	return strings.Join(parts, ", ")
}

// literal renders an argument as a PostgreSQL literal.
func literal(a any) string {
	switch v := a.(type) {
	case uuid.UUID:
		return "'" + v.String() + "'"
	case string:
		return "'" + strings.ReplaceAll(v, "'", "''") + "'"
	case domainflow.State:
		return fmt.Sprint(int16(v))
	default:
		return fmt.Sprint(v)
	}
}

// explain runs EXPLAIN ANALYZE for the list scenario whose SQL is slowest.
func (r *report) explain(ctx context.Context, db *store.DB) {
	var slow *result
	for _, res := range r.Results {
		if strings.Contains(res.SQL.SQL, "FROM domains") && (slow == nil || res.sqlP50() > slow.sqlP50()) {
			slow = res
		}
	}
	if slow == nil {
		return
	}
	r.ExplainOf = slow.Name
	conn, err := db.SQL().Conn(ctx)
	if err != nil {
		logf("EXPLAIN: %v", err)
		return
	}
	defer conn.Close()
	args := append([]any{pgx.QueryExecModeSimpleProtocol}, slow.SQL.Args...)
	if r.Explain, err = planText(ctx, conn, "EXPLAIN (ANALYZE, BUFFERS) "+slow.SQL.SQL, args...); err != nil {
		logf("EXPLAIN: %v", err)
		r.Explain = ""
	}
	lits := make([]string, len(slow.SQL.Args))
	for i, a := range slow.SQL.Args {
		lits[i] = literal(a)
	}
	steps := []string{"PREPARE bench_slow AS " + slow.SQL.SQL, "SET plan_cache_mode = force_generic_plan"}
	for _, s := range steps {
		if _, err := conn.ExecContext(ctx, s, pgx.QueryExecModeSimpleProtocol); err != nil {
			logf("generic plan: %v", err)
			return
		}
	}
	defer conn.ExecContext(context.Background(), "DEALLOCATE bench_slow; RESET plan_cache_mode", pgx.QueryExecModeSimpleProtocol)
	if r.ExplainGeneric, err = planText(ctx, conn, "EXPLAIN (ANALYZE, BUFFERS) EXECUTE bench_slow("+strings.Join(lits, ", ")+")",
		pgx.QueryExecModeSimpleProtocol); err != nil {
		logf("generic plan: %v", err)
		r.ExplainGeneric = ""
	}
}

func planText(ctx context.Context, conn *sql.Conn, q string, args ...any) (string, error) {
	rows, err := conn.QueryContext(ctx, q, args...)
	if err != nil {
		return "", err
	}
	defer rows.Close()
	var lines []string
	for rows.Next() {
		var l string
		if err := rows.Scan(&l); err != nil {
			return "", err
		}
		lines = append(lines, l)
	}
	return strings.Join(lines, "\n"), rows.Err()
}
