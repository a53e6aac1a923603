package tests

import (
	"context"
	"database/sql"
	"fmt"
	"net/http"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/domainflow/domainflow"
	"github.com/domainflow/domainflow/gen/api"
	"github.com/domainflow/domainflow/generate"
	"github.com/domainflow/domainflow/store"
)

// engineFlags make the engine take short steps and give up on a dead
// instance's campaign quickly, so that the engine tests stay short.
var engineFlags = []string{"--step-time", "300ms", "--job-timeout", "4s"}

// eachEngineDialect is eachDialect with a server started with engineFlags.
func eachEngineDialect(t *testing.T, f func(t *testing.T, s *testServer)) {
	t.Helper()
	eachDialectWith(t, func(t *testing.T, d string) *testServer { return startServer(t, d, engineFlags...) }, f)
}

// eachLongEngineDialect is eachEngineDialect for the long tests, whose
// servers start ahead of the others waiting (see takeFirst).
func eachLongEngineDialect(t *testing.T, f func(t *testing.T, s *testServer)) {
	t.Helper()
	eachDialectWith(t, func(t *testing.T, d string) *testServer {
		takeFirst(t, d, 1)
		return startServer(t, d, engineFlags...)
	}, f)
}

// namesOf returns the names a generation config yields, in offset order,
// computed the way the engine does.
func namesOf(t *testing.T, g api.GenerationConfig) []string {
	t.Helper()
	gen, err := generate.New(domainflow.GenerationConfig{
		PatternType: string(g.PatternType), ConstantString: deref(g.ConstantString), CharacterSet: g.CharacterSet,
		VariableLength: g.VariableLength, TLDs: g.Tlds, MaxDomains: g.MaxDomains,
	})
	if err != nil {
		t.Fatalf("generator: %v", err)
	}
	out := make([]string, gen.Total())
	for i := range out {
		out[i], _ = gen.Name(int64(i))
	}
	return out
}

func prefixGen(constant, charset string, length int, tlds []string, maxDomains int64) api.GenerationConfig {
	return api.GenerationConfig{PatternType: api.Prefix, ConstantString: ptr(constant), CharacterSet: charset,
		VariableLength: length, Tlds: tlds, MaxDomains: maxDomains}
}

// wantDomain is what the API must show of one domain once its campaign has
// completed.
type wantDomain struct {
	dnsStatus api.DNSStatus
	dnsReason api.DNSResultReason // "" for none

	httpStatus    api.HTTPStatus
	statusCode    int // 0: none
	title         string
	keywords      []string
	finalPath     string // "": no final_url; else the final URL is this path on the name
	httpError     bool   // http_result.error must be set (and must not be otherwise)
	errorHas      string // a substring of http_result.error (case-insensitive)
	contentLength int64  // -1: not checked

	score int
	lead  api.LeadStatus
}

// dnsFailed is a domain that DNS rejected: never fetched, no lead.
func dnsFailed(status api.DNSStatus, reason api.DNSResultReason) wantDomain {
	return wantDomain{dnsStatus: status, dnsReason: reason, httpStatus: api.HTTPStatusSkipped, contentLength: -1, lead: api.LeadStatusNoMatch}
}

// fetched is a domain that resolved and answered over HTTP. The campaigns
// of these tests all have keywords, so a lead needs one found as well as
// the score.
func fetched(code int, title string, keywords []string, finalPath string, score int, minScore int) wantDomain {
	lead := api.LeadStatusNoMatch
	if score >= minScore && len(keywords) > 0 {
		lead = api.LeadStatusMatch
	}
	return wantDomain{dnsStatus: api.DNSStatusOk, httpStatus: api.HTTPStatusOk, statusCode: code, title: title, keywords: keywords,
		finalPath: finalPath, contentLength: -1, score: score, lead: lead}
}

// fetchFailed is a domain that resolved but whose fetch failed: no lead.
func fetchFailed(status api.HTTPStatus, code int, title string, keywords []string, finalPath, errorHas string) wantDomain {
	return wantDomain{dnsStatus: api.DNSStatusOk, httpStatus: status, statusCode: code, title: title, keywords: keywords,
		finalPath: finalPath, httpError: true, errorHas: errorHas, contentLength: -1, lead: api.LeadStatusNoMatch}
}

func (w wantDomain) status() api.DomainFilterStatus {
	if w.lead == api.LeadStatusMatch {
		return api.DomainFilterStatusValidated
	}
	return api.DomainFilterStatusFailed
}

// checkEnv is where a campaign's checks went.
type checkEnv struct {
	resolver string   // the DNS server's host:port
	web      *testWeb // the web server
	proxyID  *uuid.UUID
}

// checkDomain compares one domain with what it must be.
func checkDomain(t *testing.T, got api.Domain, name string, w wantDomain, env checkEnv) {
	t.Helper()
	var errs []string
	bad := func(format string, args ...any) { errs = append(errs, fmt.Sprintf(format, args...)) }
	if got.Name != name {
		bad("name %q, want %q", got.Name, name)
	}
	if got.DnsStatus != w.dnsStatus {
		bad("dns_status %q, want %q", got.DnsStatus, w.dnsStatus)
	}
	if r := got.DnsResult; r == nil {
		bad("no dns_result")
	} else {
		if r.Status != w.dnsStatus {
			bad("dns_result.status %q, want %q", r.Status, w.dnsStatus)
		}
		if string(deref(r.Reason)) != string(w.dnsReason) {
			bad("dns_result.reason %q, want %q", deref(r.Reason), w.dnsReason)
		}
		if w.dnsStatus == api.DNSStatusOk {
			if !slices.Equal(deref(r.Addresses), []string{"127.0.0.1"}) {
				bad("dns_result.addresses %q, want [127.0.0.1]", deref(r.Addresses))
			}
		} else if r.Addresses != nil && len(*r.Addresses) > 0 {
			bad("dns_result.addresses %q on a failure", *r.Addresses)
		}
		switch w.dnsReason {
		case api.DNSResultReasonTimeout, api.DNSResultReasonNetwork:
			// Nobody answered (or nothing usable came): a resolver may or
			// may not be named, but never another one.
			if r.Resolver != nil && *r.Resolver != env.resolver {
				bad("dns_result.resolver %q, want none or %q", *r.Resolver, env.resolver)
			}
		default:
			if deref(r.Resolver) != env.resolver {
				bad("dns_result.resolver %q, want %q (the server that answered)", deref(r.Resolver), env.resolver)
			}
		}
		if w.dnsStatus != api.DNSStatusOk && w.dnsReason != api.DNSResultReasonNxdomain && w.dnsReason != api.DNSResultReasonNoAnswer &&
			strings.TrimSpace(deref(r.Error)) == "" {
			bad("dns_result.error empty for a %s failure", w.dnsReason)
		}
		if r.CheckedAt == nil || r.CheckedAt.IsZero() {
			bad("dns_result.checked_at missing")
		}
	}

	if got.HttpStatus != w.httpStatus {
		bad("http_status %q, want %q", got.HttpStatus, w.httpStatus)
	}
	if w.httpStatus == api.HTTPStatusSkipped {
		if got.HttpResult != nil {
			bad("http_result %s for a domain never fetched", mustJSON(got.HttpResult))
		}
	} else if r := got.HttpResult; r == nil {
		bad("no http_result")
	} else {
		if r.Status != w.httpStatus {
			bad("http_result.status %q, want %q", r.Status, w.httpStatus)
		}
		if deref(r.StatusCode) != w.statusCode {
			bad("http_result.status_code %d, want %d", deref(r.StatusCode), w.statusCode)
		}
		if deref(r.Title) != w.title {
			bad("http_result.title %q, want %q", deref(r.Title), w.title)
		}
		if !slices.Equal(deref(r.KeywordsFound), w.keywords) {
			bad("http_result.keywords_found %q, want %q", deref(r.KeywordsFound), w.keywords)
		}
		if wantURL := env.web.url(name, "/"); deref(r.Url) != wantURL {
			bad("http_result.url %q, want %q", deref(r.Url), wantURL)
		}
		wantFinal := ""
		if w.finalPath != "" {
			wantFinal = env.web.url(name, w.finalPath)
		}
		if deref(r.FinalUrl) != wantFinal {
			bad("http_result.final_url %q, want %q", deref(r.FinalUrl), wantFinal)
		}
		switch e := strings.TrimSpace(deref(r.Error)); {
		case w.httpError && e == "":
			bad("http_result.error empty for a failed fetch")
		case !w.httpError && e != "":
			bad("http_result.error %q on a fetch that worked", e)
		case w.errorHas != "" && !strings.Contains(strings.ToLower(e), strings.ToLower(w.errorHas)):
			bad("http_result.error %q, want it to mention %q", e, w.errorHas)
		}
		if w.contentLength >= 0 && deref(r.ContentLength) != w.contentLength {
			bad("http_result.content_length %d, want %d", deref(r.ContentLength), w.contentLength)
		}
		switch {
		case env.proxyID == nil && r.ProxyId != nil:
			bad("http_result.proxy_id %s, want none (no proxy configured)", r.ProxyId)
		case env.proxyID != nil && (r.ProxyId == nil || *r.ProxyId != *env.proxyID):
			bad("http_result.proxy_id %v, want %s", deref(r.ProxyId), *env.proxyID)
		}
		if r.CheckedAt == nil || r.CheckedAt.IsZero() {
			bad("http_result.checked_at missing")
		}
	}
	if got.LeadScore != w.score {
		bad("lead_score %d, want %d", got.LeadScore, w.score)
	}
	if w.httpStatus == api.HTTPStatusOk || w.httpError {
		// Scored: the breakdown explains the score.
		sum := 0
		for _, p := range deref(got.ScoreBreakdown) {
			sum += p.Points
		}
		if got.ScoreBreakdown == nil || sum != got.LeadScore {
			bad("score_breakdown %v adds up to %d, lead_score %d", deref(got.ScoreBreakdown), sum, got.LeadScore)
		}
	}
	if got.LeadStatus != w.lead {
		bad("lead_status %q, want %q", got.LeadStatus, w.lead)
	}
	if got.Status != w.status() {
		bad("status %q, want %q", got.Status, w.status())
	}
	if len(errs) > 0 {
		t.Errorf("domain %d %s:\n\t%s\n\tgot %s", got.OffsetIndex, name, strings.Join(errs, "\n\t"), mustJSON(got))
	}
}

// tally is what a completed campaign's summary must count.
type tally struct {
	total                           int64
	dnsOK, dnsFailed, dnsWildcard   int64
	httpOK, httpFailed, httpSkipped int64
	match, noMatch                  int64
}

func tallyOf(wants []wantDomain) tally {
	c := tally{total: int64(len(wants))}
	for _, w := range wants {
		if w.dnsStatus == api.DNSStatusOk {
			c.dnsOK++
		} else {
			c.dnsFailed++
		}
		if w.dnsReason == api.DNSResultReasonWildcard {
			c.dnsWildcard++
		}
		switch w.httpStatus {
		case api.HTTPStatusOk:
			c.httpOK++
		case api.HTTPStatusSkipped:
			c.httpSkipped++
		default:
			c.httpFailed++
		}
		if w.lead == api.LeadStatusMatch {
			c.match++
		} else {
			c.noMatch++
		}
	}
	return c
}

// checkSummary compares a completed campaign's status summary with the
// tally, count by count.
func checkSummary(t *testing.T, what string, got api.StatusSummary, c tally) {
	t.Helper()
	skipped, wildcard := c.httpSkipped, c.dnsWildcard
	want := api.StatusSummary{
		CampaignId:   got.CampaignId,
		Status:       api.CampaignStatusCompleted,
		CurrentPhase: ptr(api.PhaseAnalysis),
		TotalDomains: c.total,
		Generated:    c.total,
		Overall:      api.PhaseCounts{Generated: c.total, Validated: c.match, Failed: c.total - c.match},
		Dns:          api.PhaseCounts{Generated: 0, Validated: c.dnsOK, Failed: c.dnsFailed, Wildcard: &wildcard},
		Http:         api.PhaseCounts{Generated: 0, Validated: c.httpOK, Failed: c.httpFailed, Skipped: &skipped},
		Analysis:     api.PhaseCounts{Generated: 0, Validated: c.match, Failed: c.noMatch},
		Leads:        c.match,
		Progress:     api.Progress{Processed: 4 * c.total, Total: 4 * c.total, Percent: 100},
		UpdatedAt:    got.UpdatedAt,
	}
	if g, w := mustJSON(got), mustJSON(want); g != w {
		t.Errorf("%s: status summary\n\tgot  %s\n\twant %s", what, g, w)
	}
	// The tallies must add up, whatever was expected.
	if got.Dns.Validated+got.Dns.Failed+got.Dns.Generated != got.TotalDomains ||
		got.Http.Validated+got.Http.Failed+deref(got.Http.Skipped)+got.Http.Generated != got.TotalDomains ||
		got.Analysis.Validated+got.Analysis.Failed+got.Analysis.Generated != got.TotalDomains ||
		// Skipped: every DNS failure, and the names found without an
		// address (by their NS or MX).
		deref(got.Http.Skipped) < got.Dns.Failed || got.Http.Validated+got.Http.Failed+deref(got.Http.Skipped)-got.Dns.Failed != got.Dns.Validated {
		t.Errorf("%s: the summary's counts do not add up: %s", what, mustJSON(got))
	}
}

// summary reads a campaign's status summary.
func (u *apiUser) summary(ctx context.Context, t *testing.T, id uuid.UUID) api.StatusSummary {
	t.Helper()
	r, err := u.api().GetDomainStatusSummaryWithResponse(ctx, id, nil)
	mustStatus(t, "status summary", r, err, 200)
	return *r.JSON200
}

// waitFor polls a campaign's status summary until done says so, for at most
// within; it fails the test when the time is up or the campaign ends
// otherwise (failed, or a status done does not accept).
func (u *apiUser) waitFor(ctx context.Context, t *testing.T, id uuid.UUID, within time.Duration, what string, done func(api.StatusSummary) bool) api.StatusSummary {
	t.Helper()
	deadline := time.Now().Add(within)
	var last api.StatusSummary
	for {
		r, err := u.api().GetDomainStatusSummaryWithResponse(ctx, id, nil)
		if err == nil && r.StatusCode() == 200 {
			last = *r.JSON200
			if done(last) {
				return last
			}
			if last.Status == api.CampaignStatusFailed {
				c, _ := u.api().GetCampaignWithResponse(ctx, id, nil)
				msg := ""
				if c != nil && c.JSON200 != nil {
					msg = deref(c.JSON200.Error)
				}
				t.Fatalf("campaign %s failed while waiting for %s: error %q; summary %s", id, what, msg, mustJSON(last))
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("campaign %s: no %s within %v; last summary %s", id, what, within, mustJSON(last))
		}
		select {
		case <-ctx.Done():
			t.Fatalf("campaign %s: waiting for %s: %v", id, what, ctx.Err())
		case <-time.After(150 * time.Millisecond):
		}
	}
}

func completed(s api.StatusSummary) bool { return s.Status == api.CampaignStatusCompleted }

// dnsDone is how many domains DNS has checked.
func dnsDone(s api.StatusSummary) int64 { return s.Dns.Validated + s.Dns.Failed }

// allDomains lists a campaign's domains (at most 1000 a page) with a filter.
func (u *apiUser) allDomains(ctx context.Context, t *testing.T, id uuid.UUID, p api.ListDomainsParams) ([]api.Domain, int64) {
	t.Helper()
	var out []api.Domain
	var total int64
	p.Limit = ptr(1000)
	for pages := 0; ; pages++ {
		if pages > 100 {
			t.Fatalf("listing domains does not end")
		}
		r, err := u.api().ListDomainsWithResponse(ctx, id, &p)
		mustStatus(t, "list domains", r, err, 200)
		out = append(out, r.JSON200.Items...)
		total = r.JSON200.Total
		if !r.JSON200.HasMore {
			return out, total
		}
		p.Offset, p.Cursor = nil, r.JSON200.NextCursor
	}
}

// checkDomains checks every domain of a completed campaign against wants
// (indexed by offset), then the summary, then that every filter of the list
// agrees with them.
func checkDomains(ctx context.Context, t *testing.T, u *apiUser, id uuid.UUID, names []string, wants []wantDomain, env checkEnv) {
	t.Helper()
	got, total := u.allDomains(ctx, t, id, api.ListDomainsParams{})
	if len(got) != len(wants) || total != int64(len(wants)) {
		t.Fatalf("campaign %s lists %d domains (total %d), want %d", id, len(got), total, len(wants))
	}
	for i, d := range got {
		if d.OffsetIndex != int64(i) {
			t.Fatalf("domain %d of the list has offset_index %d", i, d.OffsetIndex)
		}
		checkDomain(t, d, names[i], wants[i], env)
	}
	checkSummary(t, "completed campaign", u.summary(ctx, t, id), tallyOf(wants))
	checkFilters(ctx, t, u, id, wants)
}

// checkFilters lists the campaign with every status × phase filter and
// checks each lists exactly the expected domains, with the right total.
func checkFilters(ctx context.Context, t *testing.T, u *apiUser, id uuid.UUID, wants []wantDomain) {
	t.Helper()
	phases := []api.DomainFilterPhase{"", api.DomainFilterPhaseDns, api.DomainFilterPhaseHttp, api.DomainFilterPhaseAnalysis}
	statuses := []api.DomainFilterStatus{"", api.DomainFilterStatusGenerated, api.DomainFilterStatusValidated, api.DomainFilterStatusFailed}
	for _, ph := range phases {
		for _, st := range statuses {
			var want []int64
			for i, w := range wants {
				if filterSelects(w, st, ph) {
					want = append(want, int64(i))
				}
			}
			p := api.ListDomainsParams{}
			if ph != "" {
				p.Phase = ptr(ph)
			}
			if st != "" {
				p.Status = ptr(st)
			}
			got, total := u.allDomains(ctx, t, id, p)
			var gotIdx []int64
			for _, d := range got {
				gotIdx = append(gotIdx, d.OffsetIndex)
			}
			if !slices.Equal(gotIdx, want) || total != int64(len(want)) {
				t.Errorf("filter status=%q phase=%q: total %d, offsets %v; want total %d, offsets %v", st, ph, total, gotIdx, len(want), want)
			}
		}
	}
}

// filterSelects is the brief's filter semantics on a completed domain.
func filterSelects(w wantDomain, st api.DomainFilterStatus, ph api.DomainFilterPhase) bool {
	if st == "" || (st == api.DomainFilterStatusGenerated && ph == "") {
		return true
	}
	if st == api.DomainFilterStatusGenerated {
		return false // every phase has run on every domain
	}
	var passed, failed bool
	switch ph {
	case "":
		passed, failed = w.lead == api.LeadStatusMatch, w.lead != api.LeadStatusMatch
	case api.DomainFilterPhaseDns:
		passed, failed = w.dnsStatus == api.DNSStatusOk, w.dnsStatus != api.DNSStatusOk
	case api.DomainFilterPhaseHttp:
		passed = w.httpStatus == api.HTTPStatusOk
		failed = w.httpStatus == api.HTTPStatusError || w.httpStatus == api.HTTPStatusTimeout
	case api.DomainFilterPhaseAnalysis:
		passed, failed = w.lead == api.LeadStatusMatch, w.lead == api.LeadStatusNoMatch
	}
	if st == api.DomainFilterStatusValidated {
		return passed
	}
	return failed
}

// checkRows checks a campaign's rows in the database: exactly total rows,
// offsets 0..total-1 each once, none left unprocessed in any phase, and
// per-state counts equal to the summary's tallies (so nothing was counted
// twice or lost).
func checkRows(ctx context.Context, t *testing.T, s *testServer, id uuid.UUID, total int64, sum api.StatusSummary) {
	t.Helper()
	db := s.DB(t).Gorm().WithContext(ctx)
	var n, distinct int64
	var lo, hi sql.NullInt64
	if err := db.Raw("SELECT count(*), count(DISTINCT offset_index), min(offset_index), max(offset_index) FROM domains WHERE campaign_id = ?",
		id.String()).Row().Scan(&n, &distinct, &lo, &hi); err != nil {
		t.Fatalf("count the campaign's rows: %v", err)
	}
	if n != total || distinct != total || (total > 0 && (lo.Int64 != 0 || hi.Int64 != total-1)) {
		t.Errorf("campaign %s has %d rows (%d distinct offsets, %d..%d); want exactly %d, offsets 0..%d", id, n, distinct, lo.Int64, hi.Int64, total, total-1)
	}
	count := func(where string) int64 {
		var c int64
		if err := db.Raw("SELECT count(*) FROM domains WHERE campaign_id = ? AND "+where, id.String()).Row().Scan(&c); err != nil {
			t.Fatalf("count rows where %s: %v", where, err)
		}
		return c
	}
	const (
		pending   = domainflow.StatePending
		validated = domainflow.StateValidated
		failed    = domainflow.StateFailed
		skipped   = domainflow.StateSkipped
	)
	rows := map[string]int64{
		"pending dns":    count(fmt.Sprintf("dns_state = %d", pending)),
		"pending http":   count(fmt.Sprintf("http_state = %d", pending)),
		"pending lead":   count(fmt.Sprintf("lead_state = %d", pending)),
		"dns ok":         count(fmt.Sprintf("dns_state = %d", validated)),
		"dns failed":     count(fmt.Sprintf("dns_state = %d", failed)),
		"http ok":        count(fmt.Sprintf("http_state = %d", validated)),
		"http failed":    count(fmt.Sprintf("http_state = %d", failed)),
		"http skipped":   count(fmt.Sprintf("http_state = %d", skipped)),
		"lead match":     count(fmt.Sprintf("lead_state = %d", validated)),
		"lead no_match":  count(fmt.Sprintf("lead_state = %d", failed)),
		"overall ok":     count(fmt.Sprintf("state = %d", validated)),
		"overall failed": count(fmt.Sprintf("state = %d", failed)),
		"no dns result":  count("dns_result IS NULL"),
	}
	want := map[string]int64{
		"pending dns": 0, "pending http": 0, "pending lead": 0,
		"dns ok": sum.Dns.Validated, "dns failed": sum.Dns.Failed,
		"http ok": sum.Http.Validated, "http failed": sum.Http.Failed, "http skipped": deref(sum.Http.Skipped),
		"lead match": sum.Analysis.Validated, "lead no_match": sum.Analysis.Failed,
		"overall ok": sum.Overall.Validated, "overall failed": sum.Overall.Failed,
		"no dns result": 0,
	}
	for k, w := range want {
		if rows[k] != w {
			t.Errorf("campaign %s: %d rows are %s; the summary says %d", id, rows[k], k, w)
		}
	}
}

// TestEngineEndToEnd runs a campaign against a real DNS server and real web
// servers and checks every domain, every count and every filter.
func TestEngineEndToEnd(t *testing.T) {
	eachEngineDialect(t, func(t *testing.T, s *testServer) {
		ctx := testCtx(t)
		alice := s.newUser(t, "alice")
		gen := prefixGen("shop", "ab", 3, []string{".test", ".example"}, 100)
		names := namesOf(t, gen)
		if len(names) != 16 || names[0] != "aaashop.test" || names[1] != "aaashop.example" || names[2] != "aabshop.test" || names[15] != "bbbshop.example" {
			t.Fatalf("generated names %q: not the mixed-radix order (TLD least significant)", names)
		}
		keywords := []string{"widgets", "pricing", "contact"}
		const minScore = 40

		web := startWeb(t, nil)
		plan := []struct {
			dns  dnsAction
			page http.HandlerFunc
			want wantDomain
		}{
			// 2xx +30, title +10, +15 per keyword.
			0: {dnsAnswer, htmlPage(200, "Acme Widgets", "Buy WIDGETS at fair Pricing today"),
				fetched(200, "Acme Widgets", []string{"widgets", "pricing"}, "/", 70, minScore)},
			1: {dnsAnswer, htmlPage(200, "", "we sell Widgets"), fetched(200, "", []string{"widgets"}, "/", 45, minScore)},
			2: {dnsAnswer, htmlPage(200, "Just a Title", "nothing to see"), fetched(200, "Just a Title", nil, "/", 40, minScore)},
			3: {dnsAnswer, htmlPage(200, "", "nothing here"), fetched(200, "", nil, "/", 30, minScore)},
			4: {dnsAnswer, redirectPage("/welcome", htmlPage(200, "Welcome", "Contact us about our widgets")),
				fetched(200, "Welcome", []string{"widgets", "contact"}, "/welcome", 70, minScore)},
			5: {dnsAnswer, htmlPage(500, "Server Error", "pricing is unavailable"),
				fetched(500, "Server Error", []string{"pricing"}, "/", 25, minScore)},
			6: {dnsAnswer, slowPage(8*time.Second, htmlPage(200, "Too Late", "widgets")),
				fetchFailed(api.HTTPStatusTimeout, 0, "", nil, "", "")},
			7:  {dnsAnswer, hangUp, fetchFailed(api.HTTPStatusError, 0, "", nil, "", "")},
			8:  {dnsAnswer, halfResponse, fetchFailed(api.HTTPStatusError, 200, "Half a Page", []string{"widgets"}, "/", "")},
			9:  {dnsNXDomain, nil, dnsFailed(api.DNSStatusError, api.DNSResultReasonNxdomain)},
			10: {dnsServFail, nil, dnsFailed(api.DNSStatusError, api.DNSResultReasonServfail)},
			11: {dnsDrop, nil, dnsFailed(api.DNSStatusTimeout, api.DNSResultReasonTimeout)},
			12: {dnsRefused, nil, dnsFailed(api.DNSStatusError, api.DNSResultReasonRefused)},
			13: {dnsAnswer, htmlPage(200, "Everything", "WIDGETS, pricing and CONTACT details; widgets again"),
				fetched(200, "Everything", []string{"widgets", "pricing", "contact"}, "/", 85, minScore)},
			14: {dnsNoData, nil, dnsFailed(api.DNSStatusError, api.DNSResultReasonNoAnswer)},
			15: {dnsGarbage, nil, dnsFailed(api.DNSStatusError, api.DNSResultReasonNetwork)},
		}
		rules := map[string]dnsAction{}
		wants := make([]wantDomain, len(names))
		for i, p := range plan {
			rules[names[i]] = p.dns
			if p.page != nil {
				web.handle(names[i], p.page)
			}
			wants[i] = p.want
		}
		dnsSrv := startDNS(t, 0, func(name string) dnsAction {
			if a, ok := rules[name]; ok {
				return a
			}
			return dnsNXDomain
		})

		started := time.Now()
		cr, err := alice.api().CreateCampaignWithResponse(ctx, api.CampaignCreate{
			Name: "end to end", Generation: gen, AutoStart: ptr(true),
			Dns:      &api.DNSConfig{Resolvers: &[]string{dnsSrv.Addr}, TimeoutMs: ptr(300), Retries: ptr(0), Concurrency: ptr(8)},
			Http:     &api.HTTPConfig{Keywords: &keywords, Ports: &[]int{web.Port}, TimeoutMs: ptr(2000), Concurrency: ptr(8)},
			Analysis: &api.AnalysisConfig{MinLeadScore: ptr(minScore)},
		})
		mustStatus(t, "create campaign with auto_start", cr, err, 201)
		c := *cr.JSON201
		if c.Status != api.CampaignStatusQueued && c.Status != api.CampaignStatusRunning {
			t.Errorf("auto_start campaign answered with status %q, want queued (or running)", c.Status)
		}
		if c.TotalDomains != 16 {
			t.Errorf("total_domains = %d, want 16", c.TotalDomains)
		}
		sum := alice.waitFor(ctx, t, c.Id, 60*time.Second, "completion", completed)
		t.Logf("16-domain campaign completed in %v", time.Since(started).Round(time.Millisecond))

		checkDomains(ctx, t, alice, c.Id, names, wants, checkEnv{resolver: dnsSrv.Addr, web: web})
		checkRows(ctx, t, s, c.Id, 16, sum)

		// The checks were real: every name was asked of the DNS server, and
		// exactly the names that resolved were fetched.
		for i, n := range names {
			if q := dnsSrv.Queries(n); q < 1 {
				t.Errorf("the DNS server was never asked for %s", n)
			}
			hits := web.Hits(n)
			if wants[i].dnsStatus == api.DNSStatusOk && hits < 1 {
				t.Errorf("%s resolved but the web server never got a request for it", n)
			} else if wants[i].dnsStatus != api.DNSStatusOk && hits != 0 {
				t.Errorf("%s did not resolve but the web server got %d requests for it", n, hits)
			}
		}

		got, err := alice.api().GetCampaignWithResponse(ctx, c.Id, nil)
		mustStatus(t, "get completed campaign", got, err, 200)
		if g := got.JSON200; g.Status != api.CampaignStatusCompleted || deref(g.CurrentPhase) != api.PhaseAnalysis ||
			g.StartedAt == nil || g.CompletedAt == nil || g.CompletedAt.Before(*g.StartedAt) || g.Error != nil {
			t.Errorf("completed campaign: %s", got.Body)
		}
	})
}

// bigNXCreate is a campaign of 2,000 names that all fail DNS at once (the test
// DNS server answers NXDOMAIN), slowed by a DNS rate limit.
func bigNXCreate(name, constant string, dnsAddr string, qps int) api.CampaignCreate {
	return api.CampaignCreate{
		Name: name, Generation: prefixGen(constant, "abcdefghij", 3, []string{".test", ".example"}, 2000),
		Dns: &api.DNSConfig{Resolvers: &[]string{dnsAddr}, TimeoutMs: ptr(300), Retries: ptr(0), Concurrency: ptr(20), RateLimitQps: ptr(qps)},
	}
}

// nxTally is the summary of a completed campaign whose names all failed DNS.
func nxTally(total int64) tally {
	return tally{total: total, dnsFailed: total, httpSkipped: total, noMatch: total}
}

// TestEngineLifecycle drives the lifecycle calls against campaigns the
// engine is really working.
func TestEngineLifecycle(t *testing.T) {
	eachLongEngineDialect(t, func(t *testing.T, s *testServer) {
		ctx := testCtx(t)
		alice := s.newUser(t, "alice")
		bob := s.newUser(t, "bob")
		cl := alice.api()
		dnsSrv := startDNS(t, 0, func(string) dnsAction { return dnsNXDomain })
		create := func(body api.CampaignCreate) api.Campaign {
			t.Helper()
			r, err := cl.CreateCampaignWithResponse(ctx, body)
			mustStatus(t, "create "+body.Name, r, err, 201)
			if r.JSON201.Status != api.CampaignStatusDraft {
				t.Errorf("%s: created with status %q, want draft", body.Name, r.JSON201.Status)
			}
			return *r.JSON201
		}
		conflict := func(what string, r response, err error) {
			t.Helper()
			checkProblem(t, what, r, err, 409, "conflict")
		}

		// Start twice: the second start is a conflict.
		small := create(api.CampaignCreate{Name: "small", Generation: prefixGen("small", "ab", 3, []string{".test", ".example"}, 16),
			Dns: &api.DNSConfig{Resolvers: &[]string{dnsSrv.Addr}, TimeoutMs: ptr(300), Retries: ptr(0)}})
		st, err := cl.StartCampaignWithResponse(ctx, small.Id)
		mustStatus(t, "start", st, err, 200)
		if st.JSON200.Status != api.CampaignStatusQueued && st.JSON200.Status != api.CampaignStatusRunning {
			t.Errorf("start answered status %q, want queued", st.JSON200.Status)
		}
		st2, err := cl.StartCampaignWithResponse(ctx, small.Id)
		conflict("second start", st2, err)
		sum := alice.waitFor(ctx, t, small.Id, 60*time.Second, "completion", completed)
		checkSummary(t, "small campaign", sum, nxTally(16))
		r1, err := cl.ResumeCampaignWithResponse(ctx, small.Id)
		conflict("resume a completed campaign", r1, err)
		r2, err := cl.PauseCampaignWithResponse(ctx, small.Id)
		conflict("pause a completed campaign", r2, err)
		r3, err := cl.CancelCampaignWithResponse(ctx, small.Id)
		conflict("cancel a completed campaign", r3, err)
		r4, err := cl.StartCampaignWithResponse(ctx, small.Id)
		conflict("start a completed campaign", r4, err)
		if got := alice.summary(ctx, t, small.Id); got.Status != api.CampaignStatusCompleted {
			t.Errorf("after refused calls the campaign is %q, want still completed", got.Status)
		}

		// A proxy that is not the user's cannot be named.
		bobProxy, err := bob.api().CreateProxyWithResponse(ctx, api.ProxyCreate{Name: "bob's", Protocol: api.ProxyProtocolHttp, Host: "127.0.0.1", Port: 3128})
		mustStatus(t, "bob creates a proxy", bobProxy, err, 201)
		for _, id := range []uuid.UUID{bobProxy.JSON201.Id, uuid.New()} {
			body := api.CampaignCreate{Name: "with someone's proxy", Generation: prefixGen("x", "ab", 1, []string{".test"}, 2),
				Http: &api.HTTPConfig{ProxyIds: &[]uuid.UUID{id}}}
			r, err := cl.CreateCampaignWithResponse(ctx, body)
			p := checkProblem(t, "create with a proxy the user does not own", r, err, 422, "unprocessable")
			checkNames(t, "create with a proxy the user does not own", p, byPointer, "/http/proxy_ids/0")
		}

		// Pause a running campaign: it stops; resume: it completes.
		paused := create(bigNXCreate("pause me", "pause", dnsSrv.Addr, 400))
		cancelled := create(bigNXCreate("cancel me", "cancel", dnsSrv.Addr, 400))
		deleted := create(bigNXCreate("delete me", "delete", dnsSrv.Addr, 400))
		for _, c := range []api.Campaign{paused, cancelled, deleted} {
			r, err := cl.StartCampaignWithResponse(ctx, c.Id)
			mustStatus(t, "start "+c.Name, r, err, 200)
		}
		running := func(s api.StatusSummary) bool { return s.Status == api.CampaignStatusRunning && dnsDone(s) > 0 }
		before := alice.waitFor(ctx, t, paused.Id, 30*time.Second, "DNS progress", running)
		pr, err := cl.PauseCampaignWithResponse(ctx, paused.Id)
		mustStatus(t, "pause a running campaign", pr, err, 200)
		if pr.JSON200.Status != api.CampaignStatusPaused {
			t.Errorf("pause answered status %q, want paused", pr.JSON200.Status)
		}

		// Cancel a running campaign: it stays cancelled.
		alice.waitFor(ctx, t, cancelled.Id, 30*time.Second, "DNS progress", running)
		cr, err := cl.CancelCampaignWithResponse(ctx, cancelled.Id)
		mustStatus(t, "cancel a running campaign", cr, err, 200)
		if cr.JSON200.Status != api.CampaignStatusCancelled || cr.JSON200.CompletedAt == nil {
			t.Errorf("cancel answered %s, want cancelled with completed_at", cr.Body)
		}

		// Delete a running campaign: 204, then it is gone.
		alice.waitFor(ctx, t, deleted.Id, 30*time.Second, "DNS progress", running)
		dr, err := cl.DeleteCampaignWithResponse(ctx, deleted.Id)
		mustStatus(t, "delete a running campaign", dr, err, 204)
		g, err := cl.GetCampaignWithResponse(ctx, deleted.Id, nil)
		checkProblem(t, "get a deleted campaign", g, err, 404, "not_found")
		sr, err := cl.GetDomainStatusSummaryWithResponse(ctx, deleted.Id, nil)
		checkProblem(t, "summary of a deleted campaign", sr, err, 404, "not_found")
		lr, err := cl.ListDomainsWithResponse(ctx, deleted.Id, nil)
		checkProblem(t, "domains of a deleted campaign", lr, err, 404, "not_found")
		dr2, err := cl.DeleteCampaignWithResponse(ctx, deleted.Id)
		checkProblem(t, "delete a deleted campaign", dr2, err, 404, "not_found")

		// The paused campaign stops (once the batch it was doing is
		// recorded) and stays paused.
		frozen := settle(ctx, t, s, alice, paused.Id)
		if frozen.Status != api.CampaignStatusPaused {
			t.Errorf("paused campaign is %q after its step ended, want paused", frozen.Status)
		}
		if dnsDone(frozen) >= 2000 {
			t.Errorf("the campaign finished DNS (%d) before the pause took effect (paused at %d): the test proves nothing", dnsDone(frozen), dnsDone(before))
		}
		t.Logf("paused at %d of 2000 DNS checks (%d when the pause was asked)", dnsDone(frozen), dnsDone(before))

		// The cancelled campaign does not move any more and refuses to go on.
		stopped := settle(ctx, t, s, alice, cancelled.Id)
		if stopped.Status != api.CampaignStatusCancelled {
			t.Errorf("cancelled campaign is %q after its step ended, want cancelled", stopped.Status)
		}
		if dnsDone(stopped) >= 2000 {
			t.Errorf("the cancelled campaign finished DNS anyway (%d)", dnsDone(stopped))
		}
		for what, call := range map[string]func() (response, error){
			"start":  func() (response, error) { return cl.StartCampaignWithResponse(ctx, cancelled.Id) },
			"resume": func() (response, error) { return cl.ResumeCampaignWithResponse(ctx, cancelled.Id) },
			"pause":  func() (response, error) { return cl.PauseCampaignWithResponse(ctx, cancelled.Id) },
			"cancel": func() (response, error) { return cl.CancelCampaignWithResponse(ctx, cancelled.Id) },
		} {
			r, err := call()
			conflict(what+" a cancelled campaign", r, err)
		}

		// No row of the deleted campaign is left, even from a step that
		// was running when it was deleted (once that step has ended).
		waitStepsEnded(ctx, t, s, deleted.Id)
		deletedRows := func() int64 {
			t.Helper()
			var rows int64
			if err := s.DB(t).Gorm().WithContext(ctx).Raw("SELECT count(*) FROM domains WHERE campaign_id = ?", deleted.Id.String()).Row().Scan(&rows); err != nil {
				t.Fatal(err)
			}
			return rows
		}
		if rows := deletedRows(); rows != 0 {
			t.Errorf("%d domain rows of the deleted campaign are left", rows)
		}

		// Nothing moved the paused campaign while the other two settled.
		if later := alice.summary(ctx, t, paused.Id); later.Progress.Processed != frozen.Progress.Processed || later.Status != api.CampaignStatusPaused {
			t.Errorf("a paused campaign moved: %d units done, then %d (status %q)", frozen.Progress.Processed, later.Progress.Processed, later.Status)
		}

		// Resume the paused campaign: it goes on to the end.
		rr, err := cl.ResumeCampaignWithResponse(ctx, paused.Id)
		mustStatus(t, "resume a paused campaign", rr, err, 200)
		if rr.JSON200.Status != api.CampaignStatusQueued && rr.JSON200.Status != api.CampaignStatusRunning {
			t.Errorf("resume answered status %q, want queued", rr.JSON200.Status)
		}
		t.Run("resumed campaign completes", func(t *testing.T) {
			sum := alice.waitFor(ctx, t, paused.Id, 60*time.Second, "completion after resume", completed)
			checkSummary(t, "resumed campaign", sum, nxTally(2000))
			checkRows(ctx, t, s, paused.Id, 2000, sum)
		})

		// While the engine worked the resumed campaign to its end, the
		// cancelled campaign did not move and the deleted one got no row.
		if later := alice.summary(ctx, t, cancelled.Id); later.Status != api.CampaignStatusCancelled || later.Progress.Processed != stopped.Progress.Processed {
			t.Errorf("a cancelled campaign moved: %s then %s", mustJSON(stopped), mustJSON(later))
		}
		if rows := deletedRows(); rows != 0 {
			t.Errorf("%d domain rows of the deleted campaign appeared later", rows)
		}
	})
}

// TestEngineSlowBatchProgresses runs a campaign whose DNS batches take longer
// than the job timeout (a rate limit makes a batch of 500 names take 5s,
// the timeout is 4s): the campaign must still move on.
func TestEngineSlowBatchProgresses(t *testing.T) {
	eachEngineDialect(t, func(t *testing.T, s *testServer) {
		ctx := testCtx(t)
		alice := s.newUser(t, "alice")
		dnsSrv := startDNS(t, 0, func(string) dnsAction { return dnsNXDomain })
		r, err := alice.api().CreateCampaignWithResponse(ctx, bigNXCreate("slow batches", "slow", dnsSrv.Addr, 100))
		mustStatus(t, "create", r, err, 201)
		st, err := alice.api().StartCampaignWithResponse(ctx, r.JSON201.Id)
		mustStatus(t, "start", st, err, 200)
		alice.waitFor(ctx, t, r.JSON201.Id, 20*time.Second, "DNS progress", func(s api.StatusSummary) bool { return dnsDone(s) > 0 })
	})
}

// settle waits until a campaign that was paused or cancelled has stopped
// (the step that was running then has recorded its batch and ended, and no
// other step is coming) and returns its summary then.
func settle(ctx context.Context, t *testing.T, s *testServer, u *apiUser, id uuid.UUID) api.StatusSummary {
	t.Helper()
	waitStepsEnded(ctx, t, s, id)
	return u.summary(ctx, t, id)
}

// waitStepsEnded waits (at most 20s) until the campaign has no step job
// left that is running or may run: none waiting, scheduled, retryable or
// running. A step ends only after its last batch is written.
func waitStepsEnded(ctx context.Context, t *testing.T, s *testServer, id uuid.UUID) {
	t.Helper()
	arg := "args->>'campaign_id'"
	if s.Dialect == store.SQLite {
		arg = "json_extract(args, '$.campaign_id')"
	}
	q := "SELECT count(*) FROM river_job WHERE kind = 'campaign_step' AND " + arg + " = ? " +
		"AND state IN ('available', 'pending', 'running', 'scheduled', 'retryable')"
	for deadline := time.Now().Add(20 * time.Second); ; {
		var n int64
		if err := s.DB(t).Gorm().WithContext(ctx).Raw(q, id.String()).Row().Scan(&n); err != nil {
			t.Fatalf("read river_job: %v", err)
		}
		if n == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("campaign %s still has %d step jobs that may run 20s after it was stopped", id, n)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestEngineProxy fetches through a forward proxy created through the API.
func TestEngineProxy(t *testing.T) {
	eachEngineDialect(t, func(t *testing.T, s *testServer) {
		ctx := testCtx(t)
		alice := s.newUser(t, "alice")
		cl := alice.api()
		const user, pass = "proxy-user", "proxy-pass-9c2f"
		proxy := startForwardProxy(t, user, pass)
		web := startWeb(t, htmlPage(200, "Proxied Shop", "widgets for sale"))
		var dnsSrv *testDNS // answers the campaign's names (and no other: no wildcard)

		good, err := cl.CreateProxyWithResponse(ctx, api.ProxyCreate{Name: "forward", Protocol: api.ProxyProtocolHttp,
			Host: "127.0.0.1", Port: proxy.Addr.Port, Username: ptr(user), Password: ptr(pass)})
		mustStatus(t, "create proxy", good, err, 201)
		wrong, err := cl.CreateProxyWithResponse(ctx, api.ProxyCreate{Name: "wrong password", Protocol: api.ProxyProtocolHttp,
			Host: "127.0.0.1", Port: proxy.Addr.Port, Username: ptr(user), Password: ptr("not-the-password")})
		mustStatus(t, "create proxy with a wrong password", wrong, err, 201)

		gen := prefixGen("proxy", "ab", 2, []string{".test", ".example"}, 100)
		names := namesOf(t, gen)
		answer := map[string]dnsAction{}
		for _, n := range names {
			answer[n] = dnsAnswer
		}
		dnsSrv = startDNS(t, 0, ruleOf(answer))
		body := func(name string, proxyID uuid.UUID) api.CampaignCreate {
			return api.CampaignCreate{Name: name, Generation: gen, AutoStart: ptr(true),
				Dns:  &api.DNSConfig{Resolvers: &[]string{dnsSrv.Addr}, TimeoutMs: ptr(300), Retries: ptr(0)},
				Http: &api.HTTPConfig{Keywords: &[]string{"widgets"}, Ports: &[]int{web.Port}, TimeoutMs: ptr(2000), ProxyIds: &[]uuid.UUID{proxyID}}}
		}
		c1, err := cl.CreateCampaignWithResponse(ctx, body("through the proxy", good.JSON201.Id))
		mustStatus(t, "create campaign through the proxy", c1, err, 201)
		sum := alice.waitFor(ctx, t, c1.JSON201.Id, 60*time.Second, "completion", completed)
		wants := make([]wantDomain, len(names))
		for i := range wants {
			wants[i] = fetched(200, "Proxied Shop", []string{"widgets"}, "/", 55, 40)
		}
		checkDomains(ctx, t, alice, c1.JSON201.Id, names, wants, checkEnv{resolver: dnsSrv.Addr, web: web, proxyID: &good.JSON201.Id})
		checkRows(ctx, t, s, c1.JSON201.Id, int64(len(names)), sum)
		if n := proxy.connects.Load(); n < int64(len(names)) {
			t.Errorf("the proxy opened %d tunnels; want at least one per fetched domain (%d)", n, len(names))
		}
		t.Logf("the proxy opened %d tunnels for %d domains", proxy.connects.Load(), len(names))
		if n := proxy.other.Load(); n != 0 {
			t.Errorf("the proxy got %d requests that were not CONNECT", n)
		}
		proxy.mu.Lock()
		targets := fmt.Sprint(proxy.targets)
		for target := range proxy.targets {
			if target != fmt.Sprintf("127.0.0.1:%d", web.Port) {
				t.Errorf("the proxy was asked for %q; want the address DNS returned (127.0.0.1:%d)", target, web.Port)
			}
		}
		proxy.mu.Unlock()
		for _, n := range names {
			if web.Hits(n) < 1 {
				t.Errorf("the web server got no request with Host %s through the proxy (tunnels: %s)", n, targets)
			}
		}

		// With credentials the proxy refuses, every fetch fails (and says
		// which proxy it went through).
		refusedBefore := proxy.refused.Load()
		c2, err := cl.CreateCampaignWithResponse(ctx, body("through a proxy refusing us", wrong.JSON201.Id))
		mustStatus(t, "create campaign through the refusing proxy", c2, err, 201)
		sum2 := alice.waitFor(ctx, t, c2.JSON201.Id, 60*time.Second, "completion", completed)
		for i := range wants {
			wants[i] = fetchFailed(api.HTTPStatusError, 0, "", nil, "", "")
		}
		checkDomains(ctx, t, alice, c2.JSON201.Id, names, wants, checkEnv{resolver: dnsSrv.Addr, web: web, proxyID: &wrong.JSON201.Id})
		checkRows(ctx, t, s, c2.JSON201.Id, int64(len(names)), sum2)
		if n := proxy.refused.Load() - refusedBefore; n < int64(len(names)) {
			t.Errorf("the proxy refused %d CONNECTs; want at least one per domain (%d)", n, len(names))
		}
	})
}

// uniformPlan is the DNS rule and expectations of the big campaigns: every
// every-th name resolves and is a lead (the web server's default page), the
// rest are NXDOMAIN.
func uniformPlan(names []string, every int) (map[string]dnsAction, []wantDomain) {
	rules := make(map[string]dnsAction, len(names))
	wants := make([]wantDomain, len(names))
	for i, n := range names {
		if i%every == 0 {
			rules[n] = dnsAnswer
			wants[i] = fetched(200, "Shop", []string{"widgets"}, "/", 55, 40)
		} else {
			rules[n] = dnsNXDomain
			wants[i] = dnsFailed(api.DNSStatusError, api.DNSResultReasonNxdomain)
		}
	}
	return rules, wants
}

func ruleOf(rules ...map[string]dnsAction) func(string) dnsAction {
	return func(name string) dnsAction {
		for _, r := range rules {
			if a, ok := r[name]; ok {
				return a
			}
		}
		return dnsNXDomain
	}
}

// TestEngineRestartAfterKill kills the server with SIGKILL in the middle of
// a campaign and checks that a new process on the same database and
// address (so the same instance, with default takeover settings) resumes it
// within 10 s and finishes it with no domain lost, duplicated or counted
// twice.
func TestEngineRestartAfterKill(t *testing.T) {
	eachDialectWith(t, func(t *testing.T, d string) *testServer {
		takeFirst(t, d, 1)
		return startServer(t, d, append(slices.Clone(engineFlags), "--addr", freeAddr(t))...)
	}, func(t *testing.T, s *testServer) {
		ctx := testCtx(t)
		alice := s.newUser(t, "alice")
		gen := prefixGen("kill", "abcdefghij", 3, []string{".test", ".example"}, 2000)
		names := namesOf(t, gen)
		rules, wants := uniformPlan(names, 4)
		dnsSrv := startDNS(t, 0, ruleOf(rules))
		web := startWeb(t, htmlPage(200, "Shop", "widgets"))

		cr, err := alice.api().CreateCampaignWithResponse(ctx, api.CampaignCreate{
			Name: "survives kill -9", Generation: gen, AutoStart: ptr(true),
			Dns:  &api.DNSConfig{Resolvers: &[]string{dnsSrv.Addr}, TimeoutMs: ptr(500), Retries: ptr(0), Concurrency: ptr(20), RateLimitQps: ptr(400)},
			Http: &api.HTTPConfig{Keywords: &[]string{"widgets"}, Ports: &[]int{web.Port}, TimeoutMs: ptr(2000)},
		})
		mustStatus(t, "create campaign", cr, err, 201)
		id := cr.JSON201.Id
		before := alice.waitFor(ctx, t, id, 30*time.Second, "DNS progress", func(s api.StatusSummary) bool { return dnsDone(s) >= 300 })
		// Kill it in the middle of a step (its job running, a batch in
		// flight), not between two steps: the job is then left running by
		// a dead process, which River alone would rescue only after
		// --rescue-after (3 minutes).
		// A kill that lands between two steps (the job waiting to be
		// fetched again) proves nothing: the new process just fetches it.
		// The job's state is frozen once the process is dead, so it can be
		// read after the kill; try again (at most 5 times) until a step was
		// cut off.
		for attempt := 1; ; attempt++ {
			waitStepRunning(ctx, t, s)
			s.kill(t)
			if stepsRunning(ctx, t, s, id) > 0 {
				break
			}
			if attempt == 5 {
				t.Fatal("5 kills in a row landed between two steps: the test proves nothing")
			}
			s.launch(t)
		}
		killedAt := time.Now()
		if dnsDone(before) >= 2000 {
			t.Fatalf("DNS had finished (%d) before the kill: the test proves nothing", dnsDone(before))
		}
		t.Logf("killed with %d of 2000 DNS checks done", dnsDone(before))

		s.launch(t)
		ready := time.Now()
		atRestart := alice.summary(ctx, t, id)
		alice.waitFor(ctx, t, id, 10*time.Second, "progress within 10 s of the restart", func(sum api.StatusSummary) bool {
			return sum.Progress.Processed > atRestart.Progress.Processed || completed(sum)
		})
		t.Logf("the restarted process resumed the campaign %v after it was ready, %v after the kill (status then %q, %d of 2000 DNS checks done)",
			time.Since(ready).Round(time.Millisecond), time.Since(killedAt).Round(time.Millisecond), atRestart.Status, dnsDone(atRestart))
		sum := alice.waitFor(ctx, t, id, 60*time.Second, "completion after the restart", completed)
		t.Logf("completed %v after the kill", time.Since(killedAt).Round(time.Millisecond))
		checkSummary(t, "campaign finished after kill -9", sum, tallyOf(wants))
		checkRows(ctx, t, s, id, 2000, sum)
		got, total := alice.allDomains(ctx, t, id, api.ListDomainsParams{})
		if total != 2000 || len(got) != 2000 {
			t.Fatalf("%d domains listed (total %d), want 2000", len(got), total)
		}
		env := checkEnv{resolver: dnsSrv.Addr, web: web}
		for i, d := range got {
			if d.OffsetIndex != int64(i) {
				t.Fatalf("domain %d of the list has offset_index %d", i, d.OffsetIndex)
			}
			checkDomain(t, d, names[i], wants[i], env)
		}
	})
}

// waitStepRunning waits (at most 10s) until a campaign step job is
// running.
func waitStepRunning(ctx context.Context, t *testing.T, s *testServer) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); ; {
		var n int64
		if err := s.DB(t).Gorm().WithContext(ctx).Raw("SELECT count(*) FROM river_job WHERE kind = 'campaign_step' AND state = 'running'").
			Row().Scan(&n); err != nil {
			t.Fatalf("read river_job: %v", err)
		}
		if n > 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("no campaign step was running within 10s")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// stepsRunning counts the campaign's step jobs in state running.
func stepsRunning(ctx context.Context, t *testing.T, s *testServer, id uuid.UUID) int64 {
	t.Helper()
	arg := "args->>'campaign_id'"
	if s.Dialect == store.SQLite {
		arg = "json_extract(args, '$.campaign_id')"
	}
	var n int64
	if err := s.DB(t).Gorm().WithContext(ctx).Raw("SELECT count(*) FROM river_job WHERE kind = 'campaign_step' AND state = 'running' AND "+arg+" = ?",
		id.String()).Row().Scan(&n); err != nil {
		t.Fatalf("read river_job: %v", err)
	}
	return n
}

// riverClients returns the River client ids that have worked campaign
// steps, sorted (they begin with the process's start time).
func riverClients(ctx context.Context, t *testing.T, s *testServer) []string {
	t.Helper()
	var ids []string
	if err := s.DB(t).Gorm().WithContext(ctx).Raw(
		"SELECT DISTINCT unnest(attempted_by) FROM river_job WHERE kind = 'campaign_step'").Scan(&ids).Error; err != nil {
		t.Fatalf("read river_job: %v", err)
	}
	sort.Strings(ids)
	return ids
}

// TestEngineTwoInstances runs two server processes on one PostgreSQL
// database, checks that both work campaigns, kills one with SIGKILL and
// checks that the other finishes every campaign exactly.
func TestEngineTwoInstances(t *testing.T) {
	t.Parallel()
	flags := append(slices.Clone(engineFlags), "--campaign-workers", "2")
	takeFirst(t, store.Postgres, 2)
	a := startServer(t, store.Postgres, flags...)
	b := a.peer(t, flags...)
	ctx := testCtx(t)
	alice := a.newUser(t, "alice")
	viaB := *alice
	viaB.srv = b

	web := startWeb(t, htmlPage(200, "Shop", "widgets"))
	type camp struct {
		id    uuid.UUID
		names []string
		wants []wantDomain
	}
	var camps []camp
	var allRules []map[string]dnsAction
	for _, constant := range []string{"alpha", "bravo", "charlie", "delta"} {
		names := namesOf(t, prefixGen(constant, "abcdefghij", 3, []string{".test"}, 1000))
		rules, wants := uniformPlan(names, 5)
		allRules = append(allRules, rules)
		camps = append(camps, camp{names: names, wants: wants})
	}
	dnsSrv := startDNS(t, 0, ruleOf(allRules...))
	for i, constant := range []string{"alpha", "bravo", "charlie", "delta"} {
		// Created through one instance, started through the other.
		cr, err := alice.api().CreateCampaignWithResponse(ctx, api.CampaignCreate{
			Name: constant, Generation: prefixGen(constant, "abcdefghij", 3, []string{".test"}, 1000),
			Dns:  &api.DNSConfig{Resolvers: &[]string{dnsSrv.Addr}, TimeoutMs: ptr(500), Retries: ptr(0), Concurrency: ptr(20), RateLimitQps: ptr(200)},
			Http: &api.HTTPConfig{Keywords: &[]string{"widgets"}, Ports: &[]int{web.Port}, TimeoutMs: ptr(2000)},
		})
		mustStatus(t, "create "+constant, cr, err, 201)
		camps[i].id = cr.JSON201.Id
		sr, err := viaB.api().StartCampaignWithResponse(ctx, cr.JSON201.Id)
		mustStatus(t, "start "+constant+" through the second instance", sr, err, 200)
	}
	for _, c := range camps {
		alice.waitFor(ctx, t, c.id, 30*time.Second, "DNS progress", func(s api.StatusSummary) bool { return dnsDone(s) > 0 })
	}
	// Both instances have taken steps of the campaigns.
	var clients []string
	for deadline := time.Now().Add(10 * time.Second); ; {
		clients = riverClients(ctx, t, a)
		if len(clients) >= 2 || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if len(clients) != 2 {
		t.Errorf("campaign steps were worked by River clients %q; want both instances (2)", clients)
	}
	var leader string
	a.DB(t).Gorm().WithContext(ctx).Raw("SELECT leader_id FROM river_leader").Scan(&leader)

	// Kill the leader (the harder case: leadership must move too); the
	// first instance started first, so its client id sorts first.
	victim, survivor, survivorUser := a, b, &viaB
	if len(clients) == 2 && leader == clients[1] {
		victim, survivor, survivorUser = b, a, alice
	}
	progress := map[uuid.UUID]int64{}
	for _, c := range camps {
		progress[c.id] = survivorUser.summary(ctx, t, c.id).Progress.Processed
	}
	victim.kill(t)
	killedAt := time.Now()
	t.Logf("killed instance %s (leader %q, clients %q) with progress %v", victim.BaseURL, leader, clients, progress)

	for _, c := range camps {
		sum := survivorUser.waitFor(ctx, t, c.id, 90*time.Second, "completion after the kill", completed)
		checkSummary(t, "campaign finished by the surviving instance", sum, tallyOf(c.wants))
		checkRows(ctx, t, survivor, c.id, int64(len(c.names)), sum)
	}
	t.Logf("every campaign completed %v after the kill", time.Since(killedAt).Round(time.Millisecond))
	got, _ := survivorUser.allDomains(ctx, t, camps[0].id, api.ListDomainsParams{})
	env := checkEnv{resolver: dnsSrv.Addr, web: web}
	for i, d := range got {
		checkDomain(t, d, camps[0].names[i], camps[0].wants[i], env)
	}
}

// TestEngineMisbehavingPeers points campaigns at a resolver that answers
// garbage and at web servers that send gigabytes or redirect forever: the
// campaign whose only resolver answers garbage fails at once saying so, the
// other completes with the errors recorded, and the server neither crashes
// nor hangs.
func TestEngineMisbehavingPeers(t *testing.T) {
	eachEngineDialect(t, func(t *testing.T, s *testServer) {
		ctx := testCtx(t)
		alice := s.newUser(t, "alice")
		cl := alice.api()

		// A resolver that answers nothing but garbage.
		garbageAddr, datagrams := startGarbageResolver(t)
		g1 := prefixGen("junk", "ab", 1, []string{".test", ".example"}, 100)
		c1, err := cl.CreateCampaignWithResponse(ctx, api.CampaignCreate{Name: "garbage resolver", Generation: g1, AutoStart: ptr(true),
			Dns: &api.DNSConfig{Resolvers: &[]string{garbageAddr}, TimeoutMs: ptr(300), Retries: ptr(1)}})
		mustStatus(t, "create campaign on the garbage resolver", c1, err, 201)

		// Web servers that misbehave, behind a DNS server that is fine but
		// for one name.
		web := startWeb(t, nil)
		gen := prefixGen("odd", "ab", 2, []string{".test", ".example"}, 100)
		names := namesOf(t, gen)
		const maxBody = 4096
		plan := []struct {
			dns  dnsAction
			page http.HandlerFunc
			want wantDomain
		}{
			0: {dnsAnswer, web.hugePage("Huge", "widgets"), fetched(200, "Huge", []string{"widgets"}, "/", 55, 40)},
			1: {dnsAnswer, redirectLoop, fetchFailed(api.HTTPStatusError, 302, "", nil, "/loop", "redirect")},
			2: {dnsAnswer, endlessRedirects, fetchFailed(api.HTTPStatusError, 302, "", nil, "/r/3", "redirect")},
			3: {dnsGarbage, nil, dnsFailed(api.DNSStatusError, api.DNSResultReasonNetwork)},
			4: {dnsAnswer, htmlPage(200, "Normal", "widgets"), fetched(200, "Normal", []string{"widgets"}, "/", 55, 40)},
			5: {dnsNXDomain, nil, dnsFailed(api.DNSStatusError, api.DNSResultReasonNxdomain)},
			6: {dnsAnswer, hangUp, fetchFailed(api.HTTPStatusError, 0, "", nil, "", "")},
			7: {dnsAnswer, slowPage(10*time.Second, htmlPage(200, "Late", "")), fetchFailed(api.HTTPStatusTimeout, 0, "", nil, "", "")},
		}
		rules := map[string]dnsAction{}
		wants := make([]wantDomain, len(names))
		for i, p := range plan {
			rules[names[i]] = p.dns
			if p.page != nil {
				web.handle(names[i], p.page)
			}
			wants[i] = p.want
		}
		wants[0].contentLength = maxBody
		dnsSrv := startDNS(t, 0, ruleOf(rules))
		c2, err := cl.CreateCampaignWithResponse(ctx, api.CampaignCreate{Name: "odd web servers", Generation: gen, AutoStart: ptr(true),
			Dns: &api.DNSConfig{Resolvers: &[]string{dnsSrv.Addr}, TimeoutMs: ptr(300), Retries: ptr(0)},
			Http: &api.HTTPConfig{Keywords: &[]string{"widgets"}, Ports: &[]int{web.Port}, TimeoutMs: ptr(1500),
				MaxBodyBytes: ptr(int64(maxBody)), MaxRedirects: ptr(3)}})
		mustStatus(t, "create campaign on odd web servers", c2, err, 201)

		started := time.Now()
		sum1 := alice.waitFor(ctx, t, c1.JSON201.Id, 60*time.Second, "failure", func(s api.StatusSummary) bool { return s.Status == api.CampaignStatusFailed })
		failed, err := cl.GetCampaignWithResponse(ctx, c1.JSON201.Id, nil)
		mustStatus(t, "get the failed campaign", failed, err, 200)
		if msg := deref(failed.JSON200.Error); !strings.Contains(msg, "none of the campaign's DNS resolvers answers") || !strings.Contains(msg, garbageAddr) {
			t.Errorf("the campaign on a garbage resolver failed with %q; want the resolver named", msg)
		}
		if sum1.Dns.Validated != 0 || sum1.Dns.Failed != 0 {
			t.Errorf("no name should have a DNS result from a resolver that never answers: %s", mustJSON(sum1))
		}
		if n := datagrams.Load(); n == 0 {
			t.Error("the garbage resolver got no query")
		}

		sum2 := alice.waitFor(ctx, t, c2.JSON201.Id, 60*time.Second, "completion", completed)
		t.Logf("both campaigns completed in %v; the huge page sent %d bytes", time.Since(started).Round(time.Millisecond), web.bodyBytes.Load())
		checkDomains(ctx, t, alice, c2.JSON201.Id, names, wants, checkEnv{resolver: dnsSrv.Addr, web: web})
		checkRows(ctx, t, s, c2.JSON201.Id, int64(len(names)), sum2)
		if n := web.bodyBytes.Load(); n > 256<<20 {
			t.Errorf("the engine read the huge page on: %d bytes were sent (max_body_bytes is %d)", n, maxBody)
		}
		if hits := web.Hits(names[1]); hits > 10 {
			t.Errorf("the redirect loop was followed %d times", hits)
		}
		if hits := web.Hits(names[2]); hits > 3+2 {
			t.Errorf("endless redirects were followed %d times with max_redirects 3", hits)
		}

		// The server is still well.
		h, err := newClient(s.BaseURL, "").GetHealthWithResponse(ctx)
		mustStatus(t, "healthz after misbehaving peers", h, err, 200)
		if logs := s.Logs(); strings.Contains(logs, "panic") {
			t.Errorf("the server logged a panic:\n%s", logs)
		}
	})
}

// TestEngineFailsACampaignThatCannotRunHere: a campaign whose single DNS
// check may outlast this instance's job timeout can never make progress, so
// it fails at once with a message saying why (not retried for hours).
func TestEngineFailsACampaignThatCannotRunHere(t *testing.T) {
	eachEngineDialect(t, func(t *testing.T, s *testServer) {
		ctx := testCtx(t)
		alice := s.newUser(t, "alice")
		create := bigNXCreate("too slow for this instance", "slow", "127.0.0.1:9", 0)
		create.Dns.TimeoutMs, create.Dns.Retries = ptr(3000), ptr(1) // 6 s a check, job timeout 4 s
		create.AutoStart = ptr(true)
		r, err := alice.api().CreateCampaignWithResponse(ctx, create)
		mustStatus(t, "create", r, err, 201)
		alice.waitFor(ctx, t, r.JSON201.Id, 20*time.Second, "failure", func(s api.StatusSummary) bool {
			return s.Status == api.CampaignStatusFailed
		})
		g, err := alice.api().GetCampaignWithResponse(ctx, r.JSON201.Id, nil)
		mustStatus(t, "get", g, err, 200)
		if g.JSON200.Error == nil || !strings.Contains(*g.JSON200.Error, "job timeout") || g.JSON200.CompletedAt == nil {
			t.Errorf("failed campaign = error %v, completed_at %v; want the job-timeout reason and an end time", deref(g.JSON200.Error), g.JSON200.CompletedAt)
		}
	})
}
