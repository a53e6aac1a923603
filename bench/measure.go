package main

import (
	"context"
	"database/sql"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"gorm.io/gorm"

	"github.com/domainflow/domainflow"
	"github.com/domainflow/domainflow/store"
)

type bench struct {
	o      options
	db     *store.DB
	fx     *fixture
	base   string
	client *http.Client

	// lookups are the queries the API runs before the domain query: the
	// token, then the campaign by (id, user). Timed together as one more
	// baseline, they show how much of the overhead is database round trips.
	lookups []query
}

// query is one SQL statement with its arguments, as the store sent it.
type query struct {
	SQL  string
	Args []any
}

// scenario is one API request and the SQL the store runs for it.
type scenario struct {
	name     string
	path     string // path and query of the API request
	sql      query
	wantRows int     // rows the SQL returns (limit+1 for a list)
	wantIdx  []int64 // offset_index of the API page's items, nil for the summary
}

// captureSQL runs f with a GORM callback recording the statements the store
// sends, and returns them. The callback is removed before it returns, so the
// measured requests run without it.
func captureSQL(db *store.DB, f func() error) ([]query, error) {
	var got []query
	record := func(tx *gorm.DB) {
		got = append(got, query{SQL: tx.Statement.SQL.String(), Args: slices.Clone(tx.Statement.Vars)})
	}
	cb := db.Gorm().Callback()
	if err := cb.Query().After("gorm:query").Register("bench:capture", record); err != nil {
		return nil, err
	}
	defer cb.Query().Remove("bench:capture")
	if err := cb.Row().After("gorm:row").Register("bench:capture", record); err != nil {
		return nil, err
	}
	defer cb.Row().Remove("bench:capture")
	if err := f(); err != nil {
		return nil, err
	}
	return got, nil
}

// lastQuery returns the last captured statement that mentions want.
func lastQuery(qs []query, want string) (query, error) {
	for i := len(qs) - 1; i >= 0; i-- {
		if strings.Contains(qs[i].SQL, want) {
			return qs[i], nil
		}
	}
	return query{}, fmt.Errorf("the store sent no statement mentioning %q (got %d statements)", want, len(qs))
}

// decodeCursor mirrors server/domains.go: "o" and an offset_index, in
// unpadded base64url.
func decodeCursor(s string) (int64, error) {
	raw, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return 0, err
	}
	rest, ok := strings.CutPrefix(string(raw), "o")
	if !ok {
		return 0, fmt.Errorf("cursor %q: unknown kind", s)
	}
	return strconv.ParseInt(rest, 10, 64)
}

// withQuery appends the non-empty parameters to path.
func withQuery(path string, params ...string) string {
	for _, p := range params {
		if p == "" {
			continue
		}
		if strings.Contains(path, "?") {
			path += "&" + p
		} else {
			path += "?" + p
		}
	}
	return path
}

type apiPage struct {
	Items []struct {
		OffsetIndex int64 `json:"offset_index"`
	} `json:"items"`
	NextCursor *string `json:"next_cursor"`
	HasMore    bool    `json:"has_more"`
	Total      int64   `json:"total"`
}

func (b *bench) get(ctx context.Context, path string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, b.base+path, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+b.fx.token)
	res, err := b.client.Do(req)
	if err != nil {
		return nil, err
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	if err != nil {
		return nil, err
	}
	if res.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: %s: %.300s", path, res.Status, body)
	}
	return body, nil
}

// cursorAt asks the API for the row at offset-1 and returns its next_cursor,
// the cursor a client paging from the start would hold at that depth.
func (b *bench) cursorAt(ctx context.Context, listPath string, offset int64) (string, error) {
	body, err := b.get(ctx, withQuery(listPath, "limit=1", fmt.Sprintf("offset=%d", offset-1)))
	if err != nil {
		return "", err
	}
	var p apiPage
	if err := json.Unmarshal(body, &p); err != nil {
		return "", err
	}
	if p.NextCursor == nil {
		return "", fmt.Errorf("no next_cursor at offset %d", offset-1)
	}
	return *p.NextCursor, nil
}

func (b *bench) scenarios(ctx context.Context) ([]scenario, error) {
	fx, c := b.fx, b.fx.campaign
	const limit = 50
	campaignPath := "/api/v1/campaigns/" + c.ID.String()
	all := campaignPath + "/domains"
	failedDNS := campaignPath + "/domains?status=failed&phase=dns"

	// The queries the API runs before the domain query.
	qs, err := captureSQL(b.db, func() error {
		if _, err := b.db.Authenticate(ctx, fx.token); err != nil {
			return err
		}
		_, err := b.db.GetCampaign(ctx, fx.userID, c.ID)
		return err
	})
	if err != nil {
		return nil, err
	}
	tokenQ, err := lastQuery(qs, "api_tokens")
	if err != nil {
		return nil, err
	}
	campaignQ, err := lastQuery(qs, "campaigns")
	if err != nil {
		return nil, err
	}
	b.lookups = []query{tokenQ, campaignQ}

	type listCase struct {
		name   string
		path   string // without the paging parameters
		filter domainflow.DomainFilter
		depth  int64
	}
	cases := []listCase{
		{"all", all, domainflow.DomainFilter{}, fx.depth},
		{"status=failed&phase=dns", failedDNS, domainflow.DomainFilter{Status: "failed", Phase: "dns"}, fx.filteredDepth},
	}
	var out []scenario
	for _, lc := range cases {
		cursor, err := b.cursorAt(ctx, lc.path, lc.depth)
		if err != nil {
			return nil, fmt.Errorf("%s: cursor at %d: %w", lc.name, lc.depth, err)
		}
		after, err := decodeCursor(cursor)
		if err != nil {
			return nil, err
		}
		pages := []struct {
			label string
			query string
			page  domainflow.PageRequest
		}{
			{"first page", "", domainflow.PageRequest{Limit: limit, After: -1}},
			{"offset " + thousands(lc.depth), fmt.Sprintf("offset=%d", lc.depth), domainflow.PageRequest{Limit: limit, Offset: lc.depth, After: -1}},
			{"cursor at " + thousands(lc.depth), "cursor=" + cursor, domainflow.PageRequest{Limit: limit, After: after}},
		}
		for _, p := range pages {
			var page *domainflow.DomainPage
			qs, err := captureSQL(b.db, func() error {
				var err error
				page, err = b.db.ListDomains(ctx, fx.userID, c.ID, lc.filter, p.page)
				return err
			})
			if err != nil {
				return nil, err
			}
			q, err := lastQuery(qs, "FROM domains")
			if err != nil {
				return nil, err
			}
			sc := scenario{
				name: p.label + " (" + lc.name + ")", path: withQuery(lc.path, fmt.Sprintf("limit=%d", limit), p.query),
				sql: q, wantRows: len(page.Items),
			}
			if page.HasMore {
				sc.wantRows++
			}
			for _, d := range page.Items {
				sc.wantIdx = append(sc.wantIdx, d.OffsetIndex)
			}
			if len(sc.wantIdx) != limit {
				return nil, fmt.Errorf("%s: the store returned %d rows; want %d", sc.name, len(sc.wantIdx), limit)
			}
			out = append(out, sc)
		}
	}
	out = append(out, scenario{name: "status summary", path: campaignPath + "/domains/status", sql: campaignQ, wantRows: 1})
	return out, nil
}

// runSQL runs q on the store's pool and scans every column of every row.
func runSQL(ctx context.Context, db *sql.DB, q query) (rows int, first []int64, err error) {
	rs, err := db.QueryContext(ctx, q.SQL, q.Args...)
	if err != nil {
		return 0, nil, err
	}
	defer rs.Close()
	cols, err := rs.Columns()
	if err != nil {
		return 0, nil, err
	}
	vals := make([]any, len(cols))
	ptrs := make([]any, len(cols))
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	for rs.Next() {
		if err := rs.Scan(ptrs...); err != nil {
			return 0, nil, err
		}
		rows++
		if v, ok := vals[0].(int64); ok {
			first = append(first, v)
		}
	}
	return rows, first, rs.Err()
}

type result struct {
	Name              string
	Path              string
	SQL               query
	N                 int
	API, SQLT, Lookup []time.Duration    // sorted
	Diff              []time.Duration    // API − SQL of each pair, sorted
	pairs             [][2]time.Duration // API and SQL of each pair, in order
	lo, hi            time.Duration      // 95% bootstrap interval of the overhead
	Elapsed           time.Duration
}

func (b *bench) measure(ctx context.Context, sc scenario) (*result, error) {
	sqlDB := b.db.SQL()

	// Check once that the API and the SQL return the same page.
	body, err := b.get(ctx, sc.path)
	if err != nil {
		return nil, err
	}
	n, first, err := runSQL(ctx, sqlDB, sc.sql)
	if err != nil {
		return nil, fmt.Errorf("SQL: %w", err)
	}
	if n != sc.wantRows {
		return nil, fmt.Errorf("SQL returned %d rows; want %d", n, sc.wantRows)
	}
	if sc.wantIdx != nil {
		var p apiPage
		if err := json.Unmarshal(body, &p); err != nil {
			return nil, err
		}
		got := make([]int64, len(p.Items))
		for i, it := range p.Items {
			got[i] = it.OffsetIndex
		}
		if !slices.Equal(got, sc.wantIdx) || !slices.Equal(first[:len(sc.wantIdx)], sc.wantIdx) {
			return nil, fmt.Errorf("API and SQL pages differ: API %v…, SQL %v…", got[:min(3, len(got))], first[:min(3, len(first))])
		}
	}

	apiOnce := func() (time.Duration, error) {
		t0 := time.Now()
		_, err := b.get(ctx, sc.path)
		return time.Since(t0), err
	}
	sqlOnce := func() (time.Duration, error) {
		t0 := time.Now()
		n, _, err := runSQL(ctx, sqlDB, sc.sql)
		d := time.Since(t0)
		if err == nil && n != sc.wantRows {
			err = fmt.Errorf("SQL returned %d rows; want %d", n, sc.wantRows)
		}
		return d, err
	}
	lookupOnce := func() (time.Duration, error) {
		t0 := time.Now()
		for _, q := range b.lookups {
			if _, _, err := runSQL(ctx, sqlDB, q); err != nil {
				return 0, err
			}
		}
		return time.Since(t0), nil
	}
	// pair runs the API and the SQL back to back, alternating which goes
	// first so that neither always finds the other's cache warmth.
	pair := func(i int) (a, s, l time.Duration, err error) {
		if i%2 == 0 {
			if a, err = apiOnce(); err != nil {
				return
			}
			if s, err = sqlOnce(); err != nil {
				return
			}
		} else {
			if s, err = sqlOnce(); err != nil {
				return
			}
			if a, err = apiOnce(); err != nil {
				return
			}
		}
		l, err = lookupOnce()
		return
	}

	warm := time.Now()
	for i := 0; i < b.o.warmup || (time.Since(warm) < 500*time.Millisecond && time.Since(warm) < b.o.maxTime/4); i++ {
		if _, _, _, err := pair(i); err != nil {
			return nil, err
		}
	}
	r := &result{Name: sc.name, Path: sc.path, SQL: sc.sql}
	start := time.Now()
	for i := 0; ; i++ {
		el := time.Since(start)
		if (i >= b.o.iters && el >= b.o.minTime) || el >= b.o.maxTime {
			break
		}
		if err := ctx.Err(); err != nil {
			if i >= 5 {
				break // -max-duration: report what we have
			}
			return nil, err
		}
		a, s, l, err := pair(i)
		if err != nil {
			return nil, err
		}
		r.API, r.SQLT, r.Lookup = append(r.API, a), append(r.SQLT, s), append(r.Lookup, l)
		r.Diff = append(r.Diff, a-s)
		r.pairs = append(r.pairs, [2]time.Duration{a, s})
	}
	r.Elapsed = time.Since(start)
	r.N = len(r.API)
	slices.Sort(r.API)
	slices.Sort(r.SQLT)
	slices.Sort(r.Lookup)
	slices.Sort(r.Diff)
	r.lo, r.hi = bootstrap(r.pairs)
	return r, nil
}

// bootstrap returns a 95% percentile interval of median(API) − median(SQL),
// resampling whole pairs so that noise shared by a pair stays shared.
func bootstrap(pairs [][2]time.Duration) (lo, hi time.Duration) {
	const rounds = 2000
	if len(pairs) < 2 {
		return 0, 0
	}
	rng := rand.New(rand.NewPCG(1, uint64(len(pairs))))
	a := make([]time.Duration, len(pairs))
	s := make([]time.Duration, len(pairs))
	est := make([]time.Duration, rounds)
	for k := range est {
		for i := range pairs {
			p := pairs[rng.IntN(len(pairs))]
			a[i], s[i] = p[0], p[1]
		}
		slices.Sort(a)
		slices.Sort(s)
		est[k] = quantile(a, 0.5) - quantile(s, 0.5)
	}
	slices.Sort(est)
	return est[rounds*25/1000], est[rounds*975/1000-1]
}

// quantile is the nearest-rank quantile of sorted durations.
func quantile(sorted []time.Duration, q float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	if q == 0.5 && len(sorted)%2 == 0 {
		m := len(sorted) / 2
		return (sorted[m-1] + sorted[m]) / 2
	}
	i := int(q*float64(len(sorted))+0.999999) - 1
	return sorted[max(0, min(i, len(sorted)-1))]
}

func (r *result) apiP50() time.Duration    { return quantile(r.API, 0.5) }
func (r *result) apiP99() time.Duration    { return quantile(r.API, 0.99) }
func (r *result) sqlP50() time.Duration    { return quantile(r.SQLT, 0.5) }
func (r *result) sqlP99() time.Duration    { return quantile(r.SQLT, 0.99) }
func (r *result) lookupP50() time.Duration { return quantile(r.Lookup, 0.5) }
func (r *result) overhead() time.Duration  { return r.apiP50() - r.sqlP50() }
func (r *result) pairedP50() time.Duration { return quantile(r.Diff, 0.5) }
func (r *result) ratio() float64           { return float64(r.apiP50()) / float64(r.sqlP50()) }

func (r *result) oneLine() string {
	return fmt.Sprintf("n=%d API p50 %s p99 %s | SQL p50 %s p99 %s | overhead %s (×%.2f)",
		r.N, ms(r.apiP50()), ms(r.apiP99()), ms(r.sqlP50()), ms(r.sqlP99()), ms(r.overhead()), r.ratio())
}

func ms(d time.Duration) string {
	return strconv.FormatFloat(float64(d)/float64(time.Millisecond), 'f', 3, 64) + " ms"
}
